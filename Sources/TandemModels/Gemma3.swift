// Gemma 3 (text): Hugging Face `modeling_gemma3.py` (`Gemma3ForCausalLM`), as llama.cpp runs
// its `gemma3` GGUFs. A LLaMA-like decoder with Gemma's differences:
//   * RMS norms multiply by (1 + w) — Hugging Face stores w; llama.cpp's converter writes 1 + w
//     into the GGUF, so an imported file says `norm_weight_offset: 0` and a checkpoint adds 1;
//   * token embeddings scaled by √d before the first layer;
//   * q and k each RMS-normed per head (`q_norm`, `k_norm`) before the rotation;
//   * scores scaled by query_pre_attn_scalar^-½ rather than head_dim^-½ (equal in Gemma 3
//     270M–12B, both 256);
//   * every layer's attention and MLP outputs normed again before the residual add (four norms
//     a layer: input, post-attention, pre-feed-forward, post-feed-forward);
//   * GELU (tanh) gated MLP;
//   * local layers attending to the last `sliding_window` positions only, with their own rope
//     base (10⁴), and every sixth layer global (rope base 10⁶) — `layer_types`, or the pattern;
//   * the head tied to the embedding, no logit soft-capping (Gemma 2's is gone in Gemma 3).
// Rotation is half-split (`rotate_half`; llama.cpp's NEOX), so GGUF rows are not permuted.
import TandemFormat
import TandemKernels

/// Gemma 3's text config, the keys Tandem uses (Hugging Face names).
public struct Gemma3Config: Sendable, Equatable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var headDim: Int
    public var rmsNormEps: Float
    /// Rope bases of the global and the sliding-window layers.
    public var ropeTheta: Float
    public var ropeLocalTheta: Float
    public var slidingWindow: Int
    /// Per layer: whether it attends within the sliding window.
    public var slidingLayers: [Bool]
    public var queryPreAttnScalar: Float
    public var maxPositionEmbeddings: Int?
    /// Added to every norm weight (1 for Hugging Face's w; 0 for a GGUF's 1 + w).
    public var normWeightOffset: Float
    public var bosTokenId: Int?
    public var eosTokenId: Int?

    /// Gemma 3's default layer pattern: five sliding-window layers, then one global.
    public static let defaultPattern = 6

    public static func from(_ json: JSONValue) throws(ConfigError) -> Gemma3Config {
        func int(_ key: String) throws(ConfigError) -> Int { try json.requiredInt(key) }
        func float(_ key: String) -> Float? { json[key]?.doubleValue.map(Float.init) }
        let layers = try int("num_hidden_layers")
        guard layers <= ConfigLimits.maxLayers else {
            throw ConfigError("config.json: num_hidden_layers = \(layers) is more than \(ConfigLimits.maxLayers) layers")
        }
        let heads = try int("num_attention_heads")
        let kvHeads = json.optionalInt("num_key_value_heads") ?? heads
        guard kvHeads > 0, heads % kvHeads == 0 else {
            throw ConfigError("config.json: \(heads) attention heads are not a multiple of \(kvHeads) key/value heads")
        }
        let headDim = try int("head_dim")
        guard headDim % 2 == 0, headDim <= 1 << 16 else { throw ConfigError("config.json: head_dim \(headDim) is odd or out of range") }
        for (key, v) in [("vocab_size", try int("vocab_size")), ("hidden_size", try int("hidden_size")),
                         ("intermediate_size", try int("intermediate_size")), ("num_attention_heads", heads)] where v > 1 << 24 {
            throw ConfigError("config.json: \(key) = \(v) is out of range")
        }
        if let act = json["hidden_activation"]?.stringValue, act != "gelu_pytorch_tanh" {
            throw ConfigError("config.json: hidden_activation \(act) is not supported (Gemma 3 uses gelu_pytorch_tanh)")
        }
        for key in ["final_logit_softcapping", "attn_logit_softcapping"] {
            if let v = json[key], v != .null { throw ConfigError("config.json: \(key) is not supported (Gemma 3 has none)") }
        }
        if json["use_bidirectional_attention"]?.boolValue == true {
            throw ConfigError("config.json: use_bidirectional_attention is not supported (an embedding model, not a generator)")
        }
        if let scaling = json["rope_scaling"], scaling != .null {
            throw ConfigError("config.json: rope_scaling is not supported yet (Gemma 3 270M and 1B have none)")
        }
        // transformers 5.x: rope_parameters per layer type; 4.x: rope_theta and rope_local_base_freq.
        var global = float("rope_theta") ?? 1_000_000, local = float("rope_local_base_freq") ?? 10_000
        if let rope = json["rope_parameters"], case .object = rope {
            for (type, isLocal) in [("full_attention", false), ("sliding_attention", true)] {
                guard let p = rope[type] else { continue }
                if let t = p["rope_type"]?.stringValue, t != "default" {
                    throw ConfigError("config.json: rope_type \(t) (\(type)) is not supported yet")
                }
                if let theta = p["rope_theta"]?.doubleValue { if isLocal { local = Float(theta) } else { global = Float(theta) } }
            }
        }
        let window = try int("sliding_window")
        var sliding: [Bool]
        if let types = json["layer_types"]?.arrayValue {
            sliding = []
            for t in types {
                switch t.stringValue {
                case "sliding_attention": sliding.append(true)
                case "full_attention": sliding.append(false)
                default: throw ConfigError("config.json: layer type \(t) is not sliding_attention or full_attention")
                }
            }
            guard sliding.count == layers else { throw ConfigError("config.json: \(sliding.count) layer_types for \(layers) layers") }
        } else {
            let pattern = json.optionalInt("sliding_window_pattern") ?? json.optionalInt("_sliding_window_pattern") ?? defaultPattern
            guard pattern > 0 else { throw ConfigError("config.json: sliding_window_pattern \(pattern) is not positive") }
            sliding = (0..<layers).map { ($0 + 1) % pattern != 0 }
        }
        let scalar = float("query_pre_attn_scalar") ?? Float(headDim)
        guard scalar > 0, scalar.isFinite else { throw ConfigError("config.json: query_pre_attn_scalar \(scalar) is not positive") }
        return Gemma3Config(
            vocabSize: try int("vocab_size"), hiddenSize: try int("hidden_size"), intermediateSize: try int("intermediate_size"),
            numHiddenLayers: layers, numAttentionHeads: heads, numKeyValueHeads: kvHeads, headDim: headDim,
            rmsNormEps: float("rms_norm_eps") ?? 1e-6, ropeTheta: global, ropeLocalTheta: local, slidingWindow: window,
            slidingLayers: sliding, queryPreAttnScalar: scalar, maxPositionEmbeddings: json.optionalInt("max_position_embeddings"),
            normWeightOffset: float("norm_weight_offset") ?? 1,
            bosTokenId: json.optionalInt("bos_token_id"), eosTokenId: json.optionalInt("eos_token_id"))
    }
}

/// Gemma 3's tensors, each named and shaped once (the converter's table and the model's fields).
public struct Gemma3Tensors: Sendable {
    public struct Layer: Sendable {
        public let inputNorm, postAttentionNorm, preFeedForwardNorm, postFeedForwardNorm: ExpectedTensor  // [d]
        public let qNorm, kNorm: ExpectedTensor     // [hd]
        public let q: ExpectedTensor                // [heads·hd, d]
        public let k, v: ExpectedTensor             // [kv_heads·hd, d]
        public let o: ExpectedTensor                // [d, heads·hd]
        public let gate, up: ExpectedTensor         // [ff, d]
        public let down: ExpectedTensor             // [d, ff]

        init(_ i: Int, _ c: Gemma3Config) {
            let p = "model.layers.\(i)", d = c.hiddenSize, ff = c.intermediateSize, hd = c.headDim
            let qw = c.numAttentionHeads * hd, kvw = c.numKeyValueHeads * hd
            inputNorm = ExpectedTensor("\(p).input_layernorm.weight", [d], .norm)
            postAttentionNorm = ExpectedTensor("\(p).post_attention_layernorm.weight", [d], .norm)
            preFeedForwardNorm = ExpectedTensor("\(p).pre_feedforward_layernorm.weight", [d], .norm)
            postFeedForwardNorm = ExpectedTensor("\(p).post_feedforward_layernorm.weight", [d], .norm)
            qNorm = ExpectedTensor("\(p).self_attn.q_norm.weight", [hd], .norm)
            kNorm = ExpectedTensor("\(p).self_attn.k_norm.weight", [hd], .norm)
            q = ExpectedTensor("\(p).self_attn.q_proj.weight", [qw, d], .linear)
            k = ExpectedTensor("\(p).self_attn.k_proj.weight", [kvw, d], .linear)
            v = ExpectedTensor("\(p).self_attn.v_proj.weight", [kvw, d], .linear)
            o = ExpectedTensor("\(p).self_attn.o_proj.weight", [d, qw], .linear)
            gate = ExpectedTensor("\(p).mlp.gate_proj.weight", [ff, d], .linear)
            up = ExpectedTensor("\(p).mlp.up_proj.weight", [ff, d], .linear)
            down = ExpectedTensor("\(p).mlp.down_proj.weight", [d, ff], .linear)
        }

        var all: [ExpectedTensor] {
            [inputNorm, q, k, v, qNorm, kNorm, o, postAttentionNorm, preFeedForwardNorm, gate, up, down, postFeedForwardNorm]
        }
    }

    public let embedTokens: ExpectedTensor     // [vocab, d], also the head
    public let layers: [Layer]
    public let norm: ExpectedTensor            // [d]

    public init(_ c: Gemma3Config) {
        embedTokens = ExpectedTensor("model.embed_tokens.weight", [c.vocabSize, c.hiddenSize], .embedding)
        layers = (0..<c.numHiddenLayers).map { Layer($0, c) }
        norm = ExpectedTensor("model.norm.weight", [c.hiddenSize], .norm)
    }

    public var all: [ExpectedTensor] { [embedTokens] + layers.flatMap(\.all) + [norm] }
}

public enum Gemma3Architecture: Architecture {
    /// `gemma3_text` is the text model's config (Gemma 3 270M and 1B, and the text part of the
    /// larger ones); a multimodal `gemma3` config nests it under `text_config`, which Tandem
    /// does not unpack.
    public static let modelTypes = ["gemma3_text"]

    public static func expectedTensors(config json: JSONValue, checkpointNames: Set<String>) throws(ConfigError) -> [ExpectedTensor] {
        let c = try Gemma3Config.from(json)
        if json["tie_word_embeddings"]?.boolValue == false || checkpointNames.contains("lm_head.weight") {
            throw ConfigError("config.json: an untied Gemma 3 head is not supported (Gemma 3 ties it to the embedding)")
        }
        return Gemma3Tensors(c).all
    }

    public static func generationDefaults(config json: JSONValue) -> [String: JSONValue] {
        LlamaArchitecture.generationDefaults(config: json)
    }

    public static func embeddingWidth(config json: JSONValue) throws(ConfigError) -> Int { try Gemma3Config.from(json).hiddenSize }

    public static let isDecoderOnly = true

    public static func load(_ w: ModelWeights, config json: JSONValue, generation g: [String: JSONValue], pool: ThreadPool) throws(ModelError)
        -> any PromptedModel {
        let model = try Gemma3Model(weights: w, config: try parsed { () throws(ConfigError) in try Gemma3Config.from(json) }, pool: pool)
        return CausalRunner(model: model, eosTokenId: tokenId("eos_token_id", g, json), firstResponseToken: tokenId("bos_token_id", g, json),
                            startToken: startToken(g, json, byDefault: true))
    }

    /// llama.cpp's `gemma3` GGUFs (convert_hf_to_gguf.py `Gemma3Model`): norms stored as 1 + w,
    /// q and k not permuted, the window and rope base in `gemma3.*`, the sliding layers and the
    /// local rope base (10⁴) fixed by llama.cpp rather than stored.
    public static let gguf: GGUFMapping? = GGUFMapping(
        name: "gemma3", tensorName: ggufTensorName,
        config: { (file) throws(ConfigError) in try ggufConfig(file) })

    @Sendable static func ggufTensorName(_ name: String) -> String? {
        switch name {
        case "token_embd.weight": return "model.embed_tokens.weight"
        case "output_norm.weight": return "model.norm.weight"
        default: break
        }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "blk", let layer = Int(parts[1]), layer >= 0, String(layer) == parts[1],
              parts[3] == "weight", let hf = ggufLayerNames[String(parts[2])] else { return nil }
        return "model.layers.\(layer).\(hf).weight"
    }

    static let ggufLayerNames = [
        "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
        "attn_output": "self_attn.o_proj", "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm",
        "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
        "attn_norm": "input_layernorm", "post_attention_norm": "post_attention_layernorm",
        "ffn_norm": "pre_feedforward_layernorm", "post_ffw_norm": "post_feedforward_layernorm",
    ]

    /// The Hugging Face config a `gemma3` GGUF's metadata describes. llama.cpp scales scores by
    /// key_length^-½ (except for the 27B, which Tandem refuses by its shape), takes layers
    /// il % 6 < 5 as sliding, and rotates them with base 10⁴.
    static func ggufConfig(_ file: GGUFFile) throws(ConfigError) -> JSONValue {
        guard file.tensor("output.weight") == nil else {
            throw ConfigError("GGUF gemma3 file has an untied output.weight, which Gemma 3 does not have")
        }
        var json = try LlamaArchitecture.ggufConfig(file, prefix: "gemma3", modelType: "gemma3_text", className: "Gemma3ForCausalLM")
        guard case .object(var o) = json else { return json }
        let hidden = o["hidden_size"]?.intValue ?? 0, heads = o["num_attention_heads"]?.intValue ?? 1
        let headDim = o["head_dim"]?.intValue ?? 0
        if hidden == 5376 && heads == 32 {
            throw ConfigError("GGUF gemma3 27B scales attention by d/heads, which is not supported yet")
        }
        guard let window = file["gemma3.attention.sliding_window"]?.integer.flatMap({ Int(exactly: $0) }), window > 0 else {
            throw ConfigError("GGUF has no positive gemma3.attention.sliding_window")
        }
        for key in ["attention_bias", "mlp_bias", "hidden_act", "rope_layout", "tie_word_embeddings"] { o[key] = nil }
        o["sliding_window"] = .number(Double(window))
        o["sliding_window_pattern"] = .number(Double(Gemma3Config.defaultPattern))
        o["rope_local_base_freq"] = .number(10_000)
        o["query_pre_attn_scalar"] = .number(Double(headDim))
        o["hidden_activation"] = .string("gelu_pytorch_tanh")
        o["norm_weight_offset"] = .number(0)
        json = .object(o)
        return json
    }
}

public final class Gemma3Model: CausalLanguageModel, @unchecked Sendable {
    public let config: Gemma3Config
    public let pool: ThreadPool
    public let weights: ModelWeights
    let embedding: Embedding               // [vocab, d], also the head
    let layers: [Layer]
    let norm: UnsafeBufferPointer<Float>   // [d]
    let head: Linear
    let globalRope, localRope: RoPE
    let embeddingScale: Float
    /// Norm weights with the offset added, when the file stores them without it (a checkpoint's w).
    private let ownedNorms: [FloatBuffer]

    struct Layer {
        var inputNorm, postAttentionNorm, preFeedForwardNorm, postFeedForwardNorm: UnsafeBufferPointer<Float>  // [d]
        var qNorm, kNorm: UnsafeBufferPointer<Float>   // [hd]
        var q, k, v, o: Linear
        var gate, up, down: Linear
        var sliding: Bool
    }

    public init(weights w: ModelWeights, config c: Gemma3Config, pool: ThreadPool) throws(ModelError) {
        config = c
        weights = w
        self.pool = pool
        var owned: [FloatBuffer] = []
        func norm(_ t: ExpectedTensor) throws(ModelError) -> UnsafeBufferPointer<Float> {
            let mapped = try w.vector(t)
            guard c.normWeightOffset != 0 else { return mapped }
            let b = FloatBuffer(count: mapped.count, zeroed: false)
            for i in mapped.indices { b.mutable[i] = mapped[i] + c.normWeightOffset }
            owned.append(b)
            return b.buffer
        }
        let t = Gemma3Tensors(c)
        embedding = try w.embedding(t.embedTokens)
        var ls: [Layer] = []
        for (i, l) in t.layers.enumerated() {
            ls.append(Layer(
                inputNorm: try norm(l.inputNorm), postAttentionNorm: try norm(l.postAttentionNorm),
                preFeedForwardNorm: try norm(l.preFeedForwardNorm), postFeedForwardNorm: try norm(l.postFeedForwardNorm),
                qNorm: try norm(l.qNorm), kNorm: try norm(l.kNorm),
                q: try w.linear(l.q), k: try w.linear(l.k), v: try w.linear(l.v), o: try w.linear(l.o),
                gate: try w.linear(l.gate), up: try w.linear(l.up), down: try w.linear(l.down), sliding: c.slidingLayers[i]))
        }
        layers = ls
        self.norm = try norm(t.norm)
        ownedNorms = owned
        head = Linear(weight: embedding.matrix)
        globalRope = RoPE(headDim: c.headDim, base: c.ropeTheta, style: .halfSplit)
        localRope = RoPE(headDim: c.headDim, base: c.ropeLocalTheta, style: .halfSplit)
        embeddingScale = Float(c.hiddenSize).squareRoot()
    }

    public var vocabularySize: Int { config.vocabSize }
    public var hiddenSize: Int { config.hiddenSize }
    public var layerCount: Int { config.numHiddenLayers }
    public var cacheWidth: Int { config.numKeyValueHeads * config.headDim }
    public var maxPositions: Int? { config.maxPositionEmbeddings }

    public var prepackedBytes: Int {
        layers.reduce(0) { acc, l in acc + [l.q, l.k, l.v, l.o, l.gate, l.up, l.down].reduce(0) { $0 + $1.prepackedBytes } } + head.prepackedBytes
    }

    /// `forward`'s activations for `rows` rows, both rotary tables, the attention scratch, and the
    /// largest widening of a grouped product (as `LlamaModel.workingBytes`).
    public func workingBytes(rows n: Int, keys: Int) -> Int {
        let c = config, hd = c.headDim
        let activations = n * (2 * c.hiddenSize + (2 * c.numAttentionHeads + 2 * c.numKeyValueHeads) * hd + 2 * c.intermediateSize
            + 2 * globalRope.rotaryDim)
        let widened = layers.map { l in
            [[l.q, l.k, l.v], [l.o], [l.gate, l.up], [l.down]].map { $0.reduce(0) { $0 + $1.widenedBytes(rows: n) } }.max()!
        }.max() ?? 0
        return 4 * (activations + vocabularySize) + PrefillAttention.scratchBytes(keys: max(n, keys), headDim: hd, threads: pool.threadCount)
            + max(widened, head.widenedBytes(rows: n))
    }

    /// The token embeddings scaled by √d, as the model's first layer reads them.
    public func embed(_ ids: [Int32]) throws(ModelError) -> FloatBuffer {
        let x = try embedding.embed(ids)
        let scale = embeddingScale
        pool.shareOut(x.count) { range in
            for i in range { x.mutable[i] *= scale }
        }
        return x
    }

    public func forward(_ x: FloatBuffer, segments: [(state: CausalState, rows: Int)], tracer: ForwardTracer? = nil) throws(ModelError) -> FloatBuffer {
        try forward(x, segments: segments, tracer: tracer, logitsFrom: nil)
    }

    public func forward(_ x: FloatBuffer, segment: (state: CausalState, rows: Int), tracer: ForwardTracer?, logitsFrom: Int) throws(ModelError) -> FloatBuffer {
        try forward(x, segments: [segment], tracer: tracer, logitsFrom: logitsFrom)
    }

    func forward(_ x: FloatBuffer, segments: [(state: CausalState, rows: Int)], tracer: ForwardTracer?, logitsFrom: Int?) throws(ModelError) -> FloatBuffer {
        let c = config
        let d = c.hiddenSize, hd = c.headDim, heads = c.numAttentionHeads, kvh = c.numKeyValueHeads, ff = c.intermediateSize
        let positions = try positions(segments)
        let n = positions.count, decoding = isDecodingStep(segments)
        let h = FloatBuffer(count: n * d), q = FloatBuffer(count: n * heads * hd)
        let k = FloatBuffer(count: n * kvh * hd), v = FloatBuffer(count: n * kvh * hd)
        let attn = FloatBuffer(count: n * heads * hd), proj = FloatBuffer(count: n * d)
        let gate = FloatBuffer(count: n * ff), up = FloatBuffer(count: n * ff)
        // Every row's rotary angles at both bases, once for all layers.
        let rd = globalRope.rotaryDim
        let angles = FloatBuffer(count: 2 * n * rd, zeroed: false)
        for (r, p) in positions.enumerated() {
            globalRope.angles(position: p, into: angles.mutable.baseAddress! + r * rd)
            localRope.angles(position: p, into: angles.mutable.baseAddress! + (n + r) * rd)
        }
        let scale = 1 / c.queryPreAttnScalar.squareRoot()
        for (l, layer) in layers.enumerated() {
            Ops.rmsNormRows(x.buffer, rows: n, width: d, weight: layer.inputNorm, epsilon: c.rmsNormEps, into: h.mutable, pool: pool)
            Linear.apply([layer.q, layer.k, layer.v], h.buffer, rows: n, into: [q.mutable, k.mutable, v.mutable], pool: pool, decoding: decoding)
            // Per-head norms of q and k (rows of hd, in place), then the rotation.
            Ops.rmsNormRows(q.buffer, rows: n * heads, width: hd, weight: layer.qNorm, epsilon: c.rmsNormEps, into: q.mutable, pool: pool)
            Ops.rmsNormRows(k.buffer, rows: n * kvh, width: hd, weight: layer.kNorm, epsilon: c.rmsNormEps, into: k.mutable, pool: pool)
            let rope = layer.sliding ? localRope : globalRope, table = layer.sliding ? n * rd : 0
            pool.shareOut(n, floats: n * (heads + kvh) * hd) { rows in
                for r in rows {
                    let a = UnsafePointer(angles.mutable.baseAddress! + table + r * rd)
                    rope.apply(q.mutable.baseAddress! + r * heads * hd, heads: heads, angles: a)
                    rope.apply(k.mutable.baseAddress! + r * kvh * hd, heads: kvh, angles: a)
                }
            }
            attendSegments(layer: l, segments: segments, q: q, k: k, v: v, out: attn, heads: heads, kvHeads: kvh, headDim: hd,
                           scale: scale, window: layer.sliding ? c.slidingWindow : nil,
                           allowBF16: layer.q.weight.dtype.isQuantized, pool: pool)
            layer.o(attn.buffer, rows: n, into: proj.mutable, pool: pool, decoding: decoding)
            Ops.rmsNormRows(proj.buffer, rows: n, width: d, weight: layer.postAttentionNorm, epsilon: c.rmsNormEps, into: proj.mutable, pool: pool)
            Ops.addInPlace(x.mutable, proj.buffer, count: n * d, pool: pool)
            Ops.rmsNormRows(x.buffer, rows: n, width: d, weight: layer.preFeedForwardNorm, epsilon: c.rmsNormEps, into: h.mutable, pool: pool)
            Linear.apply([layer.gate, layer.up], h.buffer, rows: n, into: [gate.mutable, up.mutable], pool: pool, decoding: decoding)
            pool.shareOut(n * ff) { range in
                Ops.gatedGelu(gate: UnsafeMutableBufferPointer(rebasing: gate.mutable[range]), up: UnsafeBufferPointer(rebasing: up.buffer[range]))
            }
            layer.down(gate.buffer, rows: n, into: proj.mutable, pool: pool, decoding: decoding)
            Ops.rmsNormRows(proj.buffer, rows: n, width: d, weight: layer.postFeedForwardNorm, epsilon: c.rmsNormEps, into: proj.mutable, pool: pool)
            Ops.addInPlace(x.mutable, proj.buffer, count: n * d, pool: pool)
            tracer?.record("model.layers.\(l)", x.buffer, shape: [n, d])
        }
        return logitsOfLastRows(x, segments: segments, width: d, head: head, pool: pool, tracer: tracer, logitsFrom: logitsFrom) { row, out in
            Ops.rmsNorm(row, weight: norm, epsilon: c.rmsNormEps, into: out)
        }
    }
}
