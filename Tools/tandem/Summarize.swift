import ArgumentParser
import Foundation
import Tandem
import TandemKernels

struct Summarize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Summarize many documents: streamed, batched, resumable, shardable.",
        discussion: """
            Input: JSONL ({"id": …, "text": …}; field names with --id-field/--text-field), a \
            directory of .txt files (id = file name), or - for standard input. Output: JSONL, one \
            record per document (id, summary, input_tokens, output_tokens, ms), in input order, \
            appended and flushed as whole lines.

            Resumable: rerunning the same command after a crash (even kill -9) repairs a torn \
            last line and skips the ids already in --output; no record is written twice. \
            --shard K/N processes the documents whose id hashes to K modulo N, so N copies of \
            the command (a Slurm array, a Kubernetes Indexed Job, GNU parallel) split the work; \
            merging is concatenation: cat out.*.jsonl > all.jsonl.

            Bad lines (malformed JSON, missing or non-string fields, invalid UTF-8, empty text, \
            duplicate ids) are reported on stderr and in --errors, and skipped. Exit status: 0 \
            when nothing was skipped, 3 when some input was skipped, 1 on a fatal error.
            """)

    @Argument(help: "A .tandem model or LLM-to-SLM bundle.")
    var model: String

    @Option(help: "Input: a .jsonl file, a directory of .txt files, or - for stdin.")
    var input: String

    @Option(help: "Output JSONL (appended; resumed if it exists).")
    var output: String

    @Option(help: "Where to record skipped lines (JSONL: line, id, reason).")
    var errors: String?

    @Option(name: .customLong("id-field"), help: "JSON field holding the document id.")
    var idField = "id"

    @Option(name: .customLong("text-field"), help: "JSON field holding the document text.")
    var textField = "text"

    @Option(help: "Text put before every document (default: the model's, e.g. \"summarize: \").")
    var prefix: String?

    @Option(help: ArgumentHelp("The prompt, with {text} where the document goes (instead of --prefix).",
                               valueName: "prompt"))
    var template: String?

    @Flag(help: "Put the prompt in the model's chat template, as the user's message (instruct models).")
    var chat = false

    @Option(help: "System message for --chat (default: the template's own).")
    var system: String?

    @Option(name: .customLong("max-tokens"), help: "Most tokens per summary.")
    var maxTokens = 64

    @Option(name: .customLong("min-tokens"), help: "Fewest tokens per summary (end-of-sequence is held back until then; benchmarks use it to fix the length).")
    var minTokens = 0

    @Option(help: "Beam search with this many beams (1: greedy).")
    var beam = 1

    @Option(help: "Documents decoded together, at most.")
    var batch = 8

    @Option(name: .customLong("max-memory"), help: "Memory budget for the whole process (e.g. 1G, 512M; M = MiB): caps the batch, then shrinks prompt passes.")
    var maxMemory: String?

    @Flag(help: "Summarize over-long documents chunk by chunk, then the partial summaries (default: truncate).")
    var chunk = false

    @Option(help: "Process shard K of N (K/N, 0-based).")
    var shard: String?

    @OptionGroup var threading: ThreadOptions

    @Flag(help: "No progress output.")
    var quiet = false

    @Option(name: .customLong("stats-json"), help: "At the end, write the run's figures as JSON to this file (documents, seconds, docs/s, time split, peak memory).")
    var statsJSON: String?

    func parseShard() throws -> (k: Int, n: Int)? {
        guard let shard else { return nil }
        let parts = shard.split(separator: "/")
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]), n >= 1, k >= 0, k < n else {
            throw ValidationError("--shard expects K/N with 0 ≤ K < N, got \(shard)")
        }
        return (k, n)
    }

    static func parseBytes(_ text: String) -> UInt64? {
        let units: [Character: UInt64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var t = text.uppercased()
        if t.hasSuffix("B") { t.removeLast() }
        if let u = t.last, let scale = units[u] { return UInt64(t.dropLast()).map { $0 * scale } }
        return UInt64(t)
    }

    /// The figures `Benchmarks/summarize` tabulates, written whole (temporary name, then rename).
    func writeStats(_ p: SummarizeProgress, batch: Int, to path: String) throws {
        let seconds = p.totalMs / 1000
        let record: [String: Any] = [
            "documents": p.written, "resumed": p.resumed, "skipped": p.skipped, "truncated": p.truncated,
            "input_tokens": p.inputTokens, "output_tokens": p.outputTokens, "seconds": seconds,
            "docs_per_s": seconds > 0 ? Double(p.written) / seconds : 0,
            "llm_encode_ms": p.llmEncodeMs, "slm_encode_ms": p.slmEncodeMs, "decode_ms": p.decodeMs,
            "decode_tokens_per_s": p.decodeMs > 0 ? Double(p.outputTokens) / (p.decodeMs / 1000) : 0,
            "batch": batch, "peak_rss_mb": Double(ProcessClock.peakResidentBytes) / 1_048_576,
        ]
        let data = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
        let tmp = path + ".tmp"
        try data.write(to: URL(fileURLWithPath: tmp))
        guard rename(tmp, path) == 0 else { throw ValidationError("cannot write \(path): \(String(cString: strerror(errno)))") }
    }

    func validate() throws {
        guard maxTokens >= 1, beam >= 1, batch >= 1 else { throw ValidationError("--max-tokens, --beam and --batch must be at least 1") }
        guard beam <= BeamOptions.maxBeams else { throw ValidationError("--beam must be from 1 to \(BeamOptions.maxBeams)") }
        guard minTokens >= 0, minTokens <= maxTokens else { throw ValidationError("--min-tokens must be between 0 and --max-tokens") }
        do { try PromptFrame.split(template: template, prefix: prefix, chat: chat, system: system) } catch { throw ValidationError(error.description) }
        if let m = maxMemory, Self.parseBytes(m) == nil { throw ValidationError("--max-memory expects a size like 1G or 512M") }
        _ = try parseShard()
    }

    func run() throws {
        var skipped = false
        try reportingErrors {
            let m = try TandemModel(path: model, pool: try threading.pool())
            var isDir: ObjCBool = false
            let source: DocumentSource
            if input == "-" {
                source = try DocumentSource(.stdin, idField: idField, textField: textField)
            } else if FileManager.default.fileExists(atPath: input, isDirectory: &isDir), isDir.boolValue {
                source = try DocumentSource(.directory(input))
            } else {
                source = try DocumentSource(.jsonl(input), idField: idField, textField: textField)
            }
            let out = try ResultLog(path: output)
            if out.repairedBytes > 0 { printError("repaired a torn last line in \(output) (\(out.repairedBytes) bytes)") }
            let errorLog = try errors.map { try ResultLog(path: $0, idKey: "line") }
            var generation = GenerationOptions(maxNewTokens: maxTokens, minNewTokens: minTokens)
            if beam > 1 { generation.strategy = .beam(BeamOptions(beams: beam)) }
            let frame = try PromptFrame(model: m, template: template, prefix: prefix, chat: chat, system: system)
            let job = Summarizer(model: m, options: SummarizeOptions(
                frame: frame, generation: generation, batch: batch, maxMemory: maxMemory.flatMap(Self.parseBytes),
                chunk: chunk, shard: try parseShard()))
            let tty = isatty(STDERR_FILENO) != 0
            var lastReport = Date()
            let started = Date()
            let total = source.knownTotal
            // The ETA comes from the input's position (files, or bytes of a JSONL file) and its rate
            // since the first report: resumed documents are skipped fast at the start, and counting
            // them would make the rest look faster than it is.
            var firstPosition: (done: Int, at: Date)?
            job.onSkip = { line, id, reason in
                if !quiet { printError("skipped line \(line)" + (id.map { " (id \($0))" } ?? "") + ": \(reason)") }
            }
            job.onWarning = { if !quiet { printError("warning: \($0)") } }
            job.onInfo = { if !quiet { printError($0) } }
            job.onProgress = { p in
                guard !quiet else { return }
                let now = Date()
                guard tty || now.timeIntervalSince(lastReport) >= 10 else { return }
                lastReport = now
                let elapsed = max(now.timeIntervalSince(started), 1e-3)
                let docsPerSecond = Double(p.written) / elapsed
                var line = String(format: "%d done", p.written + p.resumed)
                if let total { line += "/\(total)" }
                line += String(format: " | %.2f docs/s | %.0f tokens/s | skipped %d | batch %d", docsPerSecond,
                               Double(p.inputTokens + p.outputTokens) / elapsed, p.skipped, p.batchSize)
                if let position = source.position, position.total > 0 {
                    if total == nil { line += String(format: " | %.1f%% of input", 100 * Double(position.done) / Double(position.total)) }
                    if let first = firstPosition, position.done > first.done {
                        let rate = Double(position.done - first.done) / max(now.timeIntervalSince(first.at), 1e-3)
                        line += String(format: " | eta %.0fs", Double(position.total - position.done) / rate)
                    } else if firstPosition == nil {
                        firstPosition = (position.done, now)
                    }
                }
                FileHandle.standardError.write(Data((tty ? "\r\u{1B}[2K" + line : "tandem: " + line + "\n").utf8))
            }
            Interrupt.install()
            try job.run(source: source, output: out, errors: errorLog, shouldStop: { Interrupt.requested })
            let p = job.progress
            if tty && !quiet { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
            if !quiet {
                printError(String(format: "summarized %d documents (%d already done, %d skipped, %d truncated) in %.1f s; LLM/encoder %.0f ms",
                                  p.written, p.resumed, p.skipped, p.truncated, p.totalMs / 1000, p.llmEncodeMs))
            }
            if let statsJSON { try writeStats(p, batch: job.progress.batchSize, to: statsJSON) }
            skipped = p.skipped > 0
            if Interrupt.requested { throw ExitCode(130) }
        }
        if skipped { throw ExitCode(3) }
    }
}
