// Chat templates for instruct models (`tandem generate --chat`, `tandem chat`). Hugging Face and
// GGUF files carry the template as Jinja source; Tandem does not embed a Jinja interpreter. Instead
// it recognises the template families in use and renders them natively, as the template's own
// logic does under Jinja (what llama-cpp-python, llama.cpp's `--jinja` and transformers run):
//   * ChatML (`<|im_start|>role\n…<|im_end|>`: SmolLM2, Qwen and others), including the default
//     system message a template hard-codes when the conversation has none;
//   * Gemma's turns (`<start_of_turn>user\n…<end_of_turn>`, the assistant as `model`, contents
//     trimmed, after `bos_token`; Gemma 1 and 2 refuse a system message);
//   * Llama 3's headers (`<|start_header_id|>role<|end_header_id|>\n\n…<|eot_id|>`), and Llama
//     3.1–3.3's system block with its knowledge cut-off and today's date;
// and refuses clearly for anything else. Tests/Fixtures/chat holds real models' templates (from
// their GGUFs and from llama.cpp's source) and what transformers' Jinja renderer makes of them
// (Tools/fixtures/make_chat_golden.py); the renders must be identical, errors included.
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
    /// Gemma's turns, after `bos` (the model's BOS spelling, when the template starts with
    /// `bos_token`); the templates of Gemma 1 and 2 raise on a system message.
    case gemma(bos: String)
    /// Llama 3's headers, the first message after `bos`. `dated`: Llama 3.1–3.3's system block,
    /// always rendered (the conversation's system message, trimmed, at its end).
    case llama3(bos: String, dated: Llama3Date?)

    /// The date in Llama 3.1–3.3's system block: the template's literal (3.1, 3.3: "26 Jul 2024"),
    /// or today's (3.2 asks `strftime_now("%d %b %Y")`, which llama.cpp and transformers define).
    public enum Llama3Date: Equatable, Sendable {
        case literal(String)
        case today
    }

    /// Recognises `source` (a Jinja chat template), or nil when its family is unknown. `bosToken`:
    /// the model's BOS spelling, which templates write as `bos_token`.
    public init?(source: String, bosToken: String? = nil) {
        let bos = source.contains("bos_token") ? bosToken ?? "" : ""
        if source.contains("<|im_start|>"), source.contains("<|im_end|>") {
            self = .chatML(defaultSystem: Self.literalSystemMessage(in: source))
        } else if source.contains("<start_of_turn>"), source.contains("<end_of_turn>"),
                  source.contains("raise_exception('System role not supported')") {
            // Gemma 3's templates fold a system message into the first user turn instead; none is
            // reachable here to test against, so they are not recognised yet.
            self = .gemma(bos: bos)
        } else if source.contains("<|start_header_id|>"), source.contains("<|end_header_id|>"), source.contains("<|eot_id|>") {
            guard source.contains("Cutting Knowledge Date") else {
                self = .llama3(bos: bos, dated: nil)
                return
            }
            guard source.contains(Self.knowledgeLine.dropLast(1)) else { return nil }
            if source.contains("strftime_now") {
                self = .llama3(bos: bos, dated: .today)
            } else if let literal = Self.literalDate(in: source) {
                self = .llama3(bos: bos, dated: .literal(literal))
            } else {
                return nil
            }
        } else {
            return nil
        }
    }

    /// Llama 3.1–3.3's knowledge cut-off line, as their templates write it.
    static let knowledgeLine = "Cutting Knowledge Date: December 2023\n"

    /// The date string a Llama 3.1 template sets: `set date_string = "…"`.
    static func literalDate(in source: String) -> String? {
        guard let r = source.range(of: "set date_string = \"") else { return nil }
        let rest = source[r.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        return String(rest[..<end])
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

    /// Jinja's `trim`: Python's `str.strip()`, which strips what `str.isspace` calls whitespace.
    static func trim(_ s: String) -> String {
        func space(_ u: Unicode.Scalar) -> Bool {
            switch u.value {
            case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: true
            default: false
            }
        }
        let scalars = s.unicodeScalars
        guard let first = scalars.firstIndex(where: { !space($0) }), let last = scalars.lastIndex(where: { !space($0) }) else { return "" }
        return String(scalars[first...last])
    }

    /// `date` as `strftime("%d %b %Y")` writes it in the C locale ("07 Dec 2026"), local time.
    static func dateString(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = .current
        f.dateFormat = "dd MMM yyyy"
        return f.string(from: date)
    }

    /// The prompt for a conversation, ending where the assistant's next answer begins. `today`:
    /// the date a template that asks for it gets (Llama 3.2).
    public func render(_ messages: [ChatMessage], today: Date = Date()) throws(ChatTemplateError) -> String {
        switch self {
        case let .chatML(defaultSystem):
            var out = ""
            if messages.first?.role != "system", let s = defaultSystem { out += "<|im_start|>system\n\(s)<|im_end|>\n" }
            for m in messages { out += "<|im_start|>\(m.role)\n\(m.content)<|im_end|>\n" }
            out += "<|im_start|>assistant\n"
            return out
        case let .gemma(bos):
            if messages.first?.role == "system" { throw .systemRoleNotSupported }
            var out = bos
            for (i, m) in messages.enumerated() {
                guard (m.role == "user") == (i % 2 == 0) else { throw .rolesMustAlternate }
                out += "<start_of_turn>\(m.role == "assistant" ? "model" : m.role)\n\(Self.trim(m.content))<end_of_turn>\n"
            }
            return out + "<start_of_turn>model\n"
        case let .llama3(bos, dated):
            func turn(_ role: String, _ content: String) -> String {
                "<|start_header_id|>\(role)<|end_header_id|>\n\n\(content)<|eot_id|>"
            }
            var out = "", rest = messages[...]
            if let dated {
                var system = ""
                if rest.first?.role == "system" { system = Self.trim(rest.removeFirst().content) }
                let date = switch dated { case .literal(let s): s; case .today: Self.dateString(today) }
                out = bos + turn("system", Self.knowledgeLine + "Today Date: \(date)\n\n" + system)
            } else if !rest.isEmpty {
                out = bos
            }
            for m in rest { out += turn(m.role, Self.trim(m.content)) }
            return out + "<|start_header_id|>assistant<|end_header_id|>\n\n"
        }
    }

    /// The prompt for one user message (and a system message, if given).
    public func render(user: String, system: String? = nil) throws(ChatTemplateError) -> String {
        try render((system.map { [ChatMessage(role: "system", content: $0)] } ?? []) + [ChatMessage(role: "user", content: user)])
    }

    /// What closes one finished turn of the conversation after its content (the assistant's
    /// answer, when the conversation goes on).
    public var endOfTurn: String {
        switch self {
        case .chatML: "<|im_end|>\n"
        case .gemma: "<end_of_turn>\n"
        case .llama3: "<|eot_id|>"
        }
    }
}

/// A conversation a template refuses, as its Jinja source raises.
public enum ChatTemplateError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Gemma 1 and 2: "System role not supported".
    case systemRoleNotSupported
    /// Gemma: "Conversation roles must alternate user/assistant/user/assistant/...".
    case rolesMustAlternate

    public var description: String {
        switch self {
        case .systemRoleNotSupported: "the model's chat template takes no system message (System role not supported); leave out --system"
        case .rolesMustAlternate: "the model's chat template needs the roles to alternate user/assistant/user/assistant/..."
        }
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
        let bos = tokenizer.bosTokenId.flatMap { tokenizer.tokenText($0) }
        guard let template = ChatTemplate(source: source, bosToken: bos) else { throw .unknownFamily }
        return template
    }

    /// What `summarize` puts before a document unless told otherwise (T5: "summarize: ").
    var summarizePrefix: String { file.metadata.generation["summarize_prefix"]?.stringValue ?? "" }
}
