// `tandem convert --llm DIR --slm DIR --projector FILE`: one self-contained LLM-to-SLM bundle
// (Formats/FORMAT.md §7): the LLM's encoder only (`llm.`), the projector and, for a decoder-only
// SLM, the prompt adapter A (`projector.`), the whole SLM (`slm.`), both tokenizers and the SLM's
// generation defaults. Method: Bergner et al. 2024 (arXiv 2402.16844), ARCHITECTURE.md §1.
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
        let llm = try plan(directory: sources.llm, prefix: "llm.", blobPrefix: "llm/", options: options) { name in
            name == "shared.weight" || name.hasPrefix("encoder.")
        }
        guard llm.modelType == "t5" else { throw .source("the LLM must be a T5-family model (its encoder reads the prompt); \(sources.llm) is \(llm.modelType)") }
        let slm = try plan(directory: sources.slm, prefix: "slm.", blobPrefix: "slm/", options: options)
        let dl: Int, ds: Int
        do {
            dl = try T5Config.from(llm.config).dModel
            switch slm.modelType {
            case "t5": ds = try T5Config.from(slm.config).dModel
            case "gpt2": ds = try GPT2Config.from(slm.config).nEmbd
            default: ds = try LlamaConfig.from(slm.config).hiddenSize
            }
        } catch { throw .config(error) }
        let decoderOnly = slm.modelType != "t5"

        // The projector: Linear(d_l→d_h) → ReLU → Linear(d_h→d_s), and A (d_l→d_s) for decoder-only SLMs.
        let file: SafetensorsFile
        do { file = try SafetensorsFile(path: sources.projector) } catch { throw .format(error) }
        guard let w0 = file.tensors["projector.0.weight"], w0.shape.count == 2 else { throw .missingTensor("projector.0.weight") }
        let dh = w0.shape[0]
        var expected: [(String, String, [Int], TensorKind)] = [
            ("projector.0.weight", "projector.0.weight", [dh, dl], .linear),
            ("projector.0.bias", "projector.0.bias", [dh], .bias),
            ("projector.2.weight", "projector.2.weight", [ds, dh], .linear),
            ("projector.2.bias", "projector.2.bias", [ds], .bias),
        ]
        if decoderOnly { expected.append(("prompt_adapter.weight", "projector.prompt_adapter.weight", [ds, dl], .linear)) }
        var projectorItems: [Item] = []
        for (source, name, shape, kind) in expected {
            guard let t = file.tensors[source] else { throw .missingTensor("\(source) in \(sources.projector)") }
            guard t.shape == shape else { throw .shape(tensor: source, expected: shape, actual: t.shape) }
            let e = ExpectedTensor(name, shape, kind, sourceName: source)
            let (dtype, rule) = try chooseDType(e, options: options)
            projectorItems.append(Item(expected: e, plan: TensorPlan(name: name, dtype: dtype, shape: shape), rule: rule, source: t))
        }
        if !decoderOnly, file.tensors["prompt_adapter.weight"] != nil {
            throw .source("\(sources.projector) has a prompt_adapter, which only decoder-only SLMs use; the SLM is T5")
        }
        if !decoderOnly, llm.tokenizer.type != slm.tokenizer.type {
            throw .source("an encoder-decoder SLM must share the LLM's tokenizer")
        }
        let projectorConfig: JSONValue = .object([
            "llm_dim": .number(Double(dl)), "hidden_dim": .number(Double(dh)), "slm_dim": .number(Double(ds)),
            "slm_kind": .string(decoderOnly ? "decoder-only" : "encoder-decoder"),
        ])
        let items = llm.items + projectorItems + slm.items
        let meta = TandemMetadata(
            kind: .bundle,
            models: [
                "llm": .init(architecture: llm.modelType, part: "encoder", prefix: "llm.", config: llm.config, tokenizer: "llm"),
                "projector": .init(architecture: "projector", prefix: "projector.", config: projectorConfig, tokenizer: nil),
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
