import Testing
import Tandem

/// `Sampler.argmax` (greedy decoding's choice) against a plain first-maximum scan: lengths around
/// its 16-lane blocks, a real vocabulary's length, ties inside a lane, across lanes and in the
/// tail, NaN (never chosen) and all −∞ (index 0).
struct SamplerTests {
    static func scan(_ x: [Float]) -> Int {
        var best = 0, value = -Float.infinity
        for (i, v) in x.enumerated() where v > value { value = v; best = i }
        return best
    }

    @Test func argmaxIsTheFirstMaximum() {
        var rng = SeededGenerator(seed: 42)
        for n in [0, 1, 2, 15, 16, 17, 31, 32, 33, 47, 100, 32128] {
            for trial in 0..<40 {
                // Few distinct values, so ties are common; some NaN and −∞.
                var x = (0..<n).map { _ in Float(Int.random(in: -3...3, using: &rng)) }
                if trial % 4 == 1 { for i in x.indices where Int.random(in: 0..<5, using: &rng) == 0 { x[i] = .nan } }
                if trial % 4 == 2 { for i in x.indices where Int.random(in: 0..<3, using: &rng) == 0 { x[i] = -.infinity } }
                if trial % 4 == 3 { x = x.map { _ in -.infinity } }
                if trial == 5, n > 0 { x[n - 1] = 9 }  // the maximum alone in the tail
                let got = x.withUnsafeBufferPointer { Sampler.argmax($0) }
                #expect(got == Self.scan(x), "n \(n) trial \(trial)")
            }
        }
    }
}
