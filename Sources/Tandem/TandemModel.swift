// The runtime's front door: open any `.tandem` file, get its tokenizer and a runnable model,
// generate text. `tandem generate`, `tandem bench model` and `tandem summarize` all go through
// this type, so they behave the same.
import Foundation
import TandemFormat
import TandemKernels
import TandemModels
import TandemTokenizer

/// Why a model could not be opened or run.
public enum RuntimeError: Error, CustomStringConvertible, Sendable {
    case format(FormatError)
    case model(ModelError)
    case tokenizer(String)
    case unsupported(String)

    public var description: String {
        switch self {
        case let .format(e): e.description
        case let .model(e): e.description
        case let .tokenizer(m): m
        case let .unsupported(m): m
        }
    }
}

/// Timing and memory of one generation call.
public struct GenerationStats: Sendable, Codable {
    public var promptTokens: Int = 0
    public var generatedTokens: Int = 0
    public var batch: Int = 1
    /// Encoder (or prompt processing) time, all prompts.
    public var encodeMs: Double = 0
    /// From the start of the call to the first chosen token.
    public var timeToFirstTokenMs: Double = 0
    public var totalMs: Double = 0
    /// Generated tokens (all sequences) per second of decoding (total − encode).
    public var decodeTokensPerSecond: Double = 0
    public var peakResidentMB: Double = 0
}

/// A model file opened for generation.
public final class TandemModel: @unchecked Sendable {
    public enum Runner {
        case t5(T5Runner)
        case causal(CausalRunner)
    }

    public let file: TandemFile
    public let tokenizer: any Tokenizer
    public let runner: Runner
    public let pool: ThreadPool
    /// Prompts longer than this many tokens are truncated (with a warning from the caller).
    public let maxInputTokens: Int

    /// Opens `path`, validates it, and builds the model and tokenizer it describes.
    public init(path: String, threads: Int? = nil) throws(RuntimeError) {
        do { file = try TandemFile(path: path) } catch { throw .format(error) }
        pool = threads.map { ThreadPool(threads: $0) } ?? .shared
        let meta = file.metadata
        guard meta.kind == .model, let entry = meta.models["model"] else {
            throw .unsupported("\(path) is a \(meta.kind.rawValue); this build runs plain models")
        }
        guard let tokKey = entry.tokenizer, let tok = meta.tokenizers[tokKey] else {
            throw .tokenizer("\(path) has no tokenizer")
        }
        do {
            var extra: [String: [UInt8]] = [:]
            for (name, blob) in tok.extra { extra[name] = try file.blob(blob) }
            tokenizer = try TokenizerLoader.load(type: tok.type, bytes: try file.blob(tok.blob), extra: extra)
        } catch let e as FormatError {
            throw .format(e)
        } catch {
            throw .tokenizer("cannot load the tokenizer: \(error)")
        }
        switch entry.architecture {
        case "t5", "mt5":
            let config: T5Config
            do { config = try T5Config.from(entry.config) } catch { throw .model(.config("\(error)")) }
            let model: T5Model
            do { model = try T5Model(weights: ModelWeights(file: file, prefix: entry.prefix), config: config, pool: pool) } catch { throw .model(error) }
            let eos = meta.generation["eos_token_id"]?.intValue.map(Int32.init)
            let start = meta.generation["decoder_start_token_id"]?.intValue.map(Int32.init)
            runner = .t5(T5Runner(model: model, decoderStartTokenId: start, eosTokenId: eos))
            maxInputTokens = entry.config["n_positions"]?.intValue ?? 512
        case "gpt2", "llama":
            let eos = (meta.generation["eos_token_id"]?.intValue ?? entry.config["eos_token_id"]?.intValue).map(Int32.init)
            do {
                let w = ModelWeights(file: file, prefix: entry.prefix)
                let model: any CausalLanguageModel
                if entry.architecture == "gpt2" {
                    model = try GPT2Model(weights: w, config: try GPT2Config.from(entry.config), pool: pool)
                } else {
                    model = try LlamaModel(weights: w, config: try LlamaConfig.from(entry.config), pool: pool)
                }
                runner = .causal(CausalRunner(model: model, eosTokenId: eos))
                maxInputTokens = model.maxPositions ?? 2048
            } catch let e as ModelError {
                throw .model(e)
            } catch {
                throw .model(.config("\(error)"))
            }
        default:
            throw .unsupported("architecture \(entry.architecture) cannot be run by this build yet")
        }
    }

    public var vocabularySize: Int {
        switch runner {
        case let .t5(r): r.vocabularySize
        case let .causal(r): r.vocabularySize
        }
    }

    public var eosTokenId: Int32? {
        switch runner {
        case let .t5(r): r.eosTokenId
        case let .causal(r): r.eosTokenId
        }
    }

    /// Prompt text → model input ids. T5 inputs end with `</s>` (as Hugging Face's tokenizer adds).
    /// Returns the ids and whether they were truncated to `maxInputTokens`.
    public func encodePrompt(_ text: String) -> (ids: [Int32], truncated: Bool) {
        var ids = tokenizer.encode(text)
        var truncated = false
        if case .t5 = runner, let eos = eosTokenId {
            if ids.count > maxInputTokens - 1 { ids = Array(ids.prefix(maxInputTokens - 1)); truncated = true }
            ids.append(eos)
        } else if ids.count > maxInputTokens / 2 {
            // Keep the end of an over-long prompt and leave room to generate.
            ids = Array(ids.suffix(maxInputTokens / 2))
            truncated = true
        }
        return (ids, truncated)
    }

    /// Generates for a batch of tokenized prompts. `onToken(sequence, id)` streams tokens as
    /// they are chosen (greedy and sampling; beam search reports its result at the end).
    public func generate(
        prompts: [[Int32]], options: GenerationOptions, onToken: Generator.TokenHandler? = nil
    ) throws(RuntimeError) -> ([GeneratedSequence], GenerationStats) {
        var stats = GenerationStats()
        stats.batch = prompts.count
        stats.promptTokens = prompts.reduce(0) { $0 + $1.count }
        let t0 = Clock.now
        var first: UInt64?
        let handler: Generator.TokenHandler = { seq, id in
            if first == nil { first = Clock.now }
            return onToken?(seq, id) ?? true
        }
        let results: [GeneratedSequence]
        do {
            switch runner {
            case let .t5(r):
                r.encodeSeconds = 0
                results = try Generator.generate(r, prompts: prompts, options: options, onToken: handler)
                stats.encodeMs = r.encodeSeconds * 1000
            case let .causal(r):
                r.encodeSeconds = 0
                results = try Generator.generate(r, prompts: prompts, options: options, onToken: handler)
                stats.encodeMs = r.encodeSeconds * 1000
            }
        } catch let e as ModelError {
            throw .model(e)
        } catch {
            throw .unsupported("\(error)")
        }
        stats.totalMs = Clock.seconds(since: t0) * 1000
        stats.timeToFirstTokenMs = first.map { Double($0 - t0) / 1e6 } ?? stats.totalMs
        stats.generatedTokens = results.reduce(0) { $0 + $1.tokens.count }
        let decodeMs = stats.totalMs - stats.encodeMs
        stats.decodeTokensPerSecond = decodeMs > 0 ? Double(stats.generatedTokens) / (decodeMs / 1000) : 0
        stats.peakResidentMB = Double(Clock.peakResidentBytes) / 1_048_576
        return (results, stats)
    }

    /// Streams the text of one prompt's generation as it is produced.
    public func stream(_ prompt: String, options: GenerationOptions) -> AsyncThrowingStream<String, Error> {
        AsyncThrowingStream { continuation in
            let ids = encodePrompt(prompt).ids
            var detok = StreamingDetokenizer(tokenizer: tokenizer)
            let eos = eosTokenId
            do {
                _ = try generate(prompts: [ids], options: options) { _, id in
                    if id != eos { continuation.yield(detok.append(id)) }
                    return true
                }
                let tail = detok.finish()
                if !tail.isEmpty { continuation.yield(tail) }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
    }
}
