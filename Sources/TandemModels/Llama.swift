// LLaMA-family models (LLaMA 2/3, SmolLM2): config, tensor map and forward pass, following
// Hugging Face `modeling_llama.py`: RMS norm, rotary position embedding on q and k (half-split
// `rotate_half` convention — GGUF imports are un-permuted to it, see the importer), grouped-query
// attention scaled by 1/√d_head, SwiGLU MLP, tied or untied head.
import TandemFormat
import TandemKernels

/// LLaMA's `config.json`, the keys Tandem uses (Hugging Face names).
public struct LlamaConfig: Codable, Sendable, Equatable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int?
    public var headDim: Int?
    public var rmsNormEps: Float?
    public var ropeTheta: Float?
    public var maxPositionEmbeddings: Int?
    public var tieWordEmbeddings: Bool?
    public var bosTokenId: Int?
    public var eosTokenId: Int?
    /// "hf-half-split" (Hugging Face layout; the default) or "interleaved" (GGUF layout, not permuted back).
    public var ropeLayout: String?
    /// Hugging Face LLaMA's `attention_bias`: biases on the q, k, v and o projections.
    public var attentionBias: Bool?
    /// Biases on q, k and v but not o: Qwen2's layout, which its config does not spell out
    /// (its architecture sets this; never read from JSON).
    public var qkvBias = false

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads"
        case numKeyValueHeads = "num_key_value_heads", headDim = "head_dim", rmsNormEps = "rms_norm_eps"
        case ropeTheta = "rope_theta", maxPositionEmbeddings = "max_position_embeddings"
        case tieWordEmbeddings = "tie_word_embeddings", bosTokenId = "bos_token_id", eosTokenId = "eos_token_id"
        case ropeLayout = "rope_layout", attentionBias = "attention_bias"
    }

    /// Whether q, k and v, and whether o, have biases.
    public var hasQKVBias: Bool { qkvBias || attentionBias == true }
    public var hasOutputBias: Bool { attentionBias == true }

    public var kvHeads: Int { numKeyValueHeads ?? numAttentionHeads }
    public var headSize: Int { headDim ?? hiddenSize / numAttentionHeads }

    public static func from(_ json: JSONValue) throws(ConfigError) -> LlamaConfig {
        var c: LlamaConfig
        do { c = try json.decode(LlamaConfig.self) } catch { throw ConfigError("config.json is not a valid LLaMA config: \(error)") }
        // transformers 5.x nests the RoPE settings under rope_parameters.
        if let rope = json["rope_parameters"], case .object = rope {
            if let type = rope["rope_type"]?.stringValue, type != "default" {
                throw ConfigError("config.json: rope_type \(type) is not supported yet")
            }
            if c.ropeTheta == nil, let theta = rope["rope_theta"]?.doubleValue { c.ropeTheta = Float(theta) }
        }
        for (key, v) in [("vocab_size", c.vocabSize), ("hidden_size", c.hiddenSize), ("intermediate_size", c.intermediateSize),
                         ("num_hidden_layers", c.numHiddenLayers), ("num_attention_heads", c.numAttentionHeads), ("num_key_value_heads", c.kvHeads)]
        where v <= 0 || v > 1 << 24 {
            throw ConfigError("config.json: \(key) = \(v) is out of range")
        }
        guard c.numHiddenLayers <= ConfigLimits.maxLayers else {
            throw ConfigError("config.json: num_hidden_layers = \(c.numHiddenLayers) is more than \(ConfigLimits.maxLayers) layers")
        }
        guard c.numAttentionHeads % c.kvHeads == 0 else {
            throw ConfigError("config.json: \(c.numAttentionHeads) attention heads are not a multiple of \(c.kvHeads) key/value heads")
        }
        // After the loop: without head_dim, the head size divides by num_attention_heads.
        guard c.headSize > 0, c.headSize <= 1 << 24 else { throw ConfigError("config.json: head size \(c.headSize) is out of range") }
        guard c.headSize % 2 == 0 else { throw ConfigError("config.json: head size \(c.headSize) is odd") }
        if let json = json["rope_scaling"], json != .null {
            throw ConfigError("config.json: rope_scaling is not supported yet")
        }
        return c
    }
}

/// LLaMA's tensors, each named and shaped once: the converter checks a checkpoint against `all`,
/// and `LlamaModel` reads each field.
public struct LlamaTensors: Sendable {
    public struct Layer: Sendable {
        public let inputNorm: ExpectedTensor   // [d]
        public let q: ExpectedTensor           // [heads·hd, d]
        public let k, v: ExpectedTensor        // [kv_heads·hd, d]
        public let o: ExpectedTensor           // [d, heads·hd]
        public let postNorm: ExpectedTensor    // [d]
        public let gate, up: ExpectedTensor    // [ff, d]
        public let down: ExpectedTensor        // [d, ff]
        /// Qwen2, or LLaMA with attention_bias.
        public let qBias: ExpectedTensor?      // [heads·hd]
        public let kBias, vBias: ExpectedTensor?  // [kv_heads·hd]
        /// LLaMA with attention_bias.
        public let oBias: ExpectedTensor?      // [d]

        init(_ i: Int, _ c: LlamaConfig) {
            let p = "model.layers.\(i)", d = c.hiddenSize, ff = c.intermediateSize
            let qw = c.numAttentionHeads * c.headSize, kvw = c.kvHeads * c.headSize
            inputNorm = ExpectedTensor("\(p).input_layernorm.weight", [d], .norm)
            q = ExpectedTensor("\(p).self_attn.q_proj.weight", [qw, d], .linear)
            k = ExpectedTensor("\(p).self_attn.k_proj.weight", [kvw, d], .linear)
            v = ExpectedTensor("\(p).self_attn.v_proj.weight", [kvw, d], .linear)
            o = ExpectedTensor("\(p).self_attn.o_proj.weight", [d, qw], .linear)
            postNorm = ExpectedTensor("\(p).post_attention_layernorm.weight", [d], .norm)
            gate = ExpectedTensor("\(p).mlp.gate_proj.weight", [ff, d], .linear)
            up = ExpectedTensor("\(p).mlp.up_proj.weight", [ff, d], .linear)
            down = ExpectedTensor("\(p).mlp.down_proj.weight", [d, ff], .linear)
            func bias(_ name: String, _ n: Int, _ present: Bool) -> ExpectedTensor? {
                present ? ExpectedTensor("\(p).self_attn.\(name).bias", [n], .bias) : nil
            }
            qBias = bias("q_proj", qw, c.hasQKVBias)
            kBias = bias("k_proj", kvw, c.hasQKVBias)
            vBias = bias("v_proj", kvw, c.hasQKVBias)
            oBias = bias("o_proj", d, c.hasOutputBias)
        }

        var all: [ExpectedTensor] {
            [inputNorm, q, qBias, k, kBias, v, vBias, o, oBias, postNorm, gate, up, down].compactMap { $0 }
        }
    }

    public let embedTokens: ExpectedTensor     // [vocab, d]
    public let layers: [Layer]
    public let norm: ExpectedTensor            // [d]
    /// An untied head; a tied one is `embedTokens`.
    public let lmHead: ExpectedTensor          // [vocab, d]

    public init(_ c: LlamaConfig) {
        let d = c.hiddenSize
        embedTokens = ExpectedTensor("model.embed_tokens.weight", [c.vocabSize, d], .embedding)
        layers = (0..<c.numHiddenLayers).map { Layer($0, c) }
        norm = ExpectedTensor("model.norm.weight", [d], .norm)
        lmHead = ExpectedTensor("lm_head.weight", [c.vocabSize, d], .linear)
    }

    /// Every tensor in file order; the head when the model has its own.
    public func all(head: Bool) -> [ExpectedTensor] {
        [embedTokens] + layers.flatMap(\.all) + [norm] + (head ? [lmHead] : [])
    }
}

public enum LlamaArchitecture: Architecture {
    public static let modelTypes = ["llama"]

    public static func expectedTensors(config json: JSONValue, checkpointNames: Set<String>) throws(ConfigError) -> [ExpectedTensor] {
        let c = try LlamaConfig.from(json)
        // An untied head is stored; a tied one is the embedding (some exporters still write a copy).
        return LlamaTensors(c).all(head: !(c.tieWordEmbeddings ?? false) || checkpointNames.contains("lm_head.weight"))
    }

    public static func embeddingWidth(config json: JSONValue) throws(ConfigError) -> Int { try LlamaConfig.from(json).hiddenSize }

    /// llama.cpp's `llama` GGUFs (SmolLM2 among them): its names, its metadata keys, and the q/k row
    /// permutation convert_hf_to_gguf.py applies for ggml's RoPE (`LlamaModel.permute`), undone
    /// over the attention heads for q and the key/value heads for k, so Tandem's LLaMA always
    /// rotates half-split.
    public static let gguf: GGUFMapping? = GGUFMapping(
        name: "llama", tensorName: ggufTensorName,
        config: { (file) throws(ConfigError) in try ggufConfig(file, prefix: "llama", modelType: "llama", className: "LlamaForCausalLM") },
        permutedHeads: { name, json in
            guard let c = try? LlamaConfig.from(json) else { return nil }
            return name.hasSuffix("self_attn.q_proj.weight") ? c.numAttentionHeads : name.hasSuffix("self_attn.k_proj.weight") ? c.kvHeads : nil
        })

    /// GGUF tensor name → Hugging Face name (weights, and biases where a model has them); nil for
    /// tensors the LLaMA model does not use (e.g. `rope_freqs.weight`).
    @Sendable static func ggufTensorName(_ name: String) -> String? {
        switch name {
        case "token_embd.weight": return "model.embed_tokens.weight"
        case "output_norm.weight": return "model.norm.weight"
        case "output.weight": return "lm_head.weight"
        default: break
        }
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "blk", let layer = Int(parts[1]), layer >= 0, String(layer) == parts[1],
              parts[3] == "weight" || parts[3] == "bias", let hf = ggufLayerNames[String(parts[2])] else { return nil }
        return "model.layers.\(layer).\(hf).\(parts[3])"
    }

    static let ggufLayerNames = [
        "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
        "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
        "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    ]

    /// A Hugging Face config JSON of a LLaMA-shaped model (`modelType`, class `className`) from the
    /// `<prefix>.*` metadata (llama.cpp's key names, gguf-py `Keys.LLM` / `Keys.Attention` /
    /// `Keys.Rope`); the rows are in Hugging Face's half-split order once imported.
    static func ggufConfig(_ file: GGUFFile, prefix: String, modelType: String, className: String) throws(ConfigError) -> JSONValue {
        func int(_ key: String) -> Int? { file[key]?.integer.flatMap { Int(exactly: $0) } }
        func required(_ key: String) throws(ConfigError) -> Int {
            guard let v = int(key) else { throw ConfigError("GGUF has no integer \(key)") }
            guard v > 0, v <= 1 << 24 else { throw ConfigError("GGUF \(key) = \(v) is out of range") }
            return v
        }
        /// f32 metadata printed shortest (1e-05, not 9.999999747378752e-06), as Hugging Face writes it.
        func float(_ key: String) -> Double? {
            switch file[key] {
            case let .float32(f)?: Double("\(f)")
            case let v?: v.number
            case nil: nil
            }
        }
        let hidden = try required("\(prefix).embedding_length")
        let heads = try required("\(prefix).attention.head_count")
        let kvHeads = int("\(prefix).attention.head_count_kv") ?? heads
        let headDim = int("\(prefix).attention.key_length") ?? hidden / max(heads, 1)
        if let rot = int("\(prefix).rope.dimension_count"), rot != headDim {
            throw ConfigError("GGUF rotates \(rot) of \(headDim) head dimensions (partial RoPE is not supported)")
        }
        if let scaling = file["\(prefix).rope.scaling.type"]?.string, scaling != "none" {
            throw ConfigError("GGUF uses RoPE scaling \(scaling), which is not supported yet")
        }
        let tokens = file["tokenizer.ggml.tokens"]?.array?.count
        let embd = file.tensor("token_embd.weight")?.info.shape.first
        guard let vocab = int("\(prefix).vocab_size") ?? tokens ?? embd else { throw ConfigError("GGUF gives no vocabulary size") }
        var o: [String: JSONValue] = [
            "model_type": .string(modelType),
            "architectures": .array([.string(className)]),
            "hidden_size": .number(Double(hidden)),
            "intermediate_size": .number(Double(try required("\(prefix).feed_forward_length"))),
            "num_hidden_layers": .number(Double(try required("\(prefix).block_count"))),
            "num_attention_heads": .number(Double(heads)),
            "num_key_value_heads": .number(Double(kvHeads)),
            "head_dim": .number(Double(headDim)),
            "rms_norm_eps": .number(float("\(prefix).attention.layer_norm_rms_epsilon") ?? 1e-5),
            "rope_theta": .number(float("\(prefix).rope.freq_base") ?? 10_000),
            "max_position_embeddings": .number(Double(int("\(prefix).context_length") ?? 2048)),
            "vocab_size": .number(Double(vocab)),
            "tie_word_embeddings": .bool(file.tensor("output.weight") == nil),
            "hidden_act": .string("silu"),
            "attention_bias": .bool(false),
            "mlp_bias": .bool(false),
            "rope_layout": .string("hf-half-split"),
        ]
        for (key, hf) in [("tokenizer.ggml.bos_token_id", "bos_token_id"), ("tokenizer.ggml.eos_token_id", "eos_token_id"),
                          ("tokenizer.ggml.padding_token_id", "pad_token_id")] {
            if let v = int(key) { o[hf] = .number(Double(v)) }
        }
        return .object(o)
    }

    public static let isDecoderOnly = true

    public static func load(_ w: ModelWeights, config json: JSONValue, generation g: [String: JSONValue], pool: ThreadPool) throws(ModelError)
        -> any PromptedModel {
        let model = try LlamaModel(weights: w, config: try parsed { () throws(ConfigError) in try LlamaConfig.from(json) }, pool: pool)
        return CausalRunner(model: model, eosTokenId: tokenId("eos_token_id", g, json), firstResponseToken: tokenId("bos_token_id", g, json),
                            startToken: startToken(g, json, byDefault: false))
    }

    public static func generationDefaults(config json: JSONValue) -> [String: JSONValue] {
        var g: [String: JSONValue] = [:]
        for key in ["bos_token_id", "eos_token_id"] { if let v = json[key] { g[key] = v } }
        return g
    }

    /// A reader needs no head.
    public static let readerTensors: (@Sendable (String) -> Bool)? = { $0 != "lm_head.weight" }

    public static func reader(_ w: ModelWeights, config json: JSONValue, generation g: [String: JSONValue], layer: Int?, pool: ThreadPool)
        throws(ModelError) -> any PromptReader {
        let model = try LlamaModel(weights: w, config: try parsed { () throws(ConfigError) in try LlamaConfig.from(json) }, pool: pool)
        return try CausalReader(model: model, layer: layer, startToken: startToken(g, json, byDefault: false))
    }
}

public final class LlamaModel: CausalLanguageModel, @unchecked Sendable {
    public let config: LlamaConfig
    public let pool: ThreadPool
    /// The mapped file every weight points into, kept alive as long as the model.
    public let weights: ModelWeights
    let embedding: Embedding               // [vocab, d]
    let layers: [Layer]
    let norm: UnsafeBufferPointer<Float>   // [d]
    let head: Linear                       // [vocab, d]: lm_head, or the embedding when tied
    /// The embedding table is read only for the tokens fed, so its pages are released after.
    let headIsUntied: Bool
    let rope: RoPE
    let epsilon: Float

    struct Layer {
        var inputNorm, postNorm: UnsafeBufferPointer<Float>   // [d]
        var q, k, v, o: Linear                                 // [heads·hd | kv_heads·hd, d], o [d, heads·hd]
        var gate, up, down: Linear                             // [ff, d], down [d, ff]
    }

    public init(weights w: ModelWeights, config c: LlamaConfig, pool: ThreadPool) throws(ModelError) {
        config = c
        weights = w
        self.pool = pool
        epsilon = c.rmsNormEps ?? 1e-5
        let t = LlamaTensors(c)
        embedding = try w.embedding(t.embedTokens)
        var ls: [Layer] = []
        for l in t.layers {
            ls.append(Layer(
                inputNorm: try w.vector(l.inputNorm), postNorm: try w.vector(l.postNorm),
                q: try w.linear(l.q, bias: l.qBias), k: try w.linear(l.k, bias: l.kBias), v: try w.linear(l.v, bias: l.vBias),
                o: try w.linear(l.o, bias: l.oBias),
                gate: try w.linear(l.gate), up: try w.linear(l.up), down: try w.linear(l.down)))
        }
        layers = ls
        norm = try w.vector(t.norm)
        headIsUntied = w.has(t.lmHead)
        head = headIsUntied ? try w.linear(t.lmHead) : Linear(weight: embedding.matrix)
        let style: RoPE.Style = c.ropeLayout == "interleaved" ? .interleaved : .halfSplit
        rope = RoPE(headDim: c.headSize, base: c.ropeTheta ?? 10_000, style: style)
    }

    public var vocabularySize: Int { config.vocabSize }
    public var hiddenSize: Int { config.hiddenSize }
    public var layerCount: Int { config.numHiddenLayers }

    public var prepackedBytes: Int {
        layers.reduce(0) { acc, l in acc + [l.q, l.k, l.v, l.o, l.gate, l.up, l.down].reduce(0) { $0 + $1.prepackedBytes } } + head.prepackedBytes
    }

    /// `forward`'s activations for `rows` rows, the rotary angles, the attention tasks' scores over
    /// `keys` keys, and the largest q5_0 → q8_0 widening a product of that many rows makes
    /// (`Linear.widenedBytes`; the products of a layer's q/k/v and gate/up are grouped, so each
    /// group's total).
    public func workingBytes(rows n: Int, keys: Int) -> Int {
        let c = config, hd = c.headSize
        let activations = n * (2 * c.hiddenSize + (2 * c.numAttentionHeads + 2 * c.kvHeads) * hd + 2 * c.intermediateSize + rope.rotaryDim)
        let widened = layers.map { l in
            [[l.q, l.k, l.v], [l.o], [l.gate, l.up], [l.down]].map { $0.reduce(0) { $0 + $1.widenedBytes(rows: n) } }.max()!
        }.max() ?? 0
        return 4 * (activations + vocabularySize) + PrefillAttention.scratchBytes(keys: max(n, keys), headDim: hd, threads: pool.threadCount)
            + max(widened, head.widenedBytes(rows: n))
    }
    public var releasedWeightBytes: Int { headIsUntied ? embedding.view.data.count : 0 }
    public var cacheWidth: Int { config.kvHeads * config.headSize }
    public var maxPositions: Int? { config.maxPositionEmbeddings }

    public func embed(_ ids: [Int32]) throws(ModelError) -> FloatBuffer {
        try embedding.embed(ids, releasingPages: headIsUntied)
    }

    public func forward(_ x: FloatBuffer, segments: [(state: CausalState, rows: Int)], tracer: ForwardTracer? = nil) throws(ModelError) -> FloatBuffer {
        try forward(x, segments: segments, tracer: tracer, logitsFrom: nil)
    }

    public func forward(_ x: FloatBuffer, segment: (state: CausalState, rows: Int), tracer: ForwardTracer?, logitsFrom: Int) throws(ModelError) -> FloatBuffer {
        try forward(x, segments: [segment], tracer: tracer, logitsFrom: logitsFrom)
    }

    func forward(_ x: FloatBuffer, segments: [(state: CausalState, rows: Int)], tracer: ForwardTracer?, logitsFrom: Int?) throws(ModelError) -> FloatBuffer {
        try runLayers(x, segments: segments, through: layers.count, tracer: tracer)
        return logitsOfLastRows(x, segments: segments, width: config.hiddenSize, head: head, pool: pool, tracer: tracer, logitsFrom: logitsFrom) { row, out in
            Ops.rmsNorm(row, weight: norm, epsilon: epsilon, into: out)
        }
    }

    /// The first `count` layers over the rows of `x` (the residual stream, updated in place),
    /// each segment's keys and values appended to its cache; positions are not advanced.
    func runLayers(_ x: FloatBuffer, segments: [(state: CausalState, rows: Int)], through count: Int, tracer: ForwardTracer?) throws(ModelError) {
        let c = config
        let d = c.hiddenSize, hd = c.headSize, heads = c.numAttentionHeads, kvh = c.kvHeads, ff = c.intermediateSize
        let positions = try positions(segments)
        let n = positions.count, decoding = isDecodingStep(segments)
        let h = FloatBuffer(count: n * d), q = FloatBuffer(count: n * heads * hd)
        let k = FloatBuffer(count: n * kvh * hd), v = FloatBuffer(count: n * kvh * hd)
        let attn = FloatBuffer(count: n * heads * hd), proj = FloatBuffer(count: n * d)
        let gate = FloatBuffer(count: n * ff), up = FloatBuffer(count: n * ff)
        // Every row's rotary angles once for all layers.
        let angles = FloatBuffer(count: n * rope.rotaryDim, zeroed: false)
        for (r, p) in positions.enumerated() { rope.angles(position: p, into: angles.mutable.baseAddress! + r * rope.rotaryDim) }
        for (l, layer) in layers.prefix(count).enumerated() {
            Ops.rmsNormRows(x.buffer, rows: n, width: d, weight: layer.inputNorm, epsilon: epsilon, into: h.mutable, pool: pool)
            Linear.apply([layer.q, layer.k, layer.v], h.buffer, rows: n, into: [q.mutable, k.mutable, v.mutable], pool: pool, decoding: decoding)
            pool.shareOut(n, floats: n * (heads + kvh) * hd) { rows in
                for r in rows {
                    let a = UnsafePointer(angles.mutable.baseAddress! + r * rope.rotaryDim)
                    rope.apply(q.mutable.baseAddress! + r * heads * hd, heads: heads, angles: a)
                    rope.apply(k.mutable.baseAddress! + r * kvh * hd, heads: kvh, angles: a)
                }
            }
            attendSegments(layer: l, segments: segments, q: q, k: k, v: v, out: attn, heads: heads, kvHeads: kvh, headDim: hd,
                           allowBF16: layer.q.weight.dtype.isQuantized, pool: pool)
            addProduct(layer.o, attn.buffer, rows: n, to: x, scratch: proj, pool: pool, decoding: decoding)
            Ops.rmsNormRows(x.buffer, rows: n, width: d, weight: layer.postNorm, epsilon: epsilon, into: h.mutable, pool: pool)
            Linear.apply([layer.gate, layer.up], h.buffer, rows: n, into: [gate.mutable, up.mutable], pool: pool, decoding: decoding)
            pool.shareOut(n * ff) { range in
                Ops.swiglu(gate: UnsafeMutableBufferPointer(rebasing: gate.mutable[range]), up: UnsafeBufferPointer(rebasing: up.buffer[range]))
            }
            addProduct(layer.down, gate.buffer, rows: n, to: x, scratch: proj, pool: pool, decoding: decoding)
            tracer?.record("model.layers.\(l)", x.buffer, shape: [n, d])
        }
    }
}

extension LlamaModel: HiddenStateModel {
    public func hiddenStates(batch prompts: [[Int32]], layer: Int) throws(ModelError) -> [FloatBuffer] {
        precondition(layer >= 1 && layer <= layers.count && prompts.allSatisfy { !$0.isEmpty })
        let d = config.hiddenSize
        let states = prompts.map { makeState(capacity: $0.count) }
        let x = try embed(prompts.flatMap { $0 })
        try runLayers(x, segments: zip(states, prompts).map { ($0, $1.count) }, through: layer, tracer: nil)
        var out: [FloatBuffer] = [], row = 0
        for p in prompts {
            let h = FloatBuffer(count: p.count * d, zeroed: false)
            hiddenRows(UnsafeBufferPointer(rebasing: x.buffer[row * d..<(row + p.count) * d]), rows: p.count, layer: layer, into: h.mutable)
            out.append(h)
            row += p.count
        }
        return out
    }

    /// `rows` rows of the residual stream after `layer` layers as `hidden_states[layer]`: the
    /// final norm applied after the last layer, the rows as they are otherwise.
    private func hiddenRows(_ x: UnsafeBufferPointer<Float>, rows: Int, layer: Int, into out: UnsafeMutableBufferPointer<Float>) {
        if layer == layers.count {
            Ops.rmsNormRows(x, rows: rows, width: config.hiddenSize, weight: norm, epsilon: epsilon, into: out, pool: pool)
        } else {
            _ = out.update(fromContentsOf: x[0..<rows * config.hiddenSize])
        }
    }

    public func hiddenStates(_ ids: [Int32], layer: Int, passTokens: Int) throws(ModelError) -> FloatBuffer {
        precondition(layer >= 1 && layer <= layers.count && passTokens >= 1)
        let d = config.hiddenSize, m = ids.count
        let out = FloatBuffer(count: m * d, zeroed: false)
        let state = makeState(capacity: m)
        var at = 0
        while at < m {
            let piece = Array(ids[at..<min(m, at + passTokens)])
            let x = try embed(piece)
            try runLayers(x, segments: [(state, piece.count)], through: layer, tracer: nil)
            state.position += piece.count
            hiddenRows(x.buffer, rows: piece.count, layer: layer, into: out.rows(at..<at + piece.count, width: d))
            at += piece.count
        }
        return out
    }
}
