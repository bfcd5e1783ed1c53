// A decoder-only model (GPT-2, LLaMA/SmolLM2) as an `AutoregressiveModel`: the prompt is
// processed in passes of up to `promptChunk` tokens (GEMM over all of a pass's tokens,
// multithreaded), then one token per step.
import TandemKernels

public final class CausalRunner: PromptedModel {
    public let model: any CausalLanguageModel
    public let eosTokenId: Int32?
    /// The token a pair feeds after the projected prompt to start the response (the SLM's BOS,
    /// `<|endoftext|>` for GPT-2); nil when the model has none.
    public let firstResponseToken: Int32?
    /// The token every prompt begins with (`PromptLayout.startToken`), or nil.
    public let startToken: Int32?
    public let encodeTimes = EncodeTimes()

    public init(model: any CausalLanguageModel, eosTokenId: Int32?, firstResponseToken: Int32? = nil, startToken: Int32? = nil,
                promptChunk: Int = CausalRunner.defaultPromptChunk) {
        precondition(promptChunk >= 1)
        self.model = model
        self.promptChunk = promptChunk
        self.eosTokenId = eosTokenId
        self.firstResponseToken = firstResponseToken
        self.startToken = startToken
    }

    public var vocabularySize: Int { model.vocabularySize }

    public var pool: ThreadPool { model.pool }

    /// A decoder-only prompt is continued: no end token; 2048 positions where the config states none.
    public var promptLayout: PromptLayout { PromptLayout(endToken: nil, maxTokens: model.maxPositions ?? 2048, startToken: startToken) }

    /// Prompt tokens per forward pass. A longer prompt is read in passes of this many tokens, each
    /// appending to the cache (as llama.cpp's micro-batches do), so a prompt pass's activations —
    /// 55 KB a token for Qwen2.5-0.5B, and the allocator's churn around them — stop growing with
    /// the prompt, while every product still has hundreds of rows to amortize its weight reads
    /// (and a K-quant GEMM's unpacking) over. Qwen2.5-Coder-0.5B, 1314-token prompt: peak RSS
    /// 585 → 540 MB, prompt pass 3–6 % slower than one pass; passes of 256 were 20 % slower.
    public private(set) var promptChunk: Int
    public static let defaultPromptChunk = 512

    public var promptPassTokens: Int? {
        get { promptChunk }
        set { promptChunk = max(1, newValue ?? Self.defaultPromptChunk) }
    }

    public var releasedWeightBytes: Int { model.releasedWeightBytes }

    public func start(prompt: [Int32], maxNewTokens: Int) throws(ModelError) -> (CausalState, [Float]) {
        guard !prompt.isEmpty else { throw .emptyInput }
        let t0 = ProcessClock.now
        let (state, logits) = try prefill(rows: prompt.count, maxNewTokens: maxNewTokens) { (r) throws(ModelError) in
            try model.embed(Array(prompt[r]))
        }
        encodeTimes.prompt.add(ProcessClock.seconds(since: t0))
        return (state, logits.array)
    }

    /// A new sequence's cache filled with `m` prompt rows in passes of at most `promptChunk`,
    /// `input(range)` giving each pass's embeddings; the logits of the last row.
    private func prefill(rows m: Int, maxNewTokens: Int, _ input: (Range<Int>) throws(ModelError) -> FloatBuffer)
        throws(ModelError) -> (CausalState, FloatBuffer) {
        let state = model.makeState(promptTokens: m, maxNewTokens: maxNewTokens)
        var logits = FloatBuffer(count: 0), at = 0
        while at < m {
            let rows = at..<min(m, at + promptChunk)
            logits = try model.forward(try input(rows), segments: [(state, rows.count)], tracer: nil)
            at = rows.upperBound
        }
        return (state, logits)
    }

    public func step(_ states: [CausalState], tokens: [Int32]) throws(ModelError) -> FloatBuffer {
        try model.forward(try model.embed(tokens), segments: states.map { ($0, 1) }, tracer: nil)
    }

    public func fork(_ state: CausalState) -> CausalState { state.copy() }

    /// Each sequence's KV cache and logits, one prompt pass's working set (prompts are read one
    /// after another), and the prepacked weights when more than one sequence decodes.
    public func memoryBytes(batch: Int, promptTokens m: Int, newTokens n: Int) -> Int {
        let perSequence = model.cacheBytes(promptTokens: m, newTokens: n) + 2 * vocabularySize * 4
        return batch * perSequence + model.workingBytes(rows: min(m, promptChunk), keys: m) + (batch > 1 ? model.prepackedBytes : 0)
    }

    /// The last chosen token is never fed back, hence the + 1.
    public func maxNewTokens(promptTokens m: Int) -> Int? {
        model.maxPositions.map { max(0, $0 - m + 1) }
    }

    // MARK: As a pair's small model

    public var embeddingWidth: Int { model.hiddenSize }
    public func embed(_ ids: [Int32]) throws(ModelError) -> FloatBuffer { try model.embed(ids) }
    public var needsPromptAdapter: Bool { true }
    public var responseStartPositions: Int { 1 }

    public var pairingProblem: String? {
        firstResponseToken == nil ? "the SLM has no bos_token_id to start the response" : nil
    }

    /// The prompt pass over the given embeddings (A·E_llm[x] + Z), filling the cache.
    public func prepare(embeddings: FloatBuffer, count m: Int, maxNewTokens: Int) throws(ModelError) -> CausalState {
        let state = model.makeState(promptTokens: m + 1, maxNewTokens: maxNewTokens)
        _ = try model.forward(embeddings, segments: [(state, m)], tracer: nil)
        return state
    }

    /// The prompt pass over embeddings E[x] + Z that the response continues, in passes of
    /// `promptChunk` rows as `start(prompt:)` reads tokens; the logits of the last row.
    public func start(embeddings: FloatBuffer, count m: Int, maxNewTokens: Int) throws(ModelError) -> (CausalState, FloatBuffer) {
        guard m > 0 else { throw .emptyInput }
        let d = embeddingWidth
        return try prefill(rows: m, maxNewTokens: maxNewTokens) { r in
            guard r.count < m else { return embeddings }
            let piece = FloatBuffer(count: r.count * d, zeroed: false)
            _ = piece.mutable.update(fromContentsOf: embeddings.mutable[r.lowerBound * d..<r.upperBound * d])
            return piece
        }
    }

    /// The first response token (BOS) fed to each state on its own, as a single sequence's start
    /// feeds it (one row through the GEMV kernels, whatever the batch).
    public func firstStep(_ states: [CausalState]) throws(ModelError) -> FloatBuffer {
        guard let bos = firstResponseToken else { throw .invalid(pairingProblem!) }
        let vocab = vocabularySize
        let logits = FloatBuffer(count: states.count * vocab)
        for (i, state) in states.enumerated() {
            let l = try model.forward(try model.embed([bos]), segments: [(state, 1)], tracer: nil)
            _ = logits[i * vocab..<(i + 1) * vocab].update(fromContentsOf: l.mutable)
        }
        return logits
    }
}
