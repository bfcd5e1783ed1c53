// Qwen2 / Qwen2.5 (Qwen2.5-Coder among them): Hugging Face `modeling_qwen2.py`. The decoder is
// LLaMA's — RMS norm, rotary positions in the half-split (`rotate_half`) convention, grouped-query
// attention scaled by 1/√d_head, SwiGLU MLP, tied or untied head — with biases on the q, k and v
// projections (not on o) and its own rope base (10⁶ in Qwen2.5). So the config, tensor table and
// forward pass are LLaMA's with `qkvBias` set, and this file states only what differs: the model
// type, the biases, sliding-window attention (refused: Qwen2.5 does not use it), and the GGUF
// files llama.cpp writes for it (`qwen2.*` metadata; q and k rows NOT permuted, since llama.cpp
// runs Qwen2 with its NEOX rotation, which is Hugging Face's half-split one).
import TandemFormat
import TandemKernels

public enum Qwen2Architecture: Architecture {
    public static let modelTypes = ["qwen2"]

    /// Qwen2's config.json read as a LLaMA config with q, k and v biases.
    public static func config(_ json: JSONValue) throws(ConfigError) -> LlamaConfig {
        if json["use_sliding_window"]?.boolValue == true {
            throw ConfigError("config.json: use_sliding_window is not supported yet (Qwen2.5 models do not use it)")
        }
        var c = try LlamaConfig.from(json)
        c.qkvBias = true
        return c
    }

    public static func expectedTensors(config json: JSONValue, checkpointNames: Set<String>) throws(ConfigError) -> [ExpectedTensor] {
        let c = try config(json)
        // An untied head is stored; a tied one is the embedding (some exporters still write a copy).
        return LlamaTensors(c).all(head: !(c.tieWordEmbeddings ?? false) || checkpointNames.contains("lm_head.weight"))
    }

    public static func generationDefaults(config json: JSONValue) -> [String: JSONValue] {
        LlamaArchitecture.generationDefaults(config: json)
    }

    public static func embeddingWidth(config json: JSONValue) throws(ConfigError) -> Int { try config(json).hiddenSize }

    public static let isDecoderOnly = true

    public static func load(_ w: ModelWeights, config json: JSONValue, generation g: [String: JSONValue], pool: ThreadPool) throws(ModelError)
        -> any PromptedModel {
        let model = try LlamaModel(weights: w, config: try parsed { () throws(ConfigError) in try config(json) }, pool: pool)
        return CausalRunner(model: model, eosTokenId: tokenId("eos_token_id", g, json), firstResponseToken: tokenId("bos_token_id", g, json),
                            startToken: startToken(g, json, byDefault: false))
    }

    public static let readerTensors = LlamaArchitecture.readerTensors

    public static func reader(_ w: ModelWeights, config json: JSONValue, generation g: [String: JSONValue], layer: Int?, pool: ThreadPool)
        throws(ModelError) -> any PromptReader {
        let model = try LlamaModel(weights: w, config: try parsed { () throws(ConfigError) in try config(json) }, pool: pool)
        return try CausalReader(model: model, layer: layer, startToken: startToken(g, json, byDefault: false))
    }

    /// llama.cpp's `qwen2` GGUFs: LLaMA's tensor names (with the q/k/v biases), `qwen2.*` metadata.
    public static let gguf: GGUFMapping? = GGUFMapping(
        name: "qwen2", tensorName: LlamaArchitecture.ggufTensorName,
        config: { (file) throws(ConfigError) in
            try LlamaArchitecture.ggufConfig(file, prefix: "qwen2", modelType: "qwen2", className: "Qwen2ForCausalLM")
        })
}
