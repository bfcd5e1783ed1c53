// swift-tools-version: 6.3
//
// Tandem's fuzz targets (libFuzzer), as their own package so the main build never needs the
// fuzzer runtime. One executable per parser of outside bytes; see README.md. Build and run with
// scripts/fuzz.sh, or by hand from this directory:
//   swift build -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
//   .build/release/FuzzGGUF -runs=100000 .corpus/FuzzGGUF
import PackageDescription

let tandem = Target.Dependency.product(name: "TandemFormat", package: "Tandem")
let tokenizer = Target.Dependency.product(name: "TandemTokenizer", package: "Tandem")

func fuzzTarget(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
    .executableTarget(name: name, dependencies: ["FuzzSupport"] + dependencies)
}

let package = Package(
    name: "TandemFuzz",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "Tandem", path: ".."),
    ],
    targets: [
        // Declares libFuzzer's LLVMFuzzerRunDriver (defined by the runtime -sanitize=fuzzer links).
        .target(name: "CLibFuzzer"),
        .target(name: "FuzzSupport", dependencies: ["CLibFuzzer"]),
        fuzzTarget("FuzzTandemFile", [tandem]),
        fuzzTarget("FuzzSafetensors", [tandem]),
        fuzzTarget("FuzzGGUF", [tandem, tokenizer]),
        fuzzTarget("FuzzSentencePieceText", [tokenizer]),
        fuzzTarget("FuzzSentencePieceModel", [tokenizer]),
        fuzzTarget("FuzzBPEText", [tandem, tokenizer]),
        fuzzTarget("FuzzTokenizerJSON", [tokenizer]),
        fuzzTarget("FuzzConfigJSON", [
            tandem, .product(name: "TandemModels", package: "Tandem"), .product(name: "TandemKernels", package: "Tandem"),
        ]),
        fuzzTarget("FuzzSummarizeJSONL", [.product(name: "Tandem", package: "Tandem")]),
        // Writes the seed corpora (Fuzz/.corpus/<target>/) from the committed fixtures.
        .executableTarget(name: "FuzzSeeds", dependencies: [tandem]),
    ]
)
