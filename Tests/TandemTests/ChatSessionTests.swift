// `tandem chat`'s session: the KV cache kept between turns must give exactly what running the
// whole conversation afresh gives, while feeding only the tokens the cache lacks.
import Foundation
import Tandem
import TandemConvert
import TandemFormat
import TandemKernels
import TandemTestSupport
import Testing

struct ChatSessionTests {
    /// The tiny LLaMA GGUF fixture (random weights, a ChatML template), imported in f32.
    static func model() throws -> TandemModel {
        let out = Scratch.unique("chat-llama.tandem")
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        _ = try GGUFImporter.convert(ConvertOptions(source: repo.appendingPathComponent("Tests/Fixtures/gguf/tiny-llama-f32.gguf").path,
                                                    output: out, dtype: .f32, pool: .shared))
        return try TandemModel(path: out, pool: .shared)
    }

    @Test func turnsReuseTheCacheAndMatchAFreshRun() throws {
        let session = try ChatSession(model: try Self.model(), system: "Be brief.")
        let fresh = try Self.model()
        var previousPrompt = 0
        for (turn, user) in ["Hi there", "And the other one?", "the end"].enumerated() {
            let (_, tokens, fed) = try session.reply(to: user, maxNewTokens: 12)
            // The same conversation up to this answer, rendered and generated from nothing.
            let prompt = fresh.tokenizer.encode(try session.template.render(Array(session.messages.dropLast())))
            let (results, _) = try fresh.generate(prompts: [prompt], options: GenerationOptions(maxNewTokens: 12))
            let expected = results[0].tokens.prefix { $0 != fresh.eosTokenId }
            #expect(tokens == Array(expected), "turn \(turn)")
            if turn > 0 { #expect(fed < prompt.count - previousPrompt + 8, "turn \(turn) fed \(fed) of \(prompt.count) tokens") }
            #expect(fed < prompt.count || turn == 0)
            print("chat turn \(turn): fed \(fed) of \(prompt.count) prompt tokens, \(tokens.count) answer tokens")
            previousPrompt = prompt.count
        }
        #expect(session.messages.map(\.role) == ["system", "user", "assistant", "user", "assistant", "user", "assistant"])
    }

    @Test func stoppingAnAnswerKeepsItsTextAndTheConversationGoesOn() throws {
        let session = try ChatSession(model: try Self.model())
        var pieces = 0
        let (text, tokens, _) = try session.reply(to: "Hello", maxNewTokens: 40) { _ in pieces += 1; return pieces < 3 }
        #expect(tokens.count <= 3)
        #expect(session.messages.last == ChatMessage(role: "assistant", content: text))
        let (_, more, _) = try session.reply(to: "Go on", maxNewTokens: 4)
        #expect(more.count <= 4)
    }

    @Test func encoderDecoderModelsAreRefused() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let out = Scratch.unique("chat-t5.tandem")
        _ = try Converter.convert(ConvertOptions(source: repo.appendingPathComponent("Tests/Fixtures/checkpoints/t5-v1_1-tiny").path,
                                                 output: out, dtype: .f32, pool: .shared))
        #expect(throws: ChatSession.ChatError.self) { _ = try ChatSession(model: try TandemModel(path: out, pool: .shared)) }
    }
}
