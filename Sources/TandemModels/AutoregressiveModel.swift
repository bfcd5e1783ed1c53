// The contract between the generation loops and a model: read a prompt once, then advance
// several sequences by one token per call. T5 (`T5Runner`), decoder-only models (`CausalRunner`)
// and the LLM-to-SLM pair (`LLMToSLM`) implement it; greedy, beam search and sampling are written
// once against it (Tandem's Generator), and the runtime asks it everything it needs to know about
// a model — how prompts are laid out, how much memory a sequence takes, where encode time went —
// so it has no per-kind switches.
import TandemKernels

public protocol AutoregressiveModel: AnyObject {
    associatedtype State: AnyObject
    var vocabularySize: Int { get }
    var eosTokenId: Int32? { get }
    /// How prompts are fed to the model.
    var promptLayout: PromptLayout { get }
    /// Where the time reading prompts went since the last reset.
    var encodeTimes: EncodeTimes { get }
    /// The threads the model runs on, which the generation loop also uses between steps (a
    /// batch's greedy picks).
    var pool: ThreadPool { get }
    /// Reads the prompt and returns a state ready to generate up to `maxNewTokens` tokens, with
    /// the logits of the first generated token.
    func start(prompt: [Int32], maxNewTokens: Int) throws(ModelError) -> (State, [Float])
    /// `start` for several prompts decoded together: their states, and the logits of each one's
    /// first generated token (`prompts.count × vocabularySize`). By default one `start` per
    /// prompt; an encoder-decoder takes the decoder's first step for the whole batch at once.
    func start(prompts: [[Int32]], maxNewTokens: Int) throws(ModelError) -> ([State], FloatBuffer)
    /// Feeds `tokens[i]` to `states[i]`; returns `states.count × vocabularySize` logits.
    func step(_ states: [State], tokens: [Int32]) throws(ModelError) -> FloatBuffer
    /// An independent copy of a state (beams fork).
    func fork(_ state: State) -> State
    /// Bytes a generate call of `batch` sequences allocates besides the mapped weights: every
    /// sequence's decoding state (KV caches, cross-attention keys and values at the dtype they
    /// are kept in, grown as they grow), one prompt pass's working buffers, and — decoding more
    /// than one sequence — the prepacked copies of the weights. `summarize --max-memory` sizes
    /// its batch with it.
    func memoryBytes(batch: Int, promptTokens: Int, newTokens: Int) -> Int
    /// The most new tokens a prompt of `promptTokens` leaves room for in a model with a fixed
    /// context; nil for a T5 decoder, which has none.
    func maxNewTokens(promptTokens: Int) -> Int?
    /// Tokens per prompt pass for a model that reads a long prompt in passes (decoder-only), nil
    /// for one that reads it whole. Smaller passes work in less memory and run slower (fewer
    /// rows to spread each weight read over); `summarize --max-memory` shrinks them when one
    /// sequence would not fit at the default. Counted by `memoryBytes`.
    var promptPassTokens: Int? { get set }
    /// Bytes of the mapped weights that do not stay resident: an untied input embedding table,
    /// whose pages are released after each lookup. 0 by default.
    var releasedWeightBytes: Int { get }
}

extension AutoregressiveModel {
    public var promptPassTokens: Int? {
        get { nil }
        set {}
    }

    public var releasedWeightBytes: Int { 0 }

    public func start(prompts: [[Int32]], maxNewTokens: Int) throws(ModelError) -> ([State], FloatBuffer) {
        try startEach(self, prompts: prompts, maxNewTokens: maxNewTokens)
    }
}

/// How a model takes its prompt: what ends it, how long it may be, which end survives truncation.
public struct PromptLayout: Sendable, Equatable {
    /// The token every prompt ends with (an encoder's `</s>`), or nil for a decoder-only model,
    /// which continues its prompt.
    public var endToken: Int32?
    /// The most prompt tokens the model reads, the end token included.
    public var maxTokens: Int
    /// The token a decoder-only model's prompts begin with (its BOS, where its tokenizer adds
    /// one: Gemma, Llama 3), or nil.
    public var startToken: Int32?

    public init(endToken: Int32?, maxTokens: Int, startToken: Int32? = nil) {
        self.endToken = endToken
        self.maxTokens = maxTokens
        self.startToken = startToken
    }

    /// An encoder reads a prompt's beginning (and a too-long prompt keeps it); a decoder-only
    /// model continues a prompt's end.
    public var keepsBeginning: Bool { endToken != nil }
}

/// Seconds spent reading prompts. A plain model counts its own prompt pass (`prompt`); an
/// LLM-to-SLM pair also the large model's read and the projector (`reader`), apart.
public final class EncodeTimes: Sendable {
    public let reader = SecondsCounter()
    public let prompt = SecondsCounter()
    /// Whether `reader` is used: the pair's split of its encode time.
    public let hasReader: Bool

    public init(hasReader: Bool = false) { self.hasReader = hasReader }

    public func reset() {
        reader.reset()
        prompt.reset()
    }

    public var totalSeconds: Double { reader.value + prompt.value }
}

/// One `start` per prompt, the logits gathered into one buffer: the default batched start.
func startEach<M: AutoregressiveModel>(_ model: M, prompts: [[Int32]], maxNewTokens: Int) throws(ModelError) -> ([M.State], FloatBuffer) {
    let vocab = model.vocabularySize
    var states: [M.State] = []
    let logits = FloatBuffer(count: prompts.count * vocab)
    for (i, p) in prompts.enumerated() {
        let (s, l) = try model.start(prompt: p, maxNewTokens: maxNewTokens)
        states.append(s)
        _ = logits[i * vocab..<(i + 1) * vocab].update(fromContentsOf: l)
    }
    return (states, logits)
}

/// A model that can also start from prompt embeddings given to it — the small model of an
/// LLM-to-SLM pair, whose prompt is its embeddings plus the projected LLM representation.
public protocol PromptedModel: AutoregressiveModel {
    /// Width of the model's token embeddings (the projector's output).
    var embeddingWidth: Int { get }
    /// The model's own token embeddings of `ids`.
    func embed(_ ids: [Int32]) throws(ModelError) -> FloatBuffer
    /// Whether the pair's prompt is A·E_llm[x] + Z, through the projector's prompt adapter A (a
    /// decoder-only model, whose tokenizer is not the LLM's), rather than E[x] + Z in the
    /// model's own embeddings (an encoder-decoder sharing the LLM's tokenizer).
    var needsPromptAdapter: Bool { get }
    /// Positions the first response token takes after a prompt given as embeddings: 1 for a
    /// decoder-only model, which is fed its BOS there; 0 for an encoder-decoder.
    var responseStartPositions: Int { get }
    /// Why the model cannot serve as a pair's small model, or nil.
    var pairingProblem: String? { get }
    /// Everything before the first generated token, from `count` rows of prompt embeddings
    /// (not counted in `encodeTimes`: the pair times it).
    func prepare(embeddings: FloatBuffer, count: Int, maxNewTokens: Int) throws(ModelError) -> State
    /// The logits of each prepared state's first generated token, `states.count × vocabularySize`.
    func firstStep(_ states: [State]) throws(ModelError) -> FloatBuffer
    /// A decoder-only model sharing the reader's tokenizer: the pass over `count` rows of prompt
    /// embeddings that the response continues, and the logits of the last row (its first token).
    func start(embeddings: FloatBuffer, count: Int, maxNewTokens: Int) throws(ModelError) -> (State, FloatBuffer)
}

extension PromptedModel {
    public func start(embeddings: FloatBuffer, count: Int, maxNewTokens: Int) throws(ModelError) -> (State, FloatBuffer) {
        throw .invalid("\(Self.self) cannot continue a prompt given as embeddings (only a decoder-only model can)")
    }
}

/// Positions a cache allocates to hold `needed`: what it starts with (`first`, the most up front),
/// then doubled until it fits (CausalState.reserve, T5Model.DecoderState.reserve).
func allocatedPositions(_ needed: Int, first: Int) -> Int {
    var capacity = min(needed, first)
    while capacity < needed { capacity = max(needed, 2 * capacity) }
    return capacity
}
