// `tandem bench kernels`: matrix products and the machine's limits, measured in one run.
// The measuring lives in KernelBenchmark.swift; this file only parses and prints.
import ArgumentParser
import Foundation
import TandemKernels

struct BenchKernels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "GEMV/GEMM per dtype against measured memory bandwidth and FMA peak (release builds only).")

    @OptionGroup var threading: ThreadOptions

    @Option(help: "Timed runs per measurement, after one warm-up; the median is reported.")
    var runs: Int = 5

    @Option(help: "MiB streamed by the bandwidth probe and rotated through by GEMV (≥ 1024 to defeat the cache).")
    var bandwidthMib: Int = 1024

    @Option(help: "numpy/OpenBLAS reference script; 'none' to skip.")
    var numpy: String = "Benchmarks/kernels/numpy_gemm.py"

    @Flag(help: "Print a JSON array of records instead of the table.")
    var json = false

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
        guard bandwidthMib >= 1 else { throw ValidationError("--bandwidth-mib must be at least 1") }
    }

    func run() throws {
        let threads = try threading.count()
        let options = KernelBenchmark.Options(
            threads: threads, runs: runs, bandwidthBytes: bandwidthMib << 20,
            numpyScript: numpy == "none" ? nil : numpy)
        let printRows = !json
        if printRows {
            print("isa: \(KernelISA.current.kernelName) — \(KernelISA.choice)")
            print("threads: \(threads)   runs: \(runs) (median of runs after a warm-up)")
            print(KernelBenchmark.header)
        }
        var bench = KernelBenchmark(options: options) { line in
            if printRows, !line.hasPrefix("numpy reference") { print(line) }
        }
        let records = bench.run()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(records), as: UTF8.self))
        }
    }
}
