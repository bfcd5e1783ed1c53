// swift-tools-version: 6.3
//
// Tandem's benchmarks, as their own package so the main build and CI stay fast.
// Run from this directory:  swift package --disable-sandbox benchmark
// (ordo-one/benchmark: warm-up, many iterations, percentiles, thresholds).
// Engine-against-engine comparisons live in the scripts beside these targets (t5/, …), built on
// `tandem bench`.
import PackageDescription

let package = Package(
    name: "TandemBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "Tandem", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "FormatBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "TandemFormat", package: "Tandem"),
            ],
            path: "Benchmarks/FormatBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
    ]
)
