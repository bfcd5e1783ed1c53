import ArgumentParser

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks (release builds only give meaningful numbers).",
        subcommands: benchSubcommands)
}
