import Foundation
import Testing
import TandemConvert
import TandemFormat
import TandemKernels
import TandemModels
import TandemTestSupport

/// Qwen2 against transformers (Tools/fixtures/make_qwen2_golden.py): the logits at every position
/// of a fixed sequence, token by token through the KV cache and in one prompt pass, from the
/// Hugging Face checkpoint and from the GGUF llama.cpp's converter would write for it. Covers the
/// q/k/v biases, the 10⁶ rope base, grouped-query attention and the tied head, and that Qwen2 is
/// reached through the registry as any architecture is.
struct Qwen2ParityTests {
    static func golden() throws -> (ids: [Int32], vocab: Int, logits: [Float]) { try teacherForcedGolden("qwen2") }

    /// The model the registry opens for a converted file: from the checkpoint directory, or from
    /// the GGUF fixture.
    static func open(fromGGUF: Bool, _ dtype: DType) throws -> CausalRunner {
        let file: TandemFile
        if fromGGUF {
            let out = Scratch.unique("qwen2-gguf-\(dtype.name).tandem")
            _ = try GGUFImporter.convert(ConvertOptions(source: Fixtures.path("Tests/Fixtures/gguf/tiny-qwen2-f32.gguf"), output: out,
                                                        dtype: dtype, pool: .shared))
            file = try TandemFile(path: out)
        } else {
            file = try Fixtures.model("qwen2-tiny", dtype)
        }
        #expect(file.metadata.models["model"]?.architecture == "qwen2")
        let model = try ArchitectureRegistry.open(file, pool: .shared)
        return try #require(model as? CausalRunner)
    }

    @Test(arguments: [false, true])
    func f32MatchesTransformers(fromGGUF: Bool) throws {
        let (ids, vocab, logits) = try Self.golden()
        let runner = try Self.open(fromGGUF: fromGGUF, .f32)
        let model = runner.model
        let state = model.makeState(capacity: ids.count)
        var worst: Float = 0
        for (i, id) in ids.enumerated() {
            let out = try model.forward(try model.embed([id]), segments: [(state, 1)], tracer: nil)
            worst = max(worst, maxAbsDiff(out.array, logits[i * vocab..<(i + 1) * vocab]))
        }
        #expect(worst <= 1e-4, "token by token maxdiff=\(worst)")
        let whole = model.makeState(capacity: ids.count)
        let last = try model.forward(try model.embed(ids), segments: [(whole, ids.count)], tracer: nil)
        let lastDiff = maxAbsDiff(last.array, logits[(ids.count - 1) * vocab..<ids.count * vocab])
        #expect(lastDiff <= 1e-4, "prompt pass maxdiff=\(lastDiff)")
        print("Qwen2 parity f32 (\(fromGGUF ? "GGUF" : "checkpoint")): logits maxdiff=\(worst), prompt pass \(lastDiff)")
    }

    /// Quantized, the same logits within the bound the LLaMA fixture holds at q8_0, and the same
    /// greedy continuation of the golden prompt from the checkpoint and from the GGUF.
    @Test func q8_0StaysNearAndAgreesAcrossSources() throws {
        let (ids, vocab, logits) = try Self.golden()
        var continuations: [[Int32]] = []
        for fromGGUF in [false, true] {
            let runner = try Self.open(fromGGUF: fromGGUF, .q8_0)
            let (state, first) = try runner.start(prompt: ids, maxNewTokens: 8)
            let diff = maxAbsDiff(first, logits[(ids.count - 1) * vocab..<ids.count * vocab])
            let scale = logits.map(abs).max()!
            #expect(diff <= 0.05 * scale, "q8_0 last logits maxdiff=\(diff) of \(scale)")
            var tokens: [Int32] = [], next = first
            for _ in 0..<8 {
                let t = Int32(next.indices.max { next[$0] < next[$1] }!)
                tokens.append(t)
                next = try runner.step([state], tokens: [t]).array
            }
            continuations.append(tokens)
        }
        #expect(continuations[0] == continuations[1])
    }
}
