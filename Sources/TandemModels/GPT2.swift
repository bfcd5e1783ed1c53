// GPT-2: config and tensor map. Reference: Hugging Face transformers `modeling_gpt2.py`
// (GPT2Config, GPT2Attention with Conv1D, GPT2MLP) and Radford et al. 2019.
// Hugging Face stores GPT-2's linear weights as `Conv1D` `[in, out]`; Tandem stores every linear
// as `[out, in]`, so the converter transposes them. `transformer.` prefixes (GPT2LMHeadModel)
// are dropped, so GPT2Model and GPT2LMHeadModel checkpoints convert to the same names.
import TandemFormat

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

public enum GPT2Architecture: Architecture {
    public static let modelTypes = ["gpt2"]

    public static func expectedTensors(config json: JSONValue, checkpointNames: Set<String>) throws(ConfigError) -> [ExpectedTensor] {
        let c = try GPT2Config.from(json)
        let prefix = checkpointNames.contains("transformer.wte.weight") ? "transformer." : ""
        let d = c.nEmbd
        func t(_ name: String, _ shape: [Int], _ kind: TensorKind, transposed: Bool = false) -> ExpectedTensor {
            ExpectedTensor(name, shape, kind, sourceName: prefix + name, transposed: transposed)
        }
        var out = [t("wte.weight", [c.vocabSize, d], .embedding), t("wpe.weight", [c.nPositions, d], .positionTable)]
        for i in 0..<c.nLayer {
            let p = "h.\(i)"
            out += [
                t("\(p).ln_1.weight", [d], .norm), t("\(p).ln_1.bias", [d], .bias),
                t("\(p).attn.c_attn.weight", [3 * d, d], .linear, transposed: true), t("\(p).attn.c_attn.bias", [3 * d], .bias),
                t("\(p).attn.c_proj.weight", [d, d], .linear, transposed: true), t("\(p).attn.c_proj.bias", [d], .bias),
                t("\(p).ln_2.weight", [d], .norm), t("\(p).ln_2.bias", [d], .bias),
                t("\(p).mlp.c_fc.weight", [c.inner, d], .linear, transposed: true), t("\(p).mlp.c_fc.bias", [c.inner], .bias),
                t("\(p).mlp.c_proj.weight", [d, c.inner], .linear, transposed: true), t("\(p).mlp.c_proj.bias", [d], .bias),
            ]
        }
        out += [t("ln_f.weight", [d], .norm), t("ln_f.bias", [d], .bias)]
        return out
    }

    public static func generationDefaults(config json: JSONValue) -> [String: JSONValue] {
        var g: [String: JSONValue] = [:]
        for key in ["bos_token_id", "eos_token_id"] { if let v = json[key] { g[key] = v } }
        return g
    }
}
