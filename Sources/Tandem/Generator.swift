// The generation loops, written once for every `AutoregressiveModel`: batched greedy and
// sampling (several prompts advance together; one weight read per step serves the batch), and
// beam search with transformers' semantics (docs/reference/hf-generation.md).
import TandemKernels
import TandemModels

public enum Generator {
    /// Called with (sequence index, token) as each token is chosen; return false to stop early
    /// (for example on Ctrl-C): what was generated so far is returned.
    public typealias TokenHandler = (Int, Int32) -> Bool

    /// Greedy or sampled generation for a batch of prompts.
    public static func generate<M: AutoregressiveModel>(
        _ model: M, prompts: [[Int32]], options: GenerationOptions, onToken: TokenHandler? = nil
    ) throws(ModelError) -> [GeneratedSequence] {
        if case .beam = options.strategy {
            var results: [GeneratedSequence] = []
            for prompt in prompts { results.append(try beamSearch(model, prompt: prompt, options: options).first!) }
            return results
        }
        let vocab = model.vocabularySize
        var (states, logits) = try model.start(prompts: prompts, maxNewTokens: options.maxNewTokens)
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
            if step < options.minNewTokens, let eos = model.eosTokenId {
                for row in active.indices { logits.mutable[row * vocab + Int(eos)] = -.infinity }
            }
            // A batch's greedy picks on all of the model's threads (at batch 8 over a 32k
            // vocabulary the scan was ~3 % of a step, with the other threads waiting).
            var picks = [Int](repeating: 0, count: active.count)
            if case .sample = options.strategy {} else {
                let base = logits.buffer.baseAddress!
                picks.withUnsafeMutableBufferPointer { picks in
                    model.pool.parallelFor(active.count) { rows in
                        for row in rows { picks[row] = Sampler.argmax(UnsafeBufferPointer(start: base + row * vocab, count: vocab)) }
                    }
                }
            }
            for (row, seq) in active.enumerated() {
                let l = logits[row * vocab..<(row + 1) * vocab]
                let token: Int
                switch options.strategy {
                case let .sample(s): token = Sampler.sample(l, options: s, using: &rngs[seq])
                default: token = picks[row]
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

    /// Beam search for one prompt, as transformers 5.24's `_beam_search` does it
    /// (docs/reference/hf-generation.md §2): the `returnSequences` best finished sequences, best
    /// first. Scores are f32 like the reference, so ties break the same way.
    public static func beamSearch<M: AutoregressiveModel>(
        _ model: M, prompt: [Int32], options: GenerationOptions
    ) throws(ModelError) -> [GeneratedSequence] {
        guard case let .beam(b) = options.strategy else { preconditionFailure("beamSearch needs beam options") }
        precondition(b.beams >= 1 && b.returnSequences >= 1 && b.returnSequences <= b.beams && b.lengthPenalty.isFinite)
        let vocab = model.vocabularySize
        let eos = model.eosTokenId.map(Int.init) ?? -1
        let maxNew = options.maxNewTokens
        let (first, firstLogits) = try model.start(prompt: prompt, maxNewTokens: maxNew)
        // Running beams: only one is live at the first step (the others would start at -1e9).
        var states = [first]
        var tokens: [[Int32]] = [[]]
        var scores: [Float] = [0]
        var logits = FloatBuffer(firstLogits)
        // Finished slots, best first; a slot that is not finished yet scores -1e9.
        var finished: [(tokens: [Int32], score: Float, eos: Bool)] = []
        var improvable = true
        var generated = 0
        func penalised(_ sum: Float, length: Int) -> Float { sum / Float(pow(Double(length), b.lengthPenalty)) }
        let keep = 2 * b.beams
        while true {
            // 1–2. log-probabilities (min-length mask after log-softmax), the K best (beam, token).
            var candidates: [(score: Float, beam: Int, token: Int)] = []
            candidates.reserveCapacity(keep + 1)
            for beam in states.indices {
                let row = logits[beam * vocab..<(beam + 1) * vocab]
                Sampler.logSoftmax(row)
                if generated < options.minNewTokens, eos >= 0 { row[eos] = -.infinity }
                for t in 0..<vocab {
                    let s = scores[beam] + row[t]
                    if candidates.count == keep, s <= candidates[keep - 1].score { continue }
                    var i = candidates.count
                    while i > 0 && candidates[i - 1].score < s { i -= 1 }
                    candidates.insert((s, beam, t), at: i)
                    if candidates.count > keep { candidates.removeLast() }
                }
            }
            let atLimit = generated + 1 >= maxNew
            // 3–4. Candidates ranked within the top `beams` that end (EOS or length limit) finish.
            let allFinished = finished.count == b.beams
            if improvable && !(b.earlyStopping == .yes && allFinished) {
                for (rank, c) in candidates.enumerated() where rank < b.beams && (c.token == eos || atLimit) {
                    finished.append((tokens[c.beam] + [Int32(c.token)], penalised(c.score, length: generated + 1), c.token == eos))
                }
                finished.sort { $0.score > $1.score }
                if finished.count > b.beams { finished.removeLast(finished.count - b.beams) }
            }
            // 5. The best `beams` candidates that did not end continue.
            let next = Array(candidates.filter { !($0.token == eos || atLimit) }.prefix(b.beams))
            generated += 1
            if atLimit || next.isEmpty { break }
            // 7. Stop once no running beam can beat the worst finished hypothesis.
            let length = (b.earlyStopping == .never && b.lengthPenalty > 0) ? maxNew : generated
            let bestRunning = penalised(next[0].score, length: length)
            let worstFinished: Float = finished.count == b.beams ? finished.last!.score : -1e9
            improvable = improvable && bestRunning > worstFinished
            if !improvable || (b.earlyStopping == .yes && finished.count == b.beams) { break }
            // Reorder: each parent's state goes to its first child; later children fork it first.
            var used = Set<Int>()
            var newStates: [M.State] = []
            for c in next {
                newStates.append(used.insert(c.beam).inserted ? states[c.beam] : model.fork(states[c.beam]))
            }
            tokens = next.map { tokens[$0.beam] + [Int32($0.token)] }
            scores = next.map(\.score)
            states = newStates
            logits = try model.step(states, tokens: next.map { Int32($0.token) })
        }
        return finished.prefix(b.returnSequences).map {
            GeneratedSequence(tokens: $0.tokens, score: Double($0.score), finishedWithEOS: $0.eos)
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
