// Rotary position embedding (Su et al. 2021, RoFormer §3.4). Two pairings are in use and mixing
// them up silently ruins a model (candle's T5/LLaMA RoPE mismatch with llama.cpp is the cautionary
// tale), so the convention is part of the type:
// * interleaved: dimensions (2i, 2i+1) rotate together (GPT-J, Meta's original LLaMA code, GGUF);
// * halfSplit: dimensions (i, i + d/2) rotate together (Hugging Face `rotate_half`: LLaMA, SmolLM2,
//   GPT-NeoX).
// Angles follow Hugging Face: inv_freq = base^(−2i/d) and angle = position · inv_freq, both in f32.
import Foundation

/// Rotary embedding for one head size; apply it to queries and keys before attention.
public struct RoPE: Sendable {
    public enum Style: String, Sendable {
        case interleaved
        case halfSplit
    }

    public let headDim: Int
    /// Leading dimensions that rotate (all of them unless partial rotary); the rest pass through.
    public let rotaryDim: Int
    public let base: Float
    public let style: Style
    let inverseFrequency: [Float]

    public init(headDim: Int, rotaryDim: Int? = nil, base: Float = 10_000, style: Style) {
        let r = rotaryDim ?? headDim
        precondition(r > 0 && r % 2 == 0 && r <= headDim, "RoPE: rotary dimension \(r) of head \(headDim)")
        self.headDim = headDim
        self.rotaryDim = r
        self.base = base
        self.style = style
        inverseFrequency = (0..<r / 2).map { i in 1 / Float(pow(Double(base), Double(Float(2 * i) / Float(r)))) }
    }

    /// Rotates `heads` vectors of `headDim` floats (one token, row-major [heads, headDim]) in place
    /// for position `position`.
    public func apply(_ x: UnsafeMutablePointer<Float>, heads: Int, position: Int) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: rotaryDim) { cs in
            angles(position: position, into: cs.baseAddress!)
            apply(x, heads: heads, angles: UnsafePointer(cs.baseAddress!))
        }
    }

    /// The cosine and sine of every rotary pair at `position`: `rotaryDim` floats, [cos₀, sin₀,
    /// cos₁, sin₁, …]. A prompt pass computes them once per position for all layers, queries and
    /// keys (`apply(_:heads:angles:)`), instead of once per layer and tensor.
    public func angles(position: Int, into cs: UnsafeMutablePointer<Float>) {
        for i in 0..<rotaryDim / 2 {
            let angle = Float(position) * inverseFrequency[i]
            cs[2 * i] = Float(Foundation.cos(Double(angle)))
            cs[2 * i + 1] = Float(Foundation.sin(Double(angle)))
        }
    }

    /// Rotates `heads` vectors by the `angles` of one position.
    public func apply(_ x: UnsafeMutablePointer<Float>, heads: Int, angles cs: UnsafePointer<Float>) {
        let half = rotaryDim / 2
        for h in 0..<heads {
            let v = x + h * headDim
            for i in 0..<half {
                let (a, b) = style == .interleaved ? (2 * i, 2 * i + 1) : (i, i + half)
                let c = cs[2 * i], s = cs[2 * i + 1]
                let x0 = v[a], x1 = v[b]
                v[a] = x0 * c - x1 * s
                v[b] = x1 * c + x0 * s
            }
        }
    }

    /// Rotates `tokens` consecutive tokens ([tokens, heads, headDim]) at positions start, start+1, …
    public func apply(_ x: UnsafeMutablePointer<Float>, tokens: Int, heads: Int, startPosition: Int) {
        for t in 0..<tokens { apply(x + t * heads * headDim, heads: heads, position: startPosition + t) }
    }
}
