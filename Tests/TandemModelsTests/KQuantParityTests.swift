import Foundation
import Testing
import TandemConvert
import TandemFormat
import TandemKernels
import TandemModels
import TandemTestSupport

/// A GGUF whose matrices are K-quants and Q5_0 (Tools/fixtures/make_gguf_fixtures.py,
/// `tiny_llama_kquant`) imported as it is — every block copied, nothing quantized twice — and run
/// on the native q4_K / q5_K / q6_K / q5_0 kernels, against transformers on gguf-py's
/// dequantization of the same file. The same file dequantized to f32 must match transformers to
/// float precision (the blocks and the q/k row order are right); the native run must match
/// transformers with each matrix product's input rounded as ggml's CPU kernels round it (q8_K for
/// K-quants, q8_0 for Q5_0): on this deliberately ill-conditioned net of random blocks that
/// rounding alone moves logits by up to 3.9 of 13, so the tight bound shows the native path does
/// exactly ggml's arithmetic.
struct KQuantParityTests {
    static let gguf = "Tests/Fixtures/gguf/tiny-llama-kquant.gguf"

    /// The token ids and transformers' logits: exact (`rounded` false) or with ggml's rounding of
    /// every matrix product's input.
    static func golden(rounded: Bool) throws -> (ids: [Int32], vocab: Int, logits: [Float]) {
        let f = try SafetensorsFile(path: Fixtures.path("Tests/Fixtures/gguf/tiny-llama-kquant-logits.safetensors"))
        let ids = try #require(f.tensors["ids"]).floats().map { Int32($0) }
        let logits = try #require(f.tensors[rounded ? "logits_q8" : "logits"])
        return (ids, logits.shape[1], try logits.floats())
    }

    static func open(keepSourceTypes: Bool) throws -> (TandemFile, CausalRunner) {
        let out = Scratch.unique("kquant-\(keepSourceTypes ? "native" : "f32").tandem")
        _ = try GGUFImporter.convert(ConvertOptions(source: Fixtures.path(gguf), output: out, dtype: .f32,
                                                    keepSourceTypes: keepSourceTypes, pool: .shared))
        let file = try TandemFile(path: out)
        return (file, try #require(try ArchitectureRegistry.open(file, pool: .shared) as? CausalRunner))
    }

    /// Token by token through the KV cache (every position's logits) and in one prompt pass;
    /// the largest differences from transformers' logits.
    static func run(_ runner: CausalRunner, rounded: Bool) throws -> (outputs: [[Float]], tokens: Float, prompt: Float) {
        let (ids, vocab, logits) = try golden(rounded: rounded)
        let model = runner.model
        let state = model.makeState(capacity: ids.count)
        var outputs: [[Float]] = []
        var worst: Float = 0
        for (i, id) in ids.enumerated() {
            outputs.append(try model.forward(try model.embed([id]), segments: [(state, 1)], tracer: nil).array)
            worst = max(worst, maxAbsDiff(outputs[i], logits[i * vocab..<(i + 1) * vocab]))
        }
        let whole = model.makeState(capacity: ids.count)
        let last = try model.forward(try model.embed(ids), segments: [(whole, ids.count)], tracer: nil)
        return (outputs, worst, maxAbsDiff(last.array, logits[(ids.count - 1) * vocab..<ids.count * vocab]))
    }

    @Test func dequantizedMatchesTransformers() throws {
        let (file, runner) = try Self.open(keepSourceTypes: false)
        #expect(file.tensors.allSatisfy { $0.dtype == .f32 })
        let (_, tokens, prompt) = try Self.run(runner, rounded: false)
        #expect(tokens <= 1e-4 && prompt <= 1e-4, "f32 maxdiff \(tokens), prompt pass \(prompt)")
    }

    /// A prompt pass's working set counts the q8_0 copy its q5_0 products widen to (here layer
    /// 0's o projection, 256 × 256), from 16 rows on and not below.
    @Test func workingBytesCountTheWidenedQ5Copy() throws {
        let (file, runner) = try Self.open(keepSourceTypes: true)
        let model = try #require(runner.model as? LlamaModel)
        let o = try #require(file.tensor("model.layers.0.self_attn.o_proj.weight"))
        #expect(o.dtype == .q5_0)
        let copy = o.shape[0] * DType.q8_0.rowBytes(columns: o.shape[1])
        let perRow = (model.workingBytes(rows: 15, keys: 15) - model.workingBytes(rows: 14, keys: 14))
        // Beyond the rows' own growth, 16 rows add the copy.
        #expect(model.workingBytes(rows: 16, keys: 16) - model.workingBytes(rows: 15, keys: 15) >= perRow + copy)
    }

    @Test func nativeBlocksAreKeptAndMatchTransformers() throws {
        let (file, runner) = try Self.open(keepSourceTypes: true)
        let source = try GGUFFile(path: Fixtures.path(Self.gguf))
        // Every GGUF tensor is in the Tandem file in its own type, its blocks unchanged (q/k rows
        // are moved whole, so those compare as sets of rows).
        for t in source.tensors {
            let name = try #require(LlamaArchitecture.gguf!.tensorName(t.name))
            let view = try #require(file.tensor(name))
            #expect(view.dtype.ggmlType == t.type, "\(name): \(view.dtype) from \(t.type.name)")
            let rowBytes = t.type.rowBytes(columns: t.info.columns)!
            let rows = { (d: UnsafeRawBufferPointer) in
                Set((0..<t.info.rows).map { [UInt8](d[$0 * rowBytes..<($0 + 1) * rowBytes]) })
            }
            #expect(rows(view.data) == rows(t.data), "\(name)")
        }
        #expect(Set(file.tensors.map(\.dtype)) == [.f32, .q4_K, .q5_K, .q6_K, .q5_0])
        #expect(file.metadata.provenance.defaultDType == "gguf")

        let (_, vocab, logits) = try Self.golden(rounded: true)
        let scale = logits.map(abs).max()!
        let (outputs, tokens, prompt) = try Self.run(runner, rounded: true)
        #expect(tokens <= 2e-4 * scale && prompt <= 2e-4 * scale, "native maxdiff \(tokens), prompt pass \(prompt) of \(scale)")
        // Greedy decoding follows ggml's path: the best token at every position where the
        // reference's top two are further apart than twice the largest difference.
        var clear = 0
        for (i, out) in outputs.enumerated() {
            let ref = Array(logits[i * vocab..<(i + 1) * vocab])
            let sorted = ref.sorted(by: >)
            guard sorted[0] - sorted[1] > 2 * tokens else { continue }
            clear += 1
            #expect(out.indices.max { out[$0] < out[$1] } == ref.indices.max { ref[$0] < ref[$1] }, "position \(i)")
        }
        #expect(clear >= outputs.count / 2, "only \(clear) of \(outputs.count) positions have a clear best token")
        print("K-quant parity (\(KernelISA.current)): native maxdiff \(tokens), prompt pass \(prompt) of |logit| \(scale); \(clear) clear argmaxes agree")
    }
}
