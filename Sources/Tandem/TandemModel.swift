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
    /// The file names no tokenizer for a model that needs one.
    case missingTokenizer(String)
    /// The file's tokenizer could not be loaded.
    case tokenizer(TokenizerError)
    /// Input or output files of a job (summarize's JSONL, directories).
    case io(String)

    public var description: String {
        switch self {
        case let .format(e): e.description
        case let .model(e): e.description
        case let .missingTokenizer(m): m
        case let .tokenizer(e): "cannot load the tokenizer: \(e)"
        case let .io(m): m
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

/// A model file opened for generation: a plain model (T5, GPT-2, LLaMA) or an LLM-to-SLM bundle,
/// with its tokenizers. Everything model-specific is asked of `model` (`AutoregressiveModel`).
public final class TandemModel: @unchecked Sendable {
    public let file: TandemFile
    /// Tokenizes prompts (a bundle's LLM tokenizer).
    public let tokenizer: any Tokenizer
    /// Decodes generated tokens (a bundle's SLM tokenizer; the same as `tokenizer` otherwise).
    public let outputTokenizer: any Tokenizer
    /// The model the generation loops drive (`T5Runner`, `CausalRunner`, an `LLMToSLM` pair).
    public let model: any AutoregressiveModel
    public let pool: ThreadPool

    /// Opens `path`, validates it, and builds the model(s) and tokenizer(s) it describes, to run
    /// on `pool`'s threads.
    public init(path: String, pool: ThreadPool) throws(RuntimeError) {
        do { file = try TandemFile(path: path) } catch { throw .format(error) }
        self.pool = pool
        do { model = try ArchitectureRegistry.open(file, pool: pool) } catch { throw .model(error) }
        let (prompt, output) = ArchitectureRegistry.tokenizerEntries(file.metadata)
        tokenizer = try Self.loadTokenizer(file, prompt)
        hasOutputTokenizer = prompt != output
        outputTokenizer = hasOutputTokenizer ? try Self.loadTokenizer(file, output) : tokenizer
    }

    /// Whether `outputTokenizer` is a second tokenizer (a pair whose models tokenize differently).
    private let hasOutputTokenizer: Bool

    static func loadTokenizer(_ file: TandemFile, _ entry: TandemMetadata.ModelEntry?) throws(RuntimeError) -> any Tokenizer {
        guard let entry, let key = entry.tokenizer, let tok = file.metadata.tokenizers[key] else {
            throw .missingTokenizer("\(file.path) has no tokenizer for its \(entry?.architecture ?? "") model")
        }
        do {
            var extra: [String: [UInt8]] = [:]
            for (name, blob) in tok.extra { extra[name] = try file.blob(blob) }
            return try TokenizerLoader.load(type: tok.type, bytes: try file.blob(tok.blob), extra: extra)
        } catch let e as TokenizerError {
            throw .tokenizer(e)
        } catch let e as FormatError {
            throw .format(e)
        } catch {
            preconditionFailure("tokenizer loading threw \(error)")
        }
    }

    public var vocabularySize: Int { model.vocabularySize }

    public var eosTokenId: Int32? { model.eosTokenId }

    /// Prompts longer than this many tokens are truncated (with a warning from the caller).
    public var maxInputTokens: Int { model.promptLayout.maxTokens }

    /// Tokens per prompt pass (`AutoregressiveModel.promptPassTokens`); nil where prompts are
    /// read whole. Set before generating, not during.
    public var promptPassTokens: Int? {
        get { model.promptPassTokens }
        set { model.promptPassTokens = newValue }
    }

    /// Bytes of the process besides what generate calls allocate: the mapped weights that stay
    /// resident (all but `AutoregressiveModel.releasedWeightBytes`), the tokenizers at 160 bytes
    /// a vocabulary entry, and 56 MiB for the runtime (libraries, thread stacks, allocator).
    /// Measured on Qwen2.5-Coder-0.5B q4_0: 24 MiB of mapped libraries; its 151,936-entry
    /// tokenizer keeps 8 MB but peaks at 43 MB of heap while being built (heaptrack), freed to
    /// the allocator, which keeps most of it for later buffers; summarizing ACLSum papers under
    /// --max-memory 400M, estimated 393 MiB against a measured peak of 364 MiB.
    public var fixedBytes: Int {
        Int(file.sections.fileBytes) - model.releasedWeightBytes + 56 << 20
            + 160 * (tokenizer.vocabularySize + (hasOutputTokenizer ? outputTokenizer.vocabularySize : 0))
    }

    /// Bytes a generate call of `batch` sequences allocates besides the mapped file
    /// (`AutoregressiveModel.memoryBytes`), to size batches under a memory budget.
    public func memoryBytes(batch: Int, promptTokens m: Int, newTokens n: Int) -> Int {
        model.memoryBytes(batch: batch, promptTokens: m, newTokens: n)
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

    /// A byte where text may be cut between words: space, tab, CR or LF (prompt windows, and
    /// `summarize --chunk`'s chunks).
    static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x09 || byte == 0x0D }

    /// The part of `text` that can reach the model: the beginning for encoders (T5, bundles),
    /// the end for decoder-only models, cut at a whitespace near the window's edge when there is
    /// one. Tokenizing a 10 MB prompt whole would cost time and memory in proportion (about
    /// 2 GB in SentencePiece) for tokens that truncation throws away.
    /// `keepBeginning` overrides the model's choice (a summarized document inside a prompt
    /// template keeps its beginning whatever the model).
    func promptWindow(_ text: String, keepBeginning: Bool? = nil) -> (text: String, cut: Bool) {
        let limit = maxInputTokens * Self.promptBytesPerToken
        let utf8 = text.utf8
        guard utf8.count > limit else { return (text, false) }
        let slack = min(1024, limit / 8)
        if keepBeginning ?? model.promptLayout.keepsBeginning {
            // Keep the beginning; end before a whitespace in the window's last `slack` bytes.
            var end = utf8.index(utf8.startIndex, offsetBy: limit)
            if let space = utf8[utf8.index(end, offsetBy: -slack)..<end].lastIndex(where: Self.isSpace) { end = space }
            while end > utf8.startIndex, UTF8.isContinuation(utf8[end]) { end = utf8.index(before: end) }
            return (String(text.unicodeScalars[..<end]), true)
        } else {
            // Keep the end; start at a whitespace in the window's first `slack` bytes.
            var start = utf8.index(utf8.endIndex, offsetBy: -limit)
            if let space = utf8[start..<utf8.index(start, offsetBy: slack)].firstIndex(where: Self.isSpace) { start = space }
            while start < utf8.endIndex, UTF8.isContinuation(utf8[start]) { start = utf8.index(after: start) }
            return (String(text.unicodeScalars[start...]), true)
        }
    }

    /// The most new tokens a prompt of `promptTokens` leaves room for in a model with a fixed
    /// context (GPT-2, LLaMA, a bundle with such an SLM); nil for T5 decoders, which have none.
    public func maxNewTokens(promptTokens m: Int) -> Int? {
        model.maxNewTokens(promptTokens: m)
    }

    /// The most tokens of prompt text `promptIds` keeps: all but the end token of an encoder's
    /// input; half the context of a decoder-only model (the other half left to generate).
    public var promptLimit: Int {
        model.promptLayout.endToken != nil ? maxInputTokens - 1 : maxInputTokens / 2
    }

    /// `encodePrompt` for text already tokenized with `tokenizer` (no special tokens added).
    /// A model whose prompts start with BOS (`PromptLayout.startToken`) gets it in front, unless
    /// the text already began with it (a chat template that writes `<bos>`), as llama.cpp does.
    public func promptIds(fromTokens tokens: [Int32]) -> (ids: [Int32], truncated: Bool) {
        let layout = model.promptLayout
        var ids = tokens
        let room = promptLimit - (layout.startToken == nil ? 0 : 1)
        let truncated = ids.count > room
        if let eos = layout.endToken {
            if truncated { ids = Array(ids.prefix(room)) }
            ids.append(eos)
        } else if truncated {
            // Keep the end of an over-long prompt and leave room to generate.
            ids = Array(ids.suffix(room))
        }
        if let start = layout.startToken, ids.first != start { ids.insert(start, at: 0) }
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
        let times = model.encodeTimes
        times.reset()
        let results: [GeneratedSequence]
        do { results = try Generator.generate(model, prompts: prompts, options: options, onToken: handler) } catch { throw .model(error) }
        stats.encodeMs = times.totalSeconds * 1000
        if times.hasReader {
            stats.llmEncodeMs = times.reader.value * 1000
            stats.slmEncodeMs = times.prompt.value * 1000
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
