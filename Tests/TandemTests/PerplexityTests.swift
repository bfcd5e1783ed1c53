// Perplexity by llama-perplexity's method against transformers scoring the same chunks
// (Tools/fixtures/make_perplexity_golden.py): chunking, the half of each chunk that is scored,
// all of its rows' logits from one pass.
import Foundation
import Tandem
import TandemConvert
import TandemFormat
import TandemTestSupport
import Testing

struct PerplexityTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func model(_ checkpoint: String, _ dtype: DType) throws -> TandemModel {
        let out = Scratch.unique("\(checkpoint)-ppl.tandem")
        _ = try Converter.convert(ConvertOptions(source: repo.appendingPathComponent("Tests/Fixtures/checkpoints/\(checkpoint)").path,
                                                 output: out, dtype: dtype, pool: .shared))
        return try TandemModel(path: out, pool: .shared)
    }

    @Test func f32MatchesTransformers() throws {
        let golden = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.repo.appendingPathComponent(
            "Tests/Fixtures/forward/llama-perplexity.json"))) as! [String: Any]
        let ids = (golden["input_ids"] as! [Int]).map(Int32.init)
        var reported: [Int] = []
        let r = try Perplexity.measure(try Self.model("llama-tiny", .f32), tokens: ids, context: golden["context"] as! Int) { chunk, _ in
            reported.append(chunk)
            return true
        }
        #expect(r.chunks == golden["chunks"] as! Int && r.scored == golden["scored"] as! Int)
        #expect(reported == Array(1...r.chunks))
        let want = golden["negative_log_likelihood"] as! Double
        #expect(abs(r.negativeLogLikelihood - want) <= 1e-4 * abs(want), "NLL \(r.negativeLogLikelihood) vs \(want)")
        #expect(abs(r.perplexity - (golden["perplexity"] as! Double)) <= 1e-4 * r.perplexity)
        #expect(r.standardError > 0)
        print("perplexity f32: \(r.perplexity) vs transformers \(golden["perplexity"] as! Double)")
    }

    @Test func refusesWhatItCannotScore() throws {
        let llama = try Self.model("llama-tiny", .f32)
        #expect(throws: Perplexity.PerplexityError.self) { _ = try Perplexity.measure(llama, tokens: [5, 6, 7], context: 16) }
        #expect(throws: Perplexity.PerplexityError.self) { _ = try Perplexity.measure(llama, tokens: Array(repeating: 5, count: 400), context: 256) }
        let t5 = try Self.model("t5-v1_1-tiny", .f32)
        #expect(throws: Perplexity.PerplexityError.self) { _ = try Perplexity.measure(t5, tokens: Array(repeating: 5, count: 64), context: 16) }
    }
}
