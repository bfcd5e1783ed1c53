// Chat templates for instruct models (`tandem generate --chat`). Hugging Face and GGUF files
// carry the template as Jinja source; Tandem does not embed a Jinja interpreter. Instead it
// recognises the template families in use and renders them natively — today ChatML
// (`<|im_start|>role\n…<|im_end|>`, used by SmolLM2, Qwen and others), including the default
// system message a template hard-codes — and refuses clearly for anything else.
import Foundation

public enum ChatTemplate: Equatable, Sendable {
    /// ChatML, with the system message the template inserts when the user gives none.
    case chatML(defaultSystem: String?)

    /// Recognises `source` (a Jinja chat template), or nil when its family is unknown.
    public init?(source: String) {
        guard source.contains("<|im_start|>"), source.contains("<|im_end|>") else { return nil }
        var system: String?
        if let r = source.range(of: "<|im_start|>system\\n") ?? source.range(of: "<|im_start|>system\n") {
            let rest = source[r.upperBound...]
            if let end = rest.range(of: "<|im_end|>") {
                let text = String(rest[..<end.lowerBound])
                // Only a literal message (no Jinja expressions) is a default system prompt.
                if !text.contains("{{") && !text.contains("{%") && !text.isEmpty { system = text }
            }
        }
        self = .chatML(defaultSystem: system)
    }

    /// The prompt for one user message, ending where the assistant's answer begins.
    public func render(user: String, system: String? = nil) -> String {
        switch self {
        case let .chatML(defaultSystem):
            var out = ""
            if let s = system ?? defaultSystem { out += "<|im_start|>system\n\(s)<|im_end|>\n" }
            out += "<|im_start|>user\n\(user)<|im_end|>\n<|im_start|>assistant\n"
            return out
        }
    }

    /// The token that ends an assistant turn.
    public var endOfTurn: String {
        switch self { case .chatML: "<|im_end|>" }
    }
}
