// LLM-to-SLM (Bergner et al. 2024, arXiv 2402.16844; ARCHITECTURE.md §1) as an
// `AutoregressiveModel`: the frozen LLM encoder reads the prompt once, all tokens in parallel;
// the projector maps its output H to Z = W₂·ReLU(W₀·H + b₀) + b₂ in the SLM's embedding space,
// where it is ADDED to the prompt embeddings; the SLM then generates.
// * encoder-decoder SLM (T5): the SLM encoder reads E_slm[x] + Z (same tokenizer as the LLM);
// * decoder-only SLM (GPT-2, LLaMA): prompt positions 0..m−1 hold A·E_llm[x] + Z, position m the
//   SLM's BOS (`<|endoftext|>` for GPT-2), and the response follows at m+1, … in the SLM's own
//   tokens (Tools/llm2slm/reference.py is the reference).
import TandemFormat
import TandemKernels
import TandemModels

public final class BundleRunner: AutoregressiveModel {
    public enum SLM {
        case t5(T5Runner)
        case causal(CausalRunner, firstResponseToken: Int32)
    }

    public let llm: T5Model
    public let slm: SLM
    let project0: Linear
    let project2: Linear
    let adapter: Linear?
    public let pool: ThreadPool
    /// Seconds in the LLM encoder (+ projector), and in the SLM's prompt pass, since the last reset.
    public let llmEncodeSeconds = SecondsCounter()
    public let slmEncodeSeconds = SecondsCounter()

    public init(llm: T5Model, slm: SLM, project0: Linear, project2: Linear, adapter: Linear?, pool: ThreadPool) {
        self.llm = llm
        self.slm = slm
        self.project0 = project0
        self.project2 = project2
        self.adapter = adapter
        self.pool = pool
    }

    public var vocabularySize: Int {
        switch slm {
        case let .t5(r): r.vocabularySize
        case let .causal(r, _): r.vocabularySize
        }
    }

    public var eosTokenId: Int32? {
        switch slm {
        case let .t5(r): r.eosTokenId
        case let .causal(r, _): r.eosTokenId
        }
    }

    /// H = LLM encoder(prompt); Z = projector(H). Returns Z, `m × d_s`.
    public func project(_ prompt: [Int32]) throws -> FloatBuffer {
        let m = prompt.count
        let h = try llm.encode(prompt)
        let hidden = FloatBuffer(count: m * project0.outFeatures)
        project0(h.buffer, rows: m, into: hidden.mutable, pool: pool)
        Ops.relu(hidden.mutable)
        let z = FloatBuffer(count: m * project2.outFeatures)
        project2(hidden.buffer, rows: m, into: z.mutable, pool: pool)
        return z
    }

    /// `project`, timed as LLM encoding; returns Z and when the SLM's part began.
    func projectTimed(_ prompt: [Int32]) throws -> (z: FloatBuffer, start: UInt64) {
        guard !prompt.isEmpty else { throw ModelError.emptyInput }
        let t0 = ProcessClock.now
        let z = try project(prompt)
        let t1 = ProcessClock.now
        llmEncodeSeconds.add(Double(t1 - t0) / 1e9)
        return (z, t1)
    }

    func startSLM(prompt: [Int32], maxNewTokens: Int) throws -> (SLMState, [Float]) {
        switch slm {
        case let .t5(r):
            let state = try prepareT5(prompt: prompt, maxNewTokens: maxNewTokens, slm: r)
            let logits = try r.model.decodeStep([state], tokens: [r.decoderStartTokenId])
            return (.t5(state), logits.array)
        case let .causal(r, bos):
            let (z, t1) = try projectTimed(prompt)
            let m = prompt.count
            // A·E_llm[x] + Z at the prompt positions.
            let e = try llm.embed(prompt)
            let x = FloatBuffer(count: m * adapter!.outFeatures)
            adapter!(e.buffer, rows: m, into: x.mutable, pool: pool)
            x.add(z, count: x.count, pool: pool)
            let state = r.model.makeState(promptTokens: m + 1, maxNewTokens: maxNewTokens)
            _ = try r.model.forward(x, segments: [(state, m)], tracer: nil)
            slmEncodeSeconds.add(ProcessClock.seconds(since: t1))
            let logits = try r.model.forward(try r.model.embed([bos]), segments: [(state, 1)], tracer: nil)
            return (.causal(state), logits.array)
        }
    }

    public enum SLMState {
        case t5(T5Model.DecoderState)
        case causal(CausalState)
    }

    /// Boxes a state so it can live in the generic loops (which need a class).
    public final class Box {
        var state: SLMState
        init(_ s: SLMState) { state = s }
    }

    public func step(_ states: [Box], tokens: [Int32]) throws -> FloatBuffer {
        switch slm {
        case let .t5(r):
            return try r.step(states.map { if case let .t5(s) = $0.state { s } else { preconditionFailure() } }, tokens: tokens)
        case let .causal(r, _):
            return try r.step(states.map { if case let .causal(s) = $0.state { s } else { preconditionFailure() } }, tokens: tokens)
        }
    }

    public func fork(_ box: Box) -> Box {
        switch box.state {
        case let .t5(s): Box(.t5(s.copy()))
        case let .causal(s): Box(.causal(s.copy()))
        }
    }
}

extension BundleRunner {
    public func start(prompt: [Int32], maxNewTokens: Int) throws -> (Box, [Float]) {
        let (s, l) = try startSLM(prompt: prompt, maxNewTokens: maxNewTokens)
        return (Box(s), l)
    }

    /// With a T5 SLM, every input goes through the LLM and the SLM's encoder on its own, then the
    /// SLM decoder's first step runs once for the batch (as `T5Runner` does).
    public func start(prompts: [[Int32]], maxNewTokens: Int) throws -> ([Box], FloatBuffer) {
        guard case let .t5(r) = slm else { return try startEach(self, prompts: prompts, maxNewTokens: maxNewTokens) }
        let states = try prompts.map { try prepareT5(prompt: $0, maxNewTokens: maxNewTokens, slm: r) }
        let logits = try r.model.decodeStep(states, tokens: Array(repeating: r.decoderStartTokenId, count: states.count))
        return (states.map { Box(.t5($0)) }, logits)
    }

    /// LLM encoder and projector, then the T5 SLM's encoder over E_slm[x] + Z and its
    /// cross-attention keys and values: everything before the first decoder step.
    func prepareT5(prompt: [Int32], maxNewTokens: Int, slm r: T5Runner) throws -> T5Model.DecoderState {
        let (z, t1) = try projectTimed(prompt)
        let m = prompt.count
        let x = try r.model.embed(prompt)
        x.add(z, count: m * r.model.modelDimension, pool: pool)
        let encoded = r.model.encode(embeddings: x, count: m)
        let state = r.model.makeDecoderState(encoderOutput: encoded, length: m, maxSteps: maxNewTokens + 1)
        slmEncodeSeconds.add(ProcessClock.seconds(since: t1))
        return state
    }
}
