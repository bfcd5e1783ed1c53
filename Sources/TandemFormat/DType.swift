// Storage traits of every element type a Tandem file can hold: how many elements a block
// carries and how many bytes it takes. Compute traits (dot products, which activation type a
// weight pairs with) live in TandemKernels. The split follows ggml's `type_traits[]` /
// `type_traits_cpu[]`. Byte layouts: Formats/FORMAT.md §5.

/// An element type of a stored tensor. The raw value is the on-disk code (Formats/FORMAT.md §5);
/// codes are never reused.
public enum DType: UInt8, CaseIterable, Sendable, Codable, CustomStringConvertible {
    case f32 = 0
    case f16 = 1
    case bf16 = 2
    /// 32 × int8 in [-127, 127] and one f16 scale: 34 bytes per 32 weights (8.5 bits/weight).
    case q8_0 = 8
    /// 32 × 4-bit in [-8, 7] (stored +8) and one f16 scale: 18 bytes per 32 weights (4.5 bits/weight).
    case q4_0 = 9
    /// 32 × 5-bit in [-16, 15] (stored +16: four nibble bytes' worth plus 32 fifth bits) and one
    /// f16 scale: 22 bytes per 32 weights (5.5 bits/weight). GGML's Q5_0.
    case q5_0 = 10
    /// K-quants, GGML's super-blocks of 256 weights with per-sub-block scales (Formats/FORMAT.md §5),
    /// kept as a GGUF file has them: 144 bytes (4.5 bits/weight).
    case q4_K = 12
    /// 176 bytes per 256 weights (5.5 bits/weight).
    case q5_K = 13
    /// 210 bytes per 256 weights (6.5625 bits/weight).
    case q6_K = 14

    /// Elements per block; a row's innermost dimension must be a multiple of it.
    @inlinable public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: 1
        case .q8_0, .q4_0, .q5_0: 32
        case .q4_K, .q5_K, .q6_K: 256
        }
    }

    /// Bytes per block.
    @inlinable public var blockBytes: Int {
        switch self {
        case .f32: 4
        case .f16, .bf16: 2
        case .q8_0: 34
        case .q4_0: 18
        case .q5_0: 22
        case .q4_K: 144
        case .q5_K: 176
        case .q6_K: 210
        }
    }

    /// Whether this is a K-quant (256-weight super-blocks), whose products pair with q8_K
    /// activations rather than q8_0.
    public var isKQuant: Bool { blockSize == 256 }

    /// Whether Tandem writes this dtype from floats (`encodeRow`): the GGUF block types it runs
    /// natively (q5_0, the K-quants) are only copied from a GGUF, never made.
    public var isEncodable: Bool {
        switch self {
        case .f32, .f16, .bf16, .q8_0, .q4_0: true
        case .q5_0, .q4_K, .q5_K, .q6_K: false
        }
    }

    /// The dtypes `encodeRow` makes, in code order: what `--dtype` may ask for.
    public static var encodable: [DType] { allCases.filter(\.isEncodable) }

    public var isQuantized: Bool { blockSize > 1 }

    /// Bits per weight, scale included.
    public var bitsPerWeight: Double { Double(blockBytes * 8) / Double(blockSize) }

    public var description: String { name }

    /// The name used in the CLI, in JSON and in `tandem inspect`.
    public var name: String {
        switch self {
        case .f32: "f32"
        case .f16: "f16"
        case .bf16: "bf16"
        case .q8_0: "q8_0"
        case .q4_0: "q4_0"
        case .q5_0: "q5_0"
        case .q4_K: "q4_K"
        case .q5_K: "q5_K"
        case .q6_K: "q6_K"
        }
    }

    public init?(name: String) {
        guard let match = DType.allCases.first(where: { $0.name.lowercased() == name.lowercased() }) else {
            return nil
        }
        self = match
    }

    /// Bytes taken by `count` elements, or nil when `count` is not a whole number of blocks or
    /// the product overflows.
    public func byteCount(elements count: UInt64) -> UInt64? {
        let block = UInt64(blockSize)
        guard count % block == 0 else { return nil }
        let (bytes, overflow) = (count / block).multipliedReportingOverflow(by: UInt64(blockBytes))
        return overflow ? nil : bytes
    }

    /// Bytes of one row of `columns` elements (`columns` must be a multiple of `blockSize`).
    @inlinable public func rowBytes(columns: Int) -> Int {
        precondition(columns % blockSize == 0, "row of \(columns) is not whole \(name) blocks")
        return columns / blockSize * blockBytes
    }
}
