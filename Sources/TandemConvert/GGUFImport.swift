// `tandem convert model.gguf`: a GGUF (from llama.cpp's convert_hf_to_gguf.py) of an architecture
// whose mapping its file in TandemModels states (`Architecture.gguf`: names, config, permuted rows;
// today `llama`, which SmolLM2 is) → one Tandem file, in Hugging Face naming and layout, so the
// same model code runs weights from either source.
//
// What the import undoes, per llama.cpp convert_hf_to_gguf.py (`LlamaModel.modify_tensors`, read
// with the search tool, not copied):
// * Names: `blk.N.attn_q.weight` → `model.layers.N.self_attn.q_proj.weight`, and so on (the table
//   is LlamaArchitecture.gguf, in Llama.swift).
// * RoPE layout: convert_hf_to_gguf.py permutes the rows of q and k within each head
//   (`LlamaModel.permute`: reshape(heads, 2, d/2, in).swapaxes(1, 2)) so that ggml's adjacent-pair
//   rotation (GGML_ROPE_TYPE_NORM) equals Hugging Face's `rotate_half` on the original rows. The
//   import inverts that permutation, so stored q/k rows are in Hugging Face order and the config
//   says `"rope_layout": "hf-half-split"`: Tandem's LLaMA always rotates half-split. k uses the
//   key/value head count, as llama.cpp does. Rows are moved whole, so quantized blocks survive.
// * Dimensions: GGUF lists `ne[0]` (innermost) first; Tandem shapes are row-major, reversed.
//
// Storage: by default (`ConvertOptions.keepSourceTypes`) every matrix keeps the file's own block
// type — F32, F16, Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K are Tandem dtypes byte for byte
// (Formats/FORMAT.md §5) — and is copied row by row, so a Q4_K_M file is not quantized twice; BF16
// becomes f32 (no bf16 matrix kernels; exact). Types Tandem does not run (Q2_K, Q3_K, Q4_1, the
// IQ types, …) are refused, naming `--dtype`. With `--dtype`, a tensor already in that type is
// copied and anything else is dequantized to f32 per row (GGUFDequantize.swift) and re-encoded
// with `DType.encodeRow`.
import Dispatch
import Foundation
import TandemFormat
import TandemKernels
import TandemModels

public enum GGUFImporter {
    /// The GGUF row holding Hugging Face row `row` of a q or k matrix of `heads` heads (the
    /// inverse of `LlamaModel.permute`): within a head of `d` rows, HF row `s·d/2 + i`
    /// (s = 0 first half, 1 second half) was written to row `2i + s`.
    public static func sourceRow(huggingFaceRow row: Int, rows: Int, heads: Int) -> Int {
        let d = rows / heads
        let head = row / d, j = row % d
        let s = j / (d / 2), i = j % (d / 2)
        return head * d + 2 * i + s
    }

    /// One tensor's plan.
    struct Item {
        var plan: TensorPlan
        var source: GGUFTensor
        /// Heads of the RoPE permutation to undo (q: attention heads, k: key/value heads).
        var ropeHeads: Int?
        var copy: Bool
    }

    /// One GGUF file planned: its config and architecture, the tensors to write (names under
    /// `prefix`), its tokenizer (blobs under `blobPrefix`) and generation defaults.
    struct Planned {
        var file: GGUFFile
        var config: JSONValue
        var architecture: any Architecture.Type
        var items: [Item]
        var skipped: [String]
        var tokenizer: TokenizerImport
        var generation: [String: JSONValue]
        var provenance: [String: TandemMetadata.TensorProvenance]

        /// The tensors with what writes each; the writer keeps the file's mapping, which the
        /// items point into, alive.
        func tensors(pool: ThreadPool) -> Converter.PlannedTensors {
            let byName = Dictionary(uniqueKeysWithValues: items.map { ($0.plan.name, $0) })
            let file = file
            return Converter.PlannedTensors(plans: items.map(\.plan), provenance: provenance) { (plan, dst) throws(ConvertError) in
                try withExtendedLifetime(file) { () throws(ConvertError) in try write(byName[plan.name]!, into: dst, pool: pool) }
            }
        }
    }

    public static func convert(_ options: ConvertOptions, progress: ((Int, Int) -> Void)? = nil) throws(ConvertError) -> ConvertReport {
        let start = DispatchTime.now()
        let part = try plan(path: options.source, options: options)
        let arch = part.architecture
        let meta = TandemMetadata(
            kind: .model,
            models: ["model": .init(architecture: arch.modelTypes[0], config: part.config, tokenizer: "main")],
            tokenizers: ["main": part.tokenizer.entry],
            generation: part.generation,
            provenance: .init(
                sources: [options.source], converter: Converter.version + " (gguf import)",
                created: ISO8601DateFormatter().string(from: Date()),
                defaultDType: options.keepSourceTypes ? "gguf" : options.dtype.name, keepRules: options.keep.map(\.description),
                tensors: part.provenance))
        return try Converter.write(
            meta, tensors: part.tensors(pool: options.pool), blobs: part.tokenizer.blobs, output: options.output,
            sourceBytes: UInt64(part.file.mapping.bytes.count), skipped: part.skipped, architecture: arch.modelTypes[0],
            start: start, progress: progress)
    }

    /// Reads and checks a GGUF file. `asReader`: only the tensors a pair's reader keeps
    /// (`Architecture.readerTensors`).
    static func plan(path: String, prefix: String = "", blobPrefix: String = "", options: ConvertOptions, asReader: Bool = false)
        throws(ConvertError) -> Planned {
        let file: GGUFFile
        do { file = try GGUFFile(path: path) } catch { throw .format(error) }
        guard let name = file["general.architecture"]?.string else { throw .source("\(path): GGUF has no general.architecture") }
        guard let arch = ArchitectureRegistry.architecture(gguf: name), let mapping = arch.gguf else {
            let known = ArchitectureRegistry.supportedGGUFArchitectures.joined(separator: ", ")
            throw .source("\(path): GGUF architecture \(name) is not supported (Tandem imports: \(known))")
        }
        let keep = try Converter.keptTensors(arch, asReader: asReader, source: path, modelType: name)
        let config: JSONValue
        let expected: [ExpectedTensor]
        var byHF: [String: GGUFTensor] = [:]
        var skipped: [String] = []
        for t in file.tensors {
            if let hf = mapping.tensorName(t.name) { byHF[hf] = t } else { skipped.append(t.name) }
        }
        do {
            config = try mapping.config(file)
            expected = try arch.expectedTensors(config: config, checkpointNames: Set(byHF.keys)).filter { keep($0.name) }
        } catch { throw .config(error) }
        var items: [Item] = []
        var provenance: [String: TandemMetadata.TensorProvenance] = [:]
        for e in expected {
            guard let src = byHF[e.sourceName] else { throw .missingTensor(e.sourceName) }
            guard src.info.shape == e.shape else { throw .shape(tensor: src.name, expected: e.shape, actual: src.info.shape) }
            let (dtype, rule) = try chooseDType(e, source: src, options: options)
            let heads = mapping.permutedHeads(e.name, config)
            if let heads, (e.shape[0] % heads != 0 || (e.shape[0] / heads) % 2 != 0) {
                throw .source("GGUF tensor \(src.name): \(e.shape[0]) rows are not \(heads) heads of an even size")
            }
            let copy = canCopy(src, to: dtype)
            guard copy || src.type.canDequantize else {
                throw .source("GGUF tensor \(src.name) has type \(src.type.name), which Tandem cannot dequantize yet")
            }
            items.append(Item(plan: TensorPlan(name: prefix + e.name, dtype: dtype, shape: e.shape), source: src, ropeHeads: heads, copy: copy))
            let how = (copy ? "copied" : "requantized") + (heads != nil ? ", RoPE rows un-permuted" : "")
            provenance[prefix + e.name] = .init(source: "gguf \(src.type.name) \(src.name)", rule: "\(rule); \(how)")
        }
        let used = Set(expected.map(\.sourceName))
        skipped += byHF.filter { !used.contains($0.key) }.map(\.value.name)

        var tokenizer = try tokenizerBlobs(file, contextLength: config["max_position_embeddings"]?.intValue)
        if !blobPrefix.isEmpty { tokenizer = tokenizer.prefixed(blobPrefix) }
        var generation = arch.generationDefaults(config: config)
        for (k, v) in tokenizer.generation { generation[k] = v }
        return Planned(file: file, config: config, architecture: arch, items: items, skipped: skipped.sorted(), tokenizer: tokenizer,
                       generation: generation, provenance: provenance)
    }

    /// Writes one planned tensor's rows and lets the kernel drop the source pages read.
    static func write(_ item: Item, into dst: UnsafeMutableRawBufferPointer, pool: ThreadPool) throws(ConvertError) {
        try encode(item, into: dst, pool: pool)
        MappedFile.dontNeed(item.source.data)
    }

    /// The dtype a tensor is stored in: with `keepSourceTypes`, a matrix's own GGUF type where
    /// Tandem runs it (a clear error naming `--dtype` where not); otherwise, and for `--keep`
    /// rules, `Converter.chooseDType`, where a dtype Tandem only copies must be the source's.
    static func chooseDType(_ e: ExpectedTensor, source src: GGUFTensor, options: ConvertOptions) throws(ConvertError) -> (DType, String) {
        if options.keepSourceTypes, e.kind.takesRequestedDType, !options.keep.contains(where: { $0.matches(e.name) }) {
            if src.type == .bf16 { return (.f32, "source type BF16, kept as f32 (no bf16 matrix kernels)") }
            guard let own = DType.allCases.first(where: { $0.ggmlType == src.type }), WeightMatrix.supports(own) else {
                throw .source("GGUF tensor \(src.name) has type \(src.type.name), which Tandem does not run; "
                    + "convert with --dtype \(DType.encodable.filter(\.isQuantized).listed) to re-quantize it")
            }
            return (own, "source type")
        }
        let (dtype, rule) = try Converter.chooseDType(e, options: options)
        if !dtype.isEncodable, dtype.ggmlType != src.type {
            throw .badOption("\(rule): GGUF tensor \(src.name) is \(src.type.name); \(dtype.name) blocks are only copied "
                + "from a tensor of that type, never made (use \(DType.encodable.listed))")
        }
        return (dtype, rule)
    }

    /// Whether the source blocks are already Tandem's blocks of `dtype`. A Q8_0 block holding
    /// -128 (ggml's quantizer never writes it, a crafted file might) is re-encoded instead:
    /// Tandem's int8 kernels rely on [-127, 127] (docs/ARCHITECTURE.md §4).
    static func canCopy(_ src: GGUFTensor, to dtype: DType) -> Bool {
        switch (src.type, dtype) {
        case (.f32, .f32), (.f16, .f16), (.bf16, .bf16), (.q4_0, .q4_0), (.q5_0, .q5_0), (.q4_K, .q4_K), (.q5_K, .q5_K),
             (.q6_K, .q6_K):
            return true
        case (.q8_0, .q8_0):
            let bytes = src.data
            for b in 0..<bytes.count / 34 {
                for j in 0..<32 where bytes[b * 34 + 2 + j] == 0x80 { return false }
            }
            return true
        default: return false
        }
    }

    /// Fills `dst` with the tensor's rows in Hugging Face order, split over the pool's threads.
    static func encode(_ item: Item, into dst: UnsafeMutableRawBufferPointer, pool: ThreadPool) throws(ConvertError) {
        let info = item.source.info
        let rows = info.rows, columns = info.columns
        guard rows > 0 else { return }
        let srcRowBytes = info.type.rowBytes(columns: columns)!
        let dtype = item.plan.dtype
        let dstRowBytes = dtype.rowBytes(columns: columns)
        let chunks = min(pool.threadCount * ThreadPool.chunksPerThread, rows)
        let dstBase = dst.baseAddress!
        let src = item.source.data
        let heads = item.ropeHeads, copy = item.copy
        // One flag per chunk, each written by its own chunk only.
        let nonFinite = UnsafeMutableBufferPointer<Bool>.allocate(capacity: chunks)
        nonFinite.initialize(repeating: false)
        defer { nonFinite.deallocate() }
        let flags = nonFinite
        pool.run(chunks: chunks) { chunk in
            let r0 = rows * chunk / chunks, r1 = rows * (chunk + 1) / chunks
            let scratch = UnsafeMutableBufferPointer<Float>.allocate(capacity: copy ? 0 : columns)
            defer { scratch.deallocate() }
            for r in r0..<r1 {
                let s = heads.map { sourceRow(huggingFaceRow: r, rows: rows, heads: $0) } ?? r
                let from = UnsafeRawBufferPointer(rebasing: src[s * srcRowBytes..<(s + 1) * srcRowBytes])
                let to = UnsafeMutableRawBufferPointer(start: dstBase + r * dstRowBytes, count: dstRowBytes)
                if copy {
                    to.copyMemory(from: from)
                } else {
                    info.type.dequantizeRow(from, into: scratch)
                    if !scratch.allSatisfy({ $0.isFinite }) { flags[chunk] = true }
                    dtype.encodeRow(UnsafeBufferPointer(scratch), into: to)
                }
            }
        }
        if nonFinite.contains(true) { throw .nonFinite(tensor: info.name) }
    }

    /// A GGUF tensor as f32 in Hugging Face row order (`ropeHeads`: undo the q/k permutation
    /// of that many heads). For checks against other loaders; the import itself goes row by row.
    public static func huggingFaceFloats(_ tensor: GGUFTensor, ropeHeads: Int? = nil) throws(FormatError) -> [Float] {
        let values = try tensor.floats()
        guard let heads = ropeHeads else { return values }
        let rows = tensor.info.rows, columns = tensor.info.columns
        guard heads > 0, rows % heads == 0, (rows / heads) % 2 == 0 else {
            throw .shapeMismatch(tensor: tensor.name, detail: "\(rows) rows are not \(heads) heads of an even size")
        }
        var out = [Float](repeating: 0, count: values.count)
        for r in 0..<rows {
            let s = sourceRow(huggingFaceRow: r, rows: rows, heads: heads)
            out[r * columns..<(r + 1) * columns] = values[s * columns..<(s + 1) * columns]
        }
        return out
    }
}
