// The building blocks every architecture shares: typed access to a model's tensors inside a
// mapped Tandem file, `Linear` (which dispatches on the weight's dtype, so there is never a
// separate quantized model), `Embedding` (rows gathered from any dtype), and the tracer that
// dumps named intermediate tensors for comparison with a reference dump.
import Foundation
import TandemFormat
import TandemKernels

/// Why a model could not be built from a file.
public enum ModelError: Error, CustomStringConvertible, Sendable, Equatable {
    case missingTensor(String)
    case shape(tensor: String, expected: [Int], actual: [Int])
    case unsupportedDType(tensor: String, dtype: String)
    /// The model's config is not a valid config of its architecture.
    case config(ConfigError)
    /// The file's models do not fit together (an LLM-to-SLM bundle's parts).
    case invalid(String)
    case unsupportedArchitecture(String)
    case tokenOutOfRange(id: Int32, vocabulary: Int)
    case inputTooLong(tokens: Int, limit: Int)
    case emptyInput

    public var description: String {
        switch self {
        case let .missingTensor(n): "model file has no tensor \(n)"
        case let .shape(t, e, a): "tensor \(t) has shape \(a), the config implies \(e)"
        case let .unsupportedDType(t, d): "tensor \(t) is \(d), which this build cannot run"
        case let .config(e): e.description
        case let .invalid(m): m
        case let .unsupportedArchitecture(a): "architecture \(a) cannot be run by this build (supported: \(ArchitectureRegistry.supportedModelTypes.joined(separator: ", ")))"
        case let .tokenOutOfRange(id, v): "token id \(id) is outside the vocabulary (\(v))"
        case let .inputTooLong(n, limit): "input of \(n) tokens exceeds the limit of \(limit)"
        case .emptyInput: "empty input"
        }
    }
}

/// A model's tensors: names resolved under the model's prefix, shapes checked on access.
public struct ModelWeights: @unchecked Sendable {
    public let file: TandemFile
    public let prefix: String

    public init(file: TandemFile, prefix: String = "") {
        self.file = file
        self.prefix = prefix
    }

    public func has(_ name: String) -> Bool { file.tensor(prefix + name) != nil }

    // The same accessors for an entry of an architecture's tensor table, whose name and shape are
    // stated once there (for the converter's check and for this loader alike).

    public func has(_ t: ExpectedTensor) -> Bool { has(t.name) }

    /// A matrix `[out, in]`, with an optional bias `[out]`.
    public func linear(_ t: ExpectedTensor, bias: ExpectedTensor? = nil) throws(ModelError) -> Linear {
        precondition(t.shape.count == 2 && bias.map { $0.shape == [t.shape[0]] } ?? true, "\(t.name): not a matrix and its bias")
        return try linear(t.name, out: t.shape[0], in: t.shape[1], bias: bias?.name)
    }

    /// An f32 vector or table of the entry's shape.
    public func vector(_ t: ExpectedTensor) throws(ModelError) -> UnsafeBufferPointer<Float> {
        try vector(t.name, count: t.shape.reduce(1, *), shape: t.shape)
    }

    /// An embedding table `[vocabulary, dimension]`.
    public func embedding(_ t: ExpectedTensor) throws(ModelError) -> Embedding {
        precondition(t.shape.count == 2, "\(t.name): not a table")
        return try embedding(t.name, vocabulary: t.shape[0], dimension: t.shape[1])
    }

    public func view(_ name: String, shape: [Int]) throws(ModelError) -> TensorView {
        guard let v = file.tensor(prefix + name) else { throw .missingTensor(prefix + name) }
        guard v.shape == shape else { throw .shape(tensor: prefix + name, expected: shape, actual: v.shape) }
        return v
    }

    public func linear(_ name: String, out: Int, in inFeatures: Int, bias: String? = nil) throws(ModelError) -> Linear {
        let v = try view(name, shape: [out, inFeatures])
        try check(v, name, kind: .linear)
        let b = try bias.map { (n) throws(ModelError) in try vector(n, count: out) }
        return Linear(weight: WeightMatrix(dtype: v.dtype, rows: out, columns: inFeatures, data: v.data.baseAddress!), bias: b)
    }

    /// An f32 vector (norm weights, biases) or table, used in place.
    public func vector(_ name: String, count: Int, shape: [Int]? = nil) throws(ModelError) -> UnsafeBufferPointer<Float> {
        let v = try view(name, shape: shape ?? [count])
        try check(v, name, kind: .norm)
        return UnsafeBufferPointer(start: v.data.baseAddress!.assumingMemoryBound(to: Float.self), count: count)
    }

    public func embedding(_ name: String, vocabulary: Int, dimension: Int) throws(ModelError) -> Embedding {
        let v = try view(name, shape: [vocabulary, dimension])
        try check(v, name, kind: .embedding)
        return Embedding(view: v, vocabulary: vocabulary, dimension: dimension)
    }

    /// Refuses a tensor stored in a dtype its kind may not have (`TensorKind.storageDTypes`, the
    /// converter's rule too), naming the dtypes it may have.
    func check(_ v: TensorView, _ name: String, kind: TensorKind) throws(ModelError) {
        let allowed = kind.storageDTypes
        guard allowed.contains(v.dtype) else {
            throw .unsupportedDType(tensor: prefix + name, dtype: "\(v.dtype.name) (a \(kind.rawValue) tensor may be \(allowed.listed))")
        }
    }
}

/// y = x Wᵀ (+ b) for `rows` activation rows; W in any dtype Tandem stores.
public struct Linear: @unchecked Sendable {
    public let weight: WeightMatrix
    public let bias: UnsafeBufferPointer<Float>?
    fileprivate let prepack = PrepackCache()

    public var inFeatures: Int { weight.columns }
    public var outFeatures: Int { weight.rows }

    public init(weight: WeightMatrix, bias: UnsafeBufferPointer<Float>? = nil) {
        self.weight = weight
        self.bias = bias
    }

    /// `decoding`: a batched decoding step (one row per sequence), whose repeated few-row products
    /// may earn the weights a prepacked copy (`PrepackCache`); a prompt pass never does, however
    /// few its rows.
    public func callAsFunction(_ x: UnsafeBufferPointer<Float>, rows: Int, into y: UnsafeMutableBufferPointer<Float>, pool: ThreadPool,
                               decoding: Bool = false) {
        let packed = decoding && rows > 1 && rows <= PrepackCache.maxRows ? prepack.weights(for: weight, pool: pool) : nil
        MatMul.gemm(weight, x: UnsafeBufferPointer(rebasing: x[0..<rows * inFeatures]), m: rows,
                    y: UnsafeMutableBufferPointer(rebasing: y[0..<rows * outFeatures]), pool: pool, prepacked: packed)
        addBias(to: y, rows: rows)
    }

    /// y[r] += b for each of `rows` output rows, when the layer has a bias.
    func addBias(to y: UnsafeMutableBufferPointer<Float>, rows: Int) {
        guard let bias else { return }
        for r in 0..<rows {
            let base = r * outFeatures
            for i in 0..<outFeatures { y[base + i] += bias[i] }
        }
    }

    /// Bytes of the copy of the weights that batched decoding makes (`PrepackCache`); 0 for
    /// weights that get none.
    public var prepackedBytes: Int { PrepackedWeights.byteCount(for: weight) }

    /// Whether the prepacked copy has been made.
    var isPrepacked: Bool { prepack.isPacked }

    /// Bytes of the temporary q8_0 copy a product of `rows` rows makes of q5_0 weights
    /// (`MatMul.widenedBytes`); 0 otherwise. For memory budgets.
    public func widenedBytes(rows: Int) -> Int { MatMul.widenedBytes(for: weight, rows: rows) }

    /// Whether `rows` rows can go through `callAsFunction(_:rows:into:epilogue:pool:)`: no bias,
    /// and a product on the tile GEMM (`MatMul.fuses`).
    public func fuses(rows: Int) -> Bool { bias == nil && MatMul.fuses(weight.dtype, m: rows) }

    /// y = x Wᵀ with an epilogue: `.accumulate` adds to y (a residual connection), `.relu` clamps.
    public func callAsFunction(
        _ x: UnsafeBufferPointer<Float>, rows: Int, into y: UnsafeMutableBufferPointer<Float>, epilogue: MatMul.Epilogue,
        pool: ThreadPool
    ) {
        precondition(bias == nil, "Linear: an epilogue with a bias")
        MatMul.gemm(weight, x: UnsafeBufferPointer(rebasing: x[0..<rows * inFeatures]), m: rows,
                    y: UnsafeMutableBufferPointer(rebasing: y[0..<rows * outFeatures]), epilogue: epilogue, pool: pool)
    }
}

/// When a `Linear` keeps a prepacked copy of its weights: once batched decoding has applied it to
/// a small batch of rows (2…`maxRows`) `uses` times — one call per step. Prompt passes never
/// count, short ones included (a chat turn, the last piece of a long prompt, a short document):
/// counting them once prepacked a whole model during a run of single sequences.
final class PrepackCache: @unchecked Sendable {
    static let maxRows = 32
    static let uses = 3
    private let lock = NSLock()
    private var calls = 0
    private var packed: PrepackedWeights?
    private var unavailable = false

    var isPacked: Bool {
        lock.lock()
        defer { lock.unlock() }
        return packed != nil
    }

    func weights(for w: WeightMatrix, pool: ThreadPool) -> PrepackedWeights? {
        guard w.dtype.hasTileKernels else { return nil }
        lock.lock()
        defer { lock.unlock() }
        if let packed { return packed }
        if unavailable { return nil }
        calls += 1
        guard calls >= Self.uses else { return nil }
        packed = PrepackedWeights(w, pool: pool)
        unavailable = packed == nil
        return packed
    }
}

extension Linear {
    /// Several linear layers over the same input rows (q/k/v, gate/up), run as one grouped
    /// product: for one token the grouped GEMV (`MatMul.gemv(_:x:ys:)`), for several rows the
    /// grouped GEMM, each with one quantization of the input and one parallel call; biases (Qwen2's
    /// q, k, v) are added after.
    public static func apply(_ layers: [Linear], _ x: UnsafeBufferPointer<Float>, rows: Int,
                             into ys: [UnsafeMutableBufferPointer<Float>], pool: ThreadPool, decoding: Bool = false) {
        let first = layers[0].weight
        if rows == 1, layers.allSatisfy({ $0.weight.dtype == first.dtype && $0.weight.columns == first.columns }) {
            MatMul.gemv(layers.map(\.weight), x: UnsafeBufferPointer(rebasing: x[0..<first.columns]),
                        ys: zip(layers, ys).map { UnsafeMutableBufferPointer(rebasing: $1[0..<$0.outFeatures]) }, pool: pool)
        } else if rows > 1 {
            // A prompt pass or batched decoding: one grouped GEMM (`MatMul.gemm(_:x:m:ys:prepacked:)`).
            let packed = layers.map { decoding && rows <= PrepackCache.maxRows ? $0.prepack.weights(for: $0.weight, pool: pool) : nil }
            MatMul.gemm(layers.map(\.weight), x: UnsafeBufferPointer(rebasing: x[0..<rows * first.columns]), m: rows,
                        ys: zip(layers, ys).map { UnsafeMutableBufferPointer(rebasing: $1[0..<rows * $0.outFeatures]) },
                        pool: pool, prepacked: packed)
        } else {
            for (layer, y) in zip(layers, ys) { layer(x, rows: rows, into: y, pool: pool, decoding: decoding) }
            return
        }
        for (layer, y) in zip(layers, ys) { layer.addBias(to: y, rows: rows) }
    }
}

/// A token embedding table `[vocabulary, dimension]` in any dtype; rows are decoded on lookup.
public struct Embedding: @unchecked Sendable {
    public let view: TensorView
    public let vocabulary: Int
    public let dimension: Int

    public func lookup(_ id: Int, into out: UnsafeMutableBufferPointer<Float>) {
        precondition(id >= 0 && id < vocabulary, "token \(id) outside the vocabulary")
        let rowBytes = view.dtype.rowBytes(columns: dimension)
        view.dtype.decodeRow(UnsafeRawBufferPointer(rebasing: view.data[id * rowBytes..<(id + 1) * rowBytes]), into: out)
    }

    /// The rows of `ids` (checked against the vocabulary), `ids.count × dimension` floats.
    ///
    /// `releasingPages`: for a table read nowhere else (the head is untied), the table's pages are
    /// then dropped from the process (`MappedFile.dontNeed`; the page cache keeps them). The
    /// kernel maps the pages around each one a lookup faults in, so the few rows a prompt reads
    /// otherwise leave tens of megabytes resident for the rest of the run — 20–30 MB of
    /// Qwen2.5-0.5B's 77 MB q4_0 table after a few documents, a twelfth of what
    /// `summarize --max-memory 400M` has.
    public func embed(_ ids: [Int32], releasingPages: Bool = false) throws(ModelError) -> FloatBuffer {
        let out = FloatBuffer(count: ids.count * dimension)
        for (i, id) in ids.enumerated() {
            guard id >= 0, Int(id) < vocabulary else { throw .tokenOutOfRange(id: id, vocabulary: vocabulary) }
            lookup(Int(id), into: out.rows(i..<i + 1, width: dimension))
        }
        if releasingPages { MappedFile.dontNeed(view.data) }
        return out
    }

    /// The table as a weight matrix, for a head tied to the embedding.
    public var matrix: WeightMatrix {
        WeightMatrix(dtype: view.dtype, rows: vocabulary, columns: dimension, data: view.data.baseAddress!)
    }
}

/// Receives named intermediate tensors during a forward pass (`--dump` in the CLI, parity tests).
public protocol ForwardTracer: AnyObject {
    func record(_ name: String, _ values: UnsafeBufferPointer<Float>, shape: [Int])
}

/// A tracer that keeps copies in memory.
public final class RecordingTracer: ForwardTracer {
    public private(set) var tensors: [(name: String, shape: [Int], values: [Float])] = []
    public init() {}
    public func record(_ name: String, _ values: UnsafeBufferPointer<Float>, shape: [Int]) {
        tensors.append((name, shape, Array(values)))
    }
    public func values(_ name: String) -> [Float]? { tensors.last { $0.name == name }?.values }
}

/// x += layer(input) for `rows` rows — a residual connection: added as the tile GEMM stores its
/// outputs where it can (`Linear.fuses`), else through `scratch` and a pass over x.
func addProduct(_ layer: Linear, _ input: UnsafeBufferPointer<Float>, rows: Int, to x: FloatBuffer, scratch: FloatBuffer,
                pool: ThreadPool, decoding: Bool = false) {
    if layer.fuses(rows: rows) {
        layer(input, rows: rows, into: x.mutable, epilogue: .accumulate, pool: pool)
        return
    }
    layer(input, rows: rows, into: scratch.mutable, pool: pool, decoding: decoding)
    Ops.addInPlace(x.mutable, scratch.buffer, count: rows * layer.outFeatures, pool: pool)
}
