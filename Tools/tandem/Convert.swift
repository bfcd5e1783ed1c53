import ArgumentParser
import Foundation
import TandemConvert
import TandemFormat
import TandemModels

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a Hugging Face checkpoint directory into a Tandem file.",
        discussion: """
            SRC is a checkpoint directory: config.json, model.safetensors (or shards listed in \
            model.safetensors.index.json) and its tokenizer (spiece.model or tokenizer.json). \
            Supported model types: \(ArchitectureRegistry.supportedModelTypes.joined(separator: ", ")).

            Matrices take --dtype; norms, biases and position tables stay f32. Override any \
            tensor with --keep PATTERN=dtype (glob over tensor names), e.g. \
            --keep '*.DenseReluDense.wo.weight=f32' for Flan-T5.

            A .gguf (\(ArchitectureRegistry.supportedGGUFArchitectures.joined(separator: ", ")): SmolLM2, \
            Qwen2.5) is imported: tensors renamed to Hugging Face names, q/k rows un-permuted to \
            half-split RoPE where llama.cpp permuted them. Without --dtype every matrix keeps the \
            file's own type (F32, F16, Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K; BF16 becomes f32), copied \
            block for block, so nothing is quantized twice; types Tandem does not run (Q2_K, Q3_K, \
            Q4_1, IQ*) are an error naming --dtype. With --dtype, tensors of that type are copied \
            and the others dequantized and requantized. Its vocabulary becomes a tokenizer.json \
            (byte-level BPE, tokenizer.ggml.model gpt2) or an spm-vocab blob (SentencePiece-style, \
            llama, as Gemma 3's) that tokenizes as llama.cpp does, and its chat template a \
            generation default.

            An LLM-to-SLM bundle: --llm (a T5-family checkpoint, of which its encoder is kept, or \
            a LLaMA or Qwen2 checkpoint or .gguf, kept without its head), --slm (T5, GPT-2, LLaMA \
            or Qwen2, a directory or a .gguf) and --projector FILE (safetensors: \
            projector.0/2.weight/bias, and prompt_adapter.weight for a decoder-only SLM with its \
            own tokenizer; without it a decoder-only SLM must share the LLM's tokenizer), instead \
            of SRC. A .gguf keeps its own block types unless --dtype is given.

            The file is written under a temporary name and renamed when complete.
            """)

    @Argument(help: "Hugging Face checkpoint directory, or a .gguf file (omit for a bundle).")
    var source: String?

    @Option(help: "Bundle: the LLM, a checkpoint directory (T5, LLaMA, Qwen2) or a .gguf.")
    var llm: String?

    @Option(help: "Bundle: the SLM, a checkpoint directory or a .gguf.")
    var slm: String?

    @Option(help: "Bundle: the projector safetensors file.")
    var projector: String?

    @Option(name: .shortAndLong, help: "Output file (e.g. model.tandem).")
    var output: String

    @Option(help: ArgumentHelp(
        "Storage dtype for weight matrices: \(DType.encodable.listed) (default: q8_0; a .gguf keeps its own types).",
        valueName: "dtype"))
    var dtype: String?

    @Option(name: .customLong("keep"), help: ArgumentHelp(
        "PATTERN=dtype override (repeatable).",
        discussion: "Matrices and embeddings: \(TensorKind.linear.storageDTypes.listed) (q5_0 and the K-quants only from a .gguf tensor of that type); norms, biases and position tables: f32."))
    var keep: [String] = []

    @OptionGroup var threading: ThreadOptions

    @Flag(help: "Print nothing but errors.")
    var quiet = false

    /// `--dtype` as a storage type for weight matrices (q8_0 when not given).
    func storageDType() throws -> DType {
        guard let dtype else { return .q8_0 }
        guard let dt = DType(name: dtype), TensorKind.linear.storageDTypes.contains(dt), dt.isEncodable else {
            if let dt = DType(name: dtype), !dt.isEncodable {
                throw ValidationError("--dtype \(dt.name): those blocks are kept from a .gguf (the default there), never made; use \(DType.encodable.listed)")
            }
            throw ValidationError("unknown --dtype \(dtype) (use \(DType.encodable.listed))")
        }
        return dt
    }

    func keepRules() throws -> [KeepRule] {
        do { return try keep.map { try KeepRule(parsing: $0) } } catch { throw ValidationError("\(error)") }
    }

    func validate() throws {
        _ = try storageDType()
        _ = try keepRules()
    }

    func run() throws {
        try reportingErrors {
            let dt = try storageDType()
            let pool = try threading.pool()
            let rules = try keepRules()
            let bar = ProgressBar(label: "converting")
            let bundleParts = [llm, slm, projector].compactMap { $0 }
            let report: ConvertReport
            if let source {
                guard bundleParts.isEmpty else { throw ValidationError("give either SRC or --llm/--slm/--projector, not both") }
                let gguf = source.lowercased().hasSuffix(".gguf")
                let options = ConvertOptions(source: source, output: output, dtype: dt, keep: rules,
                                             keepSourceTypes: gguf && dtype == nil, pool: pool)
                let handler: ((Int, Int) -> Void)? = quiet ? nil : { bar.update(done: $0, total: $1) }
                report = gguf
                    ? try GGUFImporter.convert(options, progress: handler)
                    : try Converter.convert(options, progress: handler)
            } else {
                guard let llm, let slm, let projector else {
                    throw ValidationError("give a checkpoint directory, or all of --llm, --slm and --projector for a bundle")
                }
                report = try Converter.convertBundle(
                    BundleSources(llm: llm, slm: slm, projector: projector),
                    options: ConvertOptions(source: llm, output: output, dtype: dt, keep: rules, keepSourceTypes: dtype == nil, pool: pool),
                    progress: quiet ? nil : { bar.update(done: $0, total: $1) })
            }
            bar.finish()
            if !quiet {
                let ratio = Double(report.outputBytes) / Double(max(report.sourceBytes, 1))
                print("converted \(report.architecture): \(report.tensorCount) tensors, \(report.parameterCount) parameters")
                print("  \(formatBytes(report.sourceBytes)) \(source == nil ? "sources" : source!.lowercased().hasSuffix(".gguf") ? "GGUF" : "safetensors") → \(formatBytes(report.outputBytes)) \(output) (\(String(format: "%.2f", ratio))×) in \(String(format: "%.2f", report.seconds)) s")
                print("  dtypes: " + report.dtypeCounts.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", "))
                if !report.skipped.isEmpty {
                    print("  skipped (not used by Tandem): " + report.skipped.joined(separator: ", "))
                }
            }
        }
    }
}
