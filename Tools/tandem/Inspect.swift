import ArgumentParser
import Dispatch
import Foundation
import TandemFormat

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what a Tandem file holds: models, configs, tokenizers, tensors, sizes.",
        discussion: "Validates the whole header and directory; --verify also checks every tensor's checksum. Exits non-zero with one line naming the problem if the file is bad.")

    @Argument(help: "A .tandem file.")
    var file: String

    @Flag(help: "Verify every tensor's and blob's XXH64 checksum.")
    var verify = false

    @Flag(help: "Machine-readable JSON on stdout.")
    var json = false

    @Flag(help: "Omit the per-tensor table.")
    var summary = false

    func run() throws {
        try reportingErrors {
            let t0 = DispatchTime.now()
            let f = try TandemFile(path: file)
            let openMs = Double(DispatchTime.now().uptimeNanoseconds - t0.uptimeNanoseconds) / 1e6
            var verifyMs: Double?
            if verify {
                let t1 = DispatchTime.now()
                try f.verify()
                verifyMs = Double(DispatchTime.now().uptimeNanoseconds - t1.uptimeNanoseconds) / 1e6
            }
            if json { try printJSON(f, openMs: openMs, verifyMs: verifyMs) } else { printText(f, openMs: openMs, verifyMs: verifyMs) }
        }
    }

    struct Totals {
        var parameters = 0
        var bytes = 0
        var byDType: [DType: (count: Int, params: Int, bytes: Int)] = [:]
    }

    func totals(_ f: TandemFile) -> Totals {
        var t = Totals()
        for x in f.tensors {
            t.parameters += x.elementCount
            t.bytes += x.byteCount
            let old = t.byDType[x.dtype] ?? (0, 0, 0)
            t.byDType[x.dtype] = (old.count + 1, old.params + x.elementCount, old.bytes + x.byteCount)
        }
        return t
    }

    static func configSummary(_ config: JSONValue) -> String {
        let keys = ["model_type", "vocab_size", "d_model", "d_kv", "d_ff", "num_heads", "num_layers", "num_decoder_layers",
                    "feed_forward_proj", "tie_word_embeddings", "n_embd", "n_layer", "n_head", "n_positions",
                    "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                    "llm_dim", "hidden_dim", "slm_dim", "slm_kind"]
        return keys.compactMap { k -> String? in
            guard let v = config[k] else { return nil }
            switch v {
            case let .string(s): return "\(k)=\(s)"
            case let .bool(b): return "\(k)=\(b)"
            case .number: return v.intValue.map { "\(k)=\($0)" } ?? "\(k)=\(v.doubleValue!)"
            default: return nil
            }
        }.joined(separator: " ")
    }

    func printText(_ f: TandemFile, openMs: Double, verifyMs: Double?) {
        let s = f.sections
        let m = f.metadata
        print("file        \(file) (\(formatBytes(s.fileBytes)), format v\(f.version), \(m.kind.rawValue))")
        print("validated   in \(String(format: "%.2f", openMs)) ms" + (verifyMs.map { String(format: "; checksums verified in %.1f ms", $0) } ?? ""))
        for (role, model) in m.models.sorted(by: { $0.key < $1.key }) {
            let own = f.tensors.filter { $0.name.hasPrefix(model.prefix) }
            let bytes = own.reduce(0) { $0 + $1.byteCount }, params = own.reduce(0) { $0 + $1.elementCount }
            print("model       \(role): \(model.architecture) (\(model.part))" + (model.prefix.isEmpty ? "" : " prefix \(model.prefix)")
                + (model.tokenizer.map { ", tokenizer \($0)" } ?? "") + ", \(own.count) tensors, \(params) parameters, \(formatBytes(UInt64(bytes)))")
            print("  config    \(Self.configSummary(model.config))")
        }
        for (key, tok) in m.tokenizers.sorted(by: { $0.key < $1.key }) {
            let b = f.blobInfo(tok.blob)
            print("tokenizer   \(key): \(tok.type), \(tok.blob) (\(formatBytes(UInt64(b?.rawCount ?? 0))), \(b?.encoding.name ?? "?"))"
                + (tok.extra.isEmpty ? "" : " + " + tok.extra.keys.sorted().joined(separator: ", ")))
        }
        if !m.generation.isEmpty {
            let g = m.generation.sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.short($0.value))" }.joined(separator: " ")
            print("generation  \(g)")
        }
        print("provenance  \(m.provenance.converter), \(m.provenance.created), from \(m.provenance.sources.joined(separator: ", ")), default \(m.provenance.defaultDType)"
            + (m.provenance.keepRules.isEmpty ? "" : ", keep \(m.provenance.keepRules.joined(separator: " "))"))
        let t = totals(f)
        if !summary {
            print("")
            let nameWidth = min(72, f.tensors.map(\.name.count).max() ?? 4)
            print("  " + "tensor".padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  dtype  " + "shape".padding(toLength: 16, withPad: " ", startingAt: 0) + "      bytes")
            for x in f.tensors {
                let shape = "[" + x.shape.map(String.init).joined(separator: ", ") + "]"
                print("  " + x.name.padding(toLength: max(nameWidth, x.name.count), withPad: " ", startingAt: 0) + "  "
                    + x.dtype.name.padding(toLength: 5, withPad: " ", startingAt: 0) + "  "
                    + shape.padding(toLength: 16, withPad: " ", startingAt: 0) + " " + String(format: "%10d", x.byteCount))
            }
            print("")
        }
        let bpw = t.parameters > 0 ? Double(t.bytes * 8) / Double(t.parameters) : 0
        print("tensors     \(f.tensors.count), \(t.parameters) parameters, \(formatBytes(UInt64(t.bytes))), \(String(format: "%.2f", bpw)) bits/weight")
        for (dt, v) in t.byDType.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            print("  \(dt.name.padding(toLength: 5, withPad: " ", startingAt: 0))     \(v.count) tensors, \(v.params) parameters, \(formatBytes(UInt64(v.bytes))), \(String(format: "%.2f", dt.bitsPerWeight)) bits/weight")
        }
        print("sections    preamble \(s.preambleBytes) B, metadata \(formatBytes(s.metadataStored)) (\(s.metadataEncoding), raw \(formatBytes(s.metadataRaw)), \(ratio(s.metadataRaw, s.metadataStored))×), directory \(formatBytes(s.directoryBytes)), tensors \(formatBytes(s.tensorBytes)), blobs \(formatBytes(s.blobStored)) (raw \(formatBytes(s.blobRaw)), \(ratio(s.blobRaw, s.blobStored))×)")
        for b in f.blobs {
            print("  blob      \(b.name): \(b.encoding.name), \(b.storedCount) B stored, \(b.rawCount) B raw (\(ratio(UInt64(b.rawCount), UInt64(b.storedCount)))×)")
        }
    }

    func ratio(_ raw: UInt64, _ stored: UInt64) -> String {
        stored == 0 ? "1.00" : String(format: "%.2f", Double(raw) / Double(stored))
    }

    static func short(_ v: JSONValue) -> String {
        switch v {
        case let .string(s): return "\"\(s)\""
        case let .number(n): return v.intValue.map(String.init) ?? "\(n)"
        case let .bool(b): return "\(b)"
        case .null: return "null"
        case let .array(a): return "[" + a.map(short).joined(separator: ",") + "]"
        case .object: return "{…}"
        }
    }

    struct Report: Encodable {
        struct Tensor: Encodable { let name: String; let dtype: String; let shape: [Int]; let bytes: Int }
        struct Blob: Encodable { let name: String; let encoding: String; let stored: Int; let raw: Int }
        struct DTypeTotal: Encodable { let dtype: String; let tensors: Int; let parameters: Int; let bytes: Int }
        let file: String
        let formatVersion: UInt32
        let validateMs: Double
        let verified: Bool
        let verifyMs: Double?
        let metadata: TandemMetadata
        let tensors: [Tensor]
        let blobs: [Blob]
        let totals: [DTypeTotal]
        let parameters: Int
        let tensorBytes: Int
        let bitsPerWeight: Double
        let sections: SectionSizes
    }

    func printJSON(_ f: TandemFile, openMs: Double, verifyMs: Double?) throws {
        let t = totals(f)
        let r = Report(
            file: file, formatVersion: f.version, validateMs: openMs, verified: verify, verifyMs: verifyMs, metadata: f.metadata,
            tensors: f.tensors.map { .init(name: $0.name, dtype: $0.dtype.name, shape: $0.shape, bytes: $0.byteCount) },
            blobs: f.blobs.map { .init(name: $0.name, encoding: $0.encoding.name, stored: $0.storedCount, raw: $0.rawCount) },
            totals: t.byDType.sorted { $0.key.rawValue < $1.key.rawValue }.map { .init(dtype: $0.key.name, tensors: $0.value.count, parameters: $0.value.params, bytes: $0.value.bytes) },
            parameters: t.parameters, tensorBytes: t.bytes,
            bitsPerWeight: t.parameters > 0 ? Double(t.bytes * 8) / Double(t.parameters) : 0, sections: f.sections)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try enc.encode(r), as: UTF8.self))
    }
}
