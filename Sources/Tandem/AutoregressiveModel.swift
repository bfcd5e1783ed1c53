// The contract between the generation loops and a model: read a prompt once, then advance
// several sequences by one token per call. T5 (encoder-decoder), decoder-only models and
// LLM-to-SLM bundles implement it; greedy, beam search and sampling are written once against it.
import TandemKernels
import TandemModels

public protocol AutoregressiveModel: AnyObject {
    associatedtype State: AnyObject
    var vocabularySize: Int { get }
    var eosTokenId: Int32? { get }
    /// Reads the prompt and returns a state ready to generate up to `maxNewTokens` tokens, with
    /// the logits of the first generated token.
    func start(prompt: [Int32], maxNewTokens: Int) throws -> (State, [Float])
    /// Feeds `tokens[i]` to `states[i]`; returns `states.count × vocabularySize` logits.
    func step(_ states: [State], tokens: [Int32]) throws -> FloatBuffer
    /// An independent copy of a state (beams fork).
    func fork(_ state: State) -> State
    /// `start` for several prompts decoded together: their states, and the logits of each one's
    /// first generated token (`prompts.count × vocabularySize`). By default one `start` per
    /// prompt; an encoder-decoder takes the decoder's first step for the whole batch at once.
    func start(prompts: [[Int32]], maxNewTokens: Int) throws -> ([State], FloatBuffer)
    /// The threads the model runs on, which the generation loop also uses between steps (a
    /// batch's greedy picks). By default the calling thread alone.
    var pool: ThreadPool { get }
}

extension AutoregressiveModel {
    public func start(prompts: [[Int32]], maxNewTokens: Int) throws -> ([State], FloatBuffer) {
        try startEach(self, prompts: prompts, maxNewTokens: maxNewTokens)
    }

    public var pool: ThreadPool { .inline }
}

/// One `start` per prompt, the logits gathered into one buffer: the default batched start.
func startEach<M: AutoregressiveModel>(_ model: M, prompts: [[Int32]], maxNewTokens: Int) throws -> ([M.State], FloatBuffer) {
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
