// `tandem features MODEL --ids FILE --out DIR`: a reader's hidden states for every training
// prompt, in the cache train.py trains a projector from (FeatureCache.swift).
import ArgumentParser
import Foundation
import Tandem
import TandemFormat
import TandemModels

struct Features: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a reader's hidden states for training prompts (Tools/llm2slm/train.py's H cache).",
        discussion: """
            Reads each line of --ids (a JSON array of token ids: one prompt) with the model's \
            prompt pass — a decoder-only model's (LLaMA, Qwen2) or a T5's encoder, or a \
            bundle's LLM — and writes --out/h_cache.bin and h_cache.json: each prompt's hidden \
            states as f16, byte-shuffled, one LZ4 block. --layer picks Hugging Face's \
            hidden_states[L] of a decoder-only model (default: the last, after the final norm). \
            Ctrl-C stops after saving the index so far; running the same command again resumes.
            """)

    @Argument(help: "A .tandem model or bundle.")
    var model: String

    @Option(help: "JSONL: one JSON array of token ids per line.")
    var ids: String

    @Option(help: "Directory for h_cache.bin and h_cache.json.")
    var out: String

    @Option(help: "The reader layer (1 … its layer count; default: the last, after the final norm).")
    var layer: Int?

    @Option(help: "The cache key train.py checks (its digest of the reader and the prompts).")
    var key: String = ""

    @OptionGroup var threading: ThreadOptions

    func run() throws {
        try reportingErrors {
            guard let data = FileManager.default.contents(atPath: ids) else {
                throw ValidationError("cannot read \(ids): \(String(cString: strerror(errno)))")
            }
            var prompts: [[Int32]] = []
            for (n, line) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where !line.trimmingCharacters(in: .whitespaces).isEmpty {
                let bad = ValidationError("\(ids):\(n + 1): expected a non-empty JSON array of token ids")
                guard case let .array(items)? = try? JSONValue.parse(Data(line.utf8), what: "\(ids):\(n + 1)"), !items.isEmpty else { throw bad }
                var prompt: [Int32] = []
                for item in items {
                    guard case let .number(v) = item, v >= 0, v <= Double(Int32.max), v.rounded() == v else { throw bad }
                    prompt.append(Int32(v))
                }
                prompts.append(prompt)
            }
            guard !prompts.isEmpty else { throw ValidationError("\(ids) holds no prompts") }
            let pool = try threading.pool()
            let file = try TandemFile(path: model)
            let reader = try ArchitectureRegistry.reader(file, layer: layer, pool: pool)
            let bar = ProgressBar(label: "reading")
            Interrupt.install()
            let s = try FeatureCache.write(reader: reader, prompts: prompts, directory: out, key: key) { done, total in
                bar.update(done: done, total: total)
                return !Interrupt.requested
            }
            bar.finish()
            let rate = s.seconds > 0 ? Double(s.tokens) / s.seconds : 0
            print("\(s.prompts) of \(prompts.count) prompts" + (s.resumedAt > 0 ? " (resumed at \(s.resumedAt))" : "")
                + String(format: "; %d tokens read in %.1f s (%.1f tokens/s); %@ f16 → %@ stored (%.2f×)", s.tokens, s.seconds, rate,
                         formatBytes(UInt64(s.rawBytes)), formatBytes(UInt64(s.storedBytes)), Double(s.rawBytes) / Double(max(s.storedBytes, 1))))
            if Interrupt.requested { throw ExitCode(130) }
        }
    }
}
