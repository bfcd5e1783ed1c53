import Foundation
import Testing
import Tandem

/// Real models' chat templates (SmolLM2-135M-Instruct, Qwen2.5-Coder-0.5B/1.5B-Instruct, as
/// their GGUFs carry them) rendered natively must equal what transformers' Jinja renderer gives
/// for the same conversations (Tests/Fixtures/chat, Tools/fixtures/make_chat_golden.py): default
/// system messages, a given system message (also an empty one), several turns, Unicode, tabs and
/// trailing whitespace kept as they are.
struct ChatTemplateTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/chat")

    static func golden() throws -> [String: Any] {
        let data = try Data(contentsOf: directory.appendingPathComponent("golden.json"))
        return (try JSONSerialization.jsonObject(with: data) as! [String: Any])["templates"] as! [String: Any]
    }

    @Test(arguments: ["smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"])
    func rendersAsTransformersDoes(model: String) throws {
        let entry = try #require(try Self.golden()[model] as? [String: Any])
        let source = try String(contentsOf: Self.directory.appendingPathComponent(entry["file"] as! String), encoding: .utf8)
        let template = try #require(ChatTemplate(source: source))
        for c in entry["cases"] as! [[String: Any]] {
            let messages = (c["messages"] as! [[String: String]]).map { ChatMessage(role: $0["role"]!, content: $0["content"]!) }
            #expect(template.render(messages) == c["rendered"] as! String, "\(model): \(messages)")
        }
    }

    @Test func unknownFamiliesAreRefused() {
        #expect(ChatTemplate(source: "{{ bos_token }}[INST] {{ m }} [/INST]") == nil)
        #expect(ChatTemplate(source: "<start_of_turn>user\n{{ message['content'] }}<end_of_turn>") == nil)
    }
}
