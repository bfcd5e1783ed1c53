import Foundation
import Testing
import TandemFormat
@testable import TandemModels

/// GPT-2 against transformers (Tools/fixtures/make_forward_golden.py): the logits of every
/// position of a fixed text, computed token by token through the KV cache and in one prompt pass.
struct GPT2ParityTests {
    static func model(_ dtype: DType) throws -> GPT2Model {
        let f = try Fixtures.model("gpt2-tiny", dtype)
        return try GPT2Model(weights: ModelWeights(file: f), config: try GPT2Config.from(f.metadata.models["model"]!.config), pool: .shared)
    }

    @Test func f32MatchesTransformers() throws {
        let golden = try ForwardGolden("gpt2-tiny")
        let model = try Self.model(.f32)
        let ids = golden.ids("text_ids")
        let logits = golden.array("logits")
        let vocab = model.vocabularySize
        #expect(logits.shape == [ids.count, vocab])
        // Token by token through the cache.
        let state = model.makeState(capacity: ids.count)
        var worst: Float = 0
        for (i, id) in ids.enumerated() {
            let out = try model.forward(try model.embed([id]), segments: [(state, 1)], tracer: nil)
            let diff = maxAbsDiff(out.array, logits.values[i * vocab..<(i + 1) * vocab])
            worst = max(worst, diff)
            #expect(diff <= 1e-4, "position \(i) maxdiff=\(diff)")
        }
        // The whole text as one prompt (GEMM path): the last position's logits.
        let whole = model.makeState(capacity: ids.count)
        let last = try model.forward(try model.embed(ids), segments: [(whole, ids.count)], tracer: nil)
        let lastDiff = maxAbsDiff(last.array, logits.values[(ids.count - 1) * vocab..<ids.count * vocab])
        #expect(lastDiff <= 1e-4, "prompt pass maxdiff=\(lastDiff)")
        print("GPT-2 parity f32: logits maxdiff=\(worst), prompt pass \(lastDiff)")
    }

    /// Several sequences decoded together give the same logits as each alone.
    @Test func batchedStepEqualsSingle() throws {
        let model = try Self.model(.q8_0)
        let a: [Int32] = [371, 459, 343], b: [Int32] = [77, 271]
        let sa = model.makeState(capacity: 8), sb = model.makeState(capacity: 8)
        _ = try model.forward(try model.embed(a), segments: [(sa, a.count)], tracer: nil)
        _ = try model.forward(try model.embed(b), segments: [(sb, b.count)], tracer: nil)
        let ca = sa.copy(), cb = sb.copy()
        let together = try model.forward(try model.embed([5, 9]), segments: [(sa, 1), (sb, 1)], tracer: nil).array
        let alone = try model.forward(try model.embed([5]), segments: [(ca, 1)], tracer: nil).array
            + model.forward(try model.embed([9]), segments: [(cb, 1)], tracer: nil).array
        #expect(maxAbsDiff(together, alone) <= 1e-5)
    }
}
