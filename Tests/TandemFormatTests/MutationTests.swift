import Foundation
import Testing
@testable import TandemFormat
import TandemTestSupport

/// A deterministic mutation harness (Tandem's fuzzing floor, run in every CI pass): seeded
/// corruptions of valid files — bit flips, bytes set to boundary values, truncations, inserted
/// and deleted runs, overwritten length fields — fed to each reader. A reader may accept or
/// reject a mutant, but must never crash, hang or read out of bounds (which would kill the test
/// process).
enum Mutator {
    static let interesting: [UInt8] = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0xFE, 0x40, 0x20]

    static func mutate(_ seed: [UInt8], rng: inout SplitMix64) -> [UInt8] {
        var b = seed
        let rounds = Int.random(in: 1...4, using: &rng)
        for _ in 0..<rounds where !b.isEmpty {
            let i = Int.random(in: 0..<b.count, using: &rng)
            switch Int.random(in: 0..<7, using: &rng) {
            case 0: b[i] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
            case 1: b[i] = interesting.randomElement(using: &rng)!
            case 2: b.removeLast(Int.random(in: 0...(b.count - i), using: &rng))
            case 3: b.insert(contentsOf: [UInt8](repeating: interesting.randomElement(using: &rng)!, count: Int.random(in: 1...16, using: &rng)), at: i)
            case 4: b.removeSubrange(i..<min(b.count, i + Int.random(in: 1...64, using: &rng)))
            case 5:
                // Overwrite 8 bytes with a huge or boundary integer (lengths, counts, offsets).
                let v: UInt64 = [UInt64.max, 1 << 62, 1 << 32, 0xFFFF_FFFF, 0, 1 << 40].randomElement(using: &rng)!
                for j in 0..<8 where i + j < b.count { b[i + j] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(j))) }
            default: b[i] = UInt8.random(in: 0...255, using: &rng)
            }
        }
        return b
    }
}

struct MutationTests {
    static let repo = Fixtures.repo

    func run(seed path: String, iterations: Int, _ parse: (String) -> Void) throws {
        let seed = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var rng = SplitMix64(seed: 0x7A4D_E3)
        let file = Fixtures.temporary("mutant")
        defer { unlink(file) }
        for _ in 0..<iterations {
            FileManager.default.createFile(atPath: file, contents: Data(Mutator.mutate(seed, rng: &rng)))
            parse(file)
        }
    }

    @Test func tandemReaderSurvivesMutants() throws {
        var accepted = 0
        try run(seed: Fixtures.path("Formats/samples/v1/gpt2-tiny.q4_0.tandem"), iterations: 1500) { path in
            if let f = try? TandemFile(path: path) {
                accepted += 1
                _ = try? f.verify()
                for b in f.blobs { _ = try? f.blob(b.name) }
            }
        }
        print("tandem reader: 1500 mutants, \(accepted) accepted")
    }

    @Test func safetensorsReaderSurvivesMutants() throws {
        try run(seed: Fixtures.path("Tests/Fixtures/checkpoints/gpt2-tiny/model.safetensors"), iterations: 1500) { path in
            if let f = try? SafetensorsFile(path: path) {
                for t in f.tensors.values where [.F32, .F16, .BF16, .F64].contains(t.dtype) { _ = try? t.floats() }
            }
        }
    }

    @Test func jsonMetadataSurvivesMutants() throws {
        let seed = Array(RawFile.metadataJSON.utf8)
        var rng = SplitMix64(seed: 99)
        for _ in 0..<3000 {
            let m = Mutator.mutate(seed, rng: &rng)
            var f = RawFile.valid()
            f.metadata = m
            _ = try? f.open()
        }
    }
}
