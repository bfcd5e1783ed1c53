// What a caller can ask of generation, shared by every model Tandem runs. Semantics follow
// Hugging Face transformers' `generate` (docs/reference/hf-generation.md) so that greedy and beam
// search give the same tokens as the reference.

/// How the next token is chosen.
public enum DecodingStrategy: Sendable, Equatable {
    /// The most probable token (deterministic).
    case greedy
    /// Beam search (transformers' semantics: length penalty, early stopping).
    case beam(BeamOptions)
    /// Temperature, top-k, top-p sampling from a seeded generator.
    case sample(SamplingOptions)
}

public struct BeamOptions: Sendable, Equatable {
    /// The most beams: each holds its own decoding state (SmolLM2-135M: 11 MiB of cache at 256
    /// positions), so thousands would exhaust memory long before they paid off.
    public static let maxBeams = 64

    public var beams: Int
    /// Scores are sum(log p) / length^lengthPenalty: > 1 favours longer sequences.
    public var lengthPenalty: Double
    public var earlyStopping: EarlyStopping
    /// How many finished sequences to return (≤ beams), best first.
    public var returnSequences: Int

    public enum EarlyStopping: Sendable, Equatable {
        /// Stop as soon as `beams` hypotheses are finished.
        case yes
        /// Stop when no running beam can beat the worst finished hypothesis (heuristic, HF default).
        case no
        /// Stop only when it is certain no better hypothesis can be found.
        case never
    }

    public init(beams: Int, lengthPenalty: Double = 1.0, earlyStopping: EarlyStopping = .no, returnSequences: Int = 1) {
        self.beams = beams
        self.lengthPenalty = lengthPenalty
        self.earlyStopping = earlyStopping
        self.returnSequences = returnSequences
    }
}

public struct SamplingOptions: Sendable, Equatable {
    public var temperature: Float
    /// Keep the k most probable tokens (0: no limit).
    public var topK: Int
    /// Keep the smallest set of tokens whose probability reaches p (1: no limit).
    public var topP: Float
    public var seed: UInt64

    public init(temperature: Float = 1, topK: Int = 0, topP: Float = 1, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
    }
}

public struct GenerationOptions: Sendable, Equatable {
    public var maxNewTokens: Int
    /// EOS is suppressed until this many tokens have been generated; with
    /// `minNewTokens == maxNewTokens` exactly that many are produced (benchmarks).
    public var minNewTokens: Int
    public var strategy: DecodingStrategy

    public init(maxNewTokens: Int = 64, minNewTokens: Int = 0, strategy: DecodingStrategy = .greedy) {
        self.maxNewTokens = maxNewTokens
        self.minNewTokens = minNewTokens
        self.strategy = strategy
    }
}

/// One finished sequence.
public struct GeneratedSequence: Sendable, Equatable {
    /// The generated token ids (EOS included when the sequence ended with it).
    public var tokens: [Int32]
    /// Beam search: the length-penalised score; otherwise the sum of log-probabilities.
    public var score: Double
    public var finishedWithEOS: Bool
}
