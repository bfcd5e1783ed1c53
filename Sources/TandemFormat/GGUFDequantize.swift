// Scalar dequantization of ggml block types, one row at a time, for importing GGUF weights.
//
// Reference followed (read, not copied): ggml/src/ggml-quants.c `dequantize_row_q4_0` …
// `dequantize_row_q6_K` and the block structs of ggml/src/ggml-common.h; cross-checked against
// gguf-py's `gguf/quants.py`, which produces the golden data (Tests/Fixtures/gguf). The order of
// float operations follows ggml's C (e.g. Q4_K: `(d·sc)·q − (dmin·m)`, never fused into an FMA),
// which gguf-py's numpy code shares; the tests require bit-identical results on every type.

extension GGMLType {
    /// Whether `dequantizeRow` handles this type.
    public var canDequantize: Bool {
        switch self {
        case .f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K: true
        default: false
        }
    }

    /// Decodes one row of `dst.count` elements from `src`, which must hold exactly
    /// `rowBytes(columns: dst.count)` bytes (the reader guarantees whole blocks per row).
    public func dequantizeRow(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableBufferPointer<Float>) {
        precondition(canDequantize, "no dequantizer for \(name)")
        precondition(src.count == rowBytes(columns: dst.count), "source size")
        let blocks = dst.count / blockSize
        let y = dst.baseAddress
        for b in 0..<blocks {
            let x = src.baseAddress! + b * typeSize
            let out = y! + b * blockSize
            switch self {
            case .f32: out.pointee = Float(bitPattern: UInt32(littleEndian: x.loadUnaligned(as: UInt32.self)))
            case .f16: out.pointee = half(x, 0)
            case .bf16: out.pointee = Float(bitPattern: UInt32(UInt16(littleEndian: x.loadUnaligned(as: UInt16.self))) << 16)
            case .q4_0: block_q4_0(x, out)
            case .q4_1: block_q4_1(x, out)
            case .q5_0: block_q5(x, out, hasMin: false)
            case .q5_1: block_q5(x, out, hasMin: true)
            case .q8_0: block_q8_0(x, out)
            case .q2_K: block_q2_K(x, out)
            case .q3_K: block_q3_K(x, out)
            case .q4_K: block_q4_K(x, out)
            case .q5_K: block_q5_K(x, out)
            case .q6_K: block_q6_K(x, out)
            default: fatalError("unreachable")
            }
        }
    }
}

extension GGUFTensor {
    /// The whole tensor as f32 (for tests and small tensors; the importer goes row by row).
    public func floats() throws(FormatError) -> [Float] {
        guard type.canDequantize else { throw .unsupported("GGUF tensor \(name) has type \(type.name), which Tandem cannot dequantize") }
        var out = [Float](repeating: 0, count: info.elementCount)
        let columns = info.columns, rowBytes = type.rowBytes(columns: columns) ?? 0
        out.withUnsafeMutableBufferPointer { dst in
            for r in 0..<info.rows {
                type.dequantizeRow(UnsafeRawBufferPointer(rebasing: data[r * rowBytes..<(r + 1) * rowBytes]),
                                   into: UnsafeMutableBufferPointer(rebasing: dst[r * columns..<(r + 1) * columns]))
            }
        }
        return out
    }
}

// MARK: - Blocks (byte layouts from ggml-common.h)

@inline(__always) private func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
    Float(Float16(bitPattern: UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))))
}

@inline(__always) private func byte(_ p: UnsafeRawPointer, _ offset: Int) -> UInt8 {
    p.load(fromByteOffset: offset, as: UInt8.self)
}

/// block_q4_0: f16 d · 16 bytes of nibbles; low nibbles are elements 0–15, high 16–31.
private func block_q4_0(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = half(x, 0)
    for j in 0..<16 {
        let q = byte(x, 2 + j)
        y[j] = Float(Int32(q & 0x0F) - 8) * d
        y[j + 16] = Float(Int32(q >> 4) - 8) * d
    }
}

/// block_q4_1: f16 d · f16 m · 16 bytes of nibbles; value = q·d + m.
private func block_q4_1(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = half(x, 0), m = half(x, 2)
    for j in 0..<16 {
        let q = byte(x, 4 + j)
        y[j] = Float(q & 0x0F) * d + m
        y[j + 16] = Float(q >> 4) * d + m
    }
}

/// block_q5_0 (f16 d · u32 qh · 16 bytes) and block_q5_1 (f16 d · f16 m · u32 qh · 16 bytes):
/// bit j of qh is the fifth bit of element j; q5_0 is centred at 16, q5_1 adds m.
private func block_q5(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>, hasMin: Bool) {
    let d = half(x, 0)
    let m: Float = hasMin ? half(x, 2) : 0
    let h = hasMin ? 4 : 2
    let qh = UInt32(littleEndian: x.loadUnaligned(fromByteOffset: h, as: UInt32.self))
    for j in 0..<16 {
        let q = byte(x, h + 4 + j)
        let hi0 = UInt8(truncatingIfNeeded: ((qh >> UInt32(j)) << 4) & 0x10)
        let hi1 = UInt8(truncatingIfNeeded: (qh >> UInt32(j + 12)) & 0x10)
        let v0 = Int32((q & 0x0F) | hi0), v1 = Int32((q >> 4) | hi1)
        if hasMin {
            y[j] = Float(v0) * d + m
            y[j + 16] = Float(v1) * d + m
        } else {
            y[j] = Float(v0 - 16) * d
            y[j + 16] = Float(v1 - 16) * d
        }
    }
}

/// block_q8_0: f16 d · 32 × int8.
private func block_q8_0(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = half(x, 0)
    for j in 0..<32 { y[j] = Float(Int8(bitPattern: byte(x, 2 + j))) * d }
}

/// block_q2_K: scales[16] (low nibble scale, high nibble min) · qs[64] (2-bit) · f16 d · f16 dmin.
private func block_q2_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = half(x, 80), dmin = half(x, 82)
    var out = 0, scale = 0
    for n in stride(from: 0, to: 256, by: 128) {
        let q = 16 + n / 4
        for shift in stride(from: 0, to: 8, by: 2) {
            for half16 in 0..<2 {
                let sc = byte(x, scale)
                scale += 1
                let dl = d * Float(sc & 0x0F), ml = dmin * Float(sc >> 4)
                for l in 0..<16 {
                    y[out] = dl * Float((byte(x, q + half16 * 16 + l) >> UInt8(shift)) & 3) - ml
                    out += 1
                }
            }
        }
    }
}

/// block_q3_K: hmask[32] · qs[64] (low 2 bits) · scales[12] (16 × 6-bit, packed) · f16 d.
private func block_q3_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let dAll = half(x, 108)
    var out = 0, s = 0
    var m: UInt8 = 1
    for n in stride(from: 0, to: 256, by: 128) {
        let q = 32 + n / 4
        for shift in stride(from: 0, to: 8, by: 2) {
            for half16 in 0..<2 {
                let dl = dAll * Float(Int32(q3Scale(x, s)) - 32)
                s += 1
                for l in 0..<16 {
                    let i = half16 * 16 + l
                    let low = Int32((byte(x, q + i) >> UInt8(shift)) & 3)
                    let sub: Int32 = byte(x, i) & m != 0 ? 0 : 4
                    y[out] = dl * Float(low - sub)
                    out += 1
                }
            }
            m <<= 1
        }
    }
}

/// Q3_K's 16 six-bit scales, packed in 12 bytes at offset 96: low 4 bits of scale i from byte
/// i (i < 8) or the high nibble of byte i − 8; high 2 bits from byte 8 + i % 4, bits 2·(i / 4).
@inline(__always) private func q3Scale(_ x: UnsafeRawPointer, _ i: Int) -> Int8 {
    let low = i < 8 ? byte(x, 96 + i) & 0x0F : byte(x, 96 + i - 8) >> 4
    let high = (byte(x, 96 + 8 + i % 4) >> UInt8(2 * (i / 4))) & 3
    return Int8(bitPattern: low | high << 4)
}

/// The 6-bit scale and min of sub-block `j` from the 12 packed bytes of Q4_K / Q5_K
/// (ggml's `get_scale_min_k4`).
@inline(__always) private func scaleMinK4(_ j: Int, _ q: UnsafeRawPointer) -> (UInt8, UInt8) {
    if j < 4 { return (byte(q, j) & 63, byte(q, j + 4) & 63) }
    return ((byte(q, j + 4) & 0x0F) | ((byte(q, j - 4) >> 6) << 4), (byte(q, j + 4) >> 4) | ((byte(q, j) >> 6) << 4))
}

/// block_q4_K: f16 d · f16 dmin · scales[12] · qs[128]; 8 sub-blocks of 32.
private func block_q4_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = half(x, 0), dmin = half(x, 2)
    let scales = x + 4
    var out = 0
    for j in 0..<4 {
        let (sc1, m1) = scaleMinK4(2 * j, scales), (sc2, m2) = scaleMinK4(2 * j + 1, scales)
        let d1 = d * Float(sc1), mm1 = dmin * Float(m1), d2 = d * Float(sc2), mm2 = dmin * Float(m2)
        let q = 16 + 32 * j
        for l in 0..<32 { y[out + l] = d1 * Float(byte(x, q + l) & 0x0F) - mm1 }
        for l in 0..<32 { y[out + 32 + l] = d2 * Float(byte(x, q + l) >> 4) - mm2 }
        out += 64
    }
}

/// block_q5_K: f16 d · f16 dmin · scales[12] · qh[32] · qs[128].
private func block_q5_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = half(x, 0), dmin = half(x, 2)
    let scales = x + 4
    var out = 0
    var u1: UInt8 = 1, u2: UInt8 = 2
    for j in 0..<4 {
        let (sc1, m1) = scaleMinK4(2 * j, scales), (sc2, m2) = scaleMinK4(2 * j + 1, scales)
        let d1 = d * Float(sc1), mm1 = dmin * Float(m1), d2 = d * Float(sc2), mm2 = dmin * Float(m2)
        let ql = 48 + 32 * j
        for l in 0..<32 {
            let h: UInt8 = byte(x, 16 + l) & u1 != 0 ? 16 : 0
            y[out + l] = d1 * Float((byte(x, ql + l) & 0x0F) + h) - mm1
        }
        for l in 0..<32 {
            let h: UInt8 = byte(x, 16 + l) & u2 != 0 ? 16 : 0
            y[out + 32 + l] = d2 * Float((byte(x, ql + l) >> 4) + h) - mm2
        }
        out += 64
        u1 <<= 2
        u2 <<= 2
    }
}

/// block_q6_K: ql[128] (low 4 bits) · qh[64] (high 2 bits) · scales[16] (int8) · f16 d.
private func block_q6_K(_ x: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
    let d = half(x, 208)
    for n in 0..<2 {
        let ql = 64 * n, qh = 128 + 32 * n, sc = 192 + 8 * n, o = 128 * n
        for l in 0..<32 {
            let s = l / 16
            let h = byte(x, qh + l)
            let q1 = Int32((byte(x, ql + l) & 0x0F) | ((h >> 0) & 3) << 4) - 32
            let q2 = Int32((byte(x, ql + l + 32) & 0x0F) | ((h >> 2) & 3) << 4) - 32
            let q3 = Int32((byte(x, ql + l) >> 4) | ((h >> 4) & 3) << 4) - 32
            let q4 = Int32((byte(x, ql + l + 32) >> 4) | ((h >> 6) & 3) << 4) - 32
            func scale(_ i: Int) -> Float { d * Float(Int8(bitPattern: byte(x, sc + i))) }
            y[o + l] = scale(s) * Float(q1)
            y[o + l + 32] = scale(s + 2) * Float(q2)
            y[o + l + 64] = scale(s + 4) * Float(q3)
            y[o + l + 96] = scale(s + 6) * Float(q4)
        }
    }
}
