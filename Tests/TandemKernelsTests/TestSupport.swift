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

/// A weight matrix backed by an array the caller keeps alive: `values` encoded as `dtype`, or for
/// the dtypes Tandem only copies from GGUF files (q5_0, the K-quants) random blocks seeded by
/// `values` (`randomBlocks`), or zero blocks when `values` are all zero.
func withWeights<R>(_ values: [Float], rows: Int, columns: Int, dtype: DType, _ body: (WeightMatrix) -> R) -> R {
    let seed = values.prefix(4).reduce(UInt64(values.count)) { $0 &* 31 &+ UInt64($1.bitPattern) }
    let bytes = dtype.isEncodable ? Reference.encode(values, rows: rows, columns: columns, as: dtype)
        : values.allSatisfy({ $0 == 0 }) ? [UInt8](repeating: 0, count: rows * dtype.rowBytes(columns: columns))
        : randomBlocks(dtype, rows: rows, columns: columns, seed: seed)
    return bytes.withUnsafeBytes { raw in
        body(WeightMatrix(dtype: dtype, rows: rows, columns: columns, data: raw.baseAddress!))
    }
}

/// `rows` rows of random `dtype` blocks: any bits make a valid q5_0 or K-quant block; the f16
/// scales are set so that weights are about ±0.1 to ±1, as in a model.
func randomBlocks(_ dtype: DType, rows: Int, columns: Int, seed: UInt64) -> [UInt8] {
    var g = SeededGenerator(seed: seed)
    var bytes = (0..<rows * dtype.rowBytes(columns: columns)).map { _ in UInt8.random(in: 0...255, using: &g) }
    // (offsets of the f16 scales, their range)
    let (offsets, range): ([Int], ClosedRange<Float>) = switch dtype {
    case .q5_0: ([0], 0.002...0.03)
    case .q4_K, .q5_K: ([0, 2], 0.0002...0.002)
    case .q6_K: ([208], 0.00005...0.0005)
    default: preconditionFailure("\(dtype) is encoded, not drawn")
    }
    for b in 0..<bytes.count / dtype.blockBytes {
        for o in offsets {
            let h = Float16(Float.random(in: range, using: &g)).bitPattern
            bytes[b * dtype.blockBytes + o] = UInt8(h & 0xFF)
            bytes[b * dtype.blockBytes + o + 1] = UInt8(h >> 8)
        }
    }
    return bytes
}
