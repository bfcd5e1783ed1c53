// The loader reads a tensor exactly when its dtype is one its kind may have
// (`TensorKind.storageDTypes`, the answer the converter's --dtype and --keep use as well), and
// refuses any other with an error naming the tensor — never a trap in the kernels.
import Foundation
import TandemFormat
import TandemKernels
import TandemModels
import TandemTestSupport
import Testing

struct WeightDTypeTests {
    /// A file holding one 32 × 32 tensor "t" of `dtype`.
    static func file(_ dtype: DType) throws -> TandemFile {
        let path = Scratch.unique("dtype-\(dtype.name).tandem")
        let meta = TandemMetadata(
            kind: .model, models: ["model": .init(architecture: "test", config: .object([:]), tokenizer: nil)], tokenizers: [:],
            generation: [:], provenance: .init(sources: [], converter: "test", created: "", defaultDType: dtype.name, keepRules: [],
                                               tensors: [:]))
        let values = (0..<32).map { Float($0) / 32 - 0.5 }
        try TandemFileWriter(metadata: meta, tensors: [TensorPlan(name: "t", dtype: dtype, shape: [32, 32])], blobs: []).write(to: path) { _, dst in
            let rowBytes = dtype.rowBytes(columns: 32)
            for r in 0..<32 {
                values.withUnsafeBufferPointer { dtype.encodeRow($0, into: UnsafeMutableRawBufferPointer(rebasing: dst[r * rowBytes..<(r + 1) * rowBytes])) }
            }
        }
        return try TandemFile(path: path)
    }

    @Test(arguments: DType.allCases)
    func loaderAcceptsExactlyTheKindsDTypes(dtype: DType) throws {
        let w = ModelWeights(file: try Self.file(dtype))
        let loads: [(TensorKind, () throws -> Void)] = [
            (.linear, { _ = try w.linear("t", out: 32, in: 32) }),
            (.embedding, { _ = try w.embedding("t", vocabulary: 32, dimension: 32) }),
            (.norm, { _ = try w.vector("t", count: 32 * 32, shape: [32, 32]) }),
        ]
        for (kind, load) in loads {
            if kind.storageDTypes.contains(dtype) {
                #expect(throws: Never.self, "\(kind) \(dtype)") { try load() }
            } else {
                do {
                    try load()
                    Issue.record("\(kind) tensor of \(dtype) loaded")
                } catch let e as ModelError {
                    guard case .unsupportedDType(let tensor, _) = e else { Issue.record("\(e)"); continue }
                    #expect(tensor == "t")
                    #expect(e.description.contains(kind.storageDTypes.listed), "\(e)")
                }
            }
        }
    }
}
