// Plain scalar references for every fast kernel: what the C kernels and the SIMD operations are
// tested against. Straight loops in Double, no tricks; speed is not a goal here.
//
// Storage conversions come from TandemFormat's reference row encoders (`DType.encodeRow`), which
// are golden-tested against gguf-py.
import CTandemKernels
import TandemFormat

/// Scalar reference implementations (`Reference.gemv`, `Reference.softmax`, …).
public enum Reference {
    // MARK: Storage

    /// `rows × columns` floats (row-major) stored as `dtype`, row after row, by TandemFormat's
    /// reference encoders (ggml's quantize_row_*_ref, bit for bit).
    public static func encode(_ values: [Float], rows: Int, columns: Int, as dtype: DType) -> [UInt8] {
        precondition(values.count == rows * columns)
        var out = [UInt8]()
        out.reserveCapacity(rows * dtype.rowBytes(columns: columns))
        for r in 0..<rows { out += dtype.encode(Array(values[r * columns..<(r + 1) * columns])) }
        return out
    }

    /// One stored row of `columns` elements as floats.
    public static func decodeRow(_ row: UnsafeRawPointer, columns: Int, dtype: DType) -> [Float] {
        dtype.decode(UnsafeRawBufferPointer(start: row, count: dtype.rowBytes(columns: columns)), count: columns)
    }

    /// Row `row` of a weight matrix as floats.
    public static func dequantize(_ w: WeightMatrix, row: Int) -> [Float] {
        decodeRow(w.data + row * w.rowBytes, columns: w.columns, dtype: w.dtype)
    }

    /// The activations as a kernel sees them: unchanged for f32/f16 weights, rounded through
    /// q8_0 blocks for q8_0/q4_0/q5_0 and through q8_K super-blocks for the K-quants.
    public static func activationsSeen(by dtype: DType, _ x: [Float]) -> [Float] {
        guard dtype.isQuantized else { return x }
        if dtype.isKQuant { return roundedThroughQ8K(x) }
        return DType.q8_0.encode(x).withUnsafeBytes { DType.q8_0.decode($0, count: x.count) }
    }

    /// `x` (a multiple of 256) through q8_K and back, as ggml's quantize_row_q8_K_ref rounds it:
    /// per 256 values the one of largest magnitude maps to ∓127 (scale −127/max), the rest to
    /// the nearest integer (ties to even), capped at 127, times the stored scale 1/(−127/max).
    public static func roundedThroughQ8K(_ x: [Float]) -> [Float] {
        precondition(x.count % 256 == 0, "q8_K rounds whole blocks of 256")
        var out = [Float](repeating: 0, count: x.count)
        for b in stride(from: 0, to: x.count, by: 256) {
            var amax: Float = 0, vmax: Float = 0
            for v in x[b..<b + 256] where abs(v) > amax { amax = abs(v); vmax = v }
            guard amax > 0 else { continue }
            let iscale: Float = -127 / vmax
            let d: Float = 1 / iscale
            for j in b..<b + 256 { out[j] = min(127, (iscale * x[j]).rounded(.toNearestOrEven)) * d }
        }
        return out
    }

    // MARK: Matrix products

    /// y = W x in Double. With `quantizeActivations` (the default) x first goes through q8_0 for
    /// quantized weights, as in the kernels; without it the result is the exact product of the
    /// stored weights and the float activations.
    public static func gemv(_ w: WeightMatrix, x: [Float], quantizeActivations: Bool = true) -> [Float] {
        precondition(x.count == w.columns)
        let xs = quantizeActivations ? activationsSeen(by: w.dtype, x) : x
        return (0..<w.rows).map { r in
            let row = dequantize(w, row: r)
            var s = 0.0
            for c in 0..<w.columns { s += Double(row[c]) * Double(xs[c]) }
            return Float(s)
        }
    }

    /// Y = X Wᵀ for `m` rows of X (row-major), in Double. With `bf16` (the AMX tile GEMM,
    /// `MatMul.roundsToBF16`) every stored weight and every activation is first rounded to bf16
    /// (nearest even), and `quantizeActivations` is ignored.
    /// A q4_K or q5_K product that `isa` widens (`MatMul.multipliedAs`) is that of its q8_0
    /// widening (`tk_kq_to_q8_0`) less each sub-block's min times the float activations' sum over it.
    public static func gemm(_ w: WeightMatrix, x: [Float], m: Int, quantizeActivations: Bool = true,
                            bf16: Bool = false, isa: KernelISA = .current) -> [Float] {
        precondition(x.count == m * w.columns)
        if w.dtype.isKQuant, MatMul.multipliedAs(w.dtype, m: m, isa: isa) == .q8_0 {
            let (wide, mins) = widened(w)
            defer { wide.data.deallocate() }
            var y = gemm(wide, x: x, m: m, quantizeActivations: quantizeActivations, bf16: bf16)
            let subs = w.columns / 32
            for i in 0..<m {
                let sums = (0..<subs).map { j in (0..<32).reduce(0.0) { $0 + Double(x[i * w.columns + 32 * j + $1]) } }
                for r in 0..<w.rows {
                    var s = 0.0
                    for j in 0..<subs { s += Double(mins[r * subs + j]) * sums[j] }
                    y[i * w.rows + r] = Float(Double(y[i * w.rows + r]) - s)
                }
            }
            return y
        }
        let rows = (0..<w.rows).map { r in dequantize(w, row: r).map { bf16 ? roundedToBF16($0) : $0 } }
        var y = [Float](repeating: 0, count: m * w.rows)
        for i in 0..<m {
            let xr = Array(x[i * w.columns..<(i + 1) * w.columns])
            let xs = bf16 ? xr.map(roundedToBF16) : quantizeActivations ? activationsSeen(by: w.dtype, xr) : xr
            for r in 0..<w.rows {
                var s = 0.0
                for c in 0..<w.columns { s += Double(rows[r][c]) * Double(xs[c]) }
                y[i * w.rows + r] = Float(s)
            }
        }
        return y
    }

    /// A q4_K or q5_K matrix as q8_0 blocks and its sub-blocks' mins (`tk_kq_to_q8_0`); the
    /// caller deallocates `data`.
    public static func widened(_ w: WeightMatrix) -> (WeightMatrix, [Float]) {
        precondition(w.dtype == .q4_K || w.dtype == .q5_K, "only q4_K and q5_K widen to q8_0")
        let q8 = UnsafeMutableRawPointer.allocate(byteCount: w.rows * DType.q8_0.rowBytes(columns: w.columns), alignment: 64)
        var mins = [Float](repeating: 0, count: w.rows * w.columns / 32)
        tk_kq_to_q8_0(w.cDType, w.data, q8, &mins, Int64(w.columns), 0, Int64(w.rows))
        return (WeightMatrix(dtype: .q8_0, rows: w.rows, columns: w.columns, data: UnsafeRawPointer(q8)), mins)
    }

    /// `x` rounded to bf16, the top 16 bits of a float: nearest, ties to even (NaN stays NaN).
    public static func roundedToBF16(_ x: Float) -> Float {
        guard !x.isNaN else { return x }
        let bits = x.bitPattern
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        return Float(bitPattern: rounded & 0xFFFF_0000)
    }
}
