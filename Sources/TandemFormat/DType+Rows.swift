// Scalar encoding and decoding of one row, per dtype. These are the reference quantizers: they
// follow ggml's `quantize_row_q8_0_ref` / `quantize_row_q4_0_ref` and `dequantize_row_*`
// bit for bit (Tests/Fixtures/quant holds golden blocks from gguf-py, llama.cpp's reference),
// so blocks imported from GGUF and blocks made by `tandem convert` are interchangeable.
// Fast activation quantizers live in TandemKernels and are tested against these.

extension DType {
    /// Encodes `src` (a whole number of blocks) into `dst` (exactly `rowBytes(src.count)`).
    /// Only for `isEncodable` dtypes: the GGUF block types Tandem runs natively are copied from
    /// the file that has them, never made here.
    public func encodeRow(_ src: UnsafeBufferPointer<Float>, into dst: UnsafeMutableRawBufferPointer) {
        precondition(dst.count == rowBytes(columns: src.count), "destination size")
        precondition(isEncodable, "\(name) is copied from GGUF files, never encoded")
        switch self {
        case .f32:
            dst.copyMemory(from: UnsafeRawBufferPointer(src))
        case .f16:
            for i in 0..<src.count { dst.storeBytes(of: Float16(src[i]).bitPattern.littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        case .bf16:
            for i in 0..<src.count { dst.storeBytes(of: bf16Bits(src[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        case .q8_0:
            for b in 0..<src.count / 32 {
                let x = UnsafeBufferPointer(rebasing: src[b * 32..<b * 32 + 32])
                var amax: Float = 0
                for v in x { amax = max(amax, abs(v)) }
                let d = amax / 127
                let id: Float = d != 0 ? 1 / d : 0
                let o = b * 34
                dst.storeBytes(of: Float16(d).bitPattern.littleEndian, toByteOffset: o, as: UInt16.self)
                for j in 0..<32 {
                    dst[o + 2 + j] = UInt8(bitPattern: clampedInt8((x[j] * id).rounded(.toNearestOrAwayFromZero)))
                }
            }
        case .q4_0:
            for b in 0..<src.count / 32 {
                let x = UnsafeBufferPointer(rebasing: src[b * 32..<b * 32 + 32])
                // The signed value of largest magnitude maps to -8, so the full [-8, 7] range is used.
                var amax: Float = 0, vmax: Float = 0
                for v in x where abs(v) > amax { amax = abs(v); vmax = v }
                let d = vmax / -8
                let id: Float = d != 0 ? 1 / d : 0
                let o = b * 18
                dst.storeBytes(of: Float16(d).bitPattern.littleEndian, toByteOffset: o, as: UInt16.self)
                for j in 0..<16 {
                    let lo = min(15, clampedInt8((x[j] * id + 8.5).rounded(.towardZero)))
                    let hi = min(15, clampedInt8((x[j + 16] * id + 8.5).rounded(.towardZero)))
                    dst[o + 2 + j] = UInt8(lo) | UInt8(hi) << 4
                }
            }
        case .q5_0, .q4_K, .q5_K, .q6_K:
            preconditionFailure("unreachable")
        }
    }

    /// The GGUF block type with the same bytes, for the dtypes Tandem keeps as GGUF has them.
    public var ggmlType: GGMLType? {
        switch self {
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        case .q8_0: .q8_0
        case .q4_0: .q4_0
        case .q5_0: .q5_0
        case .q4_K: .q4_K
        case .q5_K: .q5_K
        case .q6_K: .q6_K
        }
    }

    /// Decodes a row of `dst.count` elements from `src` (exactly `rowBytes(dst.count)`).
    public func decodeRow(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableBufferPointer<Float>) {
        precondition(src.count == rowBytes(columns: dst.count), "source size")
        switch self {
        case .f32:
            UnsafeMutableRawBufferPointer(dst).copyMemory(from: src)
        case .f16:
            for i in 0..<dst.count { dst[i] = Float(Float16(bitPattern: UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))) }
        case .bf16:
            for i in 0..<dst.count {
                let bits = UInt32(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16
                dst[i] = Float(bitPattern: bits)
            }
        case .q8_0:
            for b in 0..<dst.count / 32 {
                let o = b * 34
                let d = Float(Float16(bitPattern: UInt16(littleEndian: src.loadUnaligned(fromByteOffset: o, as: UInt16.self))))
                for j in 0..<32 { dst[b * 32 + j] = Float(Int8(bitPattern: src[o + 2 + j])) * d }
            }
        case .q4_0:
            for b in 0..<dst.count / 32 {
                let o = b * 18
                let d = Float(Float16(bitPattern: UInt16(littleEndian: src.loadUnaligned(fromByteOffset: o, as: UInt16.self))))
                for j in 0..<16 {
                    let q = src[o + 2 + j]
                    dst[b * 32 + j] = Float(Int(q & 0x0F) - 8) * d
                    dst[b * 32 + j + 16] = Float(Int(q >> 4) - 8) * d
                }
            }
        case .q5_0, .q4_K, .q5_K, .q6_K:
            // ggml's own dequantizers (GGUFDequantize.swift), bit-identical to gguf-py.
            ggmlType!.dequantizeRow(src, into: dst)
        }
    }

    /// Encodes a whole row-major array.
    public func encode(_ values: [Float]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: rowBytes(columns: values.count))
        values.withUnsafeBufferPointer { src in out.withUnsafeMutableBytes { encodeRow(src, into: $0) } }
        return out
    }

    /// Decodes `count` elements.
    public func decode(_ bytes: UnsafeRawBufferPointer, count: Int) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { decodeRow(bytes, into: $0) }
        return out
    }

    /// The largest error `encode` then `decode` may introduce on a row whose largest magnitude
    /// is `amax`, per element (used by tests and by `tandem convert`'s self-check).
    public func roundTripBound(amax: Float) -> Float {
        switch self {
        case .f32: 0
        // Half precision: 11 significant bits; values below the normal range lose more.
        case .f16: amax * 0x1p-11 + 0x1p-24
        case .bf16: amax * 0x1p-8
        // Half a step of d = amax/127, plus the f16 rounding of d itself (half an ulp: relative
        // 2^-11, or 2^-25 absolute once d is subnormal in f16) times the largest |q|, 127.
        case .q8_0: amax / 254 + 127 * max(amax / 127 * 0x1p-11, 0x1p-25)
        // Steps of d = amax/8 with the largest magnitude mapped to -8: values of the opposite
        // sign near amax clamp at +7, a full step away (ggml's scheme); plus scale rounding × 8.
        case .q4_0: amax / 8 + 8 * max(amax / 8 * 0x1p-11, 0x1p-25)
        // Never encoded (copied from GGUF files): no round trip to bound.
        case .q5_0, .q4_K, .q5_K, .q6_K: .infinity
        }
    }
}

/// A float already rounded to an integer, as Int8 — saturating, NaN → 0, so a non-finite input
/// (which the converter rejects anyway) can never trap.
@inline(__always) func clampedInt8(_ v: Float) -> Int8 {
    v.isNaN ? 0 : Int8(max(-128, min(127, v)))
}

/// f32 → bf16 with round-to-nearest-even (NaN kept quiet).
@inline(__always) func bf16Bits(_ x: Float) -> UInt16 {
    let bits = x.bitPattern
    if x.isNaN { return UInt16(bits >> 16) | 0x40 }
    let rounding: UInt32 = 0x7FFF + ((bits >> 16) & 1)
    return UInt16((bits &+ rounding) >> 16)
}
