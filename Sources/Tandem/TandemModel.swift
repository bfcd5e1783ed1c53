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
    /// Bundles: the LLM encoder + projector, and the SLM's own prompt pass (parts of `encodeMs`).
    public var llmEncodeMs: Double?
    public var slmEncodeMs: Double?
    /// From the start of the call to the first chosen token.
    public var timeToFirstTokenMs: Double = 0
    public var totalMs: Double = 0
    /// Generated tokens (all sequences) per second of decoding (total − encode).
    public var decodeTokensPerSecond: Double = 0
    public var peakResidentMB: Double = 0
}

/// A model file opened for generation: a plain model (T5, GPT-2, LLaMA) or an LLM-to-SLM bundle.
public final class TandemModel: @unchecked Sendable {
    public enum Runner {
        case t5(T5Runner)
        case causal(CausalRunner)
        case bundle(BundleRunner)
    }

    public let file: TandemFile
    /// Tokenizes prompts (a bundle's LLM tokenizer).
    public let tokenizer: any Tokenizer
    /// Decodes generated tokens (a bundle's SLM tokenizer; the same as `tokenizer` otherwise).
    public let outputTokenizer: any Tokenizer
    public let runner: Runner
    public let pool: ThreadPool
    /// Prompts longer than this many tokens are truncated (with a warning from the caller).
    public let maxInputTokens: Int

    /// Opens `path`, validates it, and builds the model(s) and tokenizer(s) it describes, to run
    /// on `pool`'s threads.
    public init(path: String, pool: ThreadPool) throws(RuntimeError) {
        do { file = try TandemFile(path: path) } catch { throw .format(error) }
        self.pool = pool
        let meta = file.metadata
        do {
            switch meta.kind {
            case .model:
                guard let entry = meta.models["model"] else { throw RuntimeError.unsupported("\(path) has no model entry") }
                tokenizer = try Self.loadTokenizer(file, entry)
                outputTokenizer = tokenizer
                (runner, maxInputTokens) = try Self.plainRunner(file, entry, generation: meta.generation, pool: pool)
            case .bundle:
                guard let l = meta.models["llm"], let p = meta.models["projector"], let s = meta.models["slm"] else {
                    throw RuntimeError.unsupported("\(path): a bundle needs llm, projector and slm models")
                }
                tokenizer = try Self.loadTokenizer(file, l)
                outputTokenizer = try Self.loadTokenizer(file, s)
                let llm = try T5Model(weights: ModelWeights(file: file, prefix: l.prefix), config: T5Config.from(l.config), encoderOnly: true, pool: pool)
                let pw = ModelWeights(file: file, prefix: p.prefix)
                guard let dl = p.config["llm_dim"]?.intValue, let dh = p.config["hidden_dim"]?.intValue, let ds = p.config["slm_dim"]?.intValue else {
                    throw RuntimeError.unsupported("\(path): projector config lacks llm_dim/hidden_dim/slm_dim")
                }
                let p0 = try pw.linear("0.weight", out: dh, in: dl, bias: "0.bias")
                let p2 = try pw.linear("2.weight", out: ds, in: dh, bias: "2.bias")
                let adapter = pw.has("prompt_adapter.weight") ? try pw.linear("prompt_adapter.weight", out: ds, in: dl) : nil
                let (slmRunner, _) = try Self.plainRunner(file, s, generation: meta.generation, pool: pool)
                let slm: BundleRunner.SLM
                switch slmRunner {
                case let .t5(r): slm = .t5(r)
                case let .causal(r):
                    guard adapter != nil else { throw RuntimeError.unsupported("\(path): a decoder-only SLM needs projector.prompt_adapter.weight") }
                    let bos = meta.generation["bos_token_id"]?.intValue ?? s.config["bos_token_id"]?.intValue
                    guard let bos else { throw RuntimeError.unsupported("\(path): the SLM has no bos_token_id to start the response") }
                    slm = .causal(r, firstResponseToken: Int32(bos))
                case .bundle: throw RuntimeError.unsupported("\(path): nested bundle")
                }
                runner = .bundle(BundleRunner(llm: llm, slm: slm, project0: p0, project2: p2, adapter: adapter, pool: pool))
                maxInputTokens = l.config["n_positions"]?.intValue ?? 512
            }
        } catch let e as RuntimeError {
            throw e
        } catch let e as ModelError {
            throw .model(e)
        } catch let e as FormatError {
            throw .format(e)
        } catch {
            throw .model(.config("\(error)"))
        }
    }

    static func loadTokenizer(_ file: TandemFile, _ entry: TandemMetadata.ModelEntry) throws -> any Tokenizer {
        guard let key = entry.tokenizer, let tok = file.metadata.tokenizers[key] else {
            throw RuntimeError.tokenizer("\(file.path) has no tokenizer for its \(entry.architecture) model")
        }
        var extra: [String: [UInt8]] = [:]
        for (name, blob) in tok.extra { extra[name] = try file.blob(blob) }
        do {
            return try TokenizerLoader.load(type: tok.type, bytes: try file.blob(tok.blob), extra: extra)
        } catch let e as TokenizerError {
            throw RuntimeError.tokenizer("cannot load the tokenizer: \(e)")
        }
    }

    /// The runner of a plain model entry (also a bundle's SLM).
    static func plainRunner(_ file: TandemFile, _ entry: TandemMetadata.ModelEntry, generation: [String: JSONValue], pool: ThreadPool) throws -> (Runner, Int) {
        let w = ModelWeights(file: file, prefix: entry.prefix)
        switch entry.architecture {
        case "t5", "mt5":
            let model = try T5Model(weights: w, config: T5Config.from(entry.config), pool: pool)
            let eos = generation["eos_token_id"]?.intValue.map(Int32.init)
            let start = generation["decoder_start_token_id"]?.intValue.map(Int32.init)
            return (.t5(T5Runner(model: model, decoderStartTokenId: start, eosTokenId: eos)), entry.config["n_positions"]?.intValue ?? 512)
        case "gpt2", "llama":
            let eos = (generation["eos_token_id"]?.intValue ?? entry.config["eos_token_id"]?.intValue).map(Int32.init)
            let model: any CausalLanguageModel = entry.architecture == "gpt2"
                ? try GPT2Model(weights: w, config: GPT2Config.from(entry.config), pool: pool)
                : try LlamaModel(weights: w, config: LlamaConfig.from(entry.config), pool: pool)
            return (.causal(CausalRunner(model: model, eosTokenId: eos)), model.maxPositions ?? 2048)
        default:
            throw RuntimeError.unsupported("architecture \(entry.architecture) cannot be run by this build")
        }
    }

    public var vocabularySize: Int {
        switch runner {
        case let .t5(r): r.vocabularySize
        case let .causal(r): r.vocabularySize
        case let .bundle(r): r.vocabularySize
        }
    }

    public var eosTokenId: Int32? {
        switch runner {
        case let .t5(r): r.eosTokenId
        case let .causal(r): r.eosTokenId
        case let .bundle(r): r.eosTokenId
        }
    }

    /// Bytes of decoding state one sequence needs (KV caches, cross-attention K/V), to size batches.
    public func cacheBytesPerSequence(promptTokens m: Int, newTokens n: Int) -> Int {
        func t5(_ c: T5Config) -> Int { c.decoderLayers * 2 * (m + n + 1) * c.numHeads * c.dKV * 4 + 4 * m * (c.dModel + c.dFF) * 4 }
        switch runner {
        case let .t5(r): return t5(r.model.config)
        case let .causal(r): return r.model.layerCount * 2 * (m + n + 1) * r.model.cacheWidth * 4
        case let .bundle(r):
            switch r.slm {
            case let .t5(s): return t5(s.model.config) + m * r.llm.config.dModel * 4 * 2
            case let .causal(s, _): return s.model.layerCount * 2 * (m + n + 2) * s.model.cacheWidth * 4 + m * r.llm.config.dModel * 4 * 2
            }
        }
    }

    /// The end-of-sequence id of the prompt tokenizer (T5 prompts end with `</s>`).
    var promptEOS: Int32? {
        switch runner {
        case .t5: eosTokenId
        case .bundle: tokenizer.eosTokenId ?? 1
        case .causal: nil
        }
    }

    /// Prompt text → model input ids. T5 inputs end with `</s>` (as Hugging Face's tokenizer adds).
    /// Returns the ids and whether they were truncated to `maxInputTokens`.
    public func encodePrompt(_ text: String) -> (ids: [Int32], truncated: Bool) {
        let (window, cut) = promptWindow(text)
        let (ids, truncated) = promptIds(fromTokens: tokenizer.encode(window))
        return (ids, truncated || cut)
    }

    /// Bytes of text per token kept, at most, when an over-long prompt is cut before tokenizing.
    /// Tokens are far shorter (SentencePiece pieces ≤ 16 characters by default; BPE averages 3–5
    /// bytes), so for any real text the window holds more tokens than the model keeps, and the ids
    /// that reach it are the same as without the window (Tests/TandemTests/LongPromptTests.swift).
    static let promptBytesPerToken = 64

    /// The part of `text` that can reach the model: the beginning for encoders (T5, bundles),
    /// the end for decoder-only models, cut at a whitespace near the window's edge when there is
    /// one. Tokenizing a 10 MB prompt whole would cost time and memory in proportion (about
    /// 2 GB in SentencePiece) for tokens that truncation throws away.
    func promptWindow(_ text: String) -> (text: String, cut: Bool) {
        let limit = maxInputTokens * Self.promptBytesPerToken
        let utf8 = text.utf8
        guard utf8.count > limit else { return (text, false) }
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x0A || $0 == 0x09 || $0 == 0x0D }
        let slack = min(1024, limit / 8)
        if promptEOS != nil {
            // Keep the beginning; end before a whitespace in the window's last `slack` bytes.
            var end = utf8.index(utf8.startIndex, offsetBy: limit)
            if let space = utf8[utf8.index(end, offsetBy: -slack)..<end].lastIndex(where: isSpace) { end = space }
            while end > utf8.startIndex, UTF8.isContinuation(utf8[end]) { end = utf8.index(before: end) }
            return (String(text.unicodeScalars[..<end]), true)
        } else {
            // Keep the end; start at a whitespace in the window's first `slack` bytes.
            var start = utf8.index(utf8.endIndex, offsetBy: -limit)
            if let space = utf8[start..<utf8.index(start, offsetBy: slack)].firstIndex(where: isSpace) { start = space }
            while start < utf8.endIndex, UTF8.isContinuation(utf8[start]) { start = utf8.index(after: start) }
            return (String(text.unicodeScalars[start...]), true)
        }
    }

    /// The most new tokens a prompt of `promptTokens` leaves room for in a model with a fixed
    /// context (GPT-2, LLaMA, a bundle with such an SLM); nil for T5 decoders, which have none.
    public func maxNewTokens(promptTokens m: Int) -> Int? {
        // The last chosen token is never fed back, hence the + 1; a bundle's causal SLM also
        // takes its first-response token.
        switch runner {
        case .t5: return nil
        case let .causal(r): return r.model.maxPositions.map { max(0, $0 - m + 1) }
        case let .bundle(r):
            switch r.slm {
            case .t5: return nil
            case let .causal(s, _): return s.model.maxPositions.map { max(0, $0 - m) }
            }
        }
    }

    /// `encodePrompt` for text already tokenized with `tokenizer` (no special tokens added).
    public func promptIds(fromTokens tokens: [Int32]) -> (ids: [Int32], truncated: Bool) {
        var ids = tokens
        var truncated = false
        if let eos = promptEOS {
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
        let t0 = ProcessClock.now
        var first: UInt64?
        let handler: Generator.TokenHandler = { seq, id in
            if first == nil { first = ProcessClock.now }
            return onToken?(seq, id) ?? true
        }
        let results: [GeneratedSequence]
        do {
            switch runner {
            case let .t5(r):
                r.encodeSeconds.reset()
                results = try Generator.generate(r, prompts: prompts, options: options, onToken: handler)
                stats.encodeMs = r.encodeSeconds.value * 1000
            case let .causal(r):
                r.encodeSeconds.reset()
                results = try Generator.generate(r, prompts: prompts, options: options, onToken: handler)
                stats.encodeMs = r.encodeSeconds.value * 1000
            case let .bundle(r):
                r.llmEncodeSeconds.reset()
                r.slmEncodeSeconds.reset()
                results = try Generator.generate(r, prompts: prompts, options: options, onToken: handler)
                stats.llmEncodeMs = r.llmEncodeSeconds.value * 1000
                stats.slmEncodeMs = r.slmEncodeSeconds.value * 1000
                stats.encodeMs = stats.llmEncodeMs! + stats.slmEncodeMs!
            }
        } catch let e as ModelError {
            throw .model(e)
        } catch {
            throw .unsupported("\(error)")
        }
        stats.totalMs = ProcessClock.seconds(since: t0) * 1000
        stats.timeToFirstTokenMs = first.map { Double($0 - t0) / 1e6 } ?? stats.totalMs
        stats.generatedTokens = results.reduce(0) { $0 + $1.tokens.count }
        let decodeMs = stats.totalMs - stats.encodeMs
        stats.decodeTokensPerSecond = decodeMs > 0 ? Double(stats.generatedTokens) / (decodeMs / 1000) : 0
        stats.peakResidentMB = Double(ProcessClock.peakResidentBytes) / 1_048_576
        return (results, stats)
    }

    /// Streams the text of one prompt's generation as it is produced.
    public func stream(_ prompt: String, options: GenerationOptions) -> AsyncThrowingStream<String, Error> {
        AsyncThrowingStream { continuation in
            let ids = encodePrompt(prompt).ids
            var detok = StreamingDetokenizer(tokenizer: outputTokenizer)
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
