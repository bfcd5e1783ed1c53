import Foundation
import TandemTestSupport
import Testing
@testable import Tandem
import TandemConvert
import TandemFormat
import TandemModels

/// LLM-to-SLM bundles against the PyTorch reference (Tools/llm2slm/make_golden.py): the
/// projector output Z, the SLM's teacher-forced logits at every step (f32, within 1e-4), greedy
/// tokens identical; and the trained toy pair answers its held-out prompts.
enum BundleGolden {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/llm2slm")
    nonisolated(unsafe) static let manifest = try! JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("manifest.json"))) as! [String: Any]
    static func pair(_ name: String) -> [String: Any] { (manifest["pairs"] as! [String: [String: Any]])[name]! }

    /// Converts one golden pair into a bundle of `dtype` and opens it.
    static func open(_ name: String, _ dtype: DType) throws -> TandemModel {
        let p = pair(name)
        let out = Scratch.named("bundle-\(name.replacingOccurrences(of: "/", with: "-")).\(dtype).tandem")
        let sources = BundleSources(
            llm: root.appendingPathComponent(p["llm"] as! String).standardized.path,
            slm: root.appendingPathComponent(p["slm"] as! String).path,
            projector: root.appendingPathComponent(p["projector"] as! String).path)
        _ = try Converter.convertBundle(sources, options: ConvertOptions(source: sources.llm, output: out, dtype: dtype, pool: .shared))
        return try TandemModel(path: out, pool: .shared)
    }

    static func array(_ pairName: String, _ c: [String: Any], _ key: String) throws -> [Float] {
        let a = (c["arrays"] as! [String: [String: Any]])[key]!
        let dir = String(pairName.split(separator: "/").first!)
        let data = try Data(contentsOf: root.appendingPathComponent(dir).appendingPathComponent(pair(pairName)["file"] as! String))
        let offset = a["offset"] as! Int, bytes = a["bytes"] as! Int
        return data.subdata(in: offset..<offset + bytes).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
}

/// The logits after the prompt, then after each token `fed` after it (the decoder start token or
/// the SLM's BOS, which the model's start feeds itself, not among them).
func teacherForced<M: AutoregressiveModel>(_ r: M, prompt: [Int32], fed: [Int32]) throws -> [[Float]] {
    let (state, first) = try r.start(prompt: prompt, maxNewTokens: fed.count + 1)
    var out = [first]
    for token in fed { out.append(try r.step([state], tokens: [token]).array) }
    return out
}

/// An f32 safetensors file of `tensors` (name → shape and values), with `metadata`.
func writeSafetensors(_ path: String, _ tensors: [(String, [Int], [Float])], metadata: [String: String] = [:]) throws {
    var header: [String: Any] = [:]
    var data = Data()
    for (name, shape, values) in tensors {
        header[name] = ["dtype": "F32", "shape": shape, "data_offsets": [data.count, data.count + values.count * 4]]
        values.withUnsafeBytes { data.append(contentsOf: $0) }
    }
    if !metadata.isEmpty { header["__metadata__"] = metadata }
    var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
    while json.count % 8 != 0 { json.append(0x20) }
    var out = Data()
    withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
    out.append(json)
    out.append(data)
    try out.write(to: URL(fileURLWithPath: path))
}

struct BundleParityTests {
    @Test(arguments: ["random/t5", "random/gpt2", "random/qwen2", "random/qwen2-layer1", "toy"])
    func f32MatchesReference(name: String) throws {
        let m = try BundleGolden.open(name, .f32)
        guard let r = m.model as? any LLMToSLMPair else { Issue.record("not a bundle"); return }
        for c in BundleGolden.pair(name)["cases"] as! [[String: Any]] {
            let ids = (c["input_ids"] as! [Int]).map(Int32.init)
            #expect(m.encodePrompt(c["prompt"] as! String).ids == ids, "prompt tokenization")
            let z = try r.project(ids).array
            let zDiff = maxDiff(z, try BundleGolden.array(name, c, "Z"))
            #expect(zDiff <= 1e-4, "\(name) Z maxdiff=\(zDiff)")
            // Teacher forcing: the first logits come from start, then one step per target input.
            let logits = try BundleGolden.array(name, c, "logits")
            let vocab = m.vocabularySize
            // The tokens fed after the start: a shared-tokenizer pair continues the prompt with the target.
            let afterStart = (c["decoder_input_ids"] ?? c["response_input_ids"]) as? [Int]
            let fedInts: [Int] = afterStart.map { Array($0[1...]) } ?? (c["target_ids"] as! [Int])
            let fed = fedInts.map { Int32($0) }
            var worst: Float = 0
            for (i, out) in try teacherForced(m.model, prompt: ids, fed: fed).enumerated() {
                worst = max(worst, maxDiff(out, Array(logits[i * vocab..<(i + 1) * vocab])))
            }
            #expect(worst <= 1e-4, "\(name) teacher-forced logits maxdiff=\(worst)")
            // Greedy, EOS ignored and allowed.
            let steps = (c["greedy_ids"] as! [Int]).count
            let free = try m.generate(prompts: [ids], options: GenerationOptions(maxNewTokens: steps)).0[0]
            var expectedFree = c["greedy_ids_eos"] as! [Int]
            if let eos = m.eosTokenId.map(Int.init), let i = expectedFree.firstIndex(of: eos) { expectedFree = Array(expectedFree[...i]) }
            #expect(free.tokens.map(Int.init) == expectedFree, "\(name) greedy with EOS")
            if c["expected_response"] == nil {
                // The random pairs' greedy_ids run the full length with EOS masked.
                let greedy = try m.generate(prompts: [ids], options: GenerationOptions(maxNewTokens: steps, minNewTokens: steps)).0[0]
                #expect(greedy.tokens.map(Int.init) == c["greedy_ids"] as! [Int], "\(name) greedy")
            }
            if let expected = c["expected_response"] as? String {
                let text = m.outputTokenizer.decode(free.tokens.filter { $0 != m.eosTokenId })
                #expect(text == expected, "\(name): \(text) vs \(expected)")
            }
            print("bundle parity \(name) f32: Z maxdiff=\(zDiff) logits maxdiff=\(worst)")
        }
    }

    /// A decoder-only reader and SLM from GGUF files (K-quants kept) with a projector whose last
    /// layer is zero — how training starts: the pair must be the SLM alone, bit for bit.
    @Test func zeroProjectorPairIsTheSmallModelAlone() throws {
        let gguf = BundleGolden.root.deletingLastPathComponent().appendingPathComponent("gguf/tiny-llama-kquant.gguf").path
        let d = Int(try GGUFFile(path: gguf)["llama.embedding_length"]!.integer!)
        let hidden = 16
        let projector = Scratch.named("zero-projector.safetensors")
        try writeSafetensors(projector, [
            ("projector.0.weight", [hidden, d], (0..<hidden * d).map { Float(($0 * 7919) % 13) / 13 - 0.5 }),
            ("projector.0.bias", [hidden], [Float](repeating: 0.1, count: hidden)),
            ("projector.2.weight", [d, hidden], [Float](repeating: 0, count: d * hidden)),
            ("projector.2.bias", [d], [Float](repeating: 0, count: d)),
        ], metadata: ["llm2slm": #"{"reader_layer": 1}"#])
        let pairPath = Scratch.named("zero-pair.tandem"), alonePath = Scratch.named("zero-pair-slm.tandem")
        let report = try Converter.convertBundle(
            BundleSources(llm: gguf, slm: gguf, projector: projector),
            options: ConvertOptions(source: gguf, output: pairPath, dtype: .q8_0, keepSourceTypes: true, pool: .shared))
        #expect(report.dtypeCounts.keys.contains { $0.hasSuffix("_K") }, "the K-quants are kept: \(report.dtypeCounts)")
        _ = try GGUFImporter.convert(ConvertOptions(source: gguf, output: alonePath, dtype: .q8_0, keepSourceTypes: true, pool: .shared))
        let pair = try TandemModel(path: pairPath, pool: .shared), alone = try TandemModel(path: alonePath, pool: .shared)
        let file = try TandemFile(path: pairPath)
        #expect(file.metadata.models["projector"]?.config["slm_kind"]?.stringValue == "decoder-only-shared-tokenizer")
        #expect(file.metadata.models["projector"]?.config["reader_layer"]?.intValue == 1)
        let ids = pair.encodePrompt("The quick brown fox jumps over the lazy dog").ids
        #expect(ids == alone.encodePrompt("The quick brown fox jumps over the lazy dog").ids)
        guard let r = pair.model as? any LLMToSLMPair else { Issue.record("not a bundle"); return }
        #expect(try r.project(ids).array.allSatisfy { $0 == 0 })
        let fed: [Int32] = [5, 17, 42]
        let a = try teacherForced(pair.model, prompt: ids, fed: fed), b = try teacherForced(alone.model, prompt: ids, fed: fed)
        #expect(a == b, "logits of the pair and of the SLM alone")
        let options = GenerationOptions(maxNewTokens: 12)
        #expect(try pair.generate(prompts: [ids], options: options).0[0].tokens == alone.generate(prompts: [ids], options: options).0[0].tokens)
    }

    /// A projector trained on a reader layer the LLM does not have is refused when converting.
    @Test func readerLayerBeyondTheLLMIsRefused() throws {
        let p = BundleGolden.pair("random/qwen2-layer1")
        let projector = Scratch.named("layer9-projector.safetensors")
        try writeSafetensors(projector, [
            ("projector.0.weight", [32, 64], [Float](repeating: 0.01, count: 32 * 64)), ("projector.0.bias", [32], [Float](repeating: 0, count: 32)),
            ("projector.2.weight", [32, 32], [Float](repeating: 0, count: 32 * 32)), ("projector.2.bias", [32], [Float](repeating: 0, count: 32)),
        ], metadata: ["llm2slm": #"{"reader_layer": 9}"#])
        let sources = BundleSources(
            llm: BundleGolden.root.appendingPathComponent(p["llm"] as! String).standardized.path,
            slm: BundleGolden.root.appendingPathComponent(p["slm"] as! String).path, projector: projector)
        #expect {
            _ = try Converter.convertBundle(sources, options: ConvertOptions(source: sources.llm, output: Scratch.named("layer9.tandem"),
                                                                             dtype: .f32, pool: .shared))
        } throws: { "\($0)".contains("reader layer 9") && "\($0)".contains("has 2 layers") }
    }

    @Test(arguments: [DType.q8_0, .q4_0])
    func quantizedToyPairStillAnswers(dtype: DType) throws {
        let m = try BundleGolden.open("toy", dtype)
        var right = 0, total = 0
        for c in BundleGolden.pair("toy")["cases"] as! [[String: Any]] {
            let ids = (c["input_ids"] as! [Int]).map(Int32.init)
            let out = try m.generate(prompts: [ids], options: GenerationOptions(maxNewTokens: 8)).0[0]
            let text = m.outputTokenizer.decode(out.tokens.filter { $0 != m.eosTokenId })
            if text == c["expected_response"] as! String { right += 1 }
            total += 1
        }
        print("bundle toy pair \(dtype): \(right)/\(total) held-out answers right")
        #expect(right >= total / 2)
    }

    func maxDiff(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "sizes \(a.count) vs \(b.count)")
        return zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }
}
