// The `tandem` command line. Thin by design: parse options, show progress, map errors to one
// line on stderr and a non-zero exit code; the work lives in the libraries.
import ArgumentParser
import Foundation

@main
struct TandemCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tandem",
        abstract: "LLM-to-SLM generation on ordinary CPUs: convert, inspect and benchmark Tandem models.",
        version: "0.1.0",
        subcommands: [Convert.self, Inspect.self, Generate.self, Summarize.self, Bench.self])
}

/// Runs `body`, printing any error as one line (`tandem: error: …`) and exiting with code 1.
func reportingErrors(_ body: () throws -> Void) throws {
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
