// The value and tensor types of a GGUF file (llama.cpp's model format), as the reader exposes them.
//
// References followed (read, not copied): the GGUF specification, ggml/docs/gguf.md in
// ggml-org/ggml (value type codes, "GGUF" magic, versions 2 and 3); ggml/include/ggml.h
// `enum ggml_type` (tensor type codes, which are never reused: removed types leave gaps) and the
// `type_traits[]` table in ggml/src/ggml.c (elements per block, bytes per block). The block sizes
// were cross-checked against gguf-py's `GGML_QUANT_SIZES` (which still lists Q8_1 at 40 bytes, its
// pre-2023 layout; ggml's `block_q8_1` is 36).

/// The type code of a metadata value (`gguf_type`).
public enum GGUFValueType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// The fewest bytes one value of this type takes on disk. Array counts are checked against
    /// it before anything is allocated, so a count can never promise more values than the bytes
    /// left in the file could hold.
    var minimumEncodedSize: Int {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64: 8
        case .string: 8  // the u64 length of an empty string
        case .array: 12  // element type u32 + count u64 of an empty array
        }
    }

    public var description: String {
        ["UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL", "STRING", "ARRAY",
         "UINT64", "INT64", "FLOAT64"][Int(rawValue)]
    }
}

/// An array from the metadata, stored per element type so a 49 152-token vocabulary costs one
/// `[String]`, and a large numeric array costs its own size rather than an enum per element.
public indirect enum GGUFArray: Equatable, Sendable {
    case uint8([UInt8]), int8([Int8]), uint16([UInt16]), int16([Int16])
    case uint32([UInt32]), int32([Int32]), float32([Float]), bool([Bool])
    case string([String]), uint64([UInt64]), int64([Int64]), float64([Double])
    /// Nested arrays (allowed by the spec, bounded in depth by the reader).
    case array([GGUFArray])

    public var count: Int {
        switch self {
        case let .uint8(a): a.count
        case let .int8(a): a.count
        case let .uint16(a): a.count
        case let .int16(a): a.count
        case let .uint32(a): a.count
        case let .int32(a): a.count
        case let .float32(a): a.count
        case let .bool(a): a.count
        case let .string(a): a.count
        case let .uint64(a): a.count
        case let .int64(a): a.count
        case let .float64(a): a.count
        case let .array(a): a.count
        }
    }

    public var elementType: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .float32: .float32
        case .bool: .bool
        case .string: .string
        case .uint64: .uint64
        case .int64: .int64
        case .float64: .float64
        case .array: .array
        }
    }

    /// The elements as 64-bit integers, for any integer element type (nil otherwise, or when a
    /// u64 does not fit).
    public var integers: [Int64]? {
        switch self {
        case let .uint8(a): a.map(Int64.init)
        case let .int8(a): a.map(Int64.init)
        case let .uint16(a): a.map(Int64.init)
        case let .int16(a): a.map(Int64.init)
        case let .uint32(a): a.map(Int64.init)
        case let .int32(a): a.map(Int64.init)
        case let .uint64(a): a.allSatisfy { $0 <= UInt64(Int64.max) } ? a.map { Int64($0) } : nil
        case let .int64(a): a
        default: nil
        }
    }

    public var strings: [String]? { if case let .string(a) = self { a } else { nil } }
}

/// One metadata value.
public enum GGUFValue: Equatable, Sendable, CustomStringConvertible {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16)
    case uint32(UInt32), int32(Int32), float32(Float), bool(Bool)
    case string(String), uint64(UInt64), int64(Int64), float64(Double)
    case array(GGUFArray)

    public var type: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .float32: .float32
        case .bool: .bool
        case .string: .string
        case .uint64: .uint64
        case .int64: .int64
        case .float64: .float64
        case .array: .array
        }
    }

    /// Any integer value as Int64 (nil for other types, or a u64 above Int64.max). Writers
    /// disagree on widths (`llama.block_count` is u32 from llama.cpp, sometimes i32 or u64
    /// elsewhere), so consumers ask for "an integer", not for one width.
    public var integer: Int64? {
        switch self {
        case let .uint8(v): Int64(v)
        case let .int8(v): Int64(v)
        case let .uint16(v): Int64(v)
        case let .int16(v): Int64(v)
        case let .uint32(v): Int64(v)
        case let .int32(v): Int64(v)
        case let .uint64(v): v <= UInt64(Int64.max) ? Int64(v) : nil
        case let .int64(v): v
        default: nil
        }
    }

    /// Any number (integers included) as Double.
    public var number: Double? {
        switch self {
        case let .float32(v): Double(v)
        case let .float64(v): v
        default: integer.map(Double.init)
        }
    }

    public var string: String? { if case let .string(s) = self { s } else { nil } }
    public var bool: Bool? { if case let .bool(b) = self { b } else { nil } }
    public var array: GGUFArray? { if case let .array(a) = self { a } else { nil } }

    public var description: String {
        switch self {
        case let .string(s): s.count > 60 ? "\"\(s.prefix(57))…\"" : "\"\(s)\""
        case let .array(a): "[\(a.elementType) × \(a.count)]"
        case let .float32(v): "\(v)"
        case let .float64(v): "\(v)"
        case let .bool(b): "\(b)"
        default: integer.map { "\($0)" } ?? "?"
        }
    }
}

/// A ggml tensor type (`enum ggml_type`), with the storage traits the reader needs to size a
/// tensor. The raw value is the on-disk code.
public enum GGMLType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case iq2_XXS = 16, iq2_XS = 17, iq3_XXS = 18, iq1_S = 19, iq4_NL = 20, iq3_S = 21, iq2_S = 22, iq4_XS = 23
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_M = 29, bf16 = 30
    case tq1_0 = 34, tq2_0 = 35, mxfp4 = 39, nvfp4 = 40, q1_0 = 41

    /// Elements per block (the innermost dimension must be a multiple of it).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .f64, .i8, .i16, .i32, .i64: 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .iq4_NL, .mxfp4: 32
        case .nvfp4: 64
        case .q1_0: 128
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K, .iq2_XXS, .iq2_XS, .iq3_XXS, .iq1_S,
             .iq3_S, .iq2_S, .iq4_XS, .iq1_M, .tq1_0, .tq2_0: 256
        }
    }

    /// Bytes per block (`sizeof(block_…)` in ggml-common.h).
    public var typeSize: Int {
        switch self {
        case .f32, .i32: 4
        case .f16, .bf16, .i16: 2
        case .f64, .i64: 8
        case .i8: 1
        case .q4_0, .iq4_NL: 18
        case .q4_1: 20
        case .q5_0: 22
        case .q5_1: 24
        case .q8_0: 34
        case .q8_1: 36
        case .mxfp4: 17
        case .nvfp4: 36
        case .q1_0: 18
        case .q2_K: 84
        case .q3_K: 110
        case .q4_K: 144
        case .q5_K: 176
        case .q6_K: 210
        case .q8_K: 292
        case .iq2_XXS: 66
        case .iq2_XS: 74
        case .iq3_XXS: 98
        case .iq1_S: 50
        case .iq3_S: 110
        case .iq2_S: 82
        case .iq4_XS: 136
        case .iq1_M: 56
        case .tq1_0: 54
        case .tq2_0: 66
        }
    }

    /// ggml's name (`Q4_K`, `F16`), as llama.cpp and gguf-py print it.
    public var name: String { Self.names[rawValue] ?? "?" }

    private static let names: [UInt32: String] = [
        0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1", 10: "Q2_K",
        11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS",
        18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 24: "I8",
        25: "I16", 26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M", 30: "BF16", 34: "TQ1_0", 35: "TQ2_0",
        39: "MXFP4", 40: "NVFP4", 41: "Q1_0",
    ]

    public var description: String { name }

    /// Bytes of one row of `columns` elements, or nil when `columns` is not whole blocks or the
    /// product overflows.
    public func rowBytes(columns: Int) -> Int? {
        guard columns >= 0, columns % blockSize == 0 else { return nil }
        let (b, o) = (columns / blockSize).multipliedReportingOverflow(by: typeSize)
        return o ? nil : b
    }
}
