import ArgumentParser

/// `tandem bench` subcommands; each lives in its own file.
let benchSubcommands: [ParsableCommand.Type] = [BenchKernels.self, BenchModel.self]
