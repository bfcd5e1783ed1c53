import Foundation
import Testing
@testable import TandemFormat

/// Encoding then decoding stays within each dtype's bound, block by block, on data that covers
/// several scales, zeros and single outliers.
struct RoundTripBoundTests {
    static func samples() -> [[Float]] {
        var out: [[Float]] = [
            .random(count: 4096, scale: 1, seed: 1),
            .random(count: 4096, scale: 1e-3, seed: 2),
            .random(count: 4096, scale: 300, seed: 3),
            [Float](repeating: 0, count: 64),
        ]
        var spike = [Float].random(count: 256, scale: 0.01, seed: 4)
        spike[77] = 50
        out.append(spike)
        return out
    }

    @Test(arguments: [DType.f32, .f16, .bf16, .q8_0, .q4_0])
    func withinBound(dtype: DType) {
        for values in Self.samples() {
            let decoded = dtype.encode(values).withUnsafeBytes { dtype.decode($0, count: values.count) }
            let block = 32
            for b in 0..<values.count / block {
                let range = b * block..<(b + 1) * block
                let amax = values[range].map(abs).max()!
                let bound = dtype.roundTripBound(amax: dtype.isQuantized ? amax : values.map(abs).max()!)
                for i in range {
                    let err = abs(values[i] - decoded[i])
                    let scaled = dtype.isQuantized ? bound : max(bound, abs(values[i]) * (dtype == .bf16 ? 0x1p-8 : 0x1p-11))
                    #expect(err <= scaled, "\(dtype) element \(i): \(values[i]) → \(decoded[i])")
                }
            }
        }
    }
}

/// Writer → reader for every dtype: the bytes read back are the bytes written, shapes and
/// names survive, checksums verify, blobs round-trip through every encoding.
struct WriterReaderTests {
    static func metadata(_ tensors: [String]) -> TandemMetadata {
        TandemMetadata(
            kind: .model,
            models: ["model": .init(architecture: "t5", config: .object(["d_model": .number(64)]), tokenizer: "main")],
            tokenizers: ["main": .init(type: "sentencepiece", blob: "tokenizer/spiece.model")],
            generation: ["max_new_tokens": .number(32)],
            provenance: .init(sources: ["test"], converter: "test", created: "2026-11-29T00:00:00Z", defaultDType: "q8_0", keepRules: [], tensors: [:]))
    }

    @Test(arguments: [DType.f32, .f16, .bf16, .q8_0, .q4_0])
    func roundTrip(dtype: DType) throws {
        let shapes: [[Int]] = [[3, 64], [1, 32], [7, 96], [128], [2, 2, 32]]
        var plans: [TensorPlan] = []
        var contents: [String: [UInt8]] = [:]
        for (i, shape) in shapes.enumerated() {
            let name = "layer.\(i).weight"
            let values = [Float].random(count: shape.reduce(1, *), scale: Float(i + 1), seed: UInt64(i))
            plans.append(TensorPlan(name: name, dtype: dtype, shape: shape))
            contents[name] = dtype.encode(values)
        }
        let spiece = [UInt8]((0..<5000).map { UInt8($0 % 7) })
        let floats = [Float].random(count: 300, seed: 9).flatMap { v in withUnsafeBytes(of: v) { Array($0) } }
        let blobs = [
            BlobPlan(name: "tokenizer/spiece.model", encoding: .lz4, content: spiece),
            BlobPlan(name: "raw", encoding: .raw, content: [1, 2, 3]),
            BlobPlan(name: "empty", encoding: .lz4, content: []),
            BlobPlan(name: "floats2", encoding: .lz4Shuffle2, content: floats),
            BlobPlan(name: "floats4", encoding: .lz4Shuffle4, content: floats),
        ]
        let path = Fixtures.temporary("rt.tandem")
        defer { unlink(path) }
        let writer = TandemFileWriter(metadata: Self.metadata(plans.map(\.name)), tensors: plans, blobs: blobs)
        try writer.write(to: path, produce: { plan, dst in
            dst.copyBytes(from: contents[plan.name]!)
        })
        let file = try TandemFile(path: path, verifyChecksums: true)
        #expect(file.tensors.map(\.name) == plans.map(\.name))
        for plan in plans {
            let view = try #require(file.tensor(plan.name))
            #expect(view.shape == plan.shape)
            #expect(view.dtype == dtype)
            #expect(Array(view.data) == contents[plan.name]!)
            #expect(UInt(bitPattern: view.data.baseAddress!) % 64 == 0, "tensor data is 64-byte aligned")
        }
        for b in blobs { #expect(try file.blob(b.name) == b.content, "blob \(b.name)") }
        #expect(file.metadata == Self.metadata(plans.map(\.name)))
        // No temporary file is left beside the output.
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp-\(getpid())"))
    }

    @Test func writerRefusesBadPlans() {
        let meta = Self.metadata([])
        let bad: [[TensorPlan]] = [
            [TensorPlan(name: "a", dtype: .q8_0, shape: [4, 33])],
            [TensorPlan(name: "a", dtype: .f32, shape: [1]), TensorPlan(name: "a", dtype: .f32, shape: [1])],
            [TensorPlan(name: "", dtype: .f32, shape: [1])],
        ]
        for plans in bad {
            let path = Fixtures.temporary("bad.tandem")
            #expect(throws: TandemFileWriter.WriteError.self) {
                try TandemFileWriter(metadata: meta, tensors: plans, blobs: []).write(to: path, produce: { _, _ in })
            }
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }

    @Test func failedProducerLeavesNoFile() throws {
        struct Boom: Error {}
        let path = Fixtures.temporary("boom.tandem")
        let writer = TandemFileWriter(
            metadata: Self.metadata(["a"]), tensors: [TensorPlan(name: "a", dtype: .f32, shape: [4])],
            blobs: [BlobPlan(name: "tokenizer/spiece.model", encoding: .raw, content: [0])])
        #expect(throws: Boom.self) { try writer.write(to: path, produce: { _, _ in throw Boom() }) }
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp-\(getpid())"))
    }
}
