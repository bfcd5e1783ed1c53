// A decoder-only model whose prompts must begin with BOS (Gemma; a GGUF whose tokenizer says
// add_bos_token) gets it in front of every prompt, once, as llama.cpp adds it; others get none.
import Foundation
import Tandem
import TandemConvert
import TandemFormat
import TandemTestSupport
import Testing

struct PromptStartTests {
    @Test func gemmaPromptsStartWithBOSOnce() throws {
        let gemma = try PerplexityTests.model("gemma3-tiny", .f32)
        let bos: Int32 = 2   // config.json's bos_token_id
        let text = gemma.tokenizer.encode("hello world")
        #expect(!text.isEmpty && text.first != bos)
        #expect(gemma.promptIds(fromTokens: text).ids == [bos] + text)
        // Already there (a chat template that writes it): not doubled.
        #expect(gemma.promptIds(fromTokens: [bos] + text).ids == [bos] + text)
        // Over-long: the end is kept, and BOS still leads within the limit.
        let long = Array(repeating: text[0], count: gemma.promptLimit + 10)
        let (ids, truncated) = gemma.promptIds(fromTokens: long)
        #expect(truncated && ids.first == bos && ids.count == gemma.promptLimit)
    }

    @Test func llamaWithoutAddBOSGetsNone() throws {
        let llama = try PerplexityTests.model("llama-tiny", .f32)
        let text = llama.tokenizer.encode("hello world")
        #expect(llama.promptIds(fromTokens: text).ids == text)
    }
}
