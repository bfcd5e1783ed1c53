// Choosing one token from a row of logits: greedy (argmax, first index on ties, as torch), or
// sampling after transformers' warpers in their order — temperature, top-k, top-p — from a
// seeded generator, so a run can be repeated exactly.

/// xoshiro256** (Blackman & Vigna), seeded through SplitMix64: fast, good statistics, and the
/// same sequence on every platform.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    public mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = s.3 << 45 | s.3 >> 19
        return result
    }
}

public enum Sampler {
    /// Index of the largest value; the first one on ties.
    public static func argmax(_ x: UnsafeBufferPointer<Float>) -> Int {
        // 16 lanes, each keeping its first strict maximum (NaN never compares greater, so it is
        // never chosen), then the lanes and the tail reduced the same way: the first index of the
        // maximum, as a plain scan finds it. A plain scan's compare-and-branch per logit cost
        // ~0.25 ms a step for a batch of 8 over a 32k vocabulary.
        let n = x.count
        var best = 0
        var value = -Float.infinity
        var i = 0
        if n >= 16, let base = x.baseAddress {
            var lanes = SIMD16<Float>(repeating: -.infinity)
            var at = SIMD16<Int32>(repeating: 0)
            var index = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
            let raw = UnsafeRawPointer(base)
            while i + 16 <= n {
                let v = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                let greater = v .> lanes
                lanes.replace(with: v, where: greater)
                at.replace(with: index, where: greater)
                index &+= 16
                i += 16
            }
            for lane in 0..<16 where lanes[lane] > value || (lanes[lane] == value && lanes[lane] > -.infinity && Int(at[lane]) < best) {
                value = lanes[lane]
                best = Int(at[lane])
            }
        }
        for j in i..<n where x[j] > value {
            value = x[j]
            best = j
        }
        return best
    }

    /// Draws a token from `logits` (modified in place) with temperature, top-k and top-p.
    public static func sample(_ logits: UnsafeMutableBufferPointer<Float>, options: SamplingOptions, using rng: inout SeededGenerator) -> Int {
        let n = logits.count
        if options.temperature > 0, options.temperature != 1 {
            for i in 0..<n { logits[i] /= options.temperature }
        }
        if options.temperature == 0 { return argmax(UnsafeBufferPointer(logits)) }
        // Top-k: drop everything strictly below the k-th largest value (ties at the k-th stay).
        if options.topK > 0, options.topK < n {
            var sorted = Array(logits)
            sorted.sort(by: >)
            let kth = sorted[options.topK - 1]
            for i in 0..<n where logits[i] < kth { logits[i] = -.infinity }
        }
        // Softmax over what is left.
        let maxLogit = logits.max() ?? 0
        var probs = [Float](repeating: 0, count: n)
        var total: Float = 0
        for i in 0..<n {
            let p = logits[i] == -.infinity ? 0 : (logits[i] - maxLogit).exp()
            probs[i] = p
            total += p
        }
        for i in 0..<n { probs[i] /= total }
        // Top-p: keep the most probable tokens until their mass reaches p (at least one).
        if options.topP < 1 {
            let order = (0..<n).sorted { probs[$0] > probs[$1] }
            var mass: Float = 0
            var keep = 0
            for i in order {
                keep += 1
                mass += probs[i]
                if mass >= options.topP { break }
            }
            var kept: Float = 0
            for (rank, i) in order.enumerated() {
                if rank >= keep { probs[i] = 0 } else { kept += probs[i] }
            }
            for i in 0..<n { probs[i] /= kept }
        }
        let u = Float(Double(rng.next() >> 11) * 0x1p-53)
        var acc: Float = 0
        var last = 0
        for i in 0..<n where probs[i] > 0 {
            acc += probs[i]
            last = i
            if u < acc { return i }
        }
        return last
    }

    /// log-softmax in place, in f32 like the reference.
    public static func logSoftmax(_ x: UnsafeMutableBufferPointer<Float>) {
        let m = x.max() ?? 0
        var sum: Float = 0
        for v in x { sum += (v - m).exp() }
        let lse = m + sum.log()
        for i in x.indices { x[i] -= lse }
    }
}

extension Float {
    @inline(__always) func exp() -> Float { Float(_exp(Double(self))) }
    @inline(__always) func log() -> Float { Float(_log(Double(self))) }
}

@inline(__always) private func _exp(_ x: Double) -> Double {
    #if canImport(Glibc)
    return Glibc.exp(x)
    #else
    return Foundation.exp(x)
    #endif
}

@inline(__always) private func _log(_ x: Double) -> Double {
    #if canImport(Glibc)
    return Glibc.log(x)
    #else
    return Foundation.log(x)
    #endif
}

#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
