import Foundation
import TandemTestSupport
import Testing
import TandemConvert
import TandemFormat
import TandemKernels
@testable import TandemModels

/// Golden data written by Tools/fixtures/make_forward_golden.py (transformers, f32).
struct ForwardGolden {
    let entry: [String: Any]
    let blob: Data

    init(_ name: String) throws {
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("Tests/Fixtures/forward/manifest.json")))) as! [String: Any]
        entry = (manifest["checkpoints"] as! [String: [String: Any]])[name]!
        blob = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("Tests/Fixtures/forward/\(entry["file"] as! String)")))
    }

    func ids(_ key: String) -> [Int32] { (entry[key] as! [Int]).map(Int32.init) }

    func array(_ key: String) -> (shape: [Int], values: [Float]) {
        let a = (entry["arrays"] as! [String: [String: Any]])[key]!
        let offset = a["offset"] as! Int, bytes = a["bytes"] as! Int
        let values = blob.subdata(in: offset..<offset + bytes).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        return (a["shape"] as! [Int], values)
    }
}

enum Fixtures {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func path(_ relative: String) -> String { repo.appendingPathComponent(relative).path }

    /// Converts a fixture checkpoint once per dtype per test process.
    nonisolated(unsafe) static var converted: [String: TandemFile] = [:]
    static let lock = NSLock()

    static func model(_ checkpoint: String, _ dtype: DType) throws -> TandemFile {
        lock.lock()
        defer { lock.unlock() }
        let key = "\(checkpoint).\(dtype)"
        if let f = converted[key] { return f }
        let out = Scratch.named("\(key).tandem")
        _ = try Converter.convert(ConvertOptions(source: path("Tests/Fixtures/checkpoints/\(checkpoint)"), output: out, dtype: dtype, pool: .shared))
        let f = try TandemFile(path: out)
        converted[key] = f
        return f
    }

    static func t5(_ checkpoint: String, _ dtype: DType) throws -> T5Model {
        let f = try model(checkpoint, dtype)
        let config = try T5Config.from(f.metadata.models["model"]!.config)
        return try T5Model(weights: ModelWeights(file: f), config: config, pool: .shared)
    }
}

func maxAbsDiff(_ a: some Collection<Float>, _ b: some Collection<Float>) -> Float {
    precondition(a.count == b.count, "sizes \(a.count) vs \(b.count)")
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

struct T5ParityTests {
    /// f32: encoder output and teacher-forced decoder logits at every step within 1e-4 of
    /// transformers.
    @Test(arguments: ["t5-v1_0-tiny", "t5-v1_1-tiny"])
    func f32MatchesTransformers(checkpoint: String) throws {
        let golden = try ForwardGolden(checkpoint)
        let model = try Fixtures.t5(checkpoint, .f32)
        let input = golden.ids("input_ids")
        let encoded = try model.encode(input)
        let expected = golden.array("encoder_hidden")
        #expect(expected.shape == [input.count, model.config.dModel])
        let encDiff = maxAbsDiff(encoded.array[0..<expected.values.count], expected.values)
        #expect(encDiff <= 1e-4, "encoder maxdiff=\(encDiff)")

        let targets = golden.ids("decoder_input_ids")
        let logits = golden.array("logits")
        let vocab = model.config.vocabSize
        let state = model.makeDecoderState(encoderOutput: encoded, length: input.count, maxSteps: targets.count)
        var worst: Float = 0
        for (step, token) in targets.enumerated() {
            let out = try model.decodeStep([state], tokens: [token])
            let diff = maxAbsDiff(out.array, logits.values[step * vocab..<(step + 1) * vocab])
            worst = max(worst, diff)
            #expect(diff <= 1e-4, "step \(step) logits maxdiff=\(diff)")
        }
        print("T5 parity \(checkpoint) f32: encoder maxdiff=\(encDiff) logits maxdiff=\(worst)")
    }
}

/// Quantized weights: teacher-forced logits stay within a stated bound of transformers' f32
/// logits, relative to the largest logit (max |Δ| / max |logit|), and the greedy choice agrees
/// with f32 at most steps. The bounds are the measured worst case on these fixtures with margin;
/// the agreement rate is printed for the record.
struct T5QuantizedParityTests {
    static let cases: [(String, DType, Float)] = [
        ("t5-v1_0-tiny", .f16, 1e-3), ("t5-v1_1-tiny", .f16, 1e-3),
        ("t5-v1_0-tiny", .q8_0, 0.04), ("t5-v1_1-tiny", .q8_0, 0.04),
        ("t5-v1_0-tiny", .q4_0, 0.4), ("t5-v1_1-tiny", .q4_0, 0.4),
    ]

    @Test(arguments: cases)
    func quantizedLogitsWithinBound(checkpoint: String, dtype: DType, bound: Float) throws {
        let golden = try ForwardGolden(checkpoint)
        let model = try Fixtures.t5(checkpoint, dtype)
        let input = golden.ids("input_ids")
        let targets = golden.ids("decoder_input_ids")
        let logits = golden.array("logits").values
        let vocab = model.config.vocabSize
        let encoded = try model.encode(input)
        let state = model.makeDecoderState(encoderOutput: encoded, length: input.count, maxSteps: targets.count)
        var worst: Float = 0
        var agree = 0
        for (step, token) in targets.enumerated() {
            let out = try model.decodeStep([state], tokens: [token]).array
            let reference = Array(logits[step * vocab..<(step + 1) * vocab])
            worst = max(worst, maxAbsDiff(out, reference))
            let a = out.indices.max { out[$0] < out[$1] }!, b = reference.indices.max { reference[$0] < reference[$1] }!
            if a == b { agree += 1 }
        }
        let scale = logits.map(abs).max()!
        let relative = worst / scale
        print("T5 parity \(checkpoint) \(dtype): logits maxdiff=\(worst), relative \(relative) (bound \(bound)), greedy agreement \(agree)/\(targets.count)")
        #expect(relative <= bound, "\(dtype) relative logits maxdiff=\(relative)")
    }
}

/// A 100-token input (every product over many rows: the bf16 tiles where the CPU has AMX, int8
/// blocks elsewhere): the quantized encoder's output within a stated bound of the f32 model's,
/// relative to its largest value (measured worst case with margin; printed for the record).
struct T5LongInputQuantizedTests {
    @Test(arguments: [("t5-v1_0-tiny", DType.q8_0, Float(0.03)), ("t5-v1_1-tiny", .q8_0, 0.03),
                      ("t5-v1_0-tiny", .q4_0, 0.3), ("t5-v1_1-tiny", .q4_0, 0.3)])
    func encoderNearF32(checkpoint: String, dtype: DType, bound: Float) throws {
        let exact = try Fixtures.t5(checkpoint, .f32), quantized = try Fixtures.t5(checkpoint, dtype)
        let ids = (0..<100).map { Int32(($0 * 7919 + 11) % exact.config.vocabSize) }
        let a = try exact.encode(ids).array, b = try quantized.encode(ids).array
        let relative = maxAbsDiff(a, b) / a.map(abs).max()!
        print("T5 long input \(checkpoint) \(dtype) on \(KernelISA.current): encoder relative maxdiff \(relative) (bound \(bound))")
        #expect(relative <= bound)
    }
}

/// An encoder pass long enough that its norms, residual adds and activations are shared out over
/// the pool (≥ 64K floats each) gives the same floats as on one thread: each of those passes is
/// element-wise or row-wise, so how it is split cannot change a value.
struct T5ThreadedEncoderTests {
    @Test(arguments: ["t5-v1_0-tiny", "t5-v1_1-tiny"])
    func longInputSameOnOneThreadAndThree(checkpoint: String) throws {
        let file = try Fixtures.model(checkpoint, .q8_0)
        let config = try T5Config.from(file.metadata.models["model"]!.config)
        let one = try T5Model(weights: ModelWeights(file: file), config: config, pool: ThreadPool(threads: 1))
        let three = try T5Model(weights: ModelWeights(file: file), config: config,
                                pool: ThreadPool(threads: 3, spinIterations: 1 << 10))
        let length = (ThreadPool.parallelElementwiseMinimum + config.dModel - 1) / config.dModel + 5
        #expect(length * config.dModel >= ThreadPool.parallelElementwiseMinimum)
        let ids = (0..<length).map { Int32(($0 * 7919) % config.vocabSize) }
        let a = try one.encode(ids).array, b = try three.encode(ids).array
        #expect(a.count == b.count)
        #expect(a == b, "max difference \(maxAbsDiff(a, b))")
    }
}
