// swift-tools-version: 6.1
//
// Tandem — LLM-to-SLM generation on ordinary CPUs.
// Module layout and dependency direction: docs/ARCHITECTURE.md §2.
//
// No target uses `unsafeFlags`: the hot kernels live in `CTandemKernels`, where each
// instruction-set variant carries a per-function `__attribute__((target(...)))` and is chosen
// at run time, so one binary runs on any x86-64 (or AArch64) CPU.
import PackageDescription

let package = Package(
    name: "Tandem",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Tandem", targets: ["Tandem"]),
        .library(name: "TandemFormat", targets: ["TandemFormat"]),
        // For the fuzz targets (Fuzz/), which drive the tokenizers and config loaders directly.
        .library(name: "TandemTokenizer", targets: ["TandemTokenizer"]),
        .library(name: "TandemModels", targets: ["TandemModels"]),
        .library(name: "TandemKernels", targets: ["TandemKernels"]),
        .executable(name: "tandem", targets: ["tandem"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
    ],
    targets: [
        // The system LZ4 library (Debian: liblz4-dev).
        .systemLibrary(
            name: "CLZ4", path: "Sources/CLZ4", pkgConfig: "liblz4",
            providers: [.apt(["liblz4-dev"]), .brew(["lz4"])]),
        // Memory-mapped weight file, foreign readers (safetensors), storage traits.
        .target(name: "TandemFormat", dependencies: ["CLZ4"]),
        // Intrinsics kernels: per-function target attributes, run-time ISA choice.
        .target(name: "CTandemKernels"),
        // Compute traits, quantizers, matrix products, thread pool.
        .target(
            name: "TandemKernels",
            dependencies: [
                "TandemFormat", "CTandemKernels",
                .product(name: "Atomics", package: "swift-atomics"),
            ]),
        // SentencePiece (Debian: libsentencepiece-dev) behind a tiny extern "C" shim.
        .target(
            name: "CSentencePiece",
            linkerSettings: [.linkedLibrary("sentencepiece"), .linkedLibrary("stdc++")]),
        .target(name: "TandemTokenizer", dependencies: ["TandemFormat", "CSentencePiece"]),
        .target(name: "TandemModels", dependencies: ["TandemFormat", "TandemKernels"]),
        .target(
            name: "TandemConvert",
            dependencies: ["TandemFormat", "TandemKernels", "TandemModels"]),
        .target(
            name: "Tandem",
            dependencies: ["TandemFormat", "TandemKernels", "TandemModels", "TandemTokenizer"]),
        .executableTarget(
            name: "tandem",
            dependencies: [
                "Tandem", "TandemConvert", "TandemFormat", "TandemKernels", "CTandemKernels", "TandemModels", "TandemTokenizer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Tools/tandem"),
        // Builders of deliberately broken files, and the per-process scratch directory, for the tests.
        .target(name: "TandemTestSupport", dependencies: ["TandemFormat"], path: "Tests/TandemTestSupport"),
        .testTarget(name: "TandemFormatTests", dependencies: ["TandemFormat", "TandemTestSupport"]),
        .testTarget(
            name: "TandemKernelsTests",
            dependencies: ["TandemKernels", "TandemFormat", .product(name: "Atomics", package: "swift-atomics")]),
        .testTarget(name: "TandemCLITests", dependencies: ["tandem", "TandemTestSupport"]),
        .testTarget(name: "TandemTests", dependencies: ["Tandem", "TandemConvert", "TandemFormat", "TandemKernels", "TandemModels", "TandemTestSupport"]),
        .testTarget(
            name: "TandemModelsTests",
            dependencies: ["TandemModels", "TandemConvert", "TandemFormat", "TandemKernels", "TandemTestSupport"]),
        .testTarget(name: "TandemTokenizerTests", dependencies: ["TandemTokenizer", "TandemFormat"]),
        .testTarget(
            name: "TandemConvertTests",
            dependencies: ["TandemConvert", "TandemFormat", "TandemModels", "TandemTokenizer", "TandemTestSupport"]),
    ],
    cxxLanguageStandard: .cxx17
)
