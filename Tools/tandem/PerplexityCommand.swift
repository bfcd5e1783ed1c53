// `tandem perplexity MODEL TEXT`: how well a model predicts a text, by llama.cpp's
// llama-perplexity method (Perplexity.swift), to measure what a quantization loses.
import ArgumentParser
import Foundation
import Tandem

struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Perplexity of a decoder-only model on a text file (llama-perplexity's method).",
        discussion: """
            The text's tokens are cut into chunks of --context tokens; each chunk is read from an \
            empty cache and the tokens of its second half are scored. Prints the running \
            perplexity after each chunk, then the estimate with its standard error.
            """)

    @Argument(help: "A .tandem decoder-only model.")
    var model: String

    @Argument(help: "A UTF-8 text file, or - for standard input.")
    var text: String

    @Option(help: "Tokens per chunk.")
    var context: Int = 512

    @OptionGroup var threading: ThreadOptions

    @Flag(help: "One JSON object on stdout at the end.")
    var json = false

    func validate() throws {
        guard context >= 4 else { throw ValidationError("--context must be at least 4") }
    }

    func run() throws {
        try reportingErrors {
            let data: Data
            if text == "-" {
                data = FileHandle.standardInput.readDataToEndOfFile()
            } else {
                guard let d = FileManager.default.contents(atPath: text) else {
                    throw ValidationError("cannot read \(text): \(String(cString: strerror(errno)))")
                }
                data = d
            }
            guard let string = String(data: data, encoding: .utf8) else { throw ValidationError("\(text) is not valid UTF-8") }
            let m = try TandemModel(path: model, pool: try threading.pool())
            let tokens = m.tokenizer.encode(string)
            let start = Date()
            if !json, tokens.count >= context { print("\(tokens.count) tokens, \(tokens.count / context) chunks of \(context)") }
            Interrupt.install()
            let r = try Perplexity.measure(m, tokens: tokens, context: context) { chunk, ppl in
                if !json { print(String(format: "[%d] %.4f", chunk, ppl)) }
                return !Interrupt.requested
            }
            let seconds = Date().timeIntervalSince(start)
            if json {
                let obj: [String: Any] = [
                    "model": model, "text": text, "context": context, "chunks": r.chunks, "scored_tokens": r.scored,
                    "perplexity": r.perplexity, "standard_error": r.standardError, "seconds": seconds,
                ]
                print(String(decoding: try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]), as: UTF8.self))
            } else {
                print(String(format: "Final estimate: PPL = %.4f +/- %.5f (%d tokens scored in %d chunks, %.1f s)",
                             r.perplexity, r.standardError, r.scored, r.chunks, seconds))
            }
            if Interrupt.requested { throw ExitCode(130) }
        }
    }
}
