// The batch summarization job behind `tandem summarize`: stream documents, skip what is already
// done (resumption) or belongs to another shard, report and skip bad input, summarize in
// batches (one weight read per decode step serves the whole batch; the batch shrinks to fit
// `maxMemory`), and append each finished record as one line.
import Foundation
import TandemFormat
import TandemKernels
import TandemModels

public struct SummarizeOptions: Sendable {
    /// What surrounds each document (T5: "summarize: " before it; instruct models: their chat
    /// template and an instruction); nil = the model's own prefix.
    public var frame: PromptFrame?
    public var generation: GenerationOptions
    /// Documents decoded together, at most.
    public var batch: Int
    /// Memory budget for the whole process (bytes): caps the batch. nil = no cap.
    public var maxMemory: UInt64?
    /// Long documents: summarize chunk by chunk, then summarize the partial summaries (else truncate).
    public var chunk: Bool
    /// Process only documents whose id hashes to shard `k` of `n`.
    public var shard: (k: Int, n: Int)?

    public init(frame: PromptFrame? = nil, generation: GenerationOptions = GenerationOptions(maxNewTokens: 64), batch: Int = 8,
                maxMemory: UInt64? = nil, chunk: Bool = false, shard: (k: Int, n: Int)? = nil) {
        self.frame = frame
        self.generation = generation
        self.batch = batch
        self.maxMemory = maxMemory
        self.chunk = chunk
        self.shard = shard
    }
}

/// Counters, for progress and the final report.
public struct SummarizeProgress: Sendable {
    public var written = 0
    public var resumed = 0
    public var skipped = 0
    public var inputTokens = 0
    public var outputTokens = 0
    public var truncated = 0
    /// The large model's encoder (bundles), or the whole encoder pass (plain models).
    public var llmEncodeMs = 0.0
    /// Bundles: the small model's pass over the projected prompt; 0 for plain models.
    public var slmEncodeMs = 0.0
    public var encodeMs = 0.0
    /// Time spent generating summary tokens: everything in `generate` after the encoders.
    public var decodeMs = 0.0
    public var totalMs = 0.0
    public var batchSize = 0
}

public final class Summarizer {
    public let model: TandemModel
    public let options: SummarizeOptions
    public private(set) var progress = SummarizeProgress()
    /// Called for every skipped line (line, id, reason) and every warning.
    public var onSkip: ((Int, String?, String) -> Void)?
    public var onWarning: ((String) -> Void)?
    /// Called with what the job decided on its own (the batch chosen under `--max-memory`).
    public var onInfo: ((String) -> Void)?
    public var onProgress: ((SummarizeProgress) -> Void)?

    public init(model: TandemModel, options: SummarizeOptions) {
        self.model = model
        self.options = options
    }

    /// Whether `id` belongs to this shard: XXH64 of the id's UTF-8, modulo n — the same on every
    /// machine and for every input order.
    public static func inShard(_ id: String, _ shard: (k: Int, n: Int)?) -> Bool {
        guard let shard else { return true }
        return Int(XXH64.hash(Array(id.utf8)) % UInt64(shard.n)) == shard.k
    }

    /// The largest batch up to `--batch` whose memory — the process's fixed part
    /// (`TandemModel.fixedBytes`: resident weights, tokenizers, runtime) and what the model says
    /// a generate call of that many sequences allocates (`TandemModel.memoryBytes`: caches at
    /// their real dtype, working buffers, prepacked weights from two sequences on) — fits
    /// `maxMemory`; at least 1. When even one sequence does not fit, a model that reads prompts
    /// in passes gets smaller passes (halved down to 64 tokens) until it does.
    func batchSize(promptTokens: Int) -> Int {
        guard let budget = options.maxMemory else { return options.batch }
        func bytes(_ batch: Int) -> UInt64 {
            UInt64(model.fixedBytes + model.memoryBytes(batch: batch, promptTokens: promptTokens, newTokens: options.generation.maxNewTokens))
        }
        var width = options.batch, need = bytes(width)
        while width > 1, need > budget {
            width -= 1
            need = bytes(width)
        }
        while need > budget, let pass = model.promptPassTokens, pass > Self.smallestPromptPass {
            model.promptPassTokens = max(Self.smallestPromptPass, min(pass, promptTokens) / 2)
            need = bytes(width)
        }
        if reportedBatch == nil {
            reportedBatch = width
            let passes = model.promptPassTokens.map { $0 < CausalRunner.defaultPromptChunk ? " with prompt passes of \($0) tokens" : "" } ?? ""
            if need > budget {
                onWarning?("even batch 1\(passes) needs an estimated \(need >> 20) MiB at \(promptTokens) input tokens, more than --max-memory \(budget >> 20) MiB; running at batch 1")
            } else {
                onInfo?("batch \(width) of --batch \(options.batch) fits --max-memory \(budget >> 20) MiB\(passes) (estimated \(need >> 20) MiB at \(promptTokens) input tokens)")
            }
        }
        return width
    }

    /// The smallest prompt pass a budget may ask for: below it each product has too few rows to
    /// spread its weight reads over (passes of 64 read a prompt about 1.5× slower than of 512).
    static let smallestPromptPass = 64

    /// The batch first chosen under the budget, reported once.
    private var reportedBatch: Int?

    /// The prompt ids of one document: `frame.prefix + text + frame.suffix`, tokenized. Only the
    /// part of the text that can reach the model is tokenized (a 10 MB document would otherwise
    /// cost ~2 GB in SentencePiece for nothing). An over-long text is cut as the model cuts its
    /// prompts; inside a frame with a suffix (an instruction or a chat turn after the text), the
    /// text alone is cut, keeping its beginning, so prefix and suffix reach the model whole.
    /// `tokens` counts the whole prompt (a lower bound when `cut`: the text was windowed before
    /// tokenizing).
    func documentPrompt(_ text: String, _ frame: PromptFrame) -> (ids: [Int32], tokens: Int, truncated: Bool, cut: Bool) {
        guard !frame.suffix.isEmpty else {
            let (window, cut) = model.promptWindow(frame.prefix + text)
            let full = model.tokenizer.encode(window)
            let (ids, cutIds) = model.promptIds(fromTokens: full)
            return (ids, full.count, cutIds || cut, cut)
        }
        let (window, cut) = model.promptWindow(text, keepBeginning: true)
        let full = model.tokenizer.encode(frame.prefix + window + frame.suffix)
        if !cut, full.count <= model.promptLimit { return (model.promptIds(fromTokens: full).ids, full.count, false, false) }
        let head = model.tokenizer.encode(frame.prefix), tail = model.tokenizer.encode(frame.suffix)
        let room = max(0, model.promptLimit - head.count - tail.count)
        let body = model.tokenizer.encode(window).prefix(room)
        return (model.promptIds(fromTokens: head + body + tail).ids, full.count, true, cut)
    }

    /// Runs the job to the end of the input (or until `shouldStop` says so).
    public func run(source: DocumentSource, output: ResultLog, errors: ResultLog?, shouldStop: () -> Bool = { false }) throws {
        let frame = options.frame ?? PromptFrame(prefix: model.summarizePrefix)
        var seen = Set<String>()
        var pending: [(id: String, ids: [Int32], inputTokens: Int, truncated: Bool, chunks: ChunkCutter?)] = []
        let start = ProcessClock.now

        func skip(_ line: Int, _ id: String?, _ reason: String) throws {
            progress.skipped += 1
            onSkip?(line, id, reason)
            guard let errors, !errors.done.contains(String(line)) else { return }
            var r: [String: JSONValue] = ["line": .number(Double(line)), "reason": .string(reason)]
            if let id { r["id"] = .string(id) }
            try errors.append(r)
        }

        func flush() throws {
            guard !pending.isEmpty else { return }
            let width = batchSize(promptTokens: pending.map(\.ids.count).max() ?? 1)
            progress.batchSize = width
            var i = 0
            while i < pending.count {
                let group = Array(pending[i..<min(pending.count, i + width)])
                i += width
                let t0 = ProcessClock.now
                var summaries: [[Int32]] = []
                // Chunked documents: the chunks summarized at most a batch at a time (each a full
                // prompt, so the batch is sized for the model's limit), then the joined partial
                // summaries summarized.
                var prompts = group.map(\.ids)
                var chunkCounts = [Int](repeating: 0, count: group.count), chunkTokens = chunkCounts
                let chunkWidth = group.contains { $0.chunks != nil } ? batchSize(promptTokens: model.maxInputTokens) : 0
                for (j, doc) in group.enumerated() where doc.chunks != nil {
                    var cutter = doc.chunks!
                    var partials: [String] = []
                    while true {
                        var batch: [[Int32]] = []
                        while batch.count < chunkWidth, let chunk = cutter.next() { batch.append(chunk.ids) }
                        if batch.isEmpty { break }
                        let parts = try model.generate(prompts: batch, options: options.generation)
                        partials += parts.0.map { model.outputTokenizer.decode($0.tokens.filter { $0 != model.eosTokenId }) }
                        chunkCounts[j] += batch.count
                        chunkTokens[j] += batch.reduce(0) { $0 + $1.count }
                        accumulate(parts.1)
                        if shouldStop() { break }
                    }
                    prompts[j] = documentPrompt(partials.joined(separator: " "), frame).ids
                }
                let (results, stats) = try model.generate(prompts: prompts, options: options.generation)
                accumulate(stats)
                summaries = results.map { $0.tokens.filter { $0 != model.eosTokenId } }
                let ms = ProcessClock.seconds(since: t0) * 1000 / Double(group.count)
                for (j, (doc, summary)) in zip(group, summaries).enumerated() {
                    let inputTokens = doc.chunks == nil ? doc.inputTokens : chunkTokens[j]
                    var record: [String: JSONValue] = [
                        "id": .string(doc.id), "summary": .string(model.outputTokenizer.decode(summary)),
                        "input_tokens": .number(Double(inputTokens)), "output_tokens": .number(Double(summary.count)),
                        "ms": .number((ms * 10).rounded() / 10),
                    ]
                    if doc.truncated { record["truncated"] = .bool(true) }
                    if doc.chunks != nil { record["chunks"] = .number(Double(chunkCounts[j])) }
                    try output.append(record)
                    progress.written += 1
                    progress.inputTokens += inputTokens
                    progress.outputTokens += summary.count
                }
                progress.totalMs = ProcessClock.seconds(since: start) * 1000
                onProgress?(progress)
                if shouldStop() { break }
            }
            pending.removeAll()
        }

        func accumulate(_ s: GenerationStats) {
            progress.encodeMs += s.encodeMs
            progress.llmEncodeMs += s.llmEncodeMs ?? s.encodeMs
            progress.slmEncodeMs += s.slmEncodeMs ?? 0
            progress.decodeMs += max(0, s.totalMs - s.encodeMs)
        }

        while !shouldStop(), let item = source.next() {
            switch item {
            case let .skip(line, id, reason):
                try skip(line, id, reason)
            case let .document(id, text, line):
                guard Self.inShard(id, options.shard) else { continue }
                guard seen.insert(id).inserted else {
                    try skip(line, id, "duplicate id")
                    continue
                }
                if output.done.contains(id) {
                    progress.resumed += 1
                    continue
                }
                let doc = documentPrompt(text, frame)
                var chunks: ChunkCutter?
                if doc.truncated {
                    if options.chunk {
                        chunks = ChunkCutter(model: model, text: text, frame: frame)
                    } else {
                        progress.truncated += 1
                        onWarning?("line \(line): document \(id) has \(doc.cut ? "more than " : "")\(doc.tokens) tokens; truncated to \(model.promptLimit)")
                    }
                }
                pending.append((id, doc.ids, doc.tokens, doc.truncated && !options.chunk, chunks))
                if pending.count >= options.batch { try flush() }
            }
        }
        try flush()
        progress.totalMs = ProcessClock.seconds(since: start) * 1000
        onProgress?(progress)
    }
}
