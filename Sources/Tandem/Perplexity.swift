// Perplexity of a decoder-only model on a text, by llama.cpp's `llama-perplexity` method, so the
// two engines' figures compare: the text's tokens are cut into chunks of `context` tokens (what
// does not fill a last chunk is left out); each chunk is read from an empty cache in one pass, and
// only its second half is scored — row i's logits predict token i + 1 for i from context/2 to
// context − 2 — so every scored token has at least half a context before it. Used to measure what
// a quantization loses on real text. A model whose prompts start with BOS (Gemma; `startToken`)
// gets it as llama-perplexity gives it: in front of the text's tokens, and in place of each
// chunk's first token. (SmolLM2 and Qwen2.5 add none.)
import Foundation
import TandemKernels
import TandemModels

public struct PerplexityResult: Sendable, Codable {
    public var chunks: Int
    public var context: Int
    /// Tokens scored: chunks × (context − 1 − context/2).
    public var scored: Int
    /// Σ −log p(token) over the scored tokens, in nats.
    public var negativeLogLikelihood: Double
    public var perplexity: Double { exp(negativeLogLikelihood / Double(max(scored, 1))) }
    /// The standard error of the perplexity: the spread of the per-token −log p, carried
    /// through exp (as llama-perplexity reports it).
    public var standardError: Double
}

public enum Perplexity {
    public enum PerplexityError: Error, CustomStringConvertible, Sendable {
        case notDecoderOnly
        case tooShort(tokens: Int, context: Int)
        case contextTooLong(context: Int, limit: Int)

        public var description: String {
            switch self {
            case .notDecoderOnly: "perplexity needs a decoder-only model"
            case let .tooShort(n, c): "the text has \(n) tokens, fewer than one context of \(c)"
            case let .contextTooLong(c, limit): "a context of \(c) tokens is longer than the model's \(limit) positions"
            }
        }
    }

    /// Measures `model` on `tokens`, calling `onChunk(chunk, perplexity so far)` after each chunk.
    public static func measure(
        _ model: TandemModel, tokens: [Int32], context: Int, onChunk: (Int, Double) -> Bool = { _, _ in true }
    ) throws -> PerplexityResult {
        guard let runner = model.model as? CausalRunner else { throw PerplexityError.notDecoderOnly }
        let lm = runner.model
        var tokens = tokens
        if let bos = runner.startToken, tokens.first != bos { tokens.insert(bos, at: 0) }
        if let limit = lm.maxPositions, context > limit { throw PerplexityError.contextTooLong(context: context, limit: limit) }
        let chunks = tokens.count / context
        guard chunks >= 1, context >= 4 else { throw PerplexityError.tooShort(tokens: tokens.count, context: context) }
        let first = context / 2, vocab = lm.vocabularySize
        var result = PerplexityResult(chunks: 0, context: context, scored: 0, negativeLogLikelihood: 0, standardError: 0)
        var squares = 0.0
        for c in 0..<chunks {
            var chunk = Array(tokens[c * context..<(c + 1) * context])
            if let bos = runner.startToken { chunk[0] = bos }
            let state = lm.makeState(capacity: context)
            let logits = try lm.forward(try lm.embed(chunk), segment: (state, context), tracer: nil, logitsFrom: first)
            for i in first..<(context - 1) {
                let row = UnsafeBufferPointer(rebasing: logits.buffer[(i - first) * vocab..<(i - first + 1) * vocab])
                let nll = negativeLogProbability(row, of: Int(chunk[i + 1]))
                result.negativeLogLikelihood += nll
                squares += nll * nll
                result.scored += 1
            }
            result.chunks += 1
            let n = Double(result.scored), mean = result.negativeLogLikelihood / n
            result.standardError = n > 1 ? result.perplexity * ((squares / n - mean * mean) / (n - 1)).squareRoot() : 0
            if !onChunk(c + 1, result.perplexity) { break }
        }
        return result
    }

    /// −log softmax(row)[target], summed in Double.
    static func negativeLogProbability(_ row: UnsafeBufferPointer<Float>, of target: Int) -> Double {
        let m = Double(row.max()!)
        var sum = 0.0
        for x in row { sum += exp(Double(x) - m) }
        return log(sum) + m - Double(row[target])
    }
}
