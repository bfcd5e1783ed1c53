// The `tandem` command line. Thin by design: parse options, show progress, map errors to one
// line on stderr and a non-zero exit code; the work lives in the libraries.
import ArgumentParser
import Foundation
import TandemFormat

@main
struct TandemCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tandem",
        abstract: "LLM-to-SLM generation on ordinary CPUs: convert, inspect and benchmark Tandem models.",
        version: "0.1.0",
        subcommands: [Convert.self, Inspect.self, Generate.self, Chat.self, Summarize.self, PerplexityCommand.self, Features.self, Bench.self])

    /// Parses and runs the command. A bad option value or a missing argument is one line on stderr
    /// (`tandem: error: …`, then where to find the usage) and exit status 64, as a failed run is one
    /// line and exit status 1 (`reportingErrors`); `--help` and `--version` print as usual.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if error is ExitCode || code == .success { exit(withError: error) }
            let message = self.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            FileHandle.standardError.write(Data("tandem: error: \(message) (see \(helpCommand) --help)\n".utf8))
            Foundation.exit(code.rawValue)
        }
    }

    /// `tandem` followed by the subcommands named on the command line (`tandem bench kernels`).
    static var helpCommand: String {
        var path = ["tandem"]
        var commands: [ParsableCommand.Type] = configuration.subcommands
        for argument in CommandLine.arguments.dropFirst() {
            guard let next = commands.first(where: { $0._commandName == argument }) else { break }
            path.append(argument)
            commands = next.configuration.subcommands
        }
        return path.joined(separator: " ")
    }
}

/// Runs `body`, printing any error as one line (`tandem: error: …`) and exiting with code 1.
func reportingErrors(_ body: () throws -> Void) throws {
    installFaultHandlers()
    do {
        try body()
    } catch let e as ExitCode {
        throw e
    } catch {
        FileHandle.standardError.write(Data("tandem: error: \(error)\n".utf8))
        throw ExitCode(1)
    }
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data("tandem: \(message)\n".utf8))
}

/// Faults that arrive as signals rather than errors, made to end the same way (one line, exit 1):
/// a model file truncated by another process while mapped (SIGBUS; Formats/FORMAT.md §9), and a
/// file-size limit (`ulimit -f`) reached while writing. The writer reserves the whole file with
/// posix_fallocate, which fails with EFBIG and no signal; but where that is unsupported or emulated
/// by writes, the first write past the limit raises SIGXFSZ, which would kill the process without
/// a word and leave its temporary file. Ignored, the write fails with EFBIG, which the writer
/// reports after removing the temporary file.
func installFaultHandlers() {
    MappedFile.reportTruncationOnSIGBUS(prefix: "tandem: error: ", exitCode: 1)
    signal(SIGXFSZ, SIG_IGN)
}
