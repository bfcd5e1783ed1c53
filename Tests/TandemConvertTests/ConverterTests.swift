import Foundation
import Testing
@testable import TandemConvert
import TandemFormat
import TandemModels

struct ConverterTests {
    static let cases: [(String, DType)] = Fixtures.checkpoints.flatMap { c in [DType.f32, .f16, .q8_0, .q4_0].map { (c, $0) } }

    /// Every tiny checkpoint, every dtype: the file validates, checksums verify, and every tensor
    /// dequantizes back to the checkpoint within its dtype's bound.
    @Test(arguments: cases)
    func convertsWithinBound(checkpoint: String, dtype: DType) throws {
        let out = Fixtures.temporary("\(checkpoint).\(dtype).tandem")
        defer { unlink(out) }
        let dir = Fixtures.path("Tests/Fixtures/checkpoints/\(checkpoint)")
        let report = try Converter.convert(ConvertOptions(source: dir, output: out, dtype: dtype, pool: .shared))
        let file = try TandemFile(path: out, verifyChecksums: true)
        try expectMatchesSource(file, checkpoint: dir)
        #expect(report.tensorCount == file.tensors.count)
        // Matrices take the dtype, everything 1-D stays f32.
        for t in file.tensors {
            if t.shape.count == 1 { #expect(t.dtype == .f32, "\(t.name)") }
        }
        #expect(file.tensors.contains { $0.dtype == dtype })
        // The tokenizer travels inside the file, byte for byte.
        let tok = try #require(file.metadata.tokenizers["main"])
        let sourceName = tok.type == "sentencepiece" ? "spiece.model" : "tokenizer.json"
        #expect(try file.blob(tok.blob) == [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/" + sourceName))))
        // The config travels unchanged.
        let config = try JSONValue.parse(try Data(contentsOf: URL(fileURLWithPath: dir + "/config.json")), what: "config")
        #expect(file.metadata.models["model"]?.config == config)
    }

    /// The names and shapes the converter writes are the ones the reference saved
    /// (Tests/Fixtures/checkpoints/manifest.json, written by transformers).
    @Test func namesMatchManifest() throws {
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("Tests/Fixtures/checkpoints/manifest.json")))) as! [String: Any]
        let checkpoints = manifest["checkpoints"] as! [String: [String: Any]]
        for name in Fixtures.checkpoints {
            let entry = try #require(checkpoints[name])
            let tensors = try #require(entry["tensors"] as? [String: [String: Any]] ?? (entry["tensors"] as? [[String: Any]]).map { list in
                Dictionary(uniqueKeysWithValues: list.map { ($0["name"] as! String, $0) })
            })
            let out = Fixtures.temporary("\(name).tandem")
            defer { unlink(out) }
            _ = try Converter.convert(ConvertOptions(source: Fixtures.path("Tests/Fixtures/checkpoints/\(name)"), output: out, dtype: .f32, pool: .shared))
            let file = try TandemFile(path: out)
            for t in file.tensors {
                let source = tensors[t.name] ?? tensors["transformer." + t.name]
                let shape = try #require(source?["shape"] as? [Int], "\(name): \(t.name) not in manifest")
                #expect(shape == t.shape || shape.reversed() == t.shape, "\(t.name)")
            }
        }
    }

    @Test func keepRulesOverrideThePolicy() throws {
        let out = Fixtures.temporary("keep.tandem")
        defer { unlink(out) }
        let rules = [try KeepRule(parsing: "*.DenseReluDense.wo.weight=f32"), try KeepRule(parsing: "shared.weight=f16")]
        _ = try Converter.convert(ConvertOptions(
            source: Fixtures.path("Tests/Fixtures/checkpoints/t5-v1_1-tiny"), output: out, dtype: .q4_0, keep: rules, pool: .shared))
        let file = try TandemFile(path: out)
        for t in file.tensors {
            if t.name.hasSuffix(".DenseReluDense.wo.weight") { #expect(t.dtype == .f32, "\(t.name)") }
            else if t.name == "shared.weight" { #expect(t.dtype == .f16) }
            else if t.shape.count == 2, !t.name.contains("relative_attention_bias") { #expect(t.dtype == .q4_0, "\(t.name)") }
        }
        #expect(file.metadata.provenance.keepRules == rules.map(\.description))
        #expect(file.metadata.provenance.tensors["encoder.block.0.layer.1.DenseReluDense.wo.weight"]?.rule.hasPrefix("keep") == true)
    }

    @Test func globMatching() {
        #expect(KeepRule.glob(Array("*.wo.weight".utf8), Array("a.b.wo.weight".utf8)))
        #expect(!KeepRule.glob(Array("*.wo.weight".utf8), Array("a.b.wi.weight".utf8)))
        #expect(KeepRule.glob(Array("enc?der.*".utf8), Array("encoder.x".utf8)))
        #expect(KeepRule.glob(Array("*".utf8), Array("".utf8)))
        #expect(!KeepRule.glob(Array("a*b*c".utf8), Array("aXbY".utf8)))
    }

    @Test func badKeepRules() {
        for text in ["noequals", "=f32", "x=int3", "x=bf16"] {
            #expect(throws: ConvertError.self) { try KeepRule(parsing: text) }
        }
    }

    /// A `--keep` dtype the tensor's kind may not have (`TensorKind.storageDTypes`, what the
    /// loader reads) is refused before anything is written: a matrix without kernels, a norm
    /// quantized. Before, `--keep '*.wo.weight=bf16'` wrote a file that `generate` refused.
    @Test(arguments: [("*.DenseReluDense.wo.weight", DType.bf16), ("*.layer_norm.weight", .q8_0), ("*.layer_norm.weight", .f16)])
    func keepRuleOutsideTheKindIsRefused(pattern: String, dtype: DType) {
        let out = Fixtures.temporary("keep-refused.tandem")
        do {
            _ = try Converter.convert(ConvertOptions(
                source: Fixtures.path("Tests/Fixtures/checkpoints/t5-v1_1-tiny"), output: out, dtype: .q8_0,
                keep: [KeepRule(pattern: pattern, dtype: dtype)], pool: .shared))
            Issue.record("--keep \(pattern)=\(dtype) accepted")
        } catch {
            guard case let .badOption(message) = error else { Issue.record("got \(error)"); return }
            #expect(message.contains("may be stored as"), "\(message)")
        }
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}

/// Checkpoints that are wrong in one way each give a clear error and no output file.
struct ConverterRejectionTests {
    /// Copies a fixture checkpoint into a scratch directory, letting `edit` damage it.
    func damaged(_ name: String, _ edit: (String) throws -> Void) throws -> String {
        let dir = Fixtures.temporary(name)
        try FileManager.default.copyItem(atPath: Fixtures.path("Tests/Fixtures/checkpoints/\(name)"), toPath: dir)
        try edit(dir)
        return dir
    }

    func expectRefused(_ dir: String, _ check: (ConvertError) -> Bool, sourceLocation: SourceLocation = #_sourceLocation) {
        let out = Fixtures.temporary("refused.tandem")
        do {
            _ = try Converter.convert(ConvertOptions(source: dir, output: out, dtype: .q8_0, pool: .shared))
            Issue.record("accepted", sourceLocation: sourceLocation)
        } catch {
            #expect(check(error), "got \(error)", sourceLocation: sourceLocation)
            #expect(!error.description.contains("\n"), sourceLocation: sourceLocation)
        }
        #expect(!FileManager.default.fileExists(atPath: out), sourceLocation: sourceLocation)
    }

    @Test func notADirectory() {
        expectRefused("/nonexistent/dir") { if case .source = $0 { true } else { false } }
    }

    @Test func unsupportedModelType() throws {
        let dir = try damaged("gpt2-tiny") { d in
            var text = try String(contentsOfFile: d + "/config.json", encoding: .utf8)
            text = text.replacingOccurrences(of: "\"gpt2\"", with: "\"bert\"")
            try text.write(toFile: d + "/config.json", atomically: true, encoding: .utf8)
        }
        expectRefused(dir) { if case .unsupportedModel("bert") = $0 { true } else { false } }
    }

    @Test func configDisagreesWithTensors() throws {
        let dir = try damaged("t5-v1_0-tiny") { d in
            var text = try String(contentsOfFile: d + "/config.json", encoding: .utf8)
            text = text.replacingOccurrences(of: "\"d_ff\": 128", with: "\"d_ff\": 256")
            try text.write(toFile: d + "/config.json", atomically: true, encoding: .utf8)
        }
        expectRefused(dir) { if case .shape = $0 { true } else { false } }
    }

    @Test func missingTensor() throws {
        let dir = try damaged("t5-v1_0-tiny") { d in
            var text = try String(contentsOfFile: d + "/config.json", encoding: .utf8)
            text = text.replacingOccurrences(of: "\"num_layers\": 2", with: "\"num_layers\": 3")
            try text.write(toFile: d + "/config.json", atomically: true, encoding: .utf8)
        }
        expectRefused(dir) { if case .missingTensor = $0 { true } else { false } }
    }

    /// A config.json that parses but is not a valid config of its architecture: the
    /// architecture's own ConfigError comes through as the cause, not as a flattened string.
    @Test func invalidConfigKeepsItsCause() throws {
        let dir = try damaged("gpt2-tiny") { d in
            var text = try String(contentsOfFile: d + "/config.json", encoding: .utf8)
            text = text.replacingOccurrences(of: "\"n_head\": 4", with: "\"n_head\": 3")
            try text.write(toFile: d + "/config.json", atomically: true, encoding: .utf8)
        }
        expectRefused(dir) { if case let .config(e) = $0 { e.message.contains("n_head") } else { false } }
    }

    @Test func malformedConfig() throws {
        let dir = try damaged("gpt2-tiny") { d in try "{ not json".write(toFile: d + "/config.json", atomically: true, encoding: .utf8) }
        expectRefused(dir) { if case .format(.malformedJSON) = $0 { true } else { false } }
    }

    @Test func truncatedSafetensors() throws {
        let dir = try damaged("gpt2-tiny") { d in
            let data = try Data(contentsOf: URL(fileURLWithPath: d + "/model.safetensors"))
            try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: d + "/model.safetensors"))
        }
        expectRefused(dir) { if case .format(.outOfBounds) = $0 { true } else { false } }
    }

    @Test func missingTokenizer() throws {
        let dir = try damaged("gpt2-tiny") { d in try FileManager.default.removeItem(atPath: d + "/tokenizer.json") }
        expectRefused(dir) { if case .source = $0 { true } else { false } }
    }

    @Test func nonFiniteWeights() throws {
        let dir = try damaged("gpt2-tiny") { d in
            let url = URL(fileURLWithPath: d + "/model.safetensors")
            var data = try Data(contentsOf: url)
            let file = try SafetensorsFile(path: d + "/model.safetensors")
            let t = file.tensors["transformer.h.0.mlp.c_fc.weight"]!
            let offset = t.data.baseAddress! - file.tensors.values.map { $0.data.baseAddress! }.min()!
            let headerEnd = 8 + Int(data.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
            let nan = Float.nan.bitPattern
            withUnsafeBytes(of: nan) { data.replaceSubrange(headerEnd + offset..<headerEnd + offset + 4, with: $0) }
            try data.write(to: url)
        }
        expectRefused(dir) { if case .nonFinite = $0 { true } else { false } }
    }
}

/// The committed sample files of every format version must keep loading and keep their content.
struct SampleFileTests {
    @Test(arguments: ["f32", "f16", "q8_0", "q4_0"])
    func v1SampleLoads(dtype: String) throws {
        let file = try TandemFile(path: Fixtures.path("Formats/samples/v1/gpt2-tiny.\(dtype).tandem"), verifyChecksums: true)
        #expect(file.version == 1)
        #expect(file.metadata.models["model"]?.architecture == "gpt2")
        try expectMatchesSource(file, checkpoint: Fixtures.path("Tests/Fixtures/checkpoints/gpt2-tiny"))
    }
}
