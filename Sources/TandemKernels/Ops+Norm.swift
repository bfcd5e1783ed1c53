// Normalizations and softmax, one vector (one token's features) at a time.
// RMS norm: Zhang & Sennrich 2019, as T5 (`T5LayerNorm`) and LLaMA (`LlamaRMSNorm`) use it: no mean
// subtraction, no bias, statistics in f32. Layer norm: Ba et al. 2016 (GPT-2).
// Reductions use 8-lane SIMD accumulators: Swift does not reassociate a scalar float sum on its own.
import CTandemKernels
import Foundation

/// The non-matrix operations the models need. Each works on caller-owned buffers; none allocates.
public enum Ops {
    /// y = x / sqrt(mean(x²) + ε) ⊙ weight.
    public static func rmsNorm(
        _ x: UnsafeBufferPointer<Float>, weight: UnsafeBufferPointer<Float>, epsilon: Float,
        into y: UnsafeMutableBufferPointer<Float>
    ) {
        let n = x.count
        precondition(n > 0 && weight.count == n && y.count == n, "rmsNorm: sizes \(x.count)/\(weight.count)/\(y.count)")
        let scale = 1 / (sumOfSquares(x) / Float(n) + epsilon).squareRoot()
        for i in 0..<n { y[i] = x[i] * scale * weight[i] }
    }

    /// y = (x − mean) / sqrt(var + ε) ⊙ weight + bias (biased variance, as PyTorch).
    public static func layerNorm(
        _ x: UnsafeBufferPointer<Float>, weight: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>?,
        epsilon: Float, into y: UnsafeMutableBufferPointer<Float>
    ) {
        let n = x.count
        precondition(n > 0 && weight.count == n && y.count == n && (bias?.count ?? n) == n, "layerNorm: size mismatch")
        let mean = sum(x) / Float(n)
        var v = SIMD8<Float>()
        var i = 0
        while i + 8 <= n {
            let d = load8(x, i) - SIMD8(repeating: mean)
            v += d * d
            i += 8
        }
        var variance = v.sum()
        while i < n {
            let d = x[i] - mean
            variance += d * d
            i += 1
        }
        variance /= Float(n)
        let inv = 1 / (variance + epsilon).squareRoot()
        if let bias {
            for j in 0..<n { y[j] = (x[j] - mean) * inv * weight[j] + bias[j] }
        } else {
            for j in 0..<n { y[j] = (x[j] - mean) * inv * weight[j] }
        }
    }

    /// Softmax in place, stable: exp(x − max) / Σ. Entries of −∞ (masked) become 0; a row that is
    /// all −∞ becomes all zeros rather than NaN, so a fully padded query contributes nothing.
    public static func softmax(_ x: UnsafeMutableBufferPointer<Float>, isa: KernelISA = .current) {
        guard !x.isEmpty else { return }
        // On the instruction set's kernel: max, exps and scaling in one C call (a libm call per
        // score was ~10 % of t5-large's encode time, the Swift max and scale passes ~4 %).
        isa.table.pointee.softmax(x.baseAddress!, Int64(x.count))
    }

    static func sumOfSquares(_ x: UnsafeBufferPointer<Float>) -> Float {
        var acc = SIMD8<Float>()
        var i = 0
        while i + 8 <= x.count {
            let v = load8(x, i)
            acc += v * v
            i += 8
        }
        var s = acc.sum()
        while i < x.count {
            s += x[i] * x[i]
            i += 1
        }
        return s
    }

    static func sum(_ x: UnsafeBufferPointer<Float>) -> Float {
        var acc = SIMD8<Float>()
        var i = 0
        while i + 8 <= x.count {
            acc += load8(x, i)
            i += 8
        }
        var s = acc.sum()
        while i < x.count {
            s += x[i]
            i += 1
        }
        return s
    }

    @inline(__always)
    static func load8(_ x: UnsafeBufferPointer<Float>, _ i: Int) -> SIMD8<Float> {
        UnsafeRawPointer(x.baseAddress! + i).loadUnaligned(as: SIMD8<Float>.self)
    }
}
