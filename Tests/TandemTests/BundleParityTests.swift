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

/// The logits after the prompt, then after each of `inputs` but the first (which the model's
/// start feeds itself: the decoder start token, the SLM's BOS).
func teacherForced<M: AutoregressiveModel>(_ r: M, prompt: [Int32], inputs: [Int32]) throws -> [[Float]] {
    let (state, first) = try r.start(prompt: prompt, maxNewTokens: inputs.count + 1)
    var out = [first]
    for token in inputs.dropFirst() { out.append(try r.step([state], tokens: [token]).array) }
    return out
}

struct BundleParityTests {
    @Test(arguments: ["random/t5", "random/gpt2", "toy"])
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
            let inputs = ((c["decoder_input_ids"] ?? c["response_input_ids"]) as! [Int]).map(Int32.init)
            var worst: Float = 0
            for (i, out) in try teacherForced(m.model, prompt: ids, inputs: inputs).enumerated() {
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
