// LLM-to-SLM (Bergner et al. 2024, arXiv 2402.16844; docs/ARCHITECTURE.md) as one model: a frozen
// large model reads the prompt once, all tokens in parallel; the projector maps its final hidden
// states H to Z in the small model's embedding space, where Z is ADDED to the prompt embeddings;
// the small model then generates alone.
// * encoder-decoder SLM (T5): the SLM encoder reads E_slm[x] + Z (same tokenizer as the LLM);
// * decoder-only SLM (GPT-2, LLaMA): prompt positions 0..m−1 hold A·E_llm[x] + Z, position m the
//   SLM's BOS (`<|endoftext|>` for GPT-2), and the response follows at m+1, … in the SLM's own
//   tokens (Tools/llm2slm/reference.py is the reference).
// * decoder-only SLM sharing the reader's tokenizer (Qwen2.5-Coder-1.5B reading for -0.5B):
//   prompt positions 0..m−1 hold E_slm[x] + Z, and the response continues the prompt — the last
//   prompt position's logits give its first token, as the SLM alone would (a zero projector
//   leaves the SLM exactly as it is).
// The reader is anything that returns one hidden state per prompt token (`PromptReader`): a T5
// encoder, or a decoder-only model's prompt pass (`CausalReader`); the SLM anything that can
// start from prompt embeddings (`PromptedModel`).
import TandemFormat
import TandemKernels

/// The large model of a pair: reads a prompt once and returns one hidden state per token.
public protocol PromptReader: AnyObject, Sendable {
    /// d_l: the width of the hidden states and of the token embeddings.
    var hiddenSize: Int { get }
    /// How the reader takes its prompt (the pair's prompts are the reader's).
    var promptLayout: PromptLayout { get }
    /// The final hidden states of `ids`, `ids.count × hiddenSize` floats.
    func read(_ ids: [Int32]) throws(ModelError) -> FloatBuffer
    /// The reader's token embeddings E_llm[x] (the prompt adapter's input).
    func embed(_ ids: [Int32]) throws(ModelError) -> FloatBuffer
    /// Bytes the reader's pass over `promptTokens` tokens works in.
    func workingBytes(promptTokens: Int) -> Int
    /// `read` of each prompt; a reader may read several in one pass (the same values).
    func read(batch: [[Int32]]) throws(ModelError) -> [FloatBuffer]
    /// Prompt tokens a batch should hold at most to be read in one pass.
    var batchTokens: Int { get }
}

extension PromptReader {
    public func read(batch: [[Int32]]) throws(ModelError) -> [FloatBuffer] { try readEach(batch) }

    /// `read` of each prompt on its own.
    func readEach(_ batch: [[Int32]]) throws(ModelError) -> [FloatBuffer] {
        try batch.map { (ids) throws(ModelError) in try read(ids) }
    }
    public var batchTokens: Int { 0 }
}

extension T5Model: PromptReader {
    public var hiddenSize: Int { config.dModel }
    /// T5 inputs end with `</s>` (the config's eos_token_id, 1 in every T5).
    public var promptLayout: PromptLayout { PromptLayout(endToken: Int32(config.eosTokenId ?? 1), maxTokens: maxInputTokens) }
    /// The encoder's output after its final norm.
    public func read(_ ids: [Int32]) throws(ModelError) -> FloatBuffer { try encode(ids) }
}

/// A decoder-only model whose hidden states can be read (LLaMA, Qwen2).
public protocol HiddenStateModel: CausalLanguageModel {
    /// The hidden states of `ids` after the first `layer` layers (1 … layerCount), `ids.count ×
    /// hiddenSize` floats: Hugging Face's `hidden_states[layer]`, the last of which (all layers)
    /// is after the final norm. The prompt is read in passes of `passTokens` tokens.
    func hiddenStates(_ ids: [Int32], layer: Int, passTokens: Int) throws(ModelError) -> FloatBuffer
    /// The same for several prompts in one pass (each its own sequence): short prompts together
    /// give the products enough rows to amortize their weight reads over.
    func hiddenStates(batch: [[Int32]], layer: Int) throws(ModelError) -> [FloatBuffer]
}

/// A decoder-only model as a pair's reader: one prompt pass, all tokens in parallel, returning
/// the hidden states of one layer (by default the last, after the final norm) for every token.
public final class CausalReader: PromptReader, @unchecked Sendable {
    public let model: any HiddenStateModel
    /// Hugging Face's `hidden_states` index the reader returns (1 … layerCount).
    public let layer: Int
    public let startToken: Int32?
    /// Tokens per pass (as `CausalRunner.defaultPromptChunk`, and for the same reason).
    public let passTokens = CausalRunner.defaultPromptChunk

    /// `layer`: nil for the last.
    public init(model: any HiddenStateModel, layer: Int?, startToken: Int32?) throws(ModelError) {
        let last = model.layerCount
        if let layer, layer < 1 || layer > last {
            throw .invalid("the reader's layer \(layer) is not one of its 1 … \(last)")
        }
        self.model = model
        self.layer = layer ?? last
        self.startToken = startToken
    }

    public var hiddenSize: Int { model.hiddenSize }
    /// A decoder-only prompt: no end token, its own start token if it has one.
    public var promptLayout: PromptLayout { PromptLayout(endToken: nil, maxTokens: model.maxPositions ?? 2048, startToken: startToken) }
    public func read(_ ids: [Int32]) throws(ModelError) -> FloatBuffer {
        guard !ids.isEmpty else { throw .emptyInput }
        if let limit = model.maxPositions, ids.count > limit { throw .inputTooLong(tokens: ids.count, limit: limit) }
        return try model.hiddenStates(ids, layer: layer, passTokens: passTokens)
    }
    public func embed(_ ids: [Int32]) throws(ModelError) -> FloatBuffer { try model.embed(ids) }
    /// Prompts that fit one pass together are read together; a longer one alone, in passes.
    public var batchTokens: Int { passTokens }
    public func read(batch: [[Int32]]) throws(ModelError) -> [FloatBuffer] {
        guard batch.count > 1, batch.reduce(0, { $0 + $1.count }) <= passTokens else { return try readEach(batch) }
        guard batch.allSatisfy({ !$0.isEmpty }) else { throw .emptyInput }
        return try model.hiddenStates(batch: batch, layer: layer)
    }
    /// The cache of the whole prompt (every layer's, though only `layer` are filled), one pass's
    /// activations, and the hidden states returned.
    public func workingBytes(promptTokens m: Int) -> Int {
        model.cacheBytes(promptTokens: m, newTokens: 0) + model.workingBytes(rows: min(m, passTokens), keys: m) + m * hiddenSize * 4
    }
}

/// A pair without its small model's type: what tests and tools ask of any pair.
public protocol LLMToSLMPair: AnyObject {
    var reader: any PromptReader { get }
    var projector: Projector { get }
    /// Z = projector(reader(prompt)): `prompt.count × d_s` floats.
    func project(_ prompt: [Int32]) throws(ModelError) -> FloatBuffer
}

public final class LLMToSLM<SLM: PromptedModel>: AutoregressiveModel, LLMToSLMPair {
    public let reader: any PromptReader
    public let projector: Projector
    public let slm: SLM
    public let pool: ThreadPool
    /// `reader`: the LLM's read and the projector; `prompt`: the SLM's own pass over the prompt.
    public let encodeTimes = EncodeTimes(hasReader: true)

    public init(reader: any PromptReader, projector: Projector, slm: SLM, pool: ThreadPool) throws(ModelError) {
        let c = projector.config
        guard c.llmDim == reader.hiddenSize, c.slmDim == slm.embeddingWidth else {
            throw .invalid("the projector maps \(c.llmDim) → \(c.slmDim), the models are \(reader.hiddenSize) and \(slm.embeddingWidth) wide")
        }
        if c.continuesPrompt {
            guard slm.needsPromptAdapter else { throw .invalid("a shared-tokenizer projector needs a decoder-only SLM") }
            guard !projector.hasPromptAdapter else { throw .invalid("a shared-tokenizer projector has no prompt adapter") }
        } else {
            if let problem = slm.pairingProblem { throw .invalid(problem) }
            if slm.needsPromptAdapter, !projector.hasPromptAdapter {
                throw .invalid("a decoder-only SLM needs projector.prompt_adapter.weight, or a shared-tokenizer projector")
            }
        }
        self.reader = reader
        self.projector = projector
        self.slm = slm
        self.pool = pool
    }

    public var vocabularySize: Int { slm.vocabularySize }
    public var eosTokenId: Int32? { slm.eosTokenId }
    public var promptLayout: PromptLayout { reader.promptLayout }

    public func project(_ prompt: [Int32]) throws(ModelError) -> FloatBuffer {
        projector.project(try reader.read(prompt), rows: prompt.count, pool: pool)
    }

    /// Whether the response continues the prompt (a decoder-only SLM sharing the reader's
    /// tokenizer) rather than starting after it.
    var continuesPrompt: Bool { projector.config.continuesPrompt }

    /// The reader and projector (timed as the reader's), then the SLM's prompt embeddings
    /// E_slm[x] + Z or A·E_llm[x] + Z and its pass over them (timed as the prompt's); the
    /// logits of the last prompt position when the response continues the prompt.
    func prepare(prompt: [Int32], maxNewTokens: Int) throws(ModelError) -> (SLM.State, FloatBuffer?) {
        guard !prompt.isEmpty else { throw .emptyInput }
        let t0 = ProcessClock.now
        let z = try project(prompt)
        let t1 = ProcessClock.now
        encodeTimes.reader.add(Double(t1 - t0) / 1e9)
        let m = prompt.count
        let x = projector.hasPromptAdapter ? projector.adapt(try reader.embed(prompt), rows: m, pool: pool) : try slm.embed(prompt)
        x.add(z, count: m * slm.embeddingWidth, pool: pool)
        defer { encodeTimes.prompt.add(ProcessClock.seconds(since: t1)) }
        if continuesPrompt {
            let (state, logits) = try slm.start(embeddings: x, count: m, maxNewTokens: maxNewTokens)
            return (state, logits)
        }
        return (try slm.prepare(embeddings: x, count: m, maxNewTokens: maxNewTokens), nil)
    }

    public func start(prompt: [Int32], maxNewTokens: Int) throws(ModelError) -> (SLM.State, [Float]) {
        let (state, logits) = try prepare(prompt: prompt, maxNewTokens: maxNewTokens)
        if let logits { return (state, logits.array) }
        return (state, try slm.firstStep([state]).array)
    }

    /// Every prompt through the reader and the SLM's prompt pass on its own, then the SLM's first
    /// step for the batch (an encoder-decoder's runs once for all); when the response continues
    /// each prompt, each prompt's own start.
    public func start(prompts: [[Int32]], maxNewTokens: Int) throws(ModelError) -> ([SLM.State], FloatBuffer) {
        if continuesPrompt { return try startEach(self, prompts: prompts, maxNewTokens: maxNewTokens) }
        var states: [SLM.State] = []
        for p in prompts { states.append(try prepare(prompt: p, maxNewTokens: maxNewTokens).0) }
        return (states, try slm.firstStep(states))
    }

    public func step(_ states: [SLM.State], tokens: [Int32]) throws(ModelError) -> FloatBuffer {
        try slm.step(states, tokens: tokens)
    }

    public func fork(_ state: SLM.State) -> SLM.State { slm.fork(state) }

    /// The SLM's (its first response token takes a position of its own), plus the reader's pass
    /// and its hidden states and Z while a prompt is read.
    public func memoryBytes(batch: Int, promptTokens m: Int, newTokens n: Int) -> Int {
        slm.memoryBytes(batch: batch, promptTokens: m + responseStartPositions, newTokens: n)
            + reader.workingBytes(promptTokens: m) + m * (reader.hiddenSize + 2 * slm.embeddingWidth) * 4
    }

    public func maxNewTokens(promptTokens m: Int) -> Int? {
        slm.maxNewTokens(promptTokens: m + responseStartPositions)
    }

    /// Positions the response's start takes after the prompt (none when it continues it).
    var responseStartPositions: Int { continuesPrompt ? 0 : slm.responseStartPositions }
}

/// Opening a bundle file as an `LLMToSLM` pair, whatever its small model's type.
public enum LLMToSLMBundle {
    /// The pair of a bundle file (Formats/FORMAT.md §7): models `llm` (the reader), `projector`
    /// and `slm`, and the SLM's generation defaults.
    public static func open(_ file: TandemFile, pool: ThreadPool) throws(ModelError) -> any AutoregressiveModel {
        let meta = file.metadata
        guard let l = meta.models["llm"], let p = meta.models["projector"], let s = meta.models["slm"] else {
            throw .invalid("\(file.path): a bundle needs llm, projector and slm models")
        }
        guard let readerArchitecture = ArchitectureRegistry.architecture(modelType: l.architecture) else {
            throw .unsupportedArchitecture(l.architecture)
        }
        let config: ProjectorConfig
        do { config = try ProjectorConfig.from(p.config) } catch { throw .config(error) }
        let reader = try readerArchitecture.reader(
            ModelWeights(file: file, prefix: l.prefix), config: l.config, generation: meta.generation, layer: config.readerLayer, pool: pool)
        let projector = try Projector(weights: ModelWeights(file: file, prefix: p.prefix), config: config)
        let slm = try ArchitectureRegistry.load(s, file: file, generation: meta.generation, pool: pool)
        return try pair(reader: reader, projector: projector, slm: slm, pool: pool)
    }

    /// Opens the existential SLM to its concrete type.
    private static func pair<S: PromptedModel>(reader: any PromptReader, projector: Projector, slm: S, pool: ThreadPool) throws(ModelError)
        -> any AutoregressiveModel {
        try LLMToSLM<S>(reader: reader, projector: projector, slm: slm, pool: pool)
    }
}
