// Writes the seed corpus of every fuzz target into Fuzz/.corpus/<target>/seed-*, derived from
// the committed fixtures (Tests/Fixtures, Formats/samples/v1). Seeds are kept small (libFuzzer
// truncates inputs to -max_len, and a truncated file is rejected at once), so large fixtures are
// rebuilt with their metadata and their smallest tensors only. Deterministic: rerunning it
// rewrites the same files. Usage: FuzzSeeds [OUTPUT_DIR]  (default Fuzz/.corpus)
import Foundation
import TandemFormat

@main enum FuzzSeeds {
    static func main() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let out = CommandLine.arguments.dropFirst().first ?? root.appendingPathComponent("Fuzz/.corpus").path
        let seeds = Seeds(root: root)
        for (target, files) in try seeds.all() {
            let dir = out + "/" + target
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for (name, bytes) in files {
                let path = "\(dir)/seed-\(name)"
                try Data(bytes).write(to: URL(fileURLWithPath: path))
                try checkAccepted(target: target, path: path)
            }
            print("\(target): \(files.count) seeds, \(files.map(\.1.count).reduce(0, +)) bytes")
        }
    }
}

/// A file seed its reader refuses would only exercise the first check; refuse to write one.
func checkAccepted(target: String, path: String) throws {
    switch target {
    case "FuzzTandemFile": _ = try TandemFile(path: path, verifyChecksums: true)
    case "FuzzSafetensors": _ = try SafetensorsFile(path: path)
    case "FuzzGGUF": _ = try GGUFFile(path: path)
    default: break
    }
}

/// Satisfies the reference from libFuzzer's runtime, which -sanitize=fuzzer links (whole) into
/// every executable of this package, this one included; never called.
@_cdecl("LLVMFuzzerTestOneInput")
public func unusedFuzzEntry(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt { 0 }

struct Seeds {
    let root: URL

    func bytes(_ relative: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: root.appendingPathComponent(relative)))
    }
    func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    func all() throws -> [(String, [(String, [UInt8])])] {
        let texts = try sampleTexts()
        return [
            ("FuzzTandemFile", try tandemFiles()),
            ("FuzzSafetensors", try safetensors()),
            ("FuzzGGUF", try gguf()),
            ("FuzzSentencePieceText", selected(texts, selectors: 2)),
            ("FuzzSentencePieceModel", [("t5-v1_1-tiny.spiece", try bytes("Tests/Fixtures/checkpoints/t5-v1_1-tiny/spiece.model"))]),
            ("FuzzBPEText", selected(texts, selectors: 4)),
            ("FuzzTokenizerJSON", try tokenizerJSON()),
            ("FuzzConfigJSON", try configs()),
            ("FuzzSummarizeJSONL", jsonl(texts)),
        ]
    }

    /// The texts of the committed tokenizer golden files (`cases[].text`).
    func sampleTexts() throws -> [String] {
        let dir = path("Tests/Fixtures/tokenizers")
        var texts: [String] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: dir).sorted() where name.hasSuffix(".encoded.json") {
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))) as? [String: Any]
            for c in json?["cases"] as? [[String: Any]] ?? [] {
                if let t = c["text"] as? String, !texts.contains(t) { texts.append(t) }
            }
        }
        return texts
    }

    /// One seed per (selector byte, text): the text targets read the first byte as a selector.
    func selected(_ texts: [String], selectors: Int) -> [(String, [UInt8])] {
        texts.enumerated().map { i, t in ("text\(i)", [UInt8(i % selectors)] + Array(t.utf8)) }
    }

    func tandemFiles() throws -> [(String, [UInt8])] {
        var seeds: [(String, [UInt8])] = []
        for compress in [false, true] {
            seeds.append(("every-dtype\(compress ? "-lz4meta" : "")", try everyDTypeFile(compressMetadata: compress)))
        }
        // The committed sample's metadata and tokenizer blob, with its tensors of at most 512 bytes.
        let sample = try TandemFile(path: path("Formats/samples/v1/gpt2-tiny.q4_0.tandem"))
        let tensors = sample.tensors.filter { $0.byteCount <= 512 }.prefix(6)
        let blobs = try sample.blobs.map { BlobPlan(name: $0.name, encoding: $0.encoding, content: try sample.blob($0.name)) }
        var writer = TandemFileWriter(metadata: sample.metadata, tensors: tensors.map { TensorPlan(name: $0.name, dtype: $0.dtype, shape: $0.shape) }, blobs: blobs)
        writer.compressMetadata = true
        seeds.append(("gpt2-tiny-q4_0-small", try write(writer) { plan, dst in
            dst.copyMemory(from: sample.tensor(plan.name)!.data)
        }))
        return seeds
    }

    func everyDTypeFile(compressMetadata: Bool) throws -> [UInt8] {
        let config = JSONValue.object(["model_type": .string("gpt2"), "n_embd": .number(32)])
        let metadata = TandemMetadata(
            kind: .model,
            models: ["model": .init(architecture: "gpt2", config: config, tokenizer: "main")],
            tokenizers: ["main": .init(type: "hf-tokenizer-json", blob: "tokenizer/tokenizer.json", extra: ["tokenizer_config.json": "tokenizer/config"])],
            generation: ["max_new_tokens": .number(8)],
            provenance: .init(sources: ["fuzz-seed"], converter: "FuzzSeeds", created: "2000-01-01T00:00:00Z", defaultDType: "f32", keepRules: [], tensors: [:]))
        let tensors = [
            TensorPlan(name: "f32", dtype: .f32, shape: [2, 4]), TensorPlan(name: "f16", dtype: .f16, shape: [3]),
            TensorPlan(name: "bf16", dtype: .bf16, shape: [2, 2]), TensorPlan(name: "q8_0", dtype: .q8_0, shape: [1, 32]),
            TensorPlan(name: "q4_0", dtype: .q4_0, shape: [2, 32]), TensorPlan(name: "empty", dtype: .f32, shape: [0, 4]),
            TensorPlan(name: "q5_0", dtype: .q5_0, shape: [1, 32]), TensorPlan(name: "q4_K", dtype: .q4_K, shape: [1, 256]),
            TensorPlan(name: "q5_K", dtype: .q5_K, shape: [1, 256]), TensorPlan(name: "q6_K", dtype: .q6_K, shape: [1, 256]),
        ]
        let text = Array(String(repeating: "{\"model\": \"BPE\"} ", count: 4).utf8)
        let blobs = [
            BlobPlan(name: "tokenizer/tokenizer.json", encoding: .lz4, content: text),
            BlobPlan(name: "tokenizer/config", encoding: .raw, content: Array("{}".utf8)),
            BlobPlan(name: "shuffle2", encoding: .lz4Shuffle2, content: (0..<64).map { UInt8($0 % 7) }),
            BlobPlan(name: "shuffle4", encoding: .lz4Shuffle4, content: (0..<64).map { UInt8($0 % 5) }),
        ]
        var writer = TandemFileWriter(metadata: metadata, tensors: tensors, blobs: blobs)
        writer.compressMetadata = compressMetadata
        return try write(writer) { plan, dst in
            guard plan.dtype.isEncodable else {
                // GGML's blocks, never made from floats: any bits are a block (f16 scales included).
                for i in 0..<dst.count { dst[i] = UInt8(truncatingIfNeeded: i &* 37 &+ 11) }
                return
            }
            let values = (0..<plan.shape.reduce(1, *)).map { Float($0) * 0.25 - 1 }
            plan.dtype.encode(values).withUnsafeBytes { dst.copyMemory(from: $0) }
        }
    }

    func write(_ writer: TandemFileWriter, produce: (TensorPlan, UnsafeMutableRawBufferPointer) throws -> Void) throws -> [UInt8] {
        let file = NSTemporaryDirectory() + "/tandem-fuzz-seed-\(getpid())"
        defer { unlink(file) }
        try writer.write(to: file, produce: produce)
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
    }

    func safetensors() throws -> [(String, [UInt8])] {
        let gpt2 = try SafetensorsFile(path: path("Tests/Fixtures/checkpoints/gpt2-tiny/model.safetensors"))
        var tensors = gpt2.names.compactMap { gpt2.tensors[$0] }.filter { $0.data.count <= 256 }.prefix(4).map {
            SafetensorsSeed.Tensor(name: $0.name, dtype: $0.dtype.rawValue, shape: $0.shape, data: Array($0.data))
        }
        // One small tensor per other float dtype, and an integer one (which floats() refuses).
        tensors += [("F16", 2), ("BF16", 2), ("F64", 8), ("I32", 4)].map { dtype, size in
            SafetensorsSeed.Tensor(name: "x." + dtype.lowercased(), dtype: dtype, shape: [2, 2], data: (0..<4 * size).map { UInt8($0 * 17 & 0xFF) })
        }
        return [
            ("tiny-llama-hf", try bytes("Tests/Fixtures/gguf/tiny-llama-hf.safetensors")),
            ("gpt2-tiny-small", SafetensorsSeed.file(tensors, metadata: ["format": "pt"])),
        ]
    }

    func gguf() throws -> [(String, [UInt8])] {
        var seeds: [(String, [UInt8])] = []
        // Every quantization type, one row of each (the `.expected` f32 answers left out).
        let dequant = try GGUFFile(path: path("Tests/Fixtures/gguf/dequant.gguf"))
        let rows = dequant.tensors.filter { !$0.name.hasSuffix(".expected") }.map { t in
            GGUFSeed.Tensor(name: t.name, type: t.type, dimensions: [t.info.columns, 1], data: Array(t.data.prefix(t.type.rowBytes(columns: t.info.columns)!)))
        }
        seeds.append(("dequant-rows", GGUFSeed.file(keys: dequant.header.metadataKeys, metadata: dequant.metadata, tensors: rows)))
        // The tiny LLaMA's whole vocabulary and config, with its tensors of at most 256 bytes.
        let llama = try GGUFFile(path: path("Tests/Fixtures/gguf/tiny-llama-q8.gguf"))
        let small = llama.tensors.filter { $0.data.count <= 256 }.prefix(4).map {
            GGUFSeed.Tensor(name: $0.name, type: $0.type, dimensions: $0.dimensions, data: Array($0.data))
        }
        seeds.append(("tiny-llama-q8-small", GGUFSeed.file(keys: llama.header.metadataKeys, metadata: llama.metadata, tensors: Array(small))))
        return seeds
    }

    func tokenizerJSON() throws -> [(String, [UInt8])] {
        [
            ("gpt2-tiny", try bytes("Tests/Fixtures/checkpoints/gpt2-tiny/tokenizer.json")),
            // tokenizer.json, NUL, tokenizer_config.json: the target's split form.
            ("gpt2-tiny-with-config", try bytes("Tests/Fixtures/checkpoints/gpt2-tiny/tokenizer.json") + [0]
                + bytes("Tests/Fixtures/checkpoints/gpt2-tiny/tokenizer_config.json")),
            ("llama3-style-tiny", try bytes("Tests/Fixtures/tokenizers/llama3-style-tiny.tokenizer.json")),
            ("smollm-style-tiny", try bytes("Tests/Fixtures/tokenizers/smollm-style-tiny.tokenizer.json")),
        ]
    }

    func configs() throws -> [(String, [UInt8])] {
        try ["gpt2-tiny", "llama-tiny", "t5-v1_0-tiny", "t5-v1_1-tiny"].map {
            ($0, try bytes("Tests/Fixtures/checkpoints/\($0)/config.json"))
        } + [("gguf-tiny-llama", try bytes("Tests/Fixtures/gguf/tiny-llama-config.json"))]
    }

    /// Documents as `tandem summarize` reads them: string and integer ids, CRLF, a blank line.
    func jsonl(_ texts: [String]) -> [(String, [UInt8])] {
        func line(_ id: String, _ text: String) -> String {
            let encoded = try! JSONSerialization.data(withJSONObject: ["id": id, "text": text], options: [.sortedKeys])
            return String(decoding: encoded, as: UTF8.self)
        }
        let documents = texts.enumerated().map { line("doc\($0)", $1) }.joined(separator: "\n") + "\n"
        return [
            ("documents", Array(documents.utf8)),
            ("mixed", Array("{\"id\": 7, \"text\": \"seven\"}\r\n\n  \n{\"id\": \"a\", \"text\": \"x\", \"extra\": [1, {\"b\": null}]}".utf8)),
        ]
    }
}
