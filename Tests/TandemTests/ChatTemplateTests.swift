import Foundation
import Testing
import Tandem

/// Real models' chat templates rendered natively must equal what transformers' Jinja renderer gives
/// for the same conversations (Tests/Fixtures/chat, Tools/fixtures/make_chat_golden.py): ChatML as
/// SmolLM2-135M-Instruct's and Qwen2.5-Coder-0.5B/1.5B-Instruct's GGUFs carry it (default system
/// messages), Gemma 2's turns and Llama 3, 3.1 and 3.2's headers as llama.cpp's source carries
/// them (the model's BOS, a system message refused where the template raises, Llama 3.2's date of
/// today); a given system message (also an empty one), several turns, Unicode, tabs, whitespace
/// kept or trimmed as each template does.
struct ChatTemplateTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/chat")

    static func golden() throws -> [String: Any] {
        let data = try Data(contentsOf: directory.appendingPathComponent("golden.json"))
        return (try JSONSerialization.jsonObject(with: data) as! [String: Any])["templates"] as! [String: Any]
    }

    static let models = ["smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct",
                         "gemma-2-2b-it", "llama-3-8b-instruct", "llama-3.1-8b-instruct", "llama-3.2-3b-instruct"]

    @Test(arguments: models)
    func rendersAsTransformersDoes(model: String) throws {
        let entry = try #require(try Self.golden()[model] as? [String: Any])
        let source = try String(contentsOf: Self.directory.appendingPathComponent(entry["file"] as! String), encoding: .utf8)
        let template = try #require(ChatTemplate(source: source, bosToken: entry["bos_token"] as? String))
        var today = Date()
        if let day = entry["today"] as? String {
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX")
            f.timeZone = .current
            f.dateFormat = "yyyy-MM-dd"
            today = try #require(f.date(from: day)).addingTimeInterval(12 * 3600)
        }
        for c in entry["cases"] as! [[String: Any]] {
            let messages = (c["messages"] as! [[String: String]]).map { ChatMessage(role: $0["role"]!, content: $0["content"]!) }
            if let rendered = c["rendered"] as? String {
                #expect(try template.render(messages, today: today) == rendered, "\(model): \(messages)")
            } else {
                let error = try #require(c["error"] as? String)
                #expect(throws: ChatTemplateError.self, "\(model) raises \(error)") { _ = try template.render(messages, today: today) }
                #expect(error == "System role not supported", "a refusal the test does not know: \(error)")
            }
        }
    }

    /// Every template family recognised: the ones above, and Gemma's refusal when roles do not
    /// alternate (its template raises).
    @Test func familiesAndRefusals() throws {
        let entries = try Self.golden()
        func template(_ name: String) throws -> ChatTemplate {
            let entry = try #require(entries[name] as? [String: Any])
            let source = try String(contentsOf: Self.directory.appendingPathComponent(entry["file"] as! String), encoding: .utf8)
            return try #require(ChatTemplate(source: source, bosToken: entry["bos_token"] as? String))
        }
        #expect(try template("gemma-2-2b-it") == .gemma(bos: "<bos>"))
        #expect(try template("llama-3-8b-instruct") == .llama3(bos: "<|begin_of_text|>", dated: nil))
        #expect(try template("llama-3.1-8b-instruct") == .llama3(bos: "<|begin_of_text|>", dated: .literal("26 Jul 2024")))
        #expect(try template("llama-3.2-3b-instruct") == .llama3(bos: "<|begin_of_text|>", dated: .today))
        #expect(throws: ChatTemplateError.rolesMustAlternate) {
            _ = try template("gemma-2-2b-it").render([ChatMessage(role: "user", content: "a"), ChatMessage(role: "user", content: "b")])
        }
    }

    @Test func unknownFamiliesAreRefused() {
        #expect(ChatTemplate(source: "{{ bos_token }}[INST] {{ m }} [/INST]") == nil)
        // Gemma's turns without Gemma 2's refusal of a system message: Gemma 3 folds it into the
        // first user turn, which no reachable template tests yet.
        #expect(ChatTemplate(source: "<start_of_turn>user\n{{ message['content'] }}<end_of_turn>") == nil)
    }
}
