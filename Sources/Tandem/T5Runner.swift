// T5 as an `AutoregressiveModel`: the encoder reads the prompt once (all tokens in parallel),
// cross-attention keys and values are cached, and the decoder starts from
// `decoder_start_token_id` (the pad token, 0, for T5).
import TandemKernels
import TandemModels

public final class T5Runner: AutoregressiveModel {
    public let model: T5Model
    public let decoderStartTokenId: Int32
    public let eosTokenId: Int32?
    /// Seconds spent in the encoder since the counter was last reset (for `--stats` and benchmarks).
    public let encodeSeconds = SecondsCounter()

    public init(model: T5Model, decoderStartTokenId: Int32? = nil, eosTokenId: Int32? = nil) {
        self.model = model
        self.decoderStartTokenId = decoderStartTokenId ?? Int32(model.config.decoderStartTokenId ?? model.config.padTokenId ?? 0)
        self.eosTokenId = eosTokenId ?? model.config.eosTokenId.map(Int32.init)
    }

    public var vocabularySize: Int { model.vocabularySize }

    public var pool: ThreadPool { model.pool }

    public func start(prompt: [Int32], maxNewTokens: Int) throws -> (T5Model.DecoderState, [Float]) {
        let state = try prepare(prompt: prompt, maxNewTokens: maxNewTokens)
        let logits = try model.decodeStep([state], tokens: [decoderStartTokenId])
        return (state, logits.array)
    }

    /// Every input encoded on its own (all threads on each), then the decoder's first step for the
    /// whole batch: one weight read instead of one per sequence (at batch 8 the per-sequence
    /// first steps were ~4 % of the decoding time).
    public func start(prompts: [[Int32]], maxNewTokens: Int) throws -> ([T5Model.DecoderState], FloatBuffer) {
        let states = try prompts.map { try prepare(prompt: $0, maxNewTokens: maxNewTokens) }
        let logits = try model.decodeStep(states, tokens: Array(repeating: decoderStartTokenId, count: states.count))
        return (states, logits)
    }

    /// Encodes the prompt and computes its cross-attention keys and values (per-input work, so
    /// counted as encoding).
    func prepare(prompt: [Int32], maxNewTokens: Int) throws -> T5Model.DecoderState {
        let t0 = ProcessClock.now
        let encoded = try model.encode(prompt)
        let state = model.makeDecoderState(encoderOutput: encoded, length: prompt.count, maxSteps: maxNewTokens + 1)
        encodeSeconds.add(ProcessClock.seconds(since: t0))
        return state
    }

    /// Starts decoding from an encoder output computed elsewhere (LLM-to-SLM bundles).
    public func start(encoderOutput: FloatBuffer, length: Int, maxNewTokens: Int) throws -> (T5Model.DecoderState, [Float]) {
        let state = model.makeDecoderState(encoderOutput: encoderOutput, length: length, maxSteps: maxNewTokens + 1)
        let logits = try model.decodeStep([state], tokens: [decoderStartTokenId])
        return (state, logits.array)
    }

    public func step(_ states: [T5Model.DecoderState], tokens: [Int32]) throws -> FloatBuffer {
        try model.decodeStep(states, tokens: tokens)
    }

    public func fork(_ state: T5Model.DecoderState) -> T5Model.DecoderState { state.copy() }
}
