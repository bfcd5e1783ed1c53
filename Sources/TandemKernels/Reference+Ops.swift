// Scalar Double references for the non-matrix operations (see Ops+*.swift, RoPE.swift,
// Attention.swift). Formulas as in the papers and Hugging Face's PyTorch code.
import Foundation

extension Reference {
    public static func rmsNorm(_ x: [Float], weight: [Float], epsilon: Float) -> [Float] {
        let ms = x.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(x.count)
        let inv = 1 / (ms + Double(epsilon)).squareRoot()
        return zip(x, weight).map { Float(Double($0) * inv * Double($1)) }
    }

    public static func layerNorm(_ x: [Float], weight: [Float], bias: [Float]?, epsilon: Float) -> [Float] {
        let n = Double(x.count)
        let mean = x.reduce(0.0) { $0 + Double($1) } / n
        let variance = x.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n
        let inv = 1 / (variance + Double(epsilon)).squareRoot()
        return x.indices.map { i in
            Float((Double(x[i]) - mean) * inv * Double(weight[i]) + Double(bias?[i] ?? 0))
        }
    }

    /// Softmax; all −∞ gives all zeros (as `Ops.softmax`).
    public static func softmax(_ x: [Float]) -> [Float] {
        let m = x.max() ?? 0
        guard m > -.infinity else { return x.map { _ in 0 } }
        let e = x.map { Foundation.exp(Double($0) - Double(m)) }
        let s = e.reduce(0, +)
        return e.map { Float($0 / s) }
    }

    public static func geluTanh(_ v: Float) -> Float {
        let x = Double(v)
        return Float(0.5 * x * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x))))
    }

    public static func geluErf(_ v: Float) -> Float {
        let x = Double(v)
        return Float(0.5 * x * (1 + Foundation.erf(x / 2.0.squareRoot())))
    }

    public static func silu(_ v: Float) -> Float {
        let x = Double(v)
        return Float(x / (1 + Foundation.exp(-x)))
    }

    /// RoPE on one head vector: pairs (2i, 2i+1) or (i, i+r/2), angle = position · base^(−2i/r).
    public static func rope(_ v: [Float], position: Int, rotaryDim: Int, base: Double, style: RoPE.Style) -> [Float] {
        var out = v
        let half = rotaryDim / 2
        for i in 0..<half {
            let angle = Double(position) * Foundation.pow(base, -Double(2 * i) / Double(rotaryDim))
            let (a, b) = style == .interleaved ? (2 * i, 2 * i + 1) : (i, i + half)
            let x0 = Double(v[a]), x1 = Double(v[b])
            out[a] = Float(x0 * Foundation.cos(angle) - x1 * Foundation.sin(angle))
            out[b] = Float(x1 * Foundation.cos(angle) + x0 * Foundation.sin(angle))
        }
        return out
    }

    /// Attention with the same conventions as `Attention.attend`, in Double.
    public static func attention(
        query: [Float], keys: [Float], values: [Float], shape s: AttentionShape, scale: Float,
        causal: Bool, queryOffset: Int, keyPadding: [Bool]?, bias: [Float]?, window: Int? = nil
    ) -> [Float] {
        var out = [Float](repeating: 0, count: s.queries * s.heads * s.headDim)
        let group = s.heads / s.kvHeads
        for qi in 0..<s.queries {
            for h in 0..<s.heads {
                let kv = (h / group) * s.headDim
                var scores = [Double](repeating: -.infinity, count: s.keys)
                for j in 0..<s.keys {
                    if causal && j > queryOffset + qi { continue }
                    if let window, j <= queryOffset + qi - window { continue }
                    if keyPadding?[j] ?? false { continue }
                    var d = 0.0
                    for c in 0..<s.headDim {
                        d += Double(query[(qi * s.heads + h) * s.headDim + c]) * Double(keys[j * s.kvStride + kv + c])
                    }
                    scores[j] = Double(scale) * d + Double(bias?[(h * s.queries + qi) * s.keys + j] ?? 0)
                }
                guard let m = scores.max(), m > -.infinity else { continue }
                let e = scores.map { Foundation.exp($0 - m) }
                let total = e.reduce(0, +)
                for c in 0..<s.headDim {
                    var acc = 0.0
                    for j in 0..<s.keys { acc += e[j] / total * Double(values[j * s.kvStride + kv + c]) }
                    out[(qi * s.heads + h) * s.headDim + c] = Float(acc)
                }
            }
        }
        return out
    }
}
