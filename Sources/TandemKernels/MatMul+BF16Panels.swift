import CTandemKernels

/// f32 weights rounded to bf16 once into the tile GEMM's panels (AMX), for a matrix that many
/// products share. Attention's keys and values are the case: a prompt pass multiplies each head's
/// keys and values once per block of queries, and the plain tile GEMM (`MatMul.gemm` with
/// `allowBF16`) rounded and transposed them again every time — at 512 tokens and 64-wide heads,
/// one rounded weight for every 128 multiply-adds, where a projection has one per 512.
///
/// Immutable once packed, so one packing serves every thread. The sums are those of `MatMul.gemm(_:x:m:y:allowBF16: true)` on the same weights:
/// Σ bf16(x)·bf16(w) in f32 (`Reference.gemm(_:x:m:bf16: true)`).
public final class BF16Panels: @unchecked Sendable {
    /// Outputs and inputs packed.
    public let rows: Int, columns: Int
    let data: UnsafeMutableRawPointer
    let table: UnsafePointer<tk_kernels>

    /// Whether `isa` has packed tile panels (AMX), and products of `m` rows would use tiles at
    /// all (as many as `MatMul.gemm` puts on them); callers keep their f32 path where not.
    public static func available(rows m: Int = .max, isa: KernelISA = .current) -> Bool {
        let t = isa.table.pointee
        return t.bf16_pack != nil && t.gemm_bf16_packed != nil && t.softmax_bf16_x != nil
            && tk_gemm_rounds_bf16_x(isa.table, TK_F32) != 0  // implies bf16_x
            && Int64(m) >= t.f32act_min_rows
    }

    /// Packs `rows` × `columns` weights: output o, input i at `w[o·outputStride + i·inputStride]`,
    /// where one of the strides is 1 (rows of inputs, as a projection's or attention's keys; or
    /// rows of outputs, as attention's values read as Vᵀ).
    public init(_ w: UnsafePointer<Float>, rows: Int, columns: Int, outputStride: Int, inputStride: Int, isa: KernelISA = .current) {
        precondition(Self.available(isa: isa), "BF16Panels: \(isa) has no tile panels")
        precondition(rows > 0 && columns > 0 && (outputStride == 1 || inputStride == 1), "BF16Panels: bad shape or strides")
        table = isa.table
        self.rows = rows
        self.columns = columns
        let bytes = Int(table.pointee.bf16_pack_size!(Int64(rows), Int64(columns)))
        data = UnsafeMutableRawPointer.allocate(byteCount: (bytes + 63) / 64 * 64, alignment: 64)
        table.pointee.bf16_pack!(w, Int64(outputStride), Int64(inputStride), Int64(rows), Int64(columns), data)
    }

    deinit { data.deallocate() }

    /// Bytes of scratch `product` needs for `m` rows of `columns` inputs (the rounded activations).
    public func scratchBytes(m: Int, columns k: Int) -> Int {
        Int(table.pointee.bf16_x_size!(Int64(m), Int64(k)))
    }

    /// y[i, j] = Σ_{c < k} bf16(x[i, c])·bf16(w[j, c]) for outputs j in 0..<outputs, over the first
    /// `k` ≤ `columns` inputs (a causal block stops short of the later keys), on the calling thread.
    /// `x` is m rows of k floats `ldx` apart (a head's columns of the queries), `y` m rows of
    /// `outputs` floats `ldy` apart; `scratch` at least `scratchBytes(m:columns:)`, 64-byte aligned.
    public func product(
        x: UnsafePointer<Float>, ldx: Int, m: Int, columns k: Int, outputs: Int, y: UnsafeMutablePointer<Float>, ldy: Int,
        scratch: UnsafeMutableRawPointer
    ) {
        precondition(k >= 1 && k <= columns && ldx >= k && outputs >= 1 && outputs <= rows && ldy >= outputs,
                     "BF16Panels.product: bad shape")
        let t = table.pointee
        let padded = (Int64(m) + t.bf16_x_rows - 1) / t.bf16_x_rows * t.bf16_x_rows
        t.bf16_x!(x, Int64(ldx), Int64(m), Int64(k), scratch, 0, padded)
        product(rounded: scratch, m: m, columns: k, outputs: outputs, y: y, ldy: ldy)
    }

    /// The same from activations already rounded into the tiles' layout (`softmaxRows`).
    public func product(
        rounded: UnsafeRawPointer, m: Int, columns k: Int, outputs: Int, y: UnsafeMutablePointer<Float>, ldy: Int
    ) {
        precondition(k >= 1 && k <= columns && outputs >= 1 && outputs <= rows && ldy >= outputs, "BF16Panels.product: bad shape")
        table.pointee.gemm_bf16_packed!(data, Int64(rows), Int64(columns), rounded, y, Int64(ldy), Int64(m), Int64(k), 0, Int64(outputs))
    }

    /// Attention's score rows → softmax weights, rounded into `scratch` (`scratchBytes(m: rows,
    /// columns: keys)`) as the input of `product(rounded:)` with the values: row r's scores
    /// scale·s + bias[j − r] (`bias`: row 0's vector over the keys) over its first
    /// min(keys, visible + r) keys, the rest weighing nothing. In three passes over a row where
    /// scaling, bias, mask, softmax and rounding took six. Overwrites `scores`.
    public static func softmaxRows(
        _ scores: UnsafeMutablePointer<Float>, rows: Int, keys: Int, scale: Float, bias: UnsafePointer<Float>?, visible: Int,
        into scratch: UnsafeMutableRawPointer, isa: KernelISA = .current
    ) {
        isa.table.pointee.softmax_bf16_x!(scores, Int64(rows), Int64(keys), scale, bias, Int64(visible), scratch)
    }
}
