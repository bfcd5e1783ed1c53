// Chat templates for instruct models (`tandem generate --chat`, `tandem chat`). Hugging Face and
// GGUF files carry the template as Jinja source; Tandem does not embed a Jinja interpreter. Instead
// it recognises the template families in use and renders them natively — today ChatML
// (`<|im_start|>role\n…<|im_end|>`, used by SmolLM2, Qwen and others), including the default
// system message a template hard-codes when the conversation has none — and refuses clearly for
// anything else. Tests/Fixtures/chat holds real models' templates and what transformers' Jinja
// renderer makes of them (Tools/fixtures/make_chat_golden.py); the renders must be identical.
import Foundation

/// One turn of a conversation.
public struct ChatMessage: Sendable, Equatable {
    /// "system", "user" or "assistant".
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

public enum ChatTemplate: Equatable, Sendable {
    /// ChatML, with the system message the template inserts when the conversation starts
    /// without one.
    case chatML(defaultSystem: String?)

    /// Recognises `source` (a Jinja chat template), or nil when its family is unknown.
    public init?(source: String) {
        guard source.contains("<|im_start|>"), source.contains("<|im_end|>") else { return nil }
        self = .chatML(defaultSystem: Self.literalSystemMessage(in: source))
    }

    /// The default system message of a ChatML template: the text between `<|im_start|>system` and
    /// `<|im_end|>` inside one Jinja string literal — nothing computed (no `{{`, `{%`), nothing
    /// concatenated (no quote or `+`: Qwen's `'<|im_start|>system\n' + messages[0]['content']`
    /// is the branch for a given system message, its literal default comes later).
    static func literalSystemMessage(in source: String) -> String? {
        var rest = source[...]
        while let start = rest.range(of: "<|im_start|>system") {
            rest = rest[start.upperBound...]
            let newline: String
            if rest.hasPrefix("\\n") { newline = "\\n" } else if rest.hasPrefix("\n") { newline = "\n" } else { continue }
            let body = rest.dropFirst(newline.count)
            guard let end = body.range(of: "<|im_end|>") else { return nil }
            let text = body[..<end.lowerBound]
            if !text.isEmpty, !["{{", "{%", "'", "\"", "+"].contains(where: { text.contains($0) }) {
                return unescapeJinjaString(String(text))
            }
        }
        return nil
    }

    /// A Jinja string literal's escapes (`\n`, `\t`, `\\`) resolved.
    static func unescapeJinjaString(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out = "", escaped = false
        for c in s {
            if escaped {
                switch c {
                case "n": out.append("\n")
                case "t": out.append("\t")
                default: out.append(c)
                }
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else {
                out.append(c)
            }
        }
        return out
    }

    /// The prompt for a conversation, ending where the assistant's next answer begins.
    public func render(_ messages: [ChatMessage]) -> String {
        switch self {
        case let .chatML(defaultSystem):
            var out = ""
            if messages.first?.role != "system", let s = defaultSystem { out += "<|im_start|>system\n\(s)<|im_end|>\n" }
            for m in messages { out += "<|im_start|>\(m.role)\n\(m.content)<|im_end|>\n" }
            out += "<|im_start|>assistant\n"
            return out
        }
    }

    /// The prompt for one user message (and a system message, if given).
    public func render(user: String, system: String? = nil) -> String {
        render((system.map { [ChatMessage(role: "system", content: $0)] } ?? []) + [ChatMessage(role: "user", content: user)])
    }

    /// What closes one finished turn of the conversation after its content (the assistant's
    /// answer, when the conversation goes on).
    public var endOfTurn: String {
        switch self { case .chatML: "<|im_end|>\n" }
    }
}

/// Why a model's chat template cannot be used.
public enum ChatTemplateLookupError: Error, Equatable, Sendable {
    /// The file carries none.
    case missing
    /// Its family is one Tandem does not render.
    case unknownFamily
}

extension TandemModel {
    /// The chat template the model's file carries (`chat_template` in its generation metadata,
    /// from the GGUF's `tokenizer.chat_template` or the Hugging Face tokenizer config), recognised.
    public func chatTemplate() throws(ChatTemplateLookupError) -> ChatTemplate {
        guard let source = file.metadata.generation["chat_template"]?.stringValue else { throw .missing }
        guard let template = ChatTemplate(source: source) else { throw .unknownFamily }
        return template
    }

    /// What `summarize` puts before a document unless told otherwise (T5: "summarize: ").
    var summarizePrefix: String { file.metadata.generation["summarize_prefix"]?.stringValue ?? "" }
}
