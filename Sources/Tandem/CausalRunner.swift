// A decoder-only model (GPT-2, LLaMA/SmolLM2) as an `AutoregressiveModel`: the prompt is
// processed in one pass (GEMM over all prompt tokens, multithreaded), then one token per step.
import TandemKernels
import TandemModels

public final class CausalRunner: AutoregressiveModel {
    public let model: any CausalLanguageModel
    public let eosTokenId: Int32?
    /// Seconds spent processing prompts since the counter was last reset.
    public let encodeSeconds = SecondsCounter()

    public init(model: any CausalLanguageModel, eosTokenId: Int32?) {
        self.model = model
        self.eosTokenId = eosTokenId
    }

    public var vocabularySize: Int { model.vocabularySize }

    public func start(prompt: [Int32], maxNewTokens: Int) throws -> (CausalState, [Float]) {
        guard !prompt.isEmpty else { throw ModelError.emptyInput }
        return try start(embeddings: try model.embed(prompt), count: prompt.count, maxNewTokens: maxNewTokens)
    }

    /// Starts from given prompt embeddings (the LLM-to-SLM prompt `A·E_llm[x] + Z`).
    public func start(embeddings: FloatBuffer, count: Int, maxNewTokens: Int) throws -> (CausalState, [Float]) {
        let t0 = ProcessClock.now
        let state = model.makeState(promptTokens: count, maxNewTokens: maxNewTokens)
        let logits = try model.forward(embeddings, segments: [(state, count)], tracer: nil)
        encodeSeconds.add(ProcessClock.seconds(since: t0))
        return (state, logits.array)
    }

    public func step(_ states: [CausalState], tokens: [Int32]) throws -> FloatBuffer {
        try model.forward(try model.embed(tokens), segments: states.map { ($0, 1) }, tracer: nil)
    }

    public func fork(_ state: CausalState) -> CausalState { state.copy() }
}
