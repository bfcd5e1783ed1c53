// T5 (v1.0, v1.1 / Flan-T5, mT5): config and tensor table. Reference: Hugging Face
// transformers `modeling_t5.py` (T5Config, T5Attention, T5LayerFF) and Raffel et al. 2020.
// The forward pass is T5Model.swift; the table below is the one contract between the converter
// and that code.
import TandemFormat
import TandemKernels

/// T5's `config.json`, the keys Tandem uses (Hugging Face names).
public struct T5Config: Codable, Sendable, Equatable {
    public var vocabSize: Int
    public var dModel: Int
    public var dKV: Int
    public var dFF: Int
    public var numLayers: Int
    public var numDecoderLayers: Int?
    public var numHeads: Int
    public var relativeAttentionNumBuckets: Int
    public var relativeAttentionMaxDistance: Int?
    public var layerNormEpsilon: Float?
    /// `relu` (v1.0) or `gated-gelu` (v1.1 / Flan-T5).
    public var feedForwardProj: String?
    public var tieWordEmbeddings: Bool?
    public var decoderStartTokenId: Int?
    public var eosTokenId: Int?
    public var padTokenId: Int?
    /// transformers 5.x writes this instead of relying on `tie_word_embeddings` alone.
    public var scaleDecoderOutputs: Bool?
    /// The input length the model was trained for, when the config states one (T5's relative
    /// positions have no hard limit; 512 otherwise).
    public var nPositions: Int?

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", dModel = "d_model", dKV = "d_kv", dFF = "d_ff"
        case numLayers = "num_layers", numDecoderLayers = "num_decoder_layers", numHeads = "num_heads"
        case relativeAttentionNumBuckets = "relative_attention_num_buckets"
        case relativeAttentionMaxDistance = "relative_attention_max_distance"
        case layerNormEpsilon = "layer_norm_epsilon", feedForwardProj = "feed_forward_proj"
        case tieWordEmbeddings = "tie_word_embeddings", decoderStartTokenId = "decoder_start_token_id"
        case eosTokenId = "eos_token_id", padTokenId = "pad_token_id"
        case scaleDecoderOutputs = "scale_decoder_outputs", nPositions = "n_positions"
    }

    /// Whether the FFN is gated (`wi_0`, `wi_1`) — T5 v1.1 / Flan-T5.
    public var isGated: Bool { (feedForwardProj ?? "relu").hasPrefix("gated-") }
    public var decoderLayers: Int { numDecoderLayers ?? numLayers }
    /// T5 v1.0 ties the head to `shared` (and scales by d_model^-0.5); v1.1 has its own `lm_head`.
    public var tied: Bool { tieWordEmbeddings ?? true }

    public static func from(_ json: JSONValue) throws(ConfigError) -> T5Config {
        let c: T5Config
        do { c = try json.decode(T5Config.self) } catch { throw ConfigError("config.json is not a valid T5 config: \(error)") }
        for (key, v) in [("vocab_size", c.vocabSize), ("d_model", c.dModel), ("d_kv", c.dKV), ("d_ff", c.dFF),
                         ("num_layers", c.numLayers), ("num_decoder_layers", c.decoderLayers), ("num_heads", c.numHeads),
                         ("relative_attention_num_buckets", c.relativeAttentionNumBuckets)]
        where v <= 0 || v > 1 << 24 {
            throw ConfigError("config.json: \(key) = \(v) is out of range")
        }
        for (key, v) in [("num_layers", c.numLayers), ("num_decoder_layers", c.decoderLayers)] where v > ConfigLimits.maxLayers {
            throw ConfigError("config.json: \(key) = \(v) is more than \(ConfigLimits.maxLayers) layers")
        }
        // The bucket of a distance beyond the exact range divides by log(max_distance / max_exact),
        // max_exact being up to num_buckets / 2 (the decoder's): a max distance inside the exact
        // range gives negative or infinite buckets, rows outside the bias table (found by
        // Fuzz/FuzzConfigJSON; T5RelativePosition.swift).
        let buckets = c.relativeAttentionNumBuckets, maxDistance = c.relativeAttentionMaxDistance ?? 128
        guard buckets >= 4, maxDistance > buckets / 2, maxDistance <= 1 << 24 else {
            throw ConfigError("config.json: relative_attention_max_distance \(maxDistance) must exceed half of relative_attention_num_buckets \(buckets) (at least 4)")
        }
        let act = c.feedForwardProj ?? "relu"
        guard ["relu", "gated-gelu", "gated-relu", "gelu", "gated-gelu_new", "gelu_new"].contains(act) else {
            throw ConfigError("config.json: unsupported feed_forward_proj \(act)")
        }
        return c
    }
}

/// T5's tensors, each named and shaped once: the converter checks a checkpoint against `all`, and
/// `T5Model` reads each field. Hugging Face names throughout (`T5ForConditionalGeneration`).
public struct T5Tensors: Sendable {
    /// A self- or cross-attention sublayer with the RMS norm before it.
    public struct Attention: Sendable {
        public let q, k, v: ExpectedTensor     // [heads·d_kv, d]
        public let o: ExpectedTensor           // [d, heads·d_kv]
        /// Block 0 of each stack only; later blocks reuse it.
        public let relativeBias: ExpectedTensor?  // [buckets, heads]
        public let norm: ExpectedTensor        // [d]

        init(_ p: String, _ name: String, relative: Bool, _ c: T5Config) {
            let inner = c.numHeads * c.dKV, d = c.dModel
            q = ExpectedTensor("\(p).\(name).q.weight", [inner, d], .linear)
            k = ExpectedTensor("\(p).\(name).k.weight", [inner, d], .linear)
            v = ExpectedTensor("\(p).\(name).v.weight", [inner, d], .linear)
            o = ExpectedTensor("\(p).\(name).o.weight", [d, inner], .linear)
            relativeBias = relative
                ? ExpectedTensor("\(p).\(name).relative_attention_bias.weight", [c.relativeAttentionNumBuckets, c.numHeads], .positionTable)
                : nil
            norm = ExpectedTensor("\(p).layer_norm.weight", [d], .norm)
        }

        var all: [ExpectedTensor] { [q, k, v, o] + (relativeBias.map { [$0] } ?? []) + [norm] }
    }

    /// The feed-forward sublayer with the RMS norm before it: `wi` (v1.0) or the gated pair
    /// `wi_0`, `wi_1` (v1.1 / Flan-T5).
    public struct FeedForward: Sendable {
        public let wi: ExpectedTensor?         // [d_ff, d]
        public let wi0, wi1: ExpectedTensor?   // [d_ff, d]
        public let wo: ExpectedTensor          // [d, d_ff]
        public let norm: ExpectedTensor        // [d]

        init(_ p: String, _ c: T5Config) {
            let d = c.dModel, ff = c.dFF
            func t(_ name: String) -> ExpectedTensor { ExpectedTensor("\(p).DenseReluDense.\(name).weight", [ff, d], .linear) }
            wi = c.isGated ? nil : t("wi")
            wi0 = c.isGated ? t("wi_0") : nil
            wi1 = c.isGated ? t("wi_1") : nil
            wo = ExpectedTensor("\(p).DenseReluDense.wo.weight", [d, ff], .linear)
            norm = ExpectedTensor("\(p).layer_norm.weight", [d], .norm)
        }

        var all: [ExpectedTensor] { [wi, wi0, wi1].compactMap { $0 } + [wo, norm] }
    }

    public struct EncoderBlock: Sendable {
        public let selfAttention: Attention
        public let ffn: FeedForward
    }

    public struct DecoderBlock: Sendable {
        public let selfAttention: Attention
        public let crossAttention: Attention
        public let ffn: FeedForward
    }

    public let shared: ExpectedTensor           // [vocab, d]
    public let encoder: [EncoderBlock]
    public let encoderFinalNorm: ExpectedTensor // [d]
    public let decoder: [DecoderBlock]
    public let decoderFinalNorm: ExpectedTensor // [d]
    /// An untied head (v1.1); a tied one (v1.0) is `shared`.
    public let lmHead: ExpectedTensor           // [vocab, d]

    public init(_ c: T5Config) {
        shared = ExpectedTensor("shared.weight", [c.vocabSize, c.dModel], .embedding)
        encoder = (0..<c.numLayers).map { i in
            EncoderBlock(selfAttention: Attention("encoder.block.\(i).layer.0", "SelfAttention", relative: i == 0, c),
                         ffn: FeedForward("encoder.block.\(i).layer.1", c))
        }
        encoderFinalNorm = ExpectedTensor("encoder.final_layer_norm.weight", [c.dModel], .norm)
        decoder = (0..<c.decoderLayers).map { i in
            DecoderBlock(selfAttention: Attention("decoder.block.\(i).layer.0", "SelfAttention", relative: i == 0, c),
                         crossAttention: Attention("decoder.block.\(i).layer.1", "EncDecAttention", relative: false, c),
                         ffn: FeedForward("decoder.block.\(i).layer.2", c))
        }
        decoderFinalNorm = ExpectedTensor("decoder.final_layer_norm.weight", [c.dModel], .norm)
        lmHead = ExpectedTensor("lm_head.weight", [c.vocabSize, c.dModel], .linear)
    }

    /// Every tensor in file order: the encoder's, then the decoder's and the head when asked for.
    public func all(decoder withDecoder: Bool = true, head: Bool) -> [ExpectedTensor] {
        var out = [shared] + encoder.flatMap { $0.selfAttention.all + $0.ffn.all } + [encoderFinalNorm]
        if withDecoder {
            out += decoder.flatMap { $0.selfAttention.all + $0.crossAttention.all + $0.ffn.all } + [decoderFinalNorm]
        }
        return out + (head ? [lmHead] : [])
    }
}

public enum T5Architecture: Architecture {
    public static let modelTypes = ["t5", "mt5"]

    public static func expectedTensors(config json: JSONValue, checkpointNames: Set<String>) throws(ConfigError) -> [ExpectedTensor] {
        let c = try T5Config.from(json)
        // An untied head is stored; a tied one is `shared` (some exporters still write a copy).
        return T5Tensors(c).all(head: !c.tied || checkpointNames.contains("lm_head.weight"))
    }

    public static func embeddingWidth(config json: JSONValue) throws(ConfigError) -> Int { try T5Config.from(json).dModel }

    public static let isDecoderOnly = false

    public static func load(_ w: ModelWeights, config json: JSONValue, generation g: [String: JSONValue], pool: ThreadPool) throws(ModelError)
        -> any PromptedModel {
        let model = try T5Model(weights: w, config: try parsed { () throws(ConfigError) in try T5Config.from(json) }, pool: pool)
        return T5Runner(model: model, decoderStartTokenId: tokenId("decoder_start_token_id", g), eosTokenId: tokenId("eos_token_id", g))
    }

    /// A pair keeps the encoder and the shared embeddings.
    public static let readerTensors: (@Sendable (String) -> Bool)? = { $0 == "shared.weight" || $0.hasPrefix("encoder.") }

    public static func reader(_ w: ModelWeights, config json: JSONValue, generation: [String: JSONValue], layer: Int?, pool: ThreadPool)
        throws(ModelError) -> any PromptReader {
        let c = try parsed { () throws(ConfigError) in try T5Config.from(json) }
        if let layer, layer != c.numLayers {
            throw .invalid("a T5 reader returns its encoder's output (layer \(c.numLayers)), not layer \(layer)")
        }
        return try T5Model(weights: w, config: try parsed { () throws(ConfigError) in try T5Config.from(json) }, encoderOnly: true, pool: pool)
    }

    public static func generationDefaults(config json: JSONValue) -> [String: JSONValue] {
        var g: [String: JSONValue] = [:]
        for key in ["decoder_start_token_id", "eos_token_id", "pad_token_id"] { if let v = json[key] { g[key] = v } }
        if let prefix = json["task_specific_params"]?["summarization"]?["prefix"] {
            g["summarize_prefix"] = prefix
        } else {
            g["summarize_prefix"] = .string("summarize: ")
        }
        return g
    }
}
