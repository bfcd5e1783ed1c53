// T5 as an `AutoregressiveModel`: the encoder reads the prompt once (all tokens in parallel),
// cross-attention keys and values are cached, and the decoder starts from
// `decoder_start_token_id` (the pad token, 0, for T5).
import TandemKernels

public final class T5Runner: PromptedModel {
    public let model: T5Model
    public let decoderStartTokenId: Int32
    public let eosTokenId: Int32?
    public let encodeTimes = EncodeTimes()

    public init(model: T5Model, decoderStartTokenId: Int32? = nil, eosTokenId: Int32? = nil) {
        self.model = model
        self.decoderStartTokenId = decoderStartTokenId ?? Int32(model.config.decoderStartTokenId ?? model.config.padTokenId ?? 0)
        self.eosTokenId = eosTokenId ?? model.config.eosTokenId.map(Int32.init)
    }

    public var vocabularySize: Int { model.vocabularySize }

    public var pool: ThreadPool { model.pool }

    /// T5 inputs end with `</s>`, as Hugging Face's tokenizer adds it.
    public var promptLayout: PromptLayout { PromptLayout(endToken: eosTokenId, maxTokens: model.maxInputTokens) }

    public func start(prompt: [Int32], maxNewTokens: Int) throws(ModelError) -> (T5Model.DecoderState, [Float]) {
        let state = try prepare(prompt: prompt, maxNewTokens: maxNewTokens)
        return (state, try firstStep([state]).array)
    }

    /// Every input encoded on its own (all threads on each), then the decoder's first step for the
    /// whole batch: one weight read instead of one per sequence (at batch 8 the per-sequence
    /// first steps were ~4 % of the decoding time).
    public func start(prompts: [[Int32]], maxNewTokens: Int) throws(ModelError) -> ([T5Model.DecoderState], FloatBuffer) {
        var states: [T5Model.DecoderState] = []
        for p in prompts { states.append(try prepare(prompt: p, maxNewTokens: maxNewTokens)) }
        return (states, try firstStep(states))
    }

    /// Encodes the prompt and computes its cross-attention keys and values (per-input work, so
    /// counted as encoding).
    func prepare(prompt: [Int32], maxNewTokens: Int) throws(ModelError) -> T5Model.DecoderState {
        let t0 = ProcessClock.now
        let encoded = try model.encode(prompt)
        let state = model.makeDecoderState(encoderOutput: encoded, length: prompt.count, maxSteps: maxNewTokens + 1)
        encodeTimes.prompt.add(ProcessClock.seconds(since: t0))
        return state
    }

    public func step(_ states: [T5Model.DecoderState], tokens: [Int32]) throws(ModelError) -> FloatBuffer {
        try model.decodeStep(states, tokens: tokens)
    }

    public func fork(_ state: T5Model.DecoderState) -> T5Model.DecoderState { state.copy() }

    /// Each sequence's decoder state and logits, one encoder pass's working set (the prompts are
    /// encoded one after another), and the prepacked weights when more than one sequence decodes.
    public func memoryBytes(batch: Int, promptTokens m: Int, newTokens n: Int) -> Int {
        let perSequence = model.decoderStateBytes(inputTokens: m, steps: n + 1) + 2 * vocabularySize * 4
        return batch * perSequence + model.workingBytes(promptTokens: m) + (batch > 1 ? model.prepackedBytes : 0)
    }

    public func maxNewTokens(promptTokens: Int) -> Int? { nil }

    // MARK: As a pair's small model

    public var embeddingWidth: Int { model.modelDimension }
    public func embed(_ ids: [Int32]) throws(ModelError) -> FloatBuffer { try model.embed(ids) }
    public var needsPromptAdapter: Bool { false }
    public var responseStartPositions: Int { 0 }
    public var pairingProblem: String? { nil }

    /// The encoder over E_slm[x] + Z, and the cross-attention keys and values of its output.
    public func prepare(embeddings: FloatBuffer, count m: Int, maxNewTokens: Int) throws(ModelError) -> T5Model.DecoderState {
        let encoded = model.encode(embeddings: embeddings, count: m)
        return model.makeDecoderState(encoderOutput: encoded, length: m, maxSteps: maxNewTokens + 1)
    }

    /// The decoder's first step from `decoder_start_token_id`, all states at once.
    public func firstStep(_ states: [T5Model.DecoderState]) throws(ModelError) -> FloatBuffer {
        try model.decodeStep(states, tokens: Array(repeating: decoderStartTokenId, count: states.count))
    }
}
