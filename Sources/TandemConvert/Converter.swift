// `tandem convert`: a Hugging Face checkpoint directory (config.json, *.safetensors, tokenizer
// files) → one self-contained Tandem file. Steps: read the config and pick the architecture;
// check every expected tensor's presence and shape against it; choose each tensor's dtype
// (policy + `--keep` rules); then stream tensors one by one into the writer, quantizing rows in
// parallel. Output layout: Formats/FORMAT.md.
import Dispatch
import Foundation
import TandemFormat
import TandemKernels
import TandemModels

public struct ConvertOptions: Sendable {
    public var source: String
    public var output: String
    public var dtype: DType
    public var keep: [KeepRule]
    /// GGUF import only: matrices keep the file's own block types (K-quants included) instead of
    /// `dtype`, so nothing is quantized twice; `dtype` is then unused.
    public var keepSourceTypes: Bool
    /// The threads that quantize each tensor's rows.
    public var pool: ThreadPool

    public init(source: String, output: String, dtype: DType, keep: [KeepRule] = [], keepSourceTypes: Bool = false,
                pool: ThreadPool) {
        self.source = source
        self.output = output
        self.dtype = dtype
        self.keep = keep
        self.keepSourceTypes = keepSourceTypes
        self.pool = pool
    }
}

/// What a conversion did.
public struct ConvertReport: Sendable {
    public var architecture: String
    public var tensorCount: Int
    public var parameterCount: Int
    public var sourceBytes: UInt64
    public var outputBytes: UInt64
    public var skipped: [String]
    public var seconds: Double
    public var dtypeCounts: [String: Int]
}

public enum Converter {
    public static let version = "tandem 0.1.0"

    /// One tensor's plan: where it comes from and how it is stored.
    struct Item {
        var expected: ExpectedTensor
        var plan: TensorPlan
        var rule: String
        var source: SafetensorsTensor
    }

    /// One checkpoint directory, planned: its config and architecture, the tensors to write
    /// (names under `prefix`), its tokenizer blobs (names under `blobPrefix`) and generation defaults.
    struct PlannedPart {
        var config: JSONValue
        var architecture: any Architecture.Type
        var modelType: String
        var items: [Item]
        var skipped: [String]
        var tokenizer: TandemMetadata.TokenizerEntry
        var blobs: [BlobPlan]
        var generation: [String: JSONValue]
        var sourceBytes: UInt64
        var checkpoint: SafetensorsCheckpoint
    }

    /// Reads and checks a Hugging Face checkpoint directory. With `keep`, only tensors whose
    /// Tandem name passes are planned (an LLM-to-SLM bundle stores only the LLM's encoder).
    static func plan(
        directory dir: String, prefix: String = "", blobPrefix: String = "", options: ConvertOptions, asReader: Bool = false
    ) throws(ConvertError) -> PlannedPart {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw .source("\(dir) is not a directory (expected a Hugging Face checkpoint: config.json, *.safetensors, tokenizer)")
        }
        guard let configData = FileManager.default.contents(atPath: dir + "/config.json") else {
            throw .source("\(dir) has no config.json")
        }
        let config: JSONValue
        do { config = try JSONValue.parse(configData, what: "\(dir)/config.json") } catch { throw .format(error) }
        guard let modelType = config["model_type"]?.stringValue else { throw .source("config.json has no model_type") }
        guard let arch = ArchitectureRegistry.architecture(modelType: modelType) else { throw .unsupportedModel(modelType) }
        let keep = try keptTensors(arch, asReader: asReader, source: dir, modelType: modelType)

        let checkpoint: SafetensorsCheckpoint
        do { checkpoint = try SafetensorsCheckpoint(directory: dir) } catch {
            if case .missing = error, FileManager.default.fileExists(atPath: dir + "/pytorch_model.bin") {
                throw .source("\(dir) has only pytorch_model.bin; Tandem reads safetensors (save with safe_serialization=True)")
            }
            throw .format(error)
        }
        let names = Set(checkpoint.names)
        let expected: [ExpectedTensor]
        do { expected = try arch.expectedTensors(config: config, checkpointNames: names).filter { keep($0.name) } } catch {
            throw .config(error)
        }
        var items: [Item] = []
        for var e in expected {
            guard let src = checkpoint[e.sourceName] else { throw .missingTensor(e.sourceName) }
            let srcShape = e.transposed ? Array(src.shape.reversed()) : src.shape
            guard srcShape == e.shape else { throw .shape(tensor: e.sourceName, expected: e.shape, actual: srcShape) }
            guard [.F32, .F16, .BF16, .F64].contains(src.dtype) else {
                throw .source("tensor \(e.sourceName) has dtype \(src.dtype.rawValue); expected a float type")
            }
            e.name = prefix + e.name
            let (dtype, rule) = try chooseDType(e, options: options)
            guard dtype.isEncodable else {
                throw .badOption("\(rule): \(dtype.name) blocks are copied from GGUF files, not made from floats; use \(DType.encodable.listed)")
            }
            items.append(Item(expected: e, plan: TensorPlan(name: e.name, dtype: dtype, shape: e.shape), rule: rule, source: src))
        }
        let used = Set(expected.map(\.sourceName))
        let (tokenizer, blobs) = try tokenizerBlobs(dir, blobPrefix: blobPrefix)
        var generation = arch.generationDefaults(config: config)
        if let g = FileManager.default.contents(atPath: dir + "/generation_config.json"),
           case let .object(o)? = try? JSONValue.parse(g, what: "generation_config.json") {
            // Keep generation settings; drop transformers' bookkeeping keys.
            let bookkeeping: Set = ["transformers_version", "_from_model_config", "output_attentions", "output_hidden_states", "use_cache", "return_dict_in_generate"]
            for (k, v) in o where !bookkeeping.contains(k) { generation[k] = v }
        }
        let sourceBytes = checkpoint.files.reduce(UInt64(0)) { acc, f in
            acc + ((try? FileManager.default.attributesOfItem(atPath: f.path)[.size] as? UInt64) ?? 0)
        }
        return PlannedPart(config: config, architecture: arch, modelType: arch.modelTypes[0], items: items,
                           skipped: checkpoint.names.filter { !used.contains($0) }, tokenizer: tokenizer, blobs: blobs,
                           generation: generation, sourceBytes: sourceBytes, checkpoint: checkpoint)
    }

    public static func convert(_ options: ConvertOptions, progress: ((Int, Int) -> Void)? = nil) throws(ConvertError) -> ConvertReport {
        let start = DispatchTime.now()
        let part = try plan(directory: options.source, options: options)
        let meta = TandemMetadata(
            kind: .model,
            models: ["model": .init(architecture: part.modelType, config: part.config, tokenizer: "main")],
            tokenizers: ["main": part.tokenizer],
            generation: part.generation,
            provenance: provenance(sources: [options.source], options: options, items: part.items))
        return try write(meta, tensors: planned(part.items, from: part.checkpoint, options: options), blobs: part.blobs,
                         output: options.output, sourceBytes: part.sourceBytes, skipped: part.skipped, architecture: part.modelType,
                         start: start, progress: progress)
    }

    static func provenance(sources: [String], options: ConvertOptions, items: [Item]) -> TandemMetadata.Provenance {
        var tensors: [String: TandemMetadata.TensorProvenance] = [:]
        for i in items { tensors[i.plan.name] = .init(source: i.source.dtype.rawValue, rule: i.rule) }
        return .init(sources: sources, converter: version, created: ISO8601DateFormatter().string(from: Date()),
                     defaultDType: options.dtype.name, keepRules: options.keep.map(\.description), tensors: tensors)
    }

    /// Writes the planned tensors and blobs, then re-opens the file: the writer and the reader
    /// must agree before we say done. `produce` fills each tensor's bytes.
    static func write(
        _ meta: TandemMetadata, plans: [TensorPlan], blobs: [BlobPlan], output: String, sourceBytes: UInt64,
        skipped: [String], architecture: String, start: DispatchTime, progress: ((Int, Int) -> Void)?,
        produce: (TensorPlan, UnsafeMutableRawBufferPointer) throws -> Void
    ) throws(ConvertError) -> ConvertReport {
        let writer = TandemFileWriter(metadata: meta, tensors: plans, blobs: blobs)
        do {
            try writer.write(to: output, produce: produce, progress: progress)
        } catch let e as ConvertError {
            throw e
        } catch let e as TandemFileWriter.WriteError {
            throw .write(e)
        } catch {
            // `produce` throws ConvertError only, and the writer WriteError; anything else is a bug.
            preconditionFailure("TandemFileWriter.write threw \(error)")
        }
        let out: TandemFile
        do { out = try TandemFile(path: output) } catch { throw .format(error) }
        var counts: [String: Int] = [:]
        for t in out.tensors { counts[t.dtype.name, default: 0] += 1 }
        return ConvertReport(
            architecture: architecture, tensorCount: plans.count,
            parameterCount: plans.reduce(0) { $0 + $1.shape.reduce(1, *) },
            sourceBytes: sourceBytes, outputBytes: out.sections.fileBytes, skipped: skipped,
            seconds: Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9, dtypeCounts: counts)
    }

    /// `write` for planned tensors (each filled by its own `produce`).
    static func write(
        _ meta: TandemMetadata, tensors: PlannedTensors, blobs: [BlobPlan], output: String, sourceBytes: UInt64,
        skipped: [String], architecture: String, start: DispatchTime, progress: ((Int, Int) -> Void)?
    ) throws(ConvertError) -> ConvertReport {
        try write(meta, plans: tensors.plans, blobs: blobs, output: output, sourceBytes: sourceBytes, skipped: skipped,
                  architecture: architecture, start: start, progress: progress) { plan, dst in try tensors.produce(plan, dst) }
    }

    /// Tensors to write: their plans, where each came from, and what fills one.
    struct PlannedTensors {
        var plans: [TensorPlan]
        var provenance: [String: TandemMetadata.TensorProvenance]
        var produce: @Sendable (TensorPlan, UnsafeMutableRawBufferPointer) throws(ConvertError) -> Void

        /// Several parts' tensors as one (a bundle's), each filled by its own part.
        static func joined(_ parts: [PlannedTensors]) -> PlannedTensors {
            var producers: [String: @Sendable (TensorPlan, UnsafeMutableRawBufferPointer) throws(ConvertError) -> Void] = [:]
            var provenance: [String: TandemMetadata.TensorProvenance] = [:]
            for p in parts {
                for plan in p.plans { producers[plan.name] = p.produce }
                provenance.merge(p.provenance) { a, _ in a }
            }
            let fill = producers
            return PlannedTensors(plans: parts.flatMap(\.plans), provenance: provenance) { (plan, dst) throws(ConvertError) in
                try fill[plan.name]!(plan, dst)
            }
        }
    }

    /// Safetensors items as tensors to write; `source` (a `SafetensorsCheckpoint` or `SafetensorsFile`)
    /// holds the mapping the items point into, and lives as long as they may be written.
    static func planned(_ items: [Item], from source: AnyObject & Sendable, options: ConvertOptions) -> PlannedTensors {
        let byName = Dictionary(uniqueKeysWithValues: items.map { ($0.plan.name, $0) })
        let pool = options.pool
        return PlannedTensors(plans: items.map(\.plan), provenance: provenance(sources: [], options: options, items: items).tensors) {
            (plan, dst) throws(ConvertError) in
            let item = byName[plan.name]!
            try withExtendedLifetime(source) { () throws(ConvertError) in try encode(item, into: dst, pool: pool) }
            MappedFile.dontNeed(item.source.data)
        }
    }

    /// What a part keeps of its model's tensors: everything, or as a pair's reader what
    /// `Architecture.readerTensors` says (an error for a model that cannot read).
    static func keptTensors(_ arch: any Architecture.Type, asReader: Bool, source: String, modelType: String)
        throws(ConvertError) -> @Sendable (String) -> Bool {
        guard asReader else { return { _ in true } }
        guard let kept = arch.readerTensors else {
            throw .source("the LLM must be a model that can read a prompt (T5 family, LLaMA or Qwen2); \(source) is \(modelType)")
        }
        return kept
    }

    /// The storage dtype of one tensor: the first matching `--keep` rule, else the requested
    /// dtype for matrices (f32 when a row is not whole blocks), else f32.
    static func chooseDType(_ e: ExpectedTensor, options: ConvertOptions) throws(ConvertError) -> (DType, String) {
        let columns = e.shape.last ?? 1
        if let rule = options.keep.first(where: { $0.matches(e.name) }) {
            guard e.kind.storageDTypes.contains(rule.dtype) else {
                throw .badOption("--keep \(rule): \(e.name) is a \(e.kind.rawValue) tensor, which may be stored as \(e.kind.storageDTypes.listed)")
            }
            if rule.dtype.isQuantized, columns % rule.dtype.blockSize != 0 {
                throw .badOption("--keep \(rule): \(e.name) has rows of \(columns), not a multiple of \(rule.dtype.blockSize)")
            }
            return (rule.dtype, "keep \(rule)")
        }
        guard e.kind.takesRequestedDType else { return (.f32, "policy: \(e.kind.rawValue) stays f32") }
        if options.dtype.isQuantized, columns % options.dtype.blockSize != 0 {
            return (.f32, "fallback: rows of \(columns) are not whole \(options.dtype.name) blocks")
        }
        return (options.dtype, "default")
    }

    /// Converts one tensor to f32 rows (transposing GPT-2's Conv1D) and encodes the rows,
    /// split over the pool's threads.
    static func encode(_ item: Item, into dst: UnsafeMutableRawBufferPointer, pool: ThreadPool) throws(ConvertError) {
        let shape = item.plan.shape
        let columns = shape.last ?? 1
        let rows = columns == 0 ? 0 : shape.reduce(1, *) / columns
        var values: [Float]
        do { values = try item.source.floats() } catch { throw .format(error) }
        if item.expected.transposed {
            // Source is [columns, rows] ([in, out]); produce [rows, columns].
            var t = [Float](repeating: 0, count: values.count)
            for r in 0..<rows { for c in 0..<columns { t[r * columns + c] = values[c * rows + r] } }
            values = t
        }
        guard values.allSatisfy({ $0.isFinite }) else { throw .nonFinite(tensor: item.source.name) }
        let dtype = item.plan.dtype
        let rowBytes = dtype.rowBytes(columns: columns)
        // Each range writes its own rows; nothing is shared mutably.
        let dstBase = UnsafeMutableRawPointer(dst.baseAddress)
        values.withUnsafeBufferPointer { src in
            pool.parallelFor(rows) { range in
                for r in range {
                    dtype.encodeRow(
                        UnsafeBufferPointer(rebasing: src[r * columns..<(r + 1) * columns]),
                        into: UnsafeMutableRawBufferPointer(start: dstBase! + r * rowBytes, count: rowBytes))
                }
            }
        }
    }

    /// The tokenizer files of a checkpoint as blobs, and the metadata entry naming them.
    static func tokenizerBlobs(_ dir: String, blobPrefix: String = "") throws(ConvertError) -> (TandemMetadata.TokenizerEntry, [BlobPlan]) {
        let fm = FileManager.default
        func read(_ name: String) -> [UInt8]? { fm.contents(atPath: dir + "/" + name).map { [UInt8]($0) } }
        var blobs: [BlobPlan] = []
        var entry: TandemMetadata.TokenizerEntry
        if let sp = read("spiece.model") ?? read("tokenizer.model") {
            blobs.append(BlobPlan(name: blobPrefix + "tokenizer/spiece.model", encoding: .lz4, content: sp))
            entry = .init(type: "sentencepiece", blob: blobPrefix + "tokenizer/spiece.model")
            if let tj = read("tokenizer.json") {
                blobs.append(BlobPlan(name: blobPrefix + "tokenizer/tokenizer.json", encoding: .lz4, content: tj))
                entry.extra["tokenizer.json"] = blobPrefix + "tokenizer/tokenizer.json"
            }
        } else if let tj = read("tokenizer.json") {
            blobs.append(BlobPlan(name: blobPrefix + "tokenizer/tokenizer.json", encoding: .lz4, content: tj))
            entry = .init(type: "hf-tokenizer-json", blob: blobPrefix + "tokenizer/tokenizer.json")
        } else {
            throw .source("\(dir) has no tokenizer (expected spiece.model or tokenizer.json); a .tandem file carries its tokenizer")
        }
        for extra in ["tokenizer_config.json", "special_tokens_map.json"] {
            if let b = read(extra) {
                blobs.append(BlobPlan(name: blobPrefix + "tokenizer/" + extra, encoding: .lz4, content: b))
                entry.extra[extra] = blobPrefix + "tokenizer/" + extra
            }
        }
        return (entry, blobs)
    }
}
