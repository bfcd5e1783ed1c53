// The registry of architectures Tandem knows, keyed by Hugging Face `model_type` (as in
// mlx-swift-examples' LLMModelFactory). For each: the typed config, and the tensor map the
// converter checks a checkpoint against — every expected tensor's name, shape and kind — so a
// checkpoint with a missing or mis-shaped tensor is refused before anything is written.
import TandemFormat
import TandemKernels

/// What a tensor is, which decides its default storage dtype (norms, biases and position tables
/// stay f32; matrices take the requested dtype).
public enum TensorKind: String, Sendable, Codable {
    /// A weight matrix `[out, in]` used by a `Linear`.
    case linear
    /// A token embedding table `[vocab, d]` (rows gathered, and used as the head when tied).
    case embedding
    case norm
    case bias
    /// Learned or bucketed position tables (GPT-2 `wpe`, T5 relative-attention bias).
    case positionTable

    /// Whether the requested dtype applies; other kinds stay f32 unless a `--keep` rule says otherwise.
    public var takesRequestedDType: Bool { self == .linear || self == .embedding }

    /// The dtypes a tensor of this kind may be stored in — what the converter accepts (`--dtype`,
    /// `--keep`) and the loader reads: matrices and embedding tables (a tied head multiplies by
    /// one) in any dtype with matrix kernels (`WeightMatrix.dtypes`); norms, biases and position
    /// tables in f32, which the forward pass reads in place.
    public var storageDTypes: [DType] { takesRequestedDType ? WeightMatrix.dtypes : [.f32] }

    /// Every dtype some kind of tensor may be stored in (what a `--keep` rule may name).
    public static var anyStorageDType: [DType] { WeightMatrix.dtypes }
}

extension [DType] {
    /// "f32, f16, q8_0 or q4_0", for messages and `--help`.
    public var listed: String {
        let names = map(\.name)
        return names.count < 2 ? names.joined() : names.dropLast().joined(separator: ", ") + " or " + names.last!
    }
}

/// One tensor an architecture expects, in Tandem's naming and layout.
public struct ExpectedTensor: Sendable, Equatable {
    /// Name in the Tandem file.
    public var name: String
    /// Shape in the Tandem file (linear weights `[out, in]`).
    public var shape: [Int]
    public var kind: TensorKind
    /// Name in the Hugging Face checkpoint.
    public var sourceName: String
    /// The checkpoint stores this matrix as `[in, out]` (GPT-2 `Conv1D`) and it must be transposed.
    public var transposed: Bool

    public init(_ name: String, _ shape: [Int], _ kind: TensorKind, sourceName: String? = nil, transposed: Bool = false) {
        self.name = name
        self.shape = shape
        self.kind = kind
        self.sourceName = sourceName ?? name
        self.transposed = transposed
    }
}

/// Bounds on what a `config.json` may declare, beyond each architecture's own range checks.
public enum ConfigLimits {
    /// Layers per stack. The largest published models have a few hundred; the tensor map has a
    /// dozen entries per layer, and a hostile `"num_decoder_layers": 21474836480` made the converter
    /// build it until memory ran out (found by Fuzz/FuzzConfigJSON).
    public static let maxLayers = 1 << 12
}

/// An error in a model's configuration.
public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// An architecture Tandem can convert and run. Adding one is one file (its config, tensor table,
/// forward pass and this conformance) and one line in `ArchitectureRegistry.all`.
public protocol Architecture: Sendable {
    /// Hugging Face `model_type` values handled.
    static var modelTypes: [String] { get }
    /// The tensors of the full model, as the converter must find them.
    static func expectedTensors(config: JSONValue, checkpointNames: Set<String>) throws(ConfigError) -> [ExpectedTensor]
    /// Generation defaults derived from the config (EOS, pad, start token, task prefixes).
    static func generationDefaults(config: JSONValue) -> [String: JSONValue]
    /// The width of the model's token embeddings (what an LLM-to-SLM projector maps from or into).
    static func embeddingWidth(config: JSONValue) throws(ConfigError) -> Int
    /// Whether the model is decoder-only (as a pair's small model it then needs a prompt adapter).
    static var isDecoderOnly: Bool { get }
    /// The model ready for the generation loops, from its tensors, config and generation
    /// defaults (a bundle's are its small model's).
    static func load(_ weights: ModelWeights, config: JSONValue, generation: [String: JSONValue], pool: ThreadPool) throws(ModelError)
        -> any PromptedModel
    /// The tensors a bundle keeps when the model is a pair's reader; nil when it cannot read.
    static var readerTensors: (@Sendable (String) -> Bool)? { get }
    /// The model as a pair's reader (from the tensors `readerTensors` kept), returning Hugging
    /// Face's `hidden_states[layer]` (nil: the last, after the final norm); `generation`: the
    /// bundle's defaults (the start token of a reader sharing the small model's tokenizer).
    static func reader(_ weights: ModelWeights, config: JSONValue, generation: [String: JSONValue], layer: Int?, pool: ThreadPool)
        throws(ModelError) -> any PromptReader
    /// How the architecture's GGUF files map back to Hugging Face names and config; nil when
    /// `tandem convert` does not import them.
    static var gguf: GGUFMapping? { get }
}

extension Architecture {
    public static var readerTensors: (@Sendable (String) -> Bool)? { nil }
    public static var gguf: GGUFMapping? { nil }

    public static func reader(_ weights: ModelWeights, config: JSONValue, generation: [String: JSONValue], layer: Int?, pool: ThreadPool)
        throws(ModelError) -> any PromptReader {
        throw .invalid("a \(modelTypes[0]) model cannot be an LLM-to-SLM reader")
    }
}

/// An architecture's GGUF files (written by llama.cpp's convert_hf_to_gguf.py) read back in
/// Hugging Face's names and layout, so the same model code runs weights from either source. The
/// importer (TandemConvert's GGUFImporter) does the rest: tokenizer, dtypes, rows.
public struct GGUFMapping: Sendable {
    /// The `general.architecture` value of the architecture's files.
    public let name: String
    /// GGUF tensor name → Hugging Face name; nil for a tensor the model does not use.
    public let tensorName: @Sendable (String) -> String?
    /// The Hugging Face `config.json` the file's metadata describes.
    public let config: @Sendable (GGUFFile) throws(ConfigError) -> JSONValue
    /// For a tensor whose rows convert_hf_to_gguf.py permuted within each head (LLaMA's q and k,
    /// for ggml's RoPE), the number of heads to undo it over; nil otherwise.
    public let permutedHeads: @Sendable (_ huggingFaceName: String, _ config: JSONValue) -> Int?

    public init(
        name: String, tensorName: @escaping @Sendable (String) -> String?,
        config: @escaping @Sendable (GGUFFile) throws(ConfigError) -> JSONValue,
        permutedHeads: @escaping @Sendable (String, JSONValue) -> Int? = { _, _ in nil }
    ) {
        self.name = name
        self.tensorName = tensorName
        self.config = config
        self.permutedHeads = permutedHeads
    }
}

public enum ArchitectureRegistry {
    public static let all: [any Architecture.Type] = [
        T5Architecture.self, GPT2Architecture.self, LlamaArchitecture.self, Qwen2Architecture.self, Gemma3Architecture.self,
    ]

    public static func architecture(modelType: String) -> (any Architecture.Type)? {
        all.first { $0.modelTypes.contains(modelType) }
    }

    public static var supportedModelTypes: [String] { all.flatMap { $0.modelTypes } }

    /// The architecture whose GGUF files name themselves `name` (`general.architecture`).
    public static func architecture(gguf name: String) -> (any Architecture.Type)? {
        all.first { $0.gguf?.name == name }
    }

    /// The `general.architecture` values `tandem convert` imports.
    public static var supportedGGUFArchitectures: [String] { all.compactMap { $0.gguf?.name } }

    /// The model of one entry of a Tandem file, through its architecture.
    public static func load(
        _ entry: TandemMetadata.ModelEntry, file: TandemFile, generation: [String: JSONValue], pool: ThreadPool
    ) throws(ModelError) -> any PromptedModel {
        guard let a = architecture(modelType: entry.architecture) else { throw .unsupportedArchitecture(entry.architecture) }
        return try a.load(ModelWeights(file: file, prefix: entry.prefix), config: entry.config, generation: generation, pool: pool)
    }

    /// The generative model a Tandem file holds: its one model, or an LLM-to-SLM pair.
    public static func open(_ file: TandemFile, pool: ThreadPool) throws(ModelError) -> any AutoregressiveModel {
        let meta = file.metadata
        switch meta.kind {
        case .bundle:
            return try LLMToSLMBundle.open(file, pool: pool)
        case .model:
            guard let entry = meta.models["model"] else { throw .invalid("\(file.path) has no model entry") }
            return try load(entry, file: file, generation: meta.generation, pool: pool)
        }
    }

    /// The reader a file holds: a bundle's LLM, or a plain model (T5: its encoder; LLaMA, Qwen2:
    /// its prompt pass), returning Hugging Face's `hidden_states[layer]` (nil: the last).
    public static func reader(_ file: TandemFile, layer: Int?, pool: ThreadPool) throws(ModelError) -> any PromptReader {
        let meta = file.metadata
        guard let entry = meta.models[meta.kind == .bundle ? "llm" : "model"] else { throw .invalid("\(file.path) has no model entry") }
        guard let a = architecture(modelType: entry.architecture) else { throw .unsupportedArchitecture(entry.architecture) }
        return try a.reader(ModelWeights(file: file, prefix: entry.prefix), config: entry.config, generation: meta.generation, layer: layer, pool: pool)
    }

    /// The model entries whose tokenizers read prompts and write the output.
    public static func tokenizerEntries(_ meta: TandemMetadata) -> (prompt: TandemMetadata.ModelEntry?, output: TandemMetadata.ModelEntry?) {
        switch meta.kind {
        case .bundle: (meta.models["llm"], meta.models["slm"])
        case .model: (meta.models["model"], meta.models["model"])
        }
    }
}

/// A token id from the generation defaults, else from the config.
func tokenId(_ key: String, _ generation: [String: JSONValue], _ config: JSONValue? = nil) -> Int32? {
    (generation[key]?.intValue ?? config?[key]?.intValue).map(Int32.init)
}

/// The BOS a decoder-only model's prompts begin with: when the tokenizer config the file carries
/// says `add_bos_token` (a GGUF's `tokenizer.ggml.add_bos_token`), else `byDefault` (Gemma reads
/// nothing sensible without it; LLaMA-family files say what they want).
func startToken(_ generation: [String: JSONValue], _ config: JSONValue, byDefault: Bool) -> Int32? {
    (generation["add_bos_token"]?.boolValue ?? byDefault) ? tokenId("bos_token_id", generation, config) : nil
}

/// A config parsed by `parse`, its error carried as ModelError.config.
func parsed<C>(_ parse: () throws(ConfigError) -> C) throws(ModelError) -> C {
    do { return try parse() } catch { throw .config(error) }
}

extension JSONValue {
    /// A required positive integer config value.
    func requiredInt(_ key: String) throws(ConfigError) -> Int {
        guard let v = self[key]?.intValue, v > 0, v < 1 << 31 else {
            throw ConfigError("config.json: \(key) is missing or not a positive integer")
        }
        return v
    }

    func optionalInt(_ key: String) -> Int? {
        if case .null? = self[key] { return nil }
        return self[key]?.intValue
    }
}
