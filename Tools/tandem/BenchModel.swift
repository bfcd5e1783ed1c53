import ArgumentParser
import Foundation
import Tandem

struct BenchModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Time a model: encode, decode tokens/s, total, peak memory (seeded synthetic prompt).",
        discussion: """
            Feeds a seeded synthetic prompt of --prompt-tokens ids, forces exactly --new-tokens \
            generated tokens per sequence (end-of-sequence ignored), greedy. One warm-up run, then \
            --runs timed runs; medians with min–max. Build with -c release.
            """)

    @Argument(help: "A .tandem model file.")
    var file: String

    @Option(name: .customLong("prompt-tokens"), help: "Prompt length in tokens.")
    var promptTokens: Int = 512

    @Option(name: .customLong("new-tokens"), help: "Generated tokens per sequence.")
    var newTokens: Int = 128

    @Option(help: "Sequences decoded together.")
    var batch: Int = 1

    @OptionGroup var threading: ThreadOptions

    @Option(help: "Timed runs after one warm-up.")
    var runs: Int = 3

    @Option(help: "Seed of the synthetic prompt.")
    var seed: UInt64 = 1

    @Flag(help: "One JSON object on stdout.")
    var json = false

    func validate() throws {
        guard promptTokens >= 1, newTokens >= 1, batch >= 1, runs >= 1 else {
            throw ValidationError("--prompt-tokens, --new-tokens, --batch and --runs must be at least 1")
        }
    }

    func run() throws {
        try reportingErrors {
            let m = try TandemModel(path: file, pool: try threading.pool())
            var rng = SeededGenerator(seed: seed)
            let eos = m.eosTokenId ?? -1
            let upper = min(m.vocabularySize, 32000)
            let prompts = (0..<batch).map { _ in
                (0..<promptTokens).map { _ -> Int32 in
                    var t: Int32
                    repeat { t = Int32(rng.next() % UInt64(upper)) } while t == eos || t < 3
                    return t
                }
            }
            let options = GenerationOptions(maxNewTokens: newTokens, minNewTokens: newTokens)
            _ = try m.generate(prompts: prompts, options: options)
            var all: [GenerationStats] = []
            for _ in 0..<runs { all.append(try m.generate(prompts: prompts, options: options).1) }
            func med(_ f: (GenerationStats) -> Double) -> (Double, Double, Double) {
                let v = all.map(f).sorted()
                return (v[v.count / 2], v.first!, v.last!)
            }
            let encode = med(\.encodeMs), decode = med(\.decodeTokensPerSecond), total = med(\.totalMs)
            let rss = all.map(\.peakResidentMB).max()!
            let llmEncode = all.compactMap(\.llmEncodeMs).sorted(), slmEncode = all.compactMap(\.slmEncodeMs).sorted()
            let dtype = m.file.metadata.provenance.defaultDType
            if json {
                var obj: [String: Any] = [
                    "engine": "tandem", "model": file, "dtype": dtype, "prompt_tokens": promptTokens, "new_tokens": newTokens,
                    "batch": batch, "threads": m.pool.threadCount, "runs": runs,
                    "encode_ms": encode.0, "encode_ms_min": encode.1, "encode_ms_max": encode.2,
                    "decode_tokens_per_s": decode.0, "decode_tokens_per_s_min": decode.1, "decode_tokens_per_s_max": decode.2,
                    "total_ms": total.0, "total_ms_min": total.1, "total_ms_max": total.2, "peak_rss_mb": rss,
                ]
                if !llmEncode.isEmpty {
                    obj["llm_encode_ms"] = llmEncode[llmEncode.count / 2]
                    obj["slm_encode_ms"] = slmEncode[slmEncode.count / 2]
                    obj["slm_decode_ms"] = total.0 - encode.0
                }
                let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print("model      \(file) (\(dtype)), \(m.pool.threadCount) threads, batch \(batch), prompt \(promptTokens) tokens, \(newTokens) new tokens, \(runs) runs")
                print(String(format: "encode     %.1f ms (%.1f–%.1f)", encode.0, encode.1, encode.2))
                if !llmEncode.isEmpty {
                    print(String(format: "  split    LLM encode %.1f ms, SLM encode %.1f ms, SLM decode %.1f ms",
                                 llmEncode[llmEncode.count / 2], slmEncode[slmEncode.count / 2], total.0 - encode.0))
                }
                print(String(format: "decode     %.1f tokens/s (%.1f–%.1f)", decode.0, decode.1, decode.2))
                print(String(format: "total      %.1f ms (%.1f–%.1f)", total.0, total.1, total.2))
                print(String(format: "peak RSS   %.1f MB", rss))
            }
        }
    }
}
