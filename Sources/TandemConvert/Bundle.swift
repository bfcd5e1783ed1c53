// `tandem convert --llm DIR --slm DIR --projector FILE`: one self-contained LLM-to-SLM bundle
// (Formats/FORMAT.md §7): the LLM's encoder only (`llm.`), the projector and, for a decoder-only
// SLM, the prompt adapter A (`projector.`), the whole SLM (`slm.`), both tokenizers and the SLM's
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
    /// Converts an LLM checkpoint (T5 family; only its encoder is kept), an SLM checkpoint
    /// (T5, GPT-2 or LLaMA) and the trained projector into one bundle at `options.output`.
    public static func convertBundle(_ sources: BundleSources, options: ConvertOptions, progress: ((Int, Int) -> Void)? = nil) throws(ConvertError) -> ConvertReport {
        let start = DispatchTime.now()
        let llm = try plan(directory: sources.llm, prefix: "llm.", blobPrefix: "llm/", options: options, asReader: true)
        let slm = try plan(directory: sources.slm, prefix: "slm.", blobPrefix: "slm/", options: options)
        let decoderOnly = slm.architecture.isDecoderOnly

        // The projector: Linear(d_l→d_h) → ReLU → Linear(d_h→d_s), and A (d_l→d_s) for decoder-only SLMs.
        let file: SafetensorsFile
        do { file = try SafetensorsFile(path: sources.projector) } catch { throw .format(error) }
        guard let w0 = file.tensors["projector.0.weight"], w0.shape.count == 2 else { throw .missingTensor("projector.0.weight") }
        let config: ProjectorConfig
        do {
            config = ProjectorConfig(llmDim: try llm.architecture.embeddingWidth(config: llm.config), hiddenDim: w0.shape[0],
                                     slmDim: try slm.architecture.embeddingWidth(config: slm.config), decoderOnly: decoderOnly)
        } catch { throw .config(error) }
        var projectorItems: [Item] = []
        for t in ProjectorTensors(config).all {
            guard let source = file.tensors[t.sourceName] else { throw .missingTensor("\(t.sourceName) in \(sources.projector)") }
            guard source.shape == t.shape else { throw .shape(tensor: t.sourceName, expected: t.shape, actual: source.shape) }
            let e = ExpectedTensor("projector." + t.name, t.shape, t.kind, sourceName: t.sourceName)
            let (dtype, rule) = try chooseDType(e, options: options)
            projectorItems.append(Item(expected: e, plan: TensorPlan(name: e.name, dtype: dtype, shape: e.shape), rule: rule, source: source))
        }
        if !decoderOnly, file.tensors["prompt_adapter.weight"] != nil {
            throw .source("\(sources.projector) has a prompt_adapter, which only decoder-only SLMs use; the SLM is \(slm.modelType)")
        }
        if !decoderOnly, llm.tokenizer.type != slm.tokenizer.type {
            throw .source("an encoder-decoder SLM must share the LLM's tokenizer")
        }
        let items = llm.items + projectorItems + slm.items
        let meta = TandemMetadata(
            kind: .bundle,
            models: [
                "llm": .init(architecture: llm.modelType, part: "encoder", prefix: "llm.", config: llm.config, tokenizer: "llm"),
                "projector": .init(architecture: "projector", prefix: "projector.", config: config.json, tokenizer: nil),
                "slm": .init(architecture: slm.modelType, prefix: "slm.", config: slm.config, tokenizer: "slm"),
            ],
            tokenizers: ["llm": llm.tokenizer, "slm": slm.tokenizer],
            generation: slm.generation,
            provenance: provenance(sources: [sources.llm, sources.slm, sources.projector], options: options, items: items))
        let projectorBytes = (try? FileManager.default.attributesOfItem(atPath: sources.projector)[.size] as? UInt64) ?? 0
        return try write(meta, items: items, blobs: llm.blobs + slm.blobs, options: options,
                         sourceBytes: llm.sourceBytes + slm.sourceBytes + projectorBytes,
                         skipped: [], architecture: "\(llm.modelType) → \(slm.modelType) bundle", start: start, progress: progress)
    }
}
