// GPT-2 forward pass (Radford et al. 2019; Hugging Face `modeling_gpt2.py`): learned absolute
// positions added to the token (or given input) embeddings, pre-LayerNorm blocks with biases,
// fused qkv projection, causal attention scaled by 1/√d_head, tanh-GELU MLP, final LayerNorm,
// head tied to `wte`. Weights use Tandem's `[out, in]` layout (the converter transposed Conv1D).
import TandemFormat
import TandemKernels

public final class GPT2Model: CausalLanguageModel, @unchecked Sendable {
    public let config: GPT2Config
    public let pool: ThreadPool
    /// The mapped file every weight points into, kept alive as long as the model.
    public let weights: ModelWeights
    let wte: Embedding                                                     // [vocab, d]; also the head
    let wpe: UnsafeBufferPointer<Float>                                    // [n_positions, d]
    let layers: [Layer]
    let lnF: (UnsafeBufferPointer<Float>, UnsafeBufferPointer<Float>)      // [d], [d]
    let head: Linear                                                       // [vocab, d], tied to wte
    let epsilon: Float

    struct Layer {
        var ln1w, ln1b, ln2w, ln2b: UnsafeBufferPointer<Float>  // [d]
        var qkv: Linear      // [3d, d] + bias
        var proj: Linear     // [d, d] + bias
        var fc: Linear       // [inner, d] + bias
        var fcProj: Linear   // [d, inner] + bias
    }

    public init(weights w: ModelWeights, config: GPT2Config, pool: ThreadPool) throws(ModelError) {
        self.config = config
        weights = w
        self.pool = pool
        epsilon = config.layerNormEpsilon ?? 1e-5
        let t = GPT2Tensors(config)
        wte = try w.embedding(t.wte)
        wpe = try w.vector(t.wpe)
        var ls: [Layer] = []
        for b in t.blocks {
            ls.append(Layer(
                ln1w: try w.vector(b.ln1), ln1b: try w.vector(b.ln1Bias), ln2w: try w.vector(b.ln2), ln2b: try w.vector(b.ln2Bias),
                qkv: try w.linear(b.qkv, bias: b.qkvBias), proj: try w.linear(b.proj, bias: b.projBias),
                fc: try w.linear(b.fc, bias: b.fcBias), fcProj: try w.linear(b.fcProj, bias: b.fcProjBias)))
        }
        layers = ls
        lnF = (try w.vector(t.lnF), try w.vector(t.lnFBias))
        head = Linear(weight: wte.matrix)
    }

    public var vocabularySize: Int { config.vocabSize }

    public var prepackedBytes: Int {
        layers.reduce(0) { acc, l in acc + [l.qkv, l.proj, l.fc, l.fcProj].reduce(0) { $0 + $1.prepackedBytes } } + head.prepackedBytes
    }

    /// `forward`'s activations for `rows` rows and the attention tasks' scores over `keys` keys.
    public func workingBytes(rows n: Int, keys: Int) -> Int {
        let d = config.nEmbd
        return 4 * (n * (9 * d + config.inner) + vocabularySize)
            + PrefillAttention.scratchBytes(keys: max(n, keys), headDim: d / config.nHead, threads: pool.threadCount)
    }
    public var hiddenSize: Int { config.nEmbd }
    public var layerCount: Int { config.nLayer }
    public var cacheWidth: Int { config.nEmbd }
    public var maxPositions: Int? { config.nPositions }

    public func embed(_ ids: [Int32]) throws(ModelError) -> FloatBuffer {
        try wte.embed(ids)
    }

    public func forward(_ x: FloatBuffer, segments: [(state: CausalState, rows: Int)], tracer: ForwardTracer? = nil) throws(ModelError) -> FloatBuffer {
        try forward(x, segments: segments, tracer: tracer, logitsFrom: nil)
    }

    public func forward(_ x: FloatBuffer, segment: (state: CausalState, rows: Int), tracer: ForwardTracer?, logitsFrom: Int) throws(ModelError) -> FloatBuffer {
        try forward(x, segments: [segment], tracer: tracer, logitsFrom: logitsFrom)
    }

    func forward(_ x: FloatBuffer, segments: [(state: CausalState, rows: Int)], tracer: ForwardTracer?, logitsFrom: Int?) throws(ModelError) -> FloatBuffer {
        let d = config.nEmbd, inner = config.inner, heads = config.nHead
        let positions = try positions(segments)
        let n = positions.count, decoding = isDecodingStep(segments)
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
            layer.qkv(h.buffer, rows: n, into: qkv.mutable, pool: pool, decoding: decoding)
            for r in 0..<n {
                _ = q[r * d..<(r + 1) * d].update(fromContentsOf: qkv.mutable[r * 3 * d..<r * 3 * d + d])
                _ = k[r * d..<(r + 1) * d].update(fromContentsOf: qkv.mutable[r * 3 * d + d..<r * 3 * d + 2 * d])
                _ = v[r * d..<(r + 1) * d].update(fromContentsOf: qkv.mutable[r * 3 * d + 2 * d..<(r + 1) * 3 * d])
            }
            attendSegments(layer: l, segments: segments, q: q, k: k, v: v, out: attn, heads: heads, kvHeads: heads, headDim: d / heads,
                           allowBF16: layer.qkv.weight.dtype.isQuantized, pool: pool)
            layer.proj(attn.buffer, rows: n, into: proj.mutable, pool: pool, decoding: decoding)
            Ops.addInPlace(x.mutable, proj.buffer, count: n * d, pool: pool)
            layerNorm(layer.ln2w, layer.ln2b)
            layer.fc(h.buffer, rows: n, into: a.mutable, pool: pool, decoding: decoding)
            pool.shareOut(n * inner) { range in Ops.gelu(UnsafeMutableBufferPointer(rebasing: a.mutable[range])) }
            layer.fcProj(a.buffer, rows: n, into: proj.mutable, pool: pool, decoding: decoding)
            Ops.addInPlace(x.mutable, proj.buffer, count: n * d, pool: pool)
            tracer?.record("h.\(l)", x.buffer, shape: [n, d])
        }
        return logitsOfLastRows(x, segments: segments, width: d, head: head, pool: pool, tracer: tracer, logitsFrom: logitsFrom) { row, out in
            Ops.layerNorm(row, weight: lnF.0, bias: lnF.1, epsilon: epsilon, into: out)
        }
    }
}
