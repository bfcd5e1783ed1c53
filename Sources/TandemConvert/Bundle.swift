// `tandem convert --llm DIR --slm DIR --projector FILE`: one self-contained LLM-to-SLM bundle
// (Formats/FORMAT.md §7): what the LLM reads a prompt with (`llm.`: a T5's encoder, a decoder-only
// model without its head), the projector and, for a decoder-only SLM with its own tokenizer, the
// prompt adapter A (`projector.`), the whole SLM (`slm.`), both tokenizers and the SLM's
// generation defaults. Method: Bergner et al. 2024 (arXiv 2402.16844), docs/ARCHITECTURE.md §1.
import Dispatch
import Foundation
import TandemFormat
import TandemModels

public struct BundleSources: Sendable {
    public var llm: String
    public var slm: String
    public var projector: String

    public init(llm: String, slm: String, projector: String) {
        self.llm = llm
        self.slm = slm
        self.projector = projector
    }
}

extension Converter {
    /// One model of a bundle, from a checkpoint directory or a GGUF file.
    struct BundlePart {
        var config: JSONValue
        var architecture: any Architecture.Type
        var modelType: String
        var tokenizer: TandemMetadata.TokenizerEntry
        var blobs: [BlobPlan]
        var generation: [String: JSONValue]
        var sourceBytes: UInt64
        var tensors: PlannedTensors

        /// The tokenizer file itself (vocabulary, merges, pre-tokenizer), without the extras that
        /// do not change token ids (a chat template differing in a tool-call example, as the
        /// Qwen2.5-Coder 0.5B and 1.5B files' do).
        var tokenizerBytes: [UInt8]? { blobs.first { $0.name == tokenizer.blob }?.content }
    }

    /// `source` planned under `prefix` / `blobPrefix`: a `.gguf` file keeps its own block types
    /// (K-quants included) unless `--dtype` was given; a directory is a Hugging Face checkpoint.
    static func bundlePart(_ source: String, prefix: String, blobPrefix: String, options: ConvertOptions, asReader: Bool = false)
        throws(ConvertError) -> BundlePart {
        if source.lowercased().hasSuffix(".gguf") {
            let g = try GGUFImporter.plan(path: source, prefix: prefix, blobPrefix: blobPrefix, options: options, asReader: asReader)
            return BundlePart(
                config: g.config, architecture: g.architecture, modelType: g.architecture.modelTypes[0], tokenizer: g.tokenizer.entry,
                blobs: g.tokenizer.blobs, generation: g.generation, sourceBytes: UInt64(g.file.mapping.bytes.count),
                tensors: g.tensors(pool: options.pool))
        }
        let p = try plan(directory: source, prefix: prefix, blobPrefix: blobPrefix, options: options, asReader: asReader)
        return BundlePart(config: p.config, architecture: p.architecture, modelType: p.modelType, tokenizer: p.tokenizer, blobs: p.blobs,
                          generation: p.generation, sourceBytes: p.sourceBytes, tensors: planned(p.items, from: p.checkpoint, options: options))
    }

    /// Converts an LLM (T5 family: its encoder; LLaMA or Qwen2: all but its head), an SLM (T5,
    /// GPT-2, LLaMA or Qwen2) — each a checkpoint directory or a GGUF file — and the trained
    /// projector into one bundle at `options.output`.
    public static func convertBundle(_ sources: BundleSources, options: ConvertOptions, progress: ((Int, Int) -> Void)? = nil) throws(ConvertError) -> ConvertReport {
        let start = DispatchTime.now()
        let llm = try bundlePart(sources.llm, prefix: "llm.", blobPrefix: "llm/", options: options, asReader: true)
        let slm = try bundlePart(sources.slm, prefix: "slm.", blobPrefix: "slm/", options: options)
        let decoderOnly = slm.architecture.isDecoderOnly

        // The projector: Linear(d_l→d_h) → ReLU → Linear(d_h→d_s), and A (d_l→d_s) for decoder-only SLMs.
        let file: SafetensorsFile
        do { file = try SafetensorsFile(path: sources.projector) } catch { throw .format(error) }
        guard let w0 = file.tensors["projector.0.weight"], w0.shape.count == 2 else { throw .missingTensor("projector.0.weight") }
        // A decoder-only SLM reads A·E_llm[x] + Z when the projector has a prompt adapter, and its
        // own E_slm[x] + Z (the response continuing the prompt) when it shares the LLM's tokenizer.
        let hasAdapter = file.tensors["prompt_adapter.weight"] != nil
        let sameTokenizer = llm.tokenizer.type == slm.tokenizer.type && llm.tokenizerBytes == slm.tokenizerBytes
        let kind: ProjectorConfig.Kind = !decoderOnly ? .encoderDecoder : hasAdapter ? .decoderOnly : .sharedTokenizer
        if kind == .sharedTokenizer, !sameTokenizer {
            throw .source("\(sources.projector) has no prompt_adapter.weight, so the decoder-only SLM must share the LLM's tokenizer; their tokenizers differ")
        }
        let config: ProjectorConfig
        do {
            config = ProjectorConfig(llmDim: try llm.architecture.embeddingWidth(config: llm.config), hiddenDim: w0.shape[0],
                                     slmDim: try slm.architecture.embeddingWidth(config: slm.config), kind: kind,
                                     readerLayer: try readerLayer(file, path: sources.projector))
        } catch { throw .config(error) }
        if let layer = config.readerLayer {
            let layers = llm.config["num_hidden_layers"]?.intValue
            guard llm.architecture.isDecoderOnly, let n = layers, layer <= n else {
                throw .source("\(sources.projector) was trained on reader layer \(layer), but the LLM (\(llm.modelType)) "
                    + (llm.architecture.isDecoderOnly ? "has \(layers ?? 0) layers" : "returns its encoder's output only"))
            }
        }
        var projectorItems: [Item] = []
        for t in ProjectorTensors(config).all {
            guard let source = file.tensors[t.sourceName] else { throw .missingTensor("\(t.sourceName) in \(sources.projector)") }
            guard source.shape == t.shape else { throw .shape(tensor: t.sourceName, expected: t.shape, actual: source.shape) }
            let e = ExpectedTensor("projector." + t.name, t.shape, t.kind, sourceName: t.sourceName)
            var (dtype, rule) = try chooseDType(e, options: options)
            if !dtype.isEncodable { (dtype, rule) = (.f32, "the projector is made from floats: f32") }
            projectorItems.append(Item(expected: e, plan: TensorPlan(name: e.name, dtype: dtype, shape: e.shape), rule: rule, source: source))
        }
        if !decoderOnly, hasAdapter {
            throw .source("\(sources.projector) has a prompt_adapter, which only decoder-only SLMs use; the SLM is \(slm.modelType)")
        }
        if !decoderOnly, !sameTokenizer {
            throw .source("an encoder-decoder SLM must share the LLM's tokenizer")
        }
        let tensors = PlannedTensors.joined([llm.tensors, planned(projectorItems, from: file, options: options), slm.tensors])
        var provenance = provenance(sources: [sources.llm, sources.slm, sources.projector], options: options, items: [])
        provenance.tensors = tensors.provenance
        if options.keepSourceTypes, [sources.llm, sources.slm].contains(where: { $0.lowercased().hasSuffix(".gguf") }) {
            provenance.defaultDType = "gguf (\(options.dtype.name) for checkpoint directories)"
        }
        let meta = TandemMetadata(
            kind: .bundle,
            models: [
                "llm": .init(architecture: llm.modelType, part: llm.architecture.isDecoderOnly ? "reader" : "encoder", prefix: "llm.",
                             config: llm.config, tokenizer: "llm"),
                "projector": .init(architecture: "projector", prefix: "projector.", config: config.json, tokenizer: nil),
                "slm": .init(architecture: slm.modelType, prefix: "slm.", config: slm.config, tokenizer: "slm"),
            ],
            tokenizers: ["llm": llm.tokenizer, "slm": slm.tokenizer],
            generation: slm.generation,
            provenance: provenance)
        let projectorBytes = (try? FileManager.default.attributesOfItem(atPath: sources.projector)[.size] as? UInt64) ?? 0
        return try write(
            meta, tensors: tensors, blobs: llm.blobs + slm.blobs, output: options.output,
            sourceBytes: llm.sourceBytes + slm.sourceBytes + projectorBytes, skipped: [],
            architecture: "\(llm.modelType) → \(slm.modelType) bundle", start: start, progress: progress)
    }

    /// The reader layer a projector was trained on: `reader_layer` in the JSON its safetensors
    /// metadata holds under `llm2slm` (Tools/llm2slm/train.py writes it); nil for the last.
    static func readerLayer(_ file: SafetensorsFile, path: String) throws(ConfigError) -> Int? {
        guard let text = file.metadata["llm2slm"] else { return nil }
        let json: JSONValue
        do { json = try JSONValue.parse(Data(text.utf8), what: "\(path) metadata llm2slm") } catch {
            throw ConfigError("\(path): its llm2slm metadata is not JSON: \(error)")
        }
        guard let v = json["reader_layer"], v != .null else { return nil }
        guard let layer = v.intValue, layer >= 1 else { throw ConfigError("\(path): reader_layer is not a positive integer") }
        return layer
    }
}
