// A multi-turn conversation with a decoder-only instruct model (`tandem chat`). The model's KV
// cache is kept between turns: each turn feeds only the tokens the cache does not hold yet — the
// new user message, rendered through the model's chat template — instead of the whole
// conversation again. The conversation is rendered whole each turn and compared with the tokens
// already in the cache; where they part (the template's closing of the previous answer, or an
// answer whose text tokenizes otherwise than it was generated), the cache is rewound to the
// common prefix, so the model always sees exactly the tokens a fresh run of the conversation would.
import TandemKernels
import TandemModels
import TandemTokenizer

public final class ChatSession {
    public let model: TandemModel
    public let template: ChatTemplate
    /// The conversation so far (a system message first, if one was given).
    public private(set) var messages: [ChatMessage]
    let runner: CausalRunner
    let state: CausalState
    /// The tokens whose keys and values the cache holds, in order.
    private(set) var cached: [Int32] = []
    /// Tokens that end an answer: the model's end-of-sequence and the template's end of turn.
    let stops: Set<Int32>
    private var rng: SeededGenerator

    /// Why a model cannot chat.
    public enum ChatError: Error, CustomStringConvertible, Sendable {
        case notDecoderOnly
        case noTemplate
        case unknownTemplate
        /// The template refuses the conversation (Gemma 2 takes no system message).
        case refused(ChatTemplateError)
        case contextFull(tokens: Int, limit: Int)

        public var description: String {
            switch self {
            case .notDecoderOnly: "tandem chat needs a decoder-only instruct model (it keeps the KV cache between turns)"
            case .noTemplate: "the model has no chat template"
            case .unknownTemplate: "the model's chat template is of a family Tandem does not render yet"
            case let .refused(e): e.description
            case let .contextFull(n, limit): "the conversation has \(n) tokens, the model's context \(limit): start a new chat"
            }
        }
    }

    public init(model: TandemModel, system: String? = nil, seed: UInt64 = 0) throws(ChatError) {
        guard let runner = model.model as? CausalRunner else { throw .notDecoderOnly }
        let template: ChatTemplate
        do { template = try model.chatTemplate() } catch { throw error == .missing ? .noTemplate : .unknownTemplate }
        self.model = model
        self.template = template
        self.runner = runner
        messages = system.map { [ChatMessage(role: "system", content: $0)] } ?? []
        // A template that refuses the system message says so now, not at the first answer.
        do { _ = try template.render(messages + [ChatMessage(role: "user", content: "")]) } catch { throw .refused(error) }
        state = runner.model.makeState(promptTokens: 0, maxNewTokens: 256)
        var stops = Set<Int32>()
        if let eos = model.eosTokenId { stops.insert(eos) }
        let closing = model.tokenizer.encode(template.endOfTurn.trimmingCharacters(in: .whitespacesAndNewlines))
        if closing.count == 1 { stops.insert(closing[0]) }
        self.stops = stops
        rng = SeededGenerator(seed: seed)
    }

    /// The tokens of the conversation so far, rendered up to where the assistant's answer begins.
    func promptTokens() throws(ChatError) -> [Int32] {
        do { return model.tokenizer.encode(try template.render(messages)) } catch { throw .refused(error) }
    }

    /// Adds the user's message, then generates the assistant's answer, calling `onText` with each
    /// piece of text as it is decoded; `onText` returning false stops the answer there (Ctrl-C).
    /// The answer, whole or stopped, joins the conversation. Greedy without sampling options.
    @discardableResult
    public func reply(
        to user: String, maxNewTokens: Int, sampling: SamplingOptions? = nil, onText: (String) -> Bool = { _ in true }
    ) throws -> (text: String, tokens: [Int32], promptTokensFed: Int) {
        messages.append(ChatMessage(role: "user", content: user))
        let prompt: [Int32]
        do { prompt = try promptTokens() } catch {
            messages.removeLast()
            throw error
        }
        let limit = runner.model.maxPositions ?? Int.max
        guard prompt.count < limit else {
            messages.removeLast()
            throw ChatError.contextFull(tokens: prompt.count, limit: limit)
        }
        // Keep the longest cached prefix of the new prompt; feed at least the prompt's last token,
        // whose logits give the answer's first one.
        var keep = zip(cached, prompt).prefix { $0 == $1 }.count
        keep = min(keep, prompt.count - 1)
        state.rewind(to: keep)
        cached = Array(cached.prefix(keep))
        let fed = Array(prompt[keep...])
        var logits = try runner.model.forward(try runner.model.embed(fed), segments: [(state, fed.count)], tracer: nil).array
        cached += fed
        var tokens: [Int32] = []
        var detok = StreamingDetokenizer(tokenizer: model.outputTokenizer)
        let room = min(maxNewTokens, runner.maxNewTokens(promptTokens: cached.count) ?? maxNewTokens)
        var stopped = false
        while tokens.count < room, !stopped {
            let next: Int32 = logits.withUnsafeMutableBufferPointer { l in
                if let sampling { Int32(Sampler.sample(l, options: sampling, using: &rng)) } else { Int32(Sampler.argmax(UnsafeBufferPointer(l))) }
            }
            if stops.contains(next) { break }
            tokens.append(next)
            if !onText(detok.append(next)) { stopped = true }
            if tokens.count == room || stopped { break }
            logits = try runner.model.forward(try runner.model.embed([next]), segments: [(state, 1)], tracer: nil).array
            cached.append(next)
        }
        let tail = detok.finish()
        if !tail.isEmpty { _ = onText(tail) }
        let text = model.outputTokenizer.decode(tokens)
        messages.append(ChatMessage(role: "assistant", content: text))
        return (text, tokens, fed.count)
    }
}
