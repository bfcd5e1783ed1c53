// `tandem chat`: a multi-turn conversation in the terminal with a decoder-only instruct model,
// its KV cache kept between turns (ChatSession). Ctrl-C stops the answer being written (the
// conversation goes on); Ctrl-D, or Ctrl-C at the prompt, ends the chat. With standard input not
// a terminal, each line is one user message and the answers are printed in turn.
import ArgumentParser
import Foundation
import Tandem

struct Chat: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Chat with an instruct model (multi-turn; the KV cache is kept between turns).",
        discussion: """
            Type a message and press Enter; the answer streams as it is written. Ctrl-C stops an \
            answer and keeps the chat going; Ctrl-D (or Ctrl-C at the prompt) ends it. /reset \
            starts the conversation over. Without sampling options the answers are greedy.
            """)

    @Argument(help: "A .tandem instruct model (default: SmolLM2-135M-Instruct q8_0 from the cache).")
    var model: String?

    @Option(help: "System message (default: the template's own).")
    var system: String?

    @Option(name: .customLong("max-tokens"), help: "Most tokens per answer.")
    var maxTokens: Int = 512

    @OptionGroup var sampling: SamplingOptionGroup

    @OptionGroup var threading: ThreadOptions

    func validate() throws {
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
    }

    func run() throws {
        try reportingErrors {
            let path = model ?? Generate.defaultModel
            guard FileManager.default.fileExists(atPath: path) else {
                throw ValidationError("no model given and the default model is not in the cache (\(path)); get it with scripts/fetch-default-model.sh, or name a .tandem file")
            }
            let m = try TandemModel(path: path, pool: try threading.pool())
            var session = try ChatSession(model: m, system: system, seed: sampling.seed)
            let interactive = isatty(STDIN_FILENO) != 0
            Interrupt.installForChat()
            let out = FileHandle.standardOutput
            if interactive { printError("chatting with \(path) — Ctrl-D to end, /reset to start over") }
            while true {
                if interactive { out.write(Data("> ".utf8)) }
                Interrupt.requested = false
                guard let line = readLine(strippingNewline: true) else { break }
                let text = line.trimmingCharacters(in: .whitespaces)
                if text.isEmpty { continue }
                if text == "/reset" {
                    session = try ChatSession(model: m, system: system, seed: sampling.seed)
                    continue
                }
                do {
                    try session.reply(to: line, maxNewTokens: maxTokens, sampling: sampling.options) { piece in
                        out.write(Data(piece.utf8))
                        return !Interrupt.requested
                    }
                } catch let e as ChatSession.ChatError {
                    printError("error: \(e)")
                    continue
                }
                out.write(Data("\n".utf8))
                if Interrupt.requested && interactive { printError("(stopped)") }
            }
            if interactive { out.write(Data("\n".utf8)) }
        }
    }
}
