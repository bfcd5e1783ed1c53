import Foundation
import Testing
import TandemFormat
import TandemKernels
@testable import TandemModels

/// LLaMA against transformers (Tools/fixtures/make_llama_golden.py): logits at every position,
/// token by token through the KV cache and in one prompt pass. Covers half-split RoPE,
/// grouped-query attention, SwiGLU and an untied head.
/// A decoder-only model's teacher-forced golden in Tests/Fixtures/forward (`<name>-manifest.json`
/// and the f32 logits file it names): the input ids, the vocabulary, the logits at every position.
func teacherForcedGolden(_ name: String) throws -> (ids: [Int32], vocab: Int, logits: [Float]) {
    let m = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("Tests/Fixtures/forward/\(name)-manifest.json")))) as! [String: Any]
    let ids = (m["input_ids"] as! [Int]).map(Int32.init)
    let logits = m["logits"] as! [String: Any]
    let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("Tests/Fixtures/forward/\(logits["file"] as! String)")))
    return (ids, (logits["shape"] as! [Int])[1], data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) })
}

struct LlamaParityTests {
    static func golden() throws -> (ids: [Int32], vocab: Int, logits: [Float]) { try teacherForcedGolden("llama") }

    static func model(_ dtype: DType) throws -> LlamaModel {
        let f = try Fixtures.model("llama-tiny", dtype)
        return try LlamaModel(weights: ModelWeights(file: f), config: try LlamaConfig.from(f.metadata.models["model"]!.config), pool: .shared)
    }

    @Test func f32MatchesTransformers() throws {
        let (ids, vocab, logits) = try Self.golden()
        let model = try Self.model(.f32)
        let state = model.makeState(capacity: ids.count)
        var worst: Float = 0
        for (i, id) in ids.enumerated() {
            let out = try model.forward(try model.embed([id]), segments: [(state, 1)], tracer: nil)
            let diff = maxAbsDiff(out.array, logits[i * vocab..<(i + 1) * vocab])
            worst = max(worst, diff)
            #expect(diff <= 1e-4, "position \(i) maxdiff=\(diff)")
        }
        let whole = model.makeState(capacity: ids.count)
        let last = try model.forward(try model.embed(ids), segments: [(whole, ids.count)], tracer: nil)
        let lastDiff = maxAbsDiff(last.array, logits[(ids.count - 1) * vocab..<ids.count * vocab])
        #expect(lastDiff <= 1e-4, "prompt pass maxdiff=\(lastDiff)")
        print("LLaMA parity f32: logits maxdiff=\(worst), prompt pass \(lastDiff)")
    }

    /// A 128-token prompt (two blocks of queries in the prompt pass's attention, the second
    /// skipping the keys the first never sees): its last logits within 1e-4 of the same tokens fed
    /// one by one through the cache, and the same floats from a 1-thread and a 3-thread model.
    @Test func longPromptPassMatchesTokenByToken() throws {
        let f = try Fixtures.model("llama-tiny", .f32)
        let config = try LlamaConfig.from(f.metadata.models["model"]!.config)
        let one = try LlamaModel(weights: ModelWeights(file: f), config: config, pool: ThreadPool(threads: 1))
        let three = try LlamaModel(weights: ModelWeights(file: f), config: config, pool: ThreadPool(threads: 3, spinIterations: 1 << 10))
        let ids = (0..<128).map { Int32(($0 * 7919 + 3) % config.vocabSize) }
        let whole = try one.forward(try one.embed(ids), segments: [(one.makeState(capacity: ids.count), ids.count)], tracer: nil).array
        let wholeThree = try three.forward(try three.embed(ids), segments: [(three.makeState(capacity: ids.count), ids.count)], tracer: nil).array
        #expect(whole == wholeThree)
        let state = one.makeState(capacity: ids.count)
        var last: [Float] = []
        for id in ids { last = try one.forward(try one.embed([id]), segments: [(state, 1)], tracer: nil).array }
        let diff = maxAbsDiff(whole, last)
        #expect(diff <= 1e-4, "prompt pass against token by token: maxdiff=\(diff)")
    }

    /// Short prompt passes (a chat turn, the last piece of a long prompt) leave the weights
    /// alone; batched decoding steps earn them their prepacked copy, where the instruction set
    /// has one. Short passes once counted, and a run of single sequences copied the whole model.
    @Test func onlyBatchedDecodingPrepacks() throws {
        let model = try Self.model(.q8_0)
        let linears = model.layers.flatMap { [$0.q, $0.k, $0.v, $0.o, $0.gate, $0.up, $0.down] } + [model.head]
        for turn in 0..<2 * PrepackCache.uses {
            let state = model.makeState(capacity: 8)
            _ = try model.forward(try model.embed([1, 2, 3, 4, Int32(5 + turn)]), segments: [(state, 5)], tracer: nil)
        }
        #expect(linears.allSatisfy { !$0.isPrepacked }, "a short prompt pass prepacked weights")
        let states = [model.makeState(capacity: 8), model.makeState(capacity: 8)]
        for step in 0..<PrepackCache.uses {
            _ = try model.forward(try model.embed([Int32(1 + step), Int32(2 + step)]), segments: states.map { ($0, 1) }, tracer: nil)
        }
        let packs = PrepackedWeights(model.layers[0].q.weight, pool: .shared) != nil
        #expect(linears.allSatisfy { $0.isPrepacked == packs }, "batched decoding: prepacked \(packs ? "expected" : "unexpected")")
    }
}
