// Shared helpers: a seeded generator, the normalized error metric of ggml's test-backend-ops.
import Foundation
import TandemFormat
@testable import TandemKernels

/// SplitMix64: the same numbers on every run and platform.
struct SeededGenerator: RandomNumberGenerator {
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

func randomFloats(_ count: Int, scale: Float = 1, seed: UInt64) -> [Float] {
    var g = SeededGenerator(seed: seed)
    return (0..<count).map { _ in Float.random(in: -scale...scale, using: &g) }
}

/// Σ(a − b)² / Σb² (ggml's NMSE); when b is all zeros, the plain squared error.
func nmse(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count)
    var num = 0.0, den = 0.0
    for i in a.indices {
        let d = Double(a[i]) - Double(b[i])
        num += d.isNaN ? .infinity : d * d
        den += Double(b[i]) * Double(b[i])
    }
    return den > 0 ? num / den : num
}

func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

/// A weight matrix backed by an array the caller keeps alive.
func withWeights<R>(_ values: [Float], rows: Int, columns: Int, dtype: DType, _ body: (WeightMatrix) -> R) -> R {
    let bytes = Reference.encode(values, rows: rows, columns: columns, as: dtype)
    return bytes.withUnsafeBytes { raw in
        body(WeightMatrix(dtype: dtype, rows: rows, columns: columns, data: raw.baseAddress!))
    }
}
