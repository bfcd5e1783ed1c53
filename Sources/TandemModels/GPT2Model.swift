// GPT-2 forward pass (Radford et al. 2019; Hugging Face `modeling_gpt2.py`): learned absolute
// positions added to the token (or given input) embeddings, pre-LayerNorm blocks with biases,
// fused qkv projection, causal attention scaled by 1/√d_head, tanh-GELU MLP, final LayerNorm,
// head tied to `wte`. Weights use Tandem's `[out, in]` layout (the converter transposed Conv1D).
import TandemFormat
import TandemKernels

public final class GPT2Model: CausalLanguageModel, @unchecked Sendable {
    public let config: GPT2Config
    public let pool: ThreadPool
    let wte: Embedding
    let wpe: UnsafeBufferPointer<Float>   // [n_positions, d]
    let layers: [Layer]
    let lnF: (UnsafeBufferPointer<Float>, UnsafeBufferPointer<Float>)
    let head: Linear
    let epsilon: Float

    struct Layer {
        var ln1w, ln1b, ln2w, ln2b: UnsafeBufferPointer<Float>
        var qkv: Linear      // [3d, d]
        var proj: Linear     // [d, d]
        var fc: Linear       // [inner, d]
        var fcProj: Linear   // [d, inner]
    }

    public init(weights w: ModelWeights, config: GPT2Config, pool: ThreadPool) throws(ModelError) {
        self.config = config
        self.pool = pool
        let d = config.nEmbd, inner = config.inner
        epsilon = config.layerNormEpsilon ?? 1e-5
        wte = try w.embedding("wte.weight", vocabulary: config.vocabSize, dimension: d)
        wpe = try w.vector("wpe.weight", count: config.nPositions * d, shape: [config.nPositions, d])
        var ls: [Layer] = []
        for i in 0..<config.nLayer {
            let p = "h.\(i)"
            ls.append(Layer(
                ln1w: try w.vector("\(p).ln_1.weight", count: d), ln1b: try w.vector("\(p).ln_1.bias", count: d),
                ln2w: try w.vector("\(p).ln_2.weight", count: d), ln2b: try w.vector("\(p).ln_2.bias", count: d),
                qkv: try w.linear("\(p).attn.c_attn.weight", out: 3 * d, in: d, bias: "\(p).attn.c_attn.bias"),
                proj: try w.linear("\(p).attn.c_proj.weight", out: d, in: d, bias: "\(p).attn.c_proj.bias"),
                fc: try w.linear("\(p).mlp.c_fc.weight", out: inner, in: d, bias: "\(p).mlp.c_fc.bias"),
                fcProj: try w.linear("\(p).mlp.c_proj.weight", out: d, in: inner, bias: "\(p).mlp.c_proj.bias")))
        }
        layers = ls
        lnF = (try w.vector("ln_f.weight", count: d), try w.vector("ln_f.bias", count: d))
        head = Linear(weight: wte.matrix)
    }

    public var vocabularySize: Int { config.vocabSize }
    public var hiddenSize: Int { config.nEmbd }
    public var layerCount: Int { config.nLayer }
    public var cacheWidth: Int { config.nEmbd }
    public var maxPositions: Int? { config.nPositions }

    public func embed(_ ids: [Int32]) throws(ModelError) -> FloatBuffer {
        try wte.embed(ids)
    }

    public func forward(_ x: FloatBuffer, segments: [(state: CausalState, rows: Int)], tracer: ForwardTracer? = nil) throws(ModelError) -> FloatBuffer {
        let d = config.nEmbd, inner = config.inner, heads = config.nHead
        let positions = try positions(segments)
        let n = positions.count
        for (r, p) in positions.enumerated() {
            for j in 0..<d { x.mutable[r * d + j] += wpe[p * d + j] }
        }
        let h = FloatBuffer(count: n * d), qkv = FloatBuffer(count: n * 3 * d)
        let q = FloatBuffer(count: n * d), k = FloatBuffer(count: n * d), v = FloatBuffer(count: n * d)
        let attn = FloatBuffer(count: n * d), proj = FloatBuffer(count: n * d), a = FloatBuffer(count: n * inner)
        // Row-wise and element-wise passes shared out over the pool in a prompt pass (shareOut).
        func layerNorm(_ w: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>) {
            pool.shareOut(n, floats: n * d) { rows in
                for r in rows {
                    Ops.layerNorm(UnsafeBufferPointer(rebasing: x.buffer[r * d..<(r + 1) * d]), weight: w, bias: b, epsilon: epsilon,
                                  into: h.rows(r..<r + 1, width: d))
                }
            }
        }
        for (l, layer) in layers.enumerated() {
            layerNorm(layer.ln1w, layer.ln1b)
            layer.qkv(h.buffer, rows: n, into: qkv.mutable, pool: pool)
            for r in 0..<n {
                _ = q[r * d..<(r + 1) * d].update(fromContentsOf: qkv.mutable[r * 3 * d..<r * 3 * d + d])
                _ = k[r * d..<(r + 1) * d].update(fromContentsOf: qkv.mutable[r * 3 * d + d..<r * 3 * d + 2 * d])
                _ = v[r * d..<(r + 1) * d].update(fromContentsOf: qkv.mutable[r * 3 * d + 2 * d..<(r + 1) * 3 * d])
            }
            attendSegments(layer: l, segments: segments, q: q, k: k, v: v, out: attn, heads: heads, kvHeads: heads, headDim: d / heads,
                           allowBF16: layer.qkv.weight.dtype.isQuantized, pool: pool)
            layer.proj(attn.buffer, rows: n, into: proj.mutable, pool: pool)
            Ops.addInPlace(x.mutable, proj.buffer, count: n * d, pool: pool)
            layerNorm(layer.ln2w, layer.ln2b)
            layer.fc(h.buffer, rows: n, into: a.mutable, pool: pool)
            pool.shareOut(n * inner) { range in Ops.gelu(UnsafeMutableBufferPointer(rebasing: a.mutable[range])) }
            layer.fcProj(a.buffer, rows: n, into: proj.mutable, pool: pool)
            Ops.addInPlace(x.mutable, proj.buffer, count: n * d, pool: pool)
            tracer?.record("h.\(l)", x.buffer, shape: [n, d])
        }
        return logitsOfLastRows(x, segments: segments, width: d, head: head, pool: pool, tracer: tracer) { row, out in
            Ops.layerNorm(row, weight: lnF.0, bias: lnF.1, epsilon: epsilon, into: out)
        }
    }
}
