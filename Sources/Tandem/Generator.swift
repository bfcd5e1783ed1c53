// The generation loops, written once for every `AutoregressiveModel`: batched greedy and
// sampling (several prompts advance together; one weight read per step serves the batch), and
// beam search with transformers' semantics (docs/reference/hf-generation.md).
import TandemModels

public enum Generator {
    /// Called with (sequence index, token) as each token is chosen; return false to stop early
    /// (for example on Ctrl-C): what was generated so far is returned.
    public typealias TokenHandler = (Int, Int32) -> Bool

    /// Greedy or sampled generation for a batch of prompts.
    public static func generate<M: AutoregressiveModel>(
        _ model: M, prompts: [[Int32]], options: GenerationOptions, onToken: TokenHandler? = nil
    ) throws -> [GeneratedSequence] {
        if case .beam = options.strategy {
            return try prompts.map { try beamSearch(model, prompt: $0, options: options).first! }
        }
        let vocab = model.vocabularySize
        var states: [M.State] = []
        var logits = FloatBuffer(count: prompts.count * vocab)
        for (i, p) in prompts.enumerated() {
            let (s, l) = try model.start(prompt: p, maxNewTokens: options.maxNewTokens)
            states.append(s)
            logits[i * vocab..<(i + 1) * vocab].update(fromContentsOf: l)
        }
        var results = prompts.map { _ in GeneratedSequence(tokens: [], score: 0, finishedWithEOS: false) }
        var active = Array(prompts.indices)
        var rngs = prompts.indices.map { i -> SeededGenerator in
            if case let .sample(s) = options.strategy { return SeededGenerator(seed: s.seed &+ UInt64(i)) }
            return SeededGenerator(seed: 0)
        }
        var stopped = false
        for step in 0..<options.maxNewTokens {
            var next: [Int32] = []
            var stillActive: [Int] = []
            for (row, seq) in active.enumerated() {
                let l = logits[row * vocab..<(row + 1) * vocab]
                if step < options.minNewTokens, let eos = model.eosTokenId { l[Int(eos)] = -.infinity }
                let token: Int
                switch options.strategy {
                case let .sample(s): token = Sampler.sample(l, options: s, using: &rngs[seq])
                default: token = Sampler.argmax(UnsafeBufferPointer(l))
                }
                let id = Int32(token)
                results[seq].tokens.append(id)
                if onToken?(seq, id) == false { stopped = true }
                if id == model.eosTokenId {
                    results[seq].finishedWithEOS = true
                } else {
                    stillActive.append(seq)
                    next.append(id)
                }
            }
            active = stillActive
            if stopped || active.isEmpty || step == options.maxNewTokens - 1 { break }
            logits = try model.step(active.map { states[$0] }, tokens: next)
        }
        return results
    }

    // MARK: Beam search

    /// Finished hypotheses of one prompt, keeping the `beams` best by length-penalised score.
    struct Hypotheses {
        let beams: Int
        let lengthPenalty: Double
        let earlyStopping: BeamOptions.EarlyStopping
        let maxNewTokens: Int
        var items: [(tokens: [Int32], score: Double, eos: Bool)] = []
        var worst = Double.greatestFiniteMagnitude

        mutating func add(_ tokens: [Int32], sumLogprobs: Float, generated: Int, eos: Bool) {
            let score = Double(sumLogprobs) / pow(Double(generated), lengthPenalty)
            if items.count < beams || score > worst {
                items.append((tokens, score, eos))
                if items.count > beams {
                    let worstIndex = items.indices.min { items[$0].score < items[$1].score }!
                    items.remove(at: worstIndex)
                    worst = items.map(\.score).min()!
                } else {
                    worst = min(score, worst)
                }
            }
        }

        /// Whether no running beam can still beat the finished ones. `generated` counts the
        /// tokens of the step just scored.
        func isDone(bestSumLogprobs: Float, generated: Int) -> Bool {
            guard items.count >= beams else { return false }
            switch earlyStopping {
            case .yes: return true
            case .no:
                return worst >= Double(bestSumLogprobs) / pow(Double(generated), lengthPenalty)
            case .never:
                let length = lengthPenalty > 0 ? maxNewTokens : generated
                return worst >= Double(bestSumLogprobs) / pow(Double(length), lengthPenalty)
            }
        }
    }

    /// Beam search for one prompt: the `returnSequences` best finished sequences, best first.
    public static func beamSearch<M: AutoregressiveModel>(
        _ model: M, prompt: [Int32], options: GenerationOptions
    ) throws -> [GeneratedSequence] {
        guard case let .beam(b) = options.strategy else { preconditionFailure("beamSearch needs beam options") }
        let vocab = model.vocabularySize
        let eos = model.eosTokenId.map(Int.init) ?? -1
        let (first, firstLogits) = try model.start(prompt: prompt, maxNewTokens: options.maxNewTokens)
        var states = [first]
        var tokens: [[Int32]] = [[]]
        var scores: [Float] = [0]
        var logits = FloatBuffer(firstLogits)
        var hyps = Hypotheses(beams: b.beams, lengthPenalty: b.lengthPenalty, earlyStopping: b.earlyStopping, maxNewTokens: options.maxNewTokens)
        var done = false
        var generated = 0
        while generated < options.maxNewTokens {
            // Candidates: every (beam, token) with the beam's score plus the token's log-probability.
            var candidates: [(score: Float, beam: Int, token: Int)] = []
            let keep = 2 * b.beams
            for beam in states.indices {
                let row = logits[beam * vocab..<(beam + 1) * vocab]
                Sampler.logSoftmax(row)
                if generated < options.minNewTokens, eos >= 0 { row[eos] = -.infinity }
                for t in 0..<vocab {
                    let s = scores[beam] + row[t]
                    if candidates.count < keep {
                        candidates.append((s, beam, t))
                        if candidates.count == keep { candidates.sort { $0.score > $1.score } }
                    } else if s > candidates[keep - 1].score {
                        var i = keep - 1
                        while i > 0 && candidates[i - 1].score < s { i -= 1 }
                        candidates.insert((s, beam, t), at: i)
                        candidates.removeLast()
                    }
                }
            }
            if candidates.count < keep { candidates.sort { $0.score > $1.score } }
            generated += 1
            var nextBeams: [(score: Float, beam: Int, token: Int)] = []
            for (rank, c) in candidates.enumerated() {
                if c.token == eos {
                    // An EOS below the top `beams` candidates does not finish a hypothesis.
                    if rank >= b.beams { continue }
                    hyps.add(tokens[c.beam], sumLogprobs: c.score, generated: generated, eos: true)
                } else {
                    nextBeams.append(c)
                }
                if nextBeams.count == b.beams { break }
            }
            done = hyps.isDone(bestSumLogprobs: candidates[0].score, generated: generated)
            // Reorder: each parent's state goes to its first child; later children fork it.
            var used = Set<Int>()
            var newStates: [M.State] = []
            for c in nextBeams {
                if used.insert(c.beam).inserted { newStates.append(states[c.beam]) } else { newStates.append(model.fork(states[c.beam])) }
            }
            // A state handed to a first child may also be forked by a later one: fork before stepping.
            tokens = nextBeams.map { tokens[$0.beam] + [Int32($0.token)] }
            scores = nextBeams.map(\.score)
            states = newStates
            if done || generated == options.maxNewTokens || nextBeams.isEmpty { break }
            logits = try model.step(states, tokens: nextBeams.map { Int32($0.token) })
        }
        if !done {
            for (i, t) in tokens.enumerated() { hyps.add(t, sumLogprobs: scores[i], generated: t.count, eos: false) }
        }
        let best = hyps.items.sorted { $0.score > $1.score }.prefix(b.returnSequences)
        return best.map { h in
            GeneratedSequence(tokens: h.eos ? h.tokens + [Int32(eos)] : h.tokens, score: h.score, finishedWithEOS: h.eos)
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
