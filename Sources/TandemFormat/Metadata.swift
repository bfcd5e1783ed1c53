// The JSON metadata block of a Tandem file: what the file holds and how to run it.
// Schema: Formats/FORMAT.md §4.
import Foundation

/// The metadata block of a Tandem file.
public struct TandemMetadata: Codable, Equatable, Sendable {
    /// Always "tandem".
    public var format: String
    /// `model` (one network) or `bundle` (LLM encoder + projector + SLM).
    public var kind: Kind
    /// The networks in the file, by role: `model` for a plain file; `llm`, `projector`, `slm` in
    /// a bundle.
    public var models: [String: ModelEntry]
    /// Tokenizers by key; a model names its tokenizer by this key.
    public var tokenizers: [String: TokenizerEntry]
    /// Generation defaults (prompt template, max tokens, beam, …), free-form.
    public var generation: [String: JSONValue]
    public var provenance: Provenance

    public enum Kind: String, Codable, Sendable { case model, bundle }

    public struct ModelEntry: Codable, Equatable, Sendable {
        /// `t5`, `gpt2`, `llama`, `projector`.
        public var architecture: String
        /// Which part of the network is stored: `full`, or `encoder` for a bundle's LLM.
        public var part: String
        /// Prefix of every tensor name of this model ("" for a plain model, "llm." in a bundle).
        public var prefix: String
        /// The Hugging Face `config.json`, unchanged.
        public var config: JSONValue
        /// Key into `tokenizers`, if the model has one.
        public var tokenizer: String?

        public init(architecture: String, part: String = "full", prefix: String = "", config: JSONValue, tokenizer: String?) {
            self.architecture = architecture
            self.part = part
            self.prefix = prefix
            self.config = config
            self.tokenizer = tokenizer
        }
    }

    public struct TokenizerEntry: Codable, Equatable, Sendable {
        /// `sentencepiece` (a `spiece.model` protobuf) or `hf-tokenizer-json` (a `tokenizer.json`).
        public var type: String
        /// Name of the blob that holds the tokenizer file.
        public var blob: String
        /// Extra files (e.g. `tokenizer_config.json`) by file name → blob name.
        public var extra: [String: String]

        public init(type: String, blob: String, extra: [String: String] = [:]) {
            self.type = type
            self.blob = blob
            self.extra = extra
        }
    }

    public struct Provenance: Codable, Equatable, Sendable {
        /// Source checkpoint(s): directory or file names as given to the converter.
        public var sources: [String]
        /// e.g. "tandem 0.1.0".
        public var converter: String
        /// ISO-8601 UTC time of conversion.
        public var created: String
        /// The default dtype asked for, and the `--keep` rules applied.
        public var defaultDType: String
        public var keepRules: [String]
        /// Per tensor: source dtype and the rule that chose its stored dtype.
        public var tensors: [String: TensorProvenance]

        public init(sources: [String], converter: String, created: String, defaultDType: String, keepRules: [String], tensors: [String: TensorProvenance]) {
            self.sources = sources
            self.converter = converter
            self.created = created
            self.defaultDType = defaultDType
            self.keepRules = keepRules
            self.tensors = tensors
        }
    }

    public struct TensorProvenance: Codable, Equatable, Sendable {
        public var source: String
        public var rule: String
        public init(source: String, rule: String) {
            self.source = source
            self.rule = rule
        }
    }

    public init(kind: Kind, models: [String: ModelEntry], tokenizers: [String: TokenizerEntry], generation: [String: JSONValue], provenance: Provenance) {
        self.format = "tandem"
        self.kind = kind
        self.models = models
        self.tokenizers = tokenizers
        self.generation = generation
        self.provenance = provenance
    }

    /// Decodes and checks the metadata against the schema and the file's directory.
    static func decode(_ bytes: Data, tensorNames: Set<String>, blobNames: Set<String>) throws(FormatError) -> TandemMetadata {
        guard String(data: bytes, encoding: .utf8) != nil else {
            throw .malformedJSON(what: "metadata", detail: "not valid UTF-8")
        }
        let meta: TandemMetadata
        do {
            meta = try JSONDecoder().decode(TandemMetadata.self, from: bytes)
        } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
            // Syntax errors surface as dataCorrupted at the root; everything else is schema.
            throw .malformedJSON(what: "metadata", detail: JSONValue.describe(DecodingError.dataCorrupted(context)))
        } catch {
            throw .schema(JSONValue.describe(error))
        }
        try meta.validate(tensorNames: tensorNames, blobNames: blobNames)
        return meta
    }

    func validate(tensorNames: Set<String>, blobNames: Set<String>) throws(FormatError) {
        guard format == "tandem" else { throw .schema("format is \"\(format)\", expected \"tandem\"") }
        guard !models.isEmpty else { throw .schema("no models") }
        if kind == .model, models.count != 1 {
            throw .schema("kind is model but \(models.count) models are listed")
        }
        for (role, model) in models {
            guard case .object = model.config else { throw .schema("config of \(role) is not an object") }
            if let t = model.tokenizer, tokenizers[t] == nil {
                throw .schema("model \(role) names tokenizer \(t), which is not listed")
            }
            if !model.prefix.isEmpty, !tensorNames.contains(where: { $0.hasPrefix(model.prefix) }) {
                throw .schema("model \(role) has no tensors under prefix \(model.prefix)")
            }
        }
        for (key, tok) in tokenizers {
            guard blobNames.contains(tok.blob) else {
                throw .schema("tokenizer \(key) names blob \(tok.blob), which is not in the file")
            }
            for (_, blob) in tok.extra where !blobNames.contains(blob) {
                throw .schema("tokenizer \(key) names blob \(blob), which is not in the file")
            }
        }
    }

    /// The metadata as canonical JSON (sorted keys) for writing.
    public func encoded() -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        // Encoding our own value types cannot fail.
        return try! enc.encode(self)
    }
}
