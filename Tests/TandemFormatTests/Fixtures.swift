import Foundation
import TandemTestSupport

/// Paths to the committed fixtures (Tests/Fixtures, Formats/samples), found from this file.
enum Fixtures {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func path(_ relative: String) -> String { repo.appendingPathComponent(relative).path }
    static func data(_ relative: String) throws -> Data { try Data(contentsOf: repo.appendingPathComponent(relative)) }
    static func json(_ relative: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: data(relative)) as! [String: Any]
    }

    /// A fresh path under the temporary directory.
    static func temporary(_ name: String) -> String { Scratch.unique(name) }
}

/// Seeded generator so random test data is the same on every run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Array where Element == Float {
    static func random(count: Int, scale: Float = 1, seed: UInt64) -> [Float] {
        var g = SplitMix64(seed: seed)
        return (0..<count).map { _ in Float.random(in: -scale...scale, using: &g) }
    }
}
