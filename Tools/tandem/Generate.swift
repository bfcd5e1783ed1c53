import ArgumentParser
import Foundation
import Tandem
import TandemTokenizer

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text with a Tandem model.",
        discussion: """
            The prompt comes from the argument, or from standard input when none is given. \
            Without sampling options, generation is greedy and deterministic. Text is streamed \
            to standard output as it is produced; Ctrl-C stops after the current token and \
            keeps what was generated.
            """)

    @Argument(help: "A .tandem model file (default: SmolLM2-135M-Instruct q8_0 from the cache; scripts/fetch-default-model.sh puts it there).")
    var model: String?

    @Argument(help: "The prompt (default: read standard input).")
    var prompt: String?

    @Flag(help: "Wrap the prompt in the model's chat template (instruct models).")
    var chat = false

    @Option(help: "System message for --chat (default: the template's own).")
    var system: String?

    @Option(name: .customLong("max-tokens"), help: "Most tokens to generate.")
    var maxTokens: Int = 64

    @Option(name: .customLong("min-tokens"), help: "Suppress end-of-sequence before this many tokens.")
    var minTokens: Int = 0

    @Option(help: "Beam search with this many beams (1: off).")
    var beam: Int = 1

    @Option(name: .customLong("length-penalty"), help: "Beam search length penalty (exponent on length).")
    var lengthPenalty: Double = 1.0

    @OptionGroup var sampling: SamplingOptionGroup

    @OptionGroup var threading: ThreadOptions

    @Flag(name: .customLong("show-tokens"), help: "Print the prompt's token ids to stderr.")
    var showTokens = false

    @Flag(help: "Print prompt tokens, encode time, time to first token, decode speed and peak memory to stderr.")
    var stats = false

    func validate() throws {
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
        guard minTokens >= 0, minTokens <= maxTokens else { throw ValidationError("--min-tokens must be in 0...--max-tokens") }
        guard beam >= 1, beam <= BeamOptions.maxBeams else { throw ValidationError("--beam must be from 1 to \(BeamOptions.maxBeams)") }
        guard lengthPenalty.isFinite else { throw ValidationError("--length-penalty must be a finite number") }
        if sampling.options != nil && beam > 1 { throw ValidationError("--beam cannot be combined with sampling options") }
    }

    func run() throws {
        try reportingErrors {
            let (modelPath, promptArgument) = try resolveArguments()
            var text = try readPrompt(promptArgument)
            let m = try TandemModel(path: modelPath, pool: try threading.pool())
            if chat {
                let template: ChatTemplate
                do throws(ChatTemplateLookupError) { template = try m.chatTemplate() } catch {
                    throw ValidationError(error == .missing ? "\(modelPath) has no chat template; run without --chat"
                                          : "the chat template of \(modelPath) is of a family Tandem does not render yet; run without --chat")
                }
                do throws(ChatTemplateError) { text = try template.render(user: text, system: system) } catch {
                    throw ValidationError(error.description)
                }
            }
            let (ids, truncated) = m.encodePrompt(text)
            if truncated { printError("warning: prompt truncated to \(ids.count) tokens") }
            if showTokens { printError("prompt ids: \(ids.map(String.init).joined(separator: " "))") }
            var newTokens = maxTokens
            if let room = m.maxNewTokens(promptTokens: ids.count), room < maxTokens {
                printError("warning: --max-tokens \(maxTokens) capped at \(room), what the model's context leaves after the prompt")
                newTokens = max(room, 1)
            }
            var options = GenerationOptions(maxNewTokens: newTokens, minNewTokens: min(minTokens, newTokens))
            if beam > 1 {
                options.strategy = .beam(BeamOptions(beams: beam, lengthPenalty: lengthPenalty))
            } else if let s = sampling.options {
                options.strategy = .sample(s)
            }
            Interrupt.install()
            var detok = StreamingDetokenizer(tokenizer: m.outputTokenizer)
            let out = FileHandle.standardOutput
            let eos = m.eosTokenId
            let (results, s) = try m.generate(prompts: [ids], options: options) { _, id in
                if case .beam = options.strategy { return true }
                if id != eos { out.write(Data(detok.append(id).utf8)) }
                return !Interrupt.requested
            }
            if case .beam = options.strategy {
                out.write(Data(m.outputTokenizer.decode(results[0].tokens.filter { $0 != eos }).utf8))
            } else {
                out.write(Data(detok.finish().utf8))
            }
            out.write(Data("\n".utf8))
            if stats {
                let line = String(
                    format: "prompt tokens %d | encode %.1f ms | first token %.1f ms | decode %.1f tokens/s (%d tokens) | total %.1f ms | peak RSS %.1f MB",
                    s.promptTokens, s.encodeMs, s.timeToFirstTokenMs, s.decodeTokensPerSecond, s.generatedTokens, s.totalMs, s.peakResidentMB)
                printError(line)
                if let l = s.llmEncodeMs, let e = s.slmEncodeMs {
                    let decodeMs = s.totalMs - s.encodeMs
                    printError(String(format: "LLM-to-SLM split: LLM encode %.1f ms | SLM encode %.1f ms | SLM decode %.1f ms", l, e, decodeMs))
                }
            }
            if Interrupt.requested {
                printError("interrupted")
                throw ExitCode(130)
            }
        }
    }

    /// The default model: SmolLM2-135M-Instruct (q8_0) in the Tandem cache.
    static var defaultModel: String {
        let cache = ProcessInfo.processInfo.environment["TANDEM_CACHE"] ?? (NSHomeDirectory() + "/.cache/tandem")
        return cache + "/SmolLM2-135M-Instruct.q8_0.tandem"
    }

    /// `generate [MODEL] [PROMPT]`: one argument is the model when it names an existing file,
    /// otherwise the prompt (for the default model).
    func resolveArguments() throws -> (String, String?) {
        var modelPath = model, text = prompt
        if let m = model, prompt == nil, !FileManager.default.fileExists(atPath: m), !m.hasSuffix(".tandem") {
            modelPath = nil
            text = m
        }
        guard let path = modelPath ?? (FileManager.default.fileExists(atPath: Self.defaultModel) ? Self.defaultModel : nil) else {
            throw ValidationError("no model given and the default model is not in the cache (\(Self.defaultModel)); get it with scripts/fetch-default-model.sh (after swift build -c release), or name a .tandem file")
        }
        return (path, text)
    }

    func readPrompt(_ prompt: String?) throws -> String {
        if let prompt { return prompt }
        if isatty(STDIN_FILENO) != 0 {
            throw ValidationError("no prompt: give one as an argument or on standard input")
        }
        let data = FileHandle.standardInput.readDataToEndOfFile()
        guard let s = String(data: data, encoding: .utf8) else {
            throw ValidationError("standard input is not valid UTF-8")
        }
        return s
    }
}
