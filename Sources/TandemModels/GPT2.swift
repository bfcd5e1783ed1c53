// GPT-2: config and tensor map. Reference: Hugging Face transformers `modeling_gpt2.py`
// (GPT2Config, GPT2Attention with Conv1D, GPT2MLP) and Radford et al. 2019.
// Hugging Face stores GPT-2's linear weights as `Conv1D` `[in, out]`; Tandem stores every linear
// as `[out, in]`, so the converter transposes them. `transformer.` prefixes (GPT2LMHeadModel)
// are dropped, so GPT2Model and GPT2LMHeadModel checkpoints convert to the same names.
import TandemFormat
import TandemKernels

/// GPT-2's `config.json`, the keys Tandem uses (Hugging Face names).
public struct GPT2Config: Codable, Sendable, Equatable {
    public var vocabSize: Int
    public var nEmbd: Int
    public var nLayer: Int
    public var nHead: Int
    public var nPositions: Int
    public var nInner: Int?
    public var layerNormEpsilon: Float?
    public var activationFunction: String?
    public var bosTokenId: Int?
    public var eosTokenId: Int?

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", nEmbd = "n_embd", nLayer = "n_layer", nHead = "n_head"
        case nPositions = "n_positions", nInner = "n_inner", layerNormEpsilon = "layer_norm_epsilon"
        case activationFunction = "activation_function", bosTokenId = "bos_token_id", eosTokenId = "eos_token_id"
    }

    public var inner: Int { nInner ?? 4 * nEmbd }

    public static func from(_ json: JSONValue) throws(ConfigError) -> GPT2Config {
        let c: GPT2Config
        do { c = try json.decode(GPT2Config.self) } catch { throw ConfigError("config.json is not a valid GPT-2 config: \(error)") }
        for (key, v) in [("vocab_size", c.vocabSize), ("n_embd", c.nEmbd), ("n_layer", c.nLayer), ("n_head", c.nHead),
                         ("n_positions", c.nPositions), ("n_inner", c.inner)]
        where v <= 0 || v > 1 << 24 {
            throw ConfigError("config.json: \(key) = \(v) is out of range")
        }
        guard c.nLayer <= ConfigLimits.maxLayers else {
            throw ConfigError("config.json: n_layer = \(c.nLayer) is more than \(ConfigLimits.maxLayers) layers")
        }
        guard c.nEmbd % c.nHead == 0 else { throw ConfigError("config.json: n_embd \(c.nEmbd) is not a multiple of n_head \(c.nHead)") }
        return c
    }
}

/// GPT-2's tensors, each named and shaped once (Tandem's `[out, in]` layout): the converter checks a
/// checkpoint against `all`, and `GPT2Model` reads each field. Hugging Face names carry a
/// `transformer.` prefix in GPT2LMHeadModel checkpoints (`sourcePrefix`).
public struct GPT2Tensors: Sendable {
    public struct Block: Sendable {
        public let ln1, ln1Bias: ExpectedTensor          // [d]
        public let qkv: ExpectedTensor                   // [3d, d] (Conv1D [d, 3d] transposed)
        public let qkvBias: ExpectedTensor               // [3d]
        public let proj: ExpectedTensor                  // [d, d]
        public let projBias: ExpectedTensor              // [d]
        public let ln2, ln2Bias: ExpectedTensor          // [d]
        public let fc: ExpectedTensor                    // [inner, d]
        public let fcBias: ExpectedTensor                // [inner]
        public let fcProj: ExpectedTensor                // [d, inner]
        public let fcProjBias: ExpectedTensor            // [d]

        init(_ i: Int, _ c: GPT2Config, _ t: (String, [Int], TensorKind, Bool) -> ExpectedTensor) {
            let p = "h.\(i)", d = c.nEmbd
            ln1 = t("\(p).ln_1.weight", [d], .norm, false)
            ln1Bias = t("\(p).ln_1.bias", [d], .bias, false)
            qkv = t("\(p).attn.c_attn.weight", [3 * d, d], .linear, true)
            qkvBias = t("\(p).attn.c_attn.bias", [3 * d], .bias, false)
            proj = t("\(p).attn.c_proj.weight", [d, d], .linear, true)
            projBias = t("\(p).attn.c_proj.bias", [d], .bias, false)
            ln2 = t("\(p).ln_2.weight", [d], .norm, false)
            ln2Bias = t("\(p).ln_2.bias", [d], .bias, false)
            fc = t("\(p).mlp.c_fc.weight", [c.inner, d], .linear, true)
            fcBias = t("\(p).mlp.c_fc.bias", [c.inner], .bias, false)
            fcProj = t("\(p).mlp.c_proj.weight", [d, c.inner], .linear, true)
            fcProjBias = t("\(p).mlp.c_proj.bias", [d], .bias, false)
        }

        var all: [ExpectedTensor] { [ln1, ln1Bias, qkv, qkvBias, proj, projBias, ln2, ln2Bias, fc, fcBias, fcProj, fcProjBias] }
    }

    public let wte: ExpectedTensor                       // [vocab, d]; also the head (tied)
    public let wpe: ExpectedTensor                       // [n_positions, d]
    public let blocks: [Block]
    public let lnF, lnFBias: ExpectedTensor              // [d]

    public init(_ c: GPT2Config, sourcePrefix: String = "") {
        func t(_ name: String, _ shape: [Int], _ kind: TensorKind, _ transposed: Bool) -> ExpectedTensor {
            ExpectedTensor(name, shape, kind, sourceName: sourcePrefix + name, transposed: transposed)
        }
        wte = t("wte.weight", [c.vocabSize, c.nEmbd], .embedding, false)
        wpe = t("wpe.weight", [c.nPositions, c.nEmbd], .positionTable, false)
        blocks = (0..<c.nLayer).map { Block($0, c, t) }
        lnF = t("ln_f.weight", [c.nEmbd], .norm, false)
        lnFBias = t("ln_f.bias", [c.nEmbd], .bias, false)
    }

    /// Every tensor in file order.
    public var all: [ExpectedTensor] { [wte, wpe] + blocks.flatMap(\.all) + [lnF, lnFBias] }
}

public enum GPT2Architecture: Architecture {
    public static let modelTypes = ["gpt2"]

    public static func expectedTensors(config json: JSONValue, checkpointNames: Set<String>) throws(ConfigError) -> [ExpectedTensor] {
        let c = try GPT2Config.from(json)
        return GPT2Tensors(c, sourcePrefix: checkpointNames.contains("transformer.wte.weight") ? "transformer." : "").all
    }

    public static func embeddingWidth(config json: JSONValue) throws(ConfigError) -> Int { try GPT2Config.from(json).nEmbd }

    public static let isDecoderOnly = true

    public static func load(_ w: ModelWeights, config json: JSONValue, generation g: [String: JSONValue], pool: ThreadPool) throws(ModelError)
        -> any PromptedModel {
        let model = try GPT2Model(weights: w, config: try parsed { () throws(ConfigError) in try GPT2Config.from(json) }, pool: pool)
        return CausalRunner(model: model, eosTokenId: tokenId("eos_token_id", g, json), firstResponseToken: tokenId("bos_token_id", g, json))
    }

    public static func generationDefaults(config json: JSONValue) -> [String: JSONValue] {
        var g: [String: JSONValue] = [:]
        for key in ["bos_token_id", "eos_token_id"] { if let v = json[key] { g[key] = v } }
        return g
    }
}
