// What surrounds each document in a summarization prompt. T5 checkpoints were trained on
// "summarize: " before the text; instruct models want the text inside their chat template, with an
// instruction around it. Both come down to the same thing: a prefix and a suffix, fixed for the
// whole job, with the document between them — which is also what lets an over-long document be
// cut in its middle without losing the instruction or the assistant's turn after it.

public struct PromptFrame: Equatable, Sendable {
    /// Text before the document.
    public var prefix: String
    /// Text after the document.
    public var suffix: String

    /// Where a `--template` puts the document.
    public static let placeholder = "{text}"

    public enum FrameError: Error, Equatable, CustomStringConvertible, Sendable {
        case placeholder(count: Int)
        case templateAndPrefix
        case noChatTemplate
        case unknownChatTemplate
        case systemWithoutChat
        /// The model's chat template refuses the conversation (Gemma 2 takes no system message).
        case chatTemplateRefused(ChatTemplateError)

        public var description: String {
            switch self {
            case let .placeholder(n): "--template must contain \(PromptFrame.placeholder) exactly once (it has \(n))"
            case .templateAndPrefix: "--template and --prefix both say what goes before the text; give one"
            case .noChatTemplate: "the model has no chat template; run without --chat"
            case .unknownChatTemplate: "the model's chat template is of a family Tandem does not render yet; run without --chat"
            case .systemWithoutChat: "--system needs --chat"
            case let .chatTemplateRefused(e): e.description
            }
        }
    }

    public init(prefix: String, suffix: String = "") {
        self.prefix = prefix
        self.suffix = suffix
    }

    /// Checks the options that need no model (an argument parser's validation) and splits the
    /// template at `{text}`; nil without a template.
    @discardableResult
    public static func split(template: String?, prefix: String?, chat: Bool, system: String?) throws(FrameError) -> (String, String)? {
        guard chat || system == nil else { throw .systemWithoutChat }
        guard let template else { return nil }
        guard prefix == nil else { throw .templateAndPrefix }
        let parts = template.components(separatedBy: Self.placeholder)
        guard parts.count == 2 else { throw .placeholder(count: parts.count - 1) }
        return (parts[0], parts[1])
    }

    /// The frame a `summarize` command line asks for.
    /// - Parameters:
    ///   - template: the prompt with `{text}` where the document goes; nil: `prefix`, else the
    ///     model's own summarization prefix (T5's "summarize: "), before the text.
    ///   - chat: the filled template becomes the user's message in the model's chat template,
    ///     rendered up to where the assistant's answer begins (`system`: its system message, else
    ///     the template's default).
    public init(model: TandemModel, template: String?, prefix: String?, chat: Bool, system: String?) throws(FrameError) {
        let (before, after) = try Self.split(template: template, prefix: prefix, chat: chat, system: system)
            ?? (prefix ?? model.summarizePrefix, "")
        guard chat else {
            self.init(prefix: before, suffix: after)
            return
        }
        let chatTemplate: ChatTemplate
        do { chatTemplate = try model.chatTemplate() } catch { throw error == .missing ? .noChatTemplate : .unknownChatTemplate }
        // The template renders message content verbatim, so a marker no document contains splits
        // the rendering into what goes before and after the text.
        let marker = "\u{0}tandem-document\u{0}"
        let rendered: String
        do { rendered = try chatTemplate.render(user: before + marker + after, system: system) } catch { throw .chatTemplateRefused(error) }
        let parts = rendered.components(separatedBy: marker)
        precondition(parts.count == 2, "a chat template rendered the user's message \(parts.count - 1) times")
        self.init(prefix: parts[0], suffix: parts[1])
    }
}
