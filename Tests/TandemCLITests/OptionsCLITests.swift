// Every invalid option value, on every command: one line on stderr (`tandem: error: …`) and exit
// status 64, before any work starts — never a trap, a usage dump or a run with a silently
// replaced value.
import Foundation
import Testing

struct OptionsCLITests {
    static let model = CLI.repo.appendingPathComponent("Formats/samples/v1/gpt2-tiny.q8_0.tandem").path

    /// (arguments, environment, words the one line must contain).
    static let cases: [([String], [String: String?], String)] = {
        let m = model
        let summarize = ["summarize", m, "--input", "in.jsonl", "--output", "out.jsonl"]
        var c: [([String], [String: String?], String)] = []
        for threads in ["0", "-1", "abc", "1.5", "100000"] {
            c.append((summarize + ["--threads", threads], [:], "--threads"))
            c.append((["generate", m, "hi", "--threads", threads], [:], "--threads"))
            c.append((["bench", "model", m, "--threads", threads], [:], "--threads"))
            c.append((["bench", "kernels", "--threads", threads], [:], "--threads"))
            c.append((["convert", "x", "-o", "y.tandem", "--threads", threads], [:], "--threads"))
        }
        for env in ["0", "two", ""] {
            c.append((summarize, ["TANDEM_THREADS": env], "TANDEM_THREADS"))
            c.append((["generate", m, "hi"], ["TANDEM_THREADS": env], "TANDEM_THREADS"))
        }
        c += [
            (summarize + ["--batch", "0"], [:], "--batch"),
            (summarize + ["--ordered"], [:], "--ordered"),
            (summarize + ["--max-memory", "lots"], [:], "--max-memory"),
            (summarize + ["--shard", "3/2"], [:], "--shard"),
            (summarize + ["--min-tokens", "100", "--max-tokens", "10"], [:], "--min-tokens"),
            (summarize + ["--template", "Summarize:"], [:], "{text}"),
            (summarize + ["--template", "{text}", "--prefix", "Summarize: "], [:], "--template"),
            (summarize + ["--system", "Be brief."], [:], "--system"),
            (["generate", m, "hi", "--max-tokens", "0"], [:], "--max-tokens"),
            (["generate", m, "hi", "--top-p", "2"], [:], "--top-p"),
            (["generate", m, "hi", "--beam", "x"], [:], "--beam"),
            (["generate", m, "hi", "--beam", "5000"], [:], "--beam"),
            (["generate", m, "hi", "--beam", "2", "--length-penalty", "nan"], [:], "--length-penalty"),
            (["generate", m, "hi", "--beam", "2", "--length-penalty", "inf"], [:], "--length-penalty"),
            (["generate", m, "hi", "--temperature", "inf"], [:], "--temperature"),
            (["generate", m, "hi", "--temperature", "nan"], [:], "--temperature"),
            (summarize + ["--beam", "65"], [:], "--beam"),
            (["chat", m, "--max-tokens", "0"], [:], "--max-tokens"),
            (["perplexity", m, "text.txt", "--context", "2"], [:], "--context"),
            (["perplexity", m, "text.txt", "--threads", "x"], [:], "--threads"),
            (["chat", m, "--threads", "0"], [:], "--threads"),
            (["chat", m, "--temperature", "-1"], [:], "--temperature"),
            (["bench", "model", m, "--runs", "0"], [:], "--runs"),
            (["bench", "kernels", "--bandwidth-mib", "0"], [:], "--bandwidth-mib"),
            (["convert", "x", "-o", "y.tandem", "--dtype", "q3_k"], [:], "--dtype"),
            (["convert", "x", "-o", "y.tandem", "--keep", "*.weight"], [:], "--keep"),
            (["summarize", m, "--input", "in.jsonl"], [:], "--output"),
        ]
        return c
    }()

    @Test(arguments: cases.indices)
    func invalidValueIsOneLineAndExit64(index: Int) throws {
        let (args, env, mention) = Self.cases[index]
        let r = try CLI.run(args, environment: env.isEmpty ? ["TANDEM_THREADS": nil] : env)
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: true)
        #expect(r.status == 64, "\(args) \(env): status \(r.status), stderr \(r.stderr)")
        #expect(lines.count == 1, "\(args) \(env): \(r.stderr)")
        #expect(lines.first?.hasPrefix("tandem: error: ") == true, "\(args): \(r.stderr)")
        #expect(lines.first?.contains(mention) == true, "\(args): \(r.stderr) does not name \(mention)")
        #expect(r.stdout.isEmpty, "\(args): \(r.stdout)")
    }
}
