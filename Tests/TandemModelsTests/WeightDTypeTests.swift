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
    /// Columns of the test tensor: 32, or a whole K-quant super-block.
    static func columns(_ dtype: DType) -> Int { max(32, dtype.blockSize) }

    /// A file holding one 32 × `columns` tensor "t" of `dtype` (random blocks for the dtypes
    /// only copied from GGUF files).
    static func file(_ dtype: DType) throws -> TandemFile {
        let cols = columns(dtype)
        let path = Scratch.unique("dtype-\(dtype.name).tandem")
        let meta = TandemMetadata(
            kind: .model, models: ["model": .init(architecture: "test", config: .object([:]), tokenizer: nil)], tokenizers: [:],
            generation: [:], provenance: .init(sources: [], converter: "test", created: "", defaultDType: dtype.name, keepRules: [],
                                               tensors: [:]))
        let values = (0..<cols).map { Float($0) / Float(cols) - 0.5 }
        try TandemFileWriter(metadata: meta, tensors: [TensorPlan(name: "t", dtype: dtype, shape: [32, cols])], blobs: []).write(to: path) { _, dst in
            let rowBytes = dtype.rowBytes(columns: cols)
            for r in 0..<32 {
                if dtype.isEncodable {
                    values.withUnsafeBufferPointer { dtype.encodeRow($0, into: UnsafeMutableRawBufferPointer(rebasing: dst[r * rowBytes..<(r + 1) * rowBytes])) }
                } else {
                    // Blocks of zero bits: valid (every scale 0), and all the loader looks at is the dtype.
                    for i in r * rowBytes..<(r + 1) * rowBytes { dst[i] = 0 }
                }
            }
        }
        return try TandemFile(path: path)
    }

    @Test(arguments: DType.allCases)
    func loaderAcceptsExactlyTheKindsDTypes(dtype: DType) throws {
        let w = ModelWeights(file: try Self.file(dtype))
        let loads: [(TensorKind, () throws -> Void)] = [
            (.linear, { _ = try w.linear("t", out: 32, in: Self.columns(dtype)) }),
            (.embedding, { _ = try w.embedding("t", vocabulary: 32, dimension: Self.columns(dtype)) }),
            (.norm, { _ = try w.vector("t", count: 32 * Self.columns(dtype), shape: [32, Self.columns(dtype)]) }),
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
