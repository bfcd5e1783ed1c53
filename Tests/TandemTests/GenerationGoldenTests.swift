import Foundation
import TandemTestSupport
import Testing
import Tandem
import TandemConvert
import TandemFormat

/// Greedy, beam search and batched decoding against transformers' `generate`
/// (Tools/fixtures/make_generation_golden.py, semantics in docs/reference/hf-generation.md):
/// identical token ids, beam scores within 1e-4.
enum GenerationGolden {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    nonisolated(unsafe) static let manifest: [String: Any] = try! JSONSerialization.jsonObject(
        with: Data(contentsOf: repo.appendingPathComponent("Tests/Fixtures/generation/manifest.json"))) as! [String: Any]
    static func model(_ name: String) -> [String: Any] { (manifest["models"] as! [String: [String: Any]])[name]! }

    nonisolated(unsafe) static var opened: [String: TandemModel] = [:]
    static let lock = NSLock()

    /// The fixture checkpoint with the golden's exact power-of-two weight edits, converted to f32.
    static func open(_ name: String) throws -> TandemModel {
        lock.lock()
        defer { lock.unlock() }
        if let m = opened[name] { return m }
        let dir = Scratch.directory.appendingPathComponent("gen-\(name)")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.copyItem(at: repo.appendingPathComponent("Tests/Fixtures/checkpoints/\(name)"), to: dir)
        let st = dir.appendingPathComponent("model.safetensors")
        var bytes = [UInt8](try Data(contentsOf: st))
        let headerLength = Int(bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let header = try JSONSerialization.jsonObject(with: Data(bytes[8..<8 + headerLength])) as! [String: Any]
        for edit in model(name)["edits"] as! [[String: Any]] {
            let info = header[edit["tensor"] as! String] as! [String: Any]
            let shape = info["shape"] as! [Int]
            let begin = 8 + headerLength + (info["data_offsets"] as! [Int])[0]
            let factor = Float(edit["factor"] as! Double)
            let rowLength = shape.count == 2 ? shape[1] : shape.reduce(1, *)
            let rows = (edit["rows"] as? [Int]) ?? Array(0..<(shape.reduce(1, *) / rowLength))
            bytes.withUnsafeMutableBytes { raw in
                for r in rows {
                    for j in 0..<rowLength {
                        let o = begin + 4 * (r * rowLength + j)
                        raw.storeBytes(of: raw.loadUnaligned(fromByteOffset: o, as: Float.self) * factor, toByteOffset: o, as: Float.self)
                    }
                }
            }
        }
        try Data(bytes).write(to: st)
        let out = dir.appendingPathComponent("model.tandem").path
        _ = try Converter.convert(ConvertOptions(source: dir.path, output: out, dtype: .f32, pool: .shared))
        let m = try TandemModel(path: out, pool: .shared)
        opened[name] = m
        return m
    }

    /// The generated part of a golden sequence (after the start token or the prompt), cut after
    /// the first EOS (what follows is fill).
    static func generated(_ seq: [Int], name: String, prompt: [Int]) -> [Int32] {
        let m = model(name)
        var rest = (m["model_type"] as! String) == "t5" ? Array(seq.dropFirst()) : Array(seq.dropFirst(prompt.count))
        if let eos = m["eos_token_id"] as? Int, let i = rest.firstIndex(of: eos) { rest = Array(rest[...i]) }
        return rest.map(Int32.init)
    }

    static let names = ["t5-v1_0-tiny", "t5-v1_1-tiny", "gpt2-tiny"]
}

struct GenerationGoldenTests {
    @Test(arguments: GenerationGolden.names)
    func greedyMatches(name: String) throws {
        let m = try GenerationGolden.open(name)
        let n = GenerationGolden.manifest["new_tokens"] as! Int
        for p in GenerationGolden.model(name)["prompts"] as! [[String: Any]] {
            let input = (p["input_ids"] as! [Int]).map(Int32.init)
            let masked = try m.generate(prompts: [input], options: GenerationOptions(maxNewTokens: n, minNewTokens: n)).0[0]
            let expectedMasked = (p["greedy_eos_ignored"] as! [Int])
            let t5 = (GenerationGolden.model(name)["model_type"] as! String) == "t5"
            #expect(masked.tokens.map(Int.init) == Array(expectedMasked.dropFirst(t5 ? 1 : input.count)), "\(name) EOS ignored")
            let free = try m.generate(prompts: [input], options: GenerationOptions(maxNewTokens: n)).0[0]
            #expect(free.tokens == GenerationGolden.generated(p["greedy"] as! [Int], name: name, prompt: p["input_ids"] as! [Int]), "\(name) greedy")
        }
    }

    @Test(arguments: GenerationGolden.names)
    func beamSearchMatches(name: String) throws {
        let m = try GenerationGolden.open(name)
        let config = GenerationGolden.manifest["beam"] as! [String: Any]
        let beams = config["num_beams"] as! Int, n = config["max_new_tokens"] as! Int
        var cases = 0, eosCases = 0
        for p in GenerationGolden.model(name)["prompts"] as! [[String: Any]] {
            let prompt = p["input_ids"] as! [Int]
            for c in p["beam"] as! [[String: Any]] {
                let stopping: BeamOptions.EarlyStopping = switch c["early_stopping"] {
                case let b as Bool: b ? .yes : .no
                default: .never
                }
                let returns = c["num_return_sequences"] as! Int
                let options = GenerationOptions(maxNewTokens: n, strategy: .beam(BeamOptions(
                    beams: beams, lengthPenalty: c["length_penalty"] as! Double, earlyStopping: stopping, returnSequences: returns)))
                let input = prompt.map(Int32.init)
                try check(Generator.beamSearch(m.model, prompt: input, options: options))
                func check(_ got: [GeneratedSequence]) {
                    let sequences = c["sequences"] as! [[Int]], scores = c["sequences_scores"] as! [Double]
                    #expect(got.count == sequences.count, "\(name) \(c)")
                    for (i, (g, s)) in zip(got, zip(sequences, scores)).enumerated() {
                        #expect(g.tokens == GenerationGolden.generated(s.0, name: name, prompt: prompt), "\(name) case \(c) sequence \(i)")
                        #expect(abs(g.score - s.1) <= 1e-4, "\(name) score \(g.score) vs \(s.1)")
                        if g.finishedWithEOS { eosCases += 1 }
                    }
                    cases += 1
                }
            }
        }
        #expect(cases == 72)
        #expect(eosCases > 0, "some hypotheses must finish with EOS")
    }

    /// Several prompts of different lengths decoded together (EOS masked, 16 tokens): the same tokens as transformers
    /// padded batch (and so as each prompt alone).
    @Test(arguments: GenerationGolden.names)
    func batchMatches(name: String) throws {
        let m = try GenerationGolden.open(name)
        let model = GenerationGolden.model(name)
        let batch = model["batch"] as! [String: Any]
        let masks = batch["attention_mask"] as! [[Int]]
        let inputs = zip(batch["input_ids"] as! [[Int]], masks).map { ids, mask in zip(ids, mask).filter { $0.1 == 1 }.map { Int32($0.0) } }
        let expected = batch["new_tokens"] as! [[Int]]
        let n = GenerationGolden.manifest["batch_new_tokens"] as! Int
        let got = try m.generate(prompts: inputs, options: GenerationOptions(maxNewTokens: n, minNewTokens: n)).0
        let pad = model["greedy_pad_token_id"] as! Int
        for (g, e) in zip(got, expected) {
            let padded = g.tokens.map(Int.init) + Array(repeating: pad, count: n - g.tokens.count)
            #expect(padded == e, "\(name) batch")
        }
    }
}
