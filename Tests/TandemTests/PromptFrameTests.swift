// `summarize --template/--chat`: the document between a fixed prefix and suffix, the chat turn
// rendered as the chat template renders it, and an over-long document cut in its middle so the
// instruction and the assistant's turn reach the model whole.
import Foundation
import TandemConvert
import TandemTestSupport
import Testing
@testable import Tandem

struct PromptFrameTests {
    static let template = "Summarize this paper in one sentence.\n\n{text}\n\nOne sentence:"
    static let words = ["rain", "town", "river", "über", "market", "日本", "road", "music", "light", "garden"]

    static func text(_ n: Int) -> String {
        (0..<n).map { words[($0 * 7) % words.count] + ($0 % 13 == 0 ? "." : "") }.joined(separator: " ")
    }

    @Test func chatFrameIsTheTemplatesRenderingOfTheUsersMessage() throws {
        let model = try ChatSessionTests.model()
        let frame = try PromptFrame(model: model, template: Self.template, prefix: nil, chat: true, system: "Be brief.")
        let source = try #require(model.file.metadata.generation["chat_template"]?.stringValue)
        let chat = try #require(ChatTemplate(source: source))
        let document = "rain in the old town"
        let user = Self.template.replacingOccurrences(of: PromptFrame.placeholder, with: document)
        #expect(try frame.prefix + document + frame.suffix == chat.render(user: user, system: "Be brief."))
        #expect(frame.prefix.hasPrefix("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nSummarize this paper"))
        #expect(frame.suffix == "\n\nOne sentence:<|im_end|>\n<|im_start|>assistant\n")
    }

    @Test func badOptionsAreRefusedOneByOne() throws {
        let llama = try ChatSessionTests.model(), t5 = try ChunkCutterTests.model()
        #expect(throws: PromptFrame.FrameError.placeholder(count: 0)) { try PromptFrame(model: llama, template: "Summarize:", prefix: nil, chat: false, system: nil) }
        #expect(throws: PromptFrame.FrameError.placeholder(count: 2)) { try PromptFrame(model: llama, template: "{text}{text}", prefix: nil, chat: false, system: nil) }
        #expect(throws: PromptFrame.FrameError.templateAndPrefix) { try PromptFrame(model: llama, template: "{text}", prefix: "x", chat: false, system: nil) }
        #expect(throws: PromptFrame.FrameError.systemWithoutChat) { try PromptFrame(model: llama, template: nil, prefix: nil, chat: false, system: "s") }
        #expect(throws: PromptFrame.FrameError.noChatTemplate) { try PromptFrame(model: t5, template: nil, prefix: nil, chat: true, system: nil) }
        // Without a template: the given prefix, else the model's own.
        #expect(try PromptFrame(model: t5, template: nil, prefix: nil, chat: false, system: nil).prefix == "summarize: ")
        #expect(try PromptFrame(model: t5, template: nil, prefix: "tl;dr ", chat: false, system: nil) == PromptFrame(prefix: "tl;dr "))
    }

    /// A document that fits is the frame and the text tokenized as one string; one that does not is
    /// cut inside the text: the prompt keeps the frame's tokens at both ends, the text's beginning
    /// between them, and fits the model's prompt limit.
    @Test func anOverLongDocumentIsCutInsideTheFrame() throws {
        let model = try ChatSessionTests.model()
        let job = Summarizer(model: model, options: SummarizeOptions())
        let frame = try PromptFrame(model: model, template: Self.template, prefix: nil, chat: true, system: nil)
        let short = Self.text(8)
        let fits = job.documentPrompt(short, frame)
        #expect(!fits.truncated && fits.ids == model.tokenizer.encode(frame.prefix + short + frame.suffix))

        let long = Self.text(400)
        #expect(model.tokenizer.encode(long).count > 2 * model.promptLimit)
        let cut = job.documentPrompt(long, frame)
        let head = model.tokenizer.encode(frame.prefix), tail = model.tokenizer.encode(frame.suffix)
        #expect(cut.truncated && cut.tokens > model.promptLimit)
        #expect(cut.ids.count == model.promptLimit)
        #expect(Array(cut.ids.prefix(head.count)) == head)
        #expect(Array(cut.ids.suffix(tail.count)) == tail)
        let body = Array(cut.ids.dropFirst(head.count).dropLast(tail.count))
        #expect(body == Array(model.tokenizer.encode(long).prefix(body.count)), "the text's beginning")

        // Without a suffix, a decoder-only model keeps the end of the prompt, as `generate` does.
        let plain = job.documentPrompt(long, PromptFrame(prefix: "Summarize: "))
        #expect(plain.truncated && plain.ids == Array(model.tokenizer.encode("Summarize: " + long).suffix(model.promptLimit)))
    }

    /// --chunk with a frame on a decoder-only model: every chunk is a whole prompt (frame at both
    /// ends) within the prompt limit, and the pieces cover the text in order.
    @Test func chunksOfAFramedDocumentEachCarryTheFrame() throws {
        let model = try ChatSessionTests.model()
        let frame = try PromptFrame(model: model, template: Self.template, prefix: nil, chat: true, system: nil)
        let head = model.tokenizer.encode(frame.prefix), tail = model.tokenizer.encode(frame.suffix)
        let text = Self.text(600)
        var cutter = ChunkCutter(model: model, text: text, frame: frame)
        var pieces: [String] = []
        while let chunk = cutter.next() {
            #expect(chunk.ids.count <= model.promptLimit)
            #expect(Array(chunk.ids.prefix(head.count)) == head && Array(chunk.ids.suffix(tail.count)) == tail)
            pieces.append(chunk.text)
        }
        #expect(pieces.count >= 4)
        let squash = { (s: String) in s.split(whereSeparator: \.isWhitespace).joined(separator: " ") }
        #expect(squash(pieces.joined(separator: " ")) == squash(text))
    }
}
