// Format micro-benchmarks: how long opening and validating a model file takes (the "load in
// milliseconds" promise of Formats/FORMAT.md), checksum throughput, and row quantization speed
// (the converter's inner loop).
import Benchmark
import Foundation
import TandemFormat

/// A synthetic model file with `layers` × 8 q8_0 matrices of 1024 × 1024, written once.
func makeFile(layers: Int) -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-bench-\(layers).tandem").path
    if FileManager.default.fileExists(atPath: path) { return path }
    var plans: [TensorPlan] = []
    for l in 0..<layers { for m in 0..<8 { plans.append(TensorPlan(name: "layer.\(l).m\(m).weight", dtype: .q8_0, shape: [1024, 1024])) } }
    let meta = TandemMetadata(
        kind: .model, models: ["model": .init(architecture: "t5", config: .object([:]), tokenizer: nil)],
        tokenizers: [:], generation: [:],
        provenance: .init(sources: ["bench"], converter: "bench", created: "", defaultDType: "q8_0", keepRules: [], tensors: [:]))
    try! TandemFileWriter(metadata: meta, tensors: plans, blobs: []).write(to: path, produce: { _, dst in
        for i in 0..<dst.count { dst[i] = UInt8(truncatingIfNeeded: i &* 31) }
    })
    return path
}

let benchmarks: @Sendable () -> Void = {
    let path = makeFile(layers: 24)
    Benchmark("open+validate 192 tensors (200 MB)", configuration: .init(metrics: [.wallClock, .mallocCountTotal], maxDuration: .seconds(3))) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try! TandemFile(path: path))
        }
    }
    let file = try! TandemFile(path: path)
    let tensor = file.tensor("layer.0.m0.weight")!
    Benchmark("xxh64 of a 1.1 MB tensor", configuration: .init(metrics: [.wallClock, .throughput], maxDuration: .seconds(3))) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(XXH64.hash(tensor.data)) }
    }
    let row = (0..<4096).map { Float(sin(Double($0))) }
    var out = [UInt8](repeating: 0, count: DType.q8_0.rowBytes(columns: 4096))
    Benchmark("encode q8_0 row of 4096", configuration: .init(metrics: [.wallClock], maxDuration: .seconds(3))) { benchmark in
        for _ in benchmark.scaledIterations {
            row.withUnsafeBufferPointer { src in out.withUnsafeMutableBytes { DType.q8_0.encodeRow(src, into: $0) } }
            blackHole(out)
        }
    }
}
