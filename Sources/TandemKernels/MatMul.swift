// Matrix products against f32 activations for every weight dtype: GEMV for decoding one token,
// GEMM for many tokens at once. A model's `Linear` calls these with the weight's dtype as stored,
// so there is never a separate quantized model.
//
// Quantized weights pair with activations quantized on the fly (ggml's `vec_dot_type`): q8_0,
// q4_0 and q5_0 with q8_0 blocks, the K-quants (q4_K, q5_K, q6_K) with q8_K super-blocks of 256;
// int8 products inside each block, float multiplies once per block.
import CTandemKernels
import TandemFormat

/// A row-major weight matrix [rows = outputs, columns = inputs] in its stored dtype, pointing
/// into memory someone else owns (usually the memory-mapped weight file).
public struct WeightMatrix: @unchecked Sendable {
    public let dtype: DType
    /// Output features.
    public let rows: Int
    /// Input features; a multiple of the dtype's block (32, or 256 for the K-quants).
    public let columns: Int
    /// `rows * dtype.rowBytes(columns:)` bytes.
    public let data: UnsafeRawPointer

    /// The dtypes a weight matrix may have: those with GEMV and GEMM kernels on every tier. The
    /// one answer to "may this matrix be stored as X": `tandem convert`'s `--dtype` and `--keep`
    /// (through `TensorKind.storageDTypes`), the loader (`ModelWeights`) and this type ask here.
    /// q5_0 and the K-quants run the dot-product kernels (GEMV, and the cache-blocked GEMM over
    /// them) on every tier, without the int8 tile GEMMs q8_0 and q4_0 have (`hasTileKernels`).
    public static let dtypes: [DType] = [.f32, .f16, .q8_0, .q4_0, .q5_0, .q4_K, .q5_K, .q6_K]

    public static func supports(_ dtype: DType) -> Bool { dtypes.contains(dtype) }

    public init(dtype: DType, rows: Int, columns: Int, data: UnsafeRawPointer) {
        precondition(rows > 0 && columns > 0, "empty weight matrix \(rows)×\(columns)")
        precondition(
            columns % dtype.blockSize == 0,
            "\(dtype) rows need a multiple of \(dtype.blockSize) columns, got \(columns)")
        precondition(Self.supports(dtype), "\(dtype) weights have no kernels (the loader refuses them)")
        self.dtype = dtype
        self.rows = rows
        self.columns = columns
        self.data = data
    }

    /// Bytes of one stored row.
    public var rowBytes: Int { dtype.rowBytes(columns: columns) }
    /// Bytes of the whole matrix.
    public var byteCount: Int { rowBytes * rows }

    var cDType: tk_dtype {
        switch dtype {
        case .f32: TK_F32
        case .f16: TK_F16
        case .q8_0: TK_Q8_0
        case .q4_0: TK_Q4_0
        case .q5_0: TK_Q5_0
        case .q4_K: TK_Q4_K
        case .q5_K: TK_Q5_K
        case .q6_K: TK_Q6_K
        case .bf16: preconditionFailure("bf16 has no kernels")
        }
    }
}

/// The matrix products. Every entry point takes the pool and instruction set explicitly, with
/// defaults, so tests can run every path and callers can pin a thread count.
public enum MatMul {
    /// Below this many weight bytes a GEMV runs on the calling thread: waking workers would cost
    /// more than it saves.
    public static let parallelThresholdBytes = 32 * 1024

    /// Ranges of a product's outputs handed to threads cover at most about this many weight bytes
    /// (a big product is cut finer than `chunksPerThread`): while the last range runs, the other
    /// threads wait. With 8 ranges a product (a vocabulary head of 17 MB among them), the second
    /// thread sat idle at products' ends for ~10 % of a t5-small decoder step (profiled, batch 1
    /// and 8 alike).
    static let rangeBytes = 256 * 1024

    static func parts(_ bytes: Int) -> Int { bytes / rangeBytes }

    /// The tile GEMM's (AMX) ranges of outputs: whole 128-output macro panels, and as many ranges
    /// as the pool balances (`chunksPerThread`), not one per `rangeBytes`. Every range streams all
    /// the rounded activations once per macro panel, and cut by bytes (t5-large's 1024 × 4096 FFN
    /// output: 17 ranges of 32–64 outputs) the panels were part-empty and the activations (4 MiB,
    /// past L2) streamed up to 4 × as often: one thread, m = 512, that product 6.4 → 5.1–5.3 ms.
    static let tileRangeAlignment = 128

    /// Below this many activation values (rows × columns) a GEMM quantizes and lays out its
    /// activations on the calling thread: for a batch-8 decoder step (4K–16K values) that takes
    /// 1–3 µs, less than a hand-off to the workers and back.
    static let parallelActivationElements = 1 << 16

    /// y = W x for one activation vector (decode).
    ///
    /// - Parameters:
    ///   - x: `w.columns` floats.
    ///   - y: `w.rows` floats, overwritten.
    public static func gemv(
        _ w: WeightMatrix, x: UnsafeBufferPointer<Float>, y: UnsafeMutableBufferPointer<Float>,
        pool: ThreadPool, isa: KernelISA = .current
    ) {
        precondition(x.count == w.columns, "gemv: x has \(x.count) elements, W has \(w.columns) columns")
        precondition(y.count == w.rows, "gemv: y has \(y.count) elements, W has \(w.rows) rows")
        let table = isa.table
        let dt = w.cDType
        let k = Int64(w.columns)
        let threads = w.byteCount < parallelThresholdBytes ? nil : pool
        withActivations(w, x.baseAddress!, rows: 1, table: table, quantize: w.dtype.isQuantized) { act in
            if let threads {
                // 16-row alignment keeps each thread's rows on whole cache lines of y.
                threads.parallelFor(w.rows, alignment: 16, minParts: parts(w.byteCount)) { r in
                    tk_gemv(table, dt, w.data, act, y.baseAddress!, k, Int64(r.lowerBound), Int64(r.upperBound))
                }
            } else {
                tk_gemv(table, dt, w.data, act, y.baseAddress!, k, 0, Int64(w.rows))
            }
        }
    }

    /// y_i = W_i x for several matrices that read the same input (a layer's q, k, v projections,
    /// or its gate and up projections): the input is quantized once and all rows are shared out
    /// in one parallel call, instead of one call (and one wake-up of the workers) per matrix.
    ///
    /// - Parameters:
    ///   - ws: matrices of one dtype and one column count, `x.count` columns.
    ///   - ys: one output per matrix, `ws[i].rows` floats each, overwritten.
    public static func gemv(
        _ ws: [WeightMatrix], x: UnsafeBufferPointer<Float>, ys: [UnsafeMutableBufferPointer<Float>],
        pool: ThreadPool, isa: KernelISA = .current
    ) {
        precondition(ws.count == ys.count && !ws.isEmpty, "gemv: one output per matrix")
        let first = ws[0]
        precondition(ws.allSatisfy { $0.dtype == first.dtype && $0.columns == first.columns }, "gemv: matrices differ in dtype or columns")
        precondition(x.count == first.columns, "gemv: x has \(x.count) elements, W has \(first.columns) columns")
        for (w, y) in zip(ws, ys) { precondition(y.count == w.rows, "gemv: y has \(y.count) elements, W has \(w.rows) rows") }
        let table = isa.table
        let dt = first.cDType
        let k = Int64(first.columns)
        // Start row of each matrix in the concatenation, padded to 16 so no range straddles two
        // matrices' cache lines of output.
        var starts = [Int]()
        var total = 0
        for w in ws {
            starts.append(total)
            total += (w.rows + 15) / 16 * 16
        }
        let bytes = ws.reduce(0) { $0 + $1.byteCount }
        withActivations(first, x.baseAddress!, rows: 1, table: table, quantize: first.dtype.isQuantized) { act in
            let run = { (r: Range<Int>) in
                for (i, w) in ws.enumerated() {
                    let lo = max(r.lowerBound - starts[i], 0), hi = min(r.upperBound - starts[i], w.rows)
                    if lo < hi { tk_gemv(table, dt, w.data, act, ys[i].baseAddress!, k, Int64(lo), Int64(hi)) }
                }
            }
            if bytes < parallelThresholdBytes { run(0..<total) } else { pool.parallelFor(total, alignment: 16, minParts: parts(bytes), run) }
        }
    }

    /// Y = X Wᵀ for `m` activation rows at once (encode / prompt): Y[i][r] = dot(W row r, X row i).
    /// Cache-blocked: weight tiles are reused across all activation rows, not a loop of GEMVs.
    ///
    /// - Parameters:
    ///   - x: `m × w.columns` floats, row-major.
    ///   - y: `m × w.rows` floats, row-major, overwritten.
    ///   - prepacked: `w` in the instruction set's prepacked layout (`PrepackedWeights`), used when
    ///     it was made for `isa`; otherwise each call packs what it needs.
    ///   - allowBF16: f32 weights and activations may be rounded to bf16 on tiles (AMX, 32 rows or
    ///     more): for a quantized model's prompt attention, whose error is below its weights'.
    public static func gemm(
        _ w: WeightMatrix, x: UnsafeBufferPointer<Float>, m: Int, y: UnsafeMutableBufferPointer<Float>,
        pool: ThreadPool, isa: KernelISA = .current, prepacked: PrepackedWeights? = nil,
        allowBF16: Bool = false
    ) {
        precondition(m >= 1, "gemm: m must be positive")
        precondition(x.count == m * w.columns, "gemm: x has \(x.count) elements, need \(m)×\(w.columns)")
        precondition(y.count == m * w.rows, "gemm: y has \(y.count) elements, need \(m)×\(w.rows)")
        if m == 1 {
            gemv(w, x: x, y: y, pool: pool, isa: isa)
            return
        }
        if multipliedAs(w.dtype, m: m, isa: isa) != w.dtype {
            widenedToQ8([w], x: x, m: m, ys: [y], pool: pool, isa: isa) {
                gemm($0[0], x: x, m: m, y: y, pool: pool, isa: isa, allowBF16: allowBF16)
            }
            return
        }
        let table = isa.table
        let dt = w.cDType
        let k = Int64(w.columns)
        let quantize = usesQuantizedActivations(w.dtype, m: m, isa: isa)
        let usable = prepacked.flatMap { $0.isa == isa ? $0 : nil }
        if let usable {
            precondition(usable.rows == w.rows && usable.columns == w.columns, "gemm: prepacked weights of another shape")
        }
        // q8_0/q4_0 over many rows on AMX tiles, activations rounded to bf16 once for all threads
        // (and f32 weights where the caller allows it).
        if usesBF16Tiles(w.dtype, m: m, table: table, allowF32: allowBF16) {
            bf16Products([w], x: x, m: m, ys: [y], pool: pool, table: table)
            return
        }
        // q8_0/q4_0 on an ISA whose int8 GEMM takes its activations laid out once for all
        // threads (AVX512-VNNI), from prepacked panels (batched decoding) or packing on the fly.
        if quantize, w.dtype.hasTileKernels, tk_gemm_lays_q8_x(table) != 0 {
            laidProducts([w], prepacked: [usable], x: x, m: m, ys: [y], pool: pool, table: table)
            return
        }
        // f32/f16 weights on an ISA that packs the activations once for all threads.
        let packX = !quantize && tk_gemm_packs_x(table, dt) != 0
        withActivations(w, x.baseAddress!, rows: m, table: table, pool: pool, quantize: quantize, packX: packX) { act in
            // Split the outputs (weight rows): each thread streams its own weights once and packs
            // its own panels; 32 = the widest micro-kernel panel (AVX-512 f32).
            pool.parallelFor(w.rows, alignment: 32) { r in
                if packX {
                    tk_gemm_packed_x(table, dt, w.data, act.assumingMemoryBound(to: Float.self), y.baseAddress!,
                                     Int64(w.rows), Int64(m), k, Int64(r.lowerBound), Int64(r.upperBound))
                } else {
                    tk_gemm(table, dt, w.data, act, y.baseAddress!, Int64(w.rows), Int64(m), k,
                            Int64(r.lowerBound), Int64(r.upperBound))
                }
            }
        }
    }

    /// Y_i = X W_iᵀ for several matrices that read the same `m` input rows (a layer's q, k, v, or
    /// its gate and up projections): where the int8 GEMM lays its activations out once for all
    /// threads (AVX512-VNNI), they are quantized and laid out once and every matrix's rows are
    /// shared out in one parallel call: in a batch-8 decoder step a product takes ≈ 20 µs, and each
    /// hand-off to the workers (and the idle tail at its end) a few. Otherwise one product each;
    /// one row is the grouped GEMV.
    ///
    /// - Parameters:
    ///   - ws: matrices of one dtype and one column count, `x.count / m` columns.
    ///   - ys: one output per matrix, `m × ws[i].rows` floats, overwritten.
    ///   - prepacked: one entry per matrix, as in `gemm(_:x:m:y:pool:isa:prepacked:)`.
    public static func gemm(
        _ ws: [WeightMatrix], x: UnsafeBufferPointer<Float>, m: Int, ys: [UnsafeMutableBufferPointer<Float>],
        pool: ThreadPool, isa: KernelISA = .current, prepacked: [PrepackedWeights?]
    ) {
        precondition(ws.count == ys.count && ws.count == prepacked.count && !ws.isEmpty, "gemm: one output and one prepacked entry per matrix")
        if m == 1 {
            gemv(ws, x: x, ys: ys, pool: pool, isa: isa)
            return
        }
        if ws.allSatisfy({ multipliedAs($0.dtype, m: m, isa: isa) != $0.dtype }) {
            widenedToQ8(ws, x: x, m: m, ys: ys, pool: pool, isa: isa) {
                gemm($0, x: x, m: m, ys: ys, pool: pool, isa: isa, prepacked: ws.map { _ in nil })
            }
            return
        }
        let first = ws[0], table = isa.table
        let usable = prepacked.map { p in p.flatMap { $0.isa == isa ? $0 : nil } }
        // The activations' layout depends on the panels (prepacked or not): one for all.
        let uniform = ws.allSatisfy { $0.dtype == first.dtype && $0.columns == first.columns }
            && usable.allSatisfy { ($0 != nil) == (usable[0] != nil) }
        let bf16 = usesBF16Tiles(first.dtype, m: m, table: table, allowF32: false)
        let laid = usesQuantizedActivations(first.dtype, m: m, isa: isa) && first.dtype.hasTileKernels
            && tk_gemm_lays_q8_x(table) != 0
        guard ws.count > 1, uniform, bf16 || laid else {
            for i in ws.indices { gemm(ws[i], x: x, m: m, y: ys[i], pool: pool, isa: isa, prepacked: prepacked[i]) }
            return
        }
        precondition(x.count == m * first.columns, "gemm: x has \(x.count) elements, need \(m)×\(first.columns)")
        for (i, w) in ws.enumerated() {
            precondition(ys[i].count == m * w.rows, "gemm: y has \(ys[i].count) elements, need \(m)×\(w.rows)")
            if let p = usable[i] {
                precondition(p.rows == w.rows && p.columns == w.columns, "gemm: prepacked weights of another shape")
            }
        }
        if bf16 {
            bf16Products(ws, x: x, m: m, ys: ys, pool: pool, table: table)
        } else {
            laidProducts(ws, prepacked: usable, x: x, m: m, ys: ys, pool: pool, table: table)
        }
    }

    /// The bf16 tile GEMM (`gemm_bf16_x`, AMX) for one matrix or several sharing the input: the
    /// activations rounded to bf16 once, in parallel, then every matrix's rows shared out in one
    /// parallel call, in whole 128-output macro panels (`tileRangeAlignment`).
    private static func bf16Products(
        _ ws: [WeightMatrix], x: UnsafeBufferPointer<Float>, m: Int, ys: [UnsafeMutableBufferPointer<Float>],
        pool: ThreadPool, table: UnsafePointer<tk_kernels>, epilogue: Epilogue? = nil
    ) {
        let first = ws[0], k = Int64(first.columns)
        let groupRows = Int(table.pointee.bf16_x_rows)
        let groups = (m + groupRows - 1) / groupRows
        let round = table.pointee.bf16_x!
        withUnsafeTemporaryAllocation(byteCount: Int(table.pointee.bf16_x_size!(Int64(m), k)), alignment: 64) { buffer in
            let xb = UnsafeRawPointer(buffer.baseAddress!)
            pool.parallelFor(groups) { g in
                round(x.baseAddress!, k, Int64(m), k, buffer.baseAddress!, Int64(g.lowerBound * groupRows),
                      Int64(g.upperBound * groupRows))
            }
            shareRows(of: ws, pool: pool, alignment: tileRangeAlignment, byBytes: false) { i, w, rows in
                if let epilogue {
                    table.pointee.gemm_bf16_x_epilogue!(w.cDType, w.data, xb, ys[i].baseAddress!, Int64(w.rows), Int64(m), k,
                                                        Int64(rows.lowerBound), Int64(rows.upperBound), epilogue.flags)
                } else {
                    tk_gemm_bf16_x(table, w.cDType, w.data, xb, ys[i].baseAddress!, Int64(w.rows), Int64(m), k,
                                   Int64(rows.lowerBound), Int64(rows.upperBound))
                }
            }
        }
    }

    /// Every matrix's output rows shared out in one parallel call: the matrices concatenated, each
    /// starting at a multiple of `alignment` rows, so every range a thread gets starts on a panel
    /// boundary of every matrix it touches; `body(i, ws[i], rows)` for each matrix's part of a
    /// range. `byBytes`: cut into at least one range per `rangeBytes` of weights (streaming
    /// products), or only as many as the pool balances (products that reuse each weight often).
    private static func shareRows(
        of ws: [WeightMatrix], pool: ThreadPool, alignment: Int = 32, byBytes: Bool = true,
        _ body: (Int, WeightMatrix, Range<Int>) -> Void
    ) {
        var starts = [Int]()
        var total = 0
        for w in ws {
            starts.append(total)
            total += (w.rows + alignment - 1) / alignment * alignment
        }
        let minParts = byBytes ? parts(ws.reduce(0) { $0 + $1.byteCount }) : 0
        pool.parallelFor(total, alignment: alignment, minParts: minParts) { r in
            for (i, w) in ws.enumerated() {
                let lo = max(r.lowerBound - starts[i], 0), hi = min(r.upperBound - starts[i], w.rows)
                if lo < hi { body(i, w, lo..<hi) }
            }
        }
    }

    /// Whether a product of `m` rows with `dtype` weights goes to the bf16 tile GEMM (AMX): quantized
    /// weights wherever that many rows take f32 activations, f32 weights only when `allowF32` and
    /// there are as many rows.
    private static func usesBF16Tiles(_ dtype: DType, m: Int, table: UnsafePointer<tk_kernels>, allowF32: Bool) -> Bool {
        let t = table.pointee
        guard m > 1, t.f32act_bf16 != 0 else { return false }
        switch dtype {
        case .q8_0: return tk_gemm_prefers_f32(table, TK_Q8_0, Int64(m)) != 0 && tk_gemm_rounds_bf16_x(table, TK_Q8_0) != 0
        case .q4_0: return tk_gemm_prefers_f32(table, TK_Q4_0, Int64(m)) != 0 && tk_gemm_rounds_bf16_x(table, TK_Q4_0) != 0
        case .f32: return allowF32 && Int64(m) >= t.f32act_min_rows && tk_gemm_rounds_bf16_x(table, TK_F32) != 0
        default: return false
        }
    }

    /// Whether a product of `m` rows with `dtype` weights rounds weights and activations to bf16
    /// (the AMX tile GEMM) — what `Reference.gemm(_:x:m:bf16:)` reproduces.
    public static func roundsToBF16(_ dtype: DType, m: Int, isa: KernelISA = .current) -> Bool {
        usesBF16Tiles(multipliedAs(dtype, m: m, isa: isa), m: m, table: isa.table, allowF32: false)
    }

    /// From how many activation rows a q5_0 product widens its weights to q8_0 blocks
    /// (`tk_q5_0_to_q8_0`: the same values exactly, the same q8_0 activations) and runs on the
    /// q8_0 GEMMs, whose tiles reuse each weight across rows where q5_0's dot products decode
    /// every block again for every row. Fewer rows (batched decoding) stay on the dot products:
    /// widening a matrix costs about as much as a few rows' products.
    public static let q5WideningRows = 16

    /// From how many activation rows a q4_K or q5_K product widens its weights to q8_0 blocks
    /// (`tk_kq_to_q8_0`: each 32-value sub-block's unsigned values exactly, its scale d·sc rounded
    /// to half, its min d_min·m kept aside in float) and runs on the q8_0 GEMMs, less the mins
    /// times the activations' sums over each sub-block (an f32 product 1/32 the size). The
    /// K-quant GEMMs unpack each block once per panel too, but apply the scales in float for
    /// every 16 products; the q8_0 GEMMs run on int8 tiles.
    public static let kqWideningRows = 32

    /// The dtype a product of `m` rows with `dtype` weights runs as on `isa`: q5_0 widened to
    /// q8_0; q4_K and q5_K too where the q8_0 GEMM is a VNNI or AMX one (on AVX2 the widened
    /// 1.5B prompt pass measured no faster: 5.1–6.0 s either way).
    static func multipliedAs(_ dtype: DType, m: Int, isa: KernelISA = .current) -> DType {
        switch dtype {
        case .q5_0: m >= q5WideningRows ? .q8_0 : dtype
        case .q4_K, .q5_K:
            m >= kqWideningRows && (tk_gemm_lays_q8_x(isa.table) != 0 || isa.table.pointee.f32act_bf16 != 0) ? .q8_0 : dtype
        default: dtype
        }
    }

    /// Bytes of the temporary copies a product of `rows` rows makes of `w`: q8_0 blocks of q5_0
    /// from `q5WideningRows` on; of q4_K and q5_K from `kqWideningRows` on, with their mins, the
    /// activations' sub-block sums and a slice of the correction's output. 0 where none is made.
    /// For memory budgets.
    public static func widenedBytes(for w: WeightMatrix, rows: Int) -> Int {
        guard multipliedAs(w.dtype, m: rows) != w.dtype else { return 0 }
        guard w.dtype.isKQuant else { return q8Bytes(w) }
        let subs = w.columns / 32
        return q8Bytes(w) + 4 * (w.rows * subs + rows * subs) + 4 * correctionRows(w.rows, rows) * w.rows
    }

    /// Bytes of `w`'s rows as q8_0 blocks.
    private static func q8Bytes(_ w: WeightMatrix) -> Int { w.rows * DType.q8_0.rowBytes(columns: w.columns) }

    /// Activation rows per slice of a K-quant correction product: its output slice at most 2 MiB.
    private static func correctionRows(_ outputs: Int, _ m: Int) -> Int { min(m, max(1, (2 << 20) / (4 * outputs))) }

    /// `ws` (q5_0, q4_K or q5_K) widened to q8_0 blocks in temporary memory, rows shared out over
    /// the pool, for `body` to multiply `x` (`m` rows) by into `ys`; then, for the K-quants, the
    /// mins' part taken off each output: ys[i] −= S · minsᵢᵀ, S the sums of x over each 32 values.
    private static func widenedToQ8(
        _ ws: [WeightMatrix], x: UnsafeBufferPointer<Float>, m: Int, ys: [UnsafeMutableBufferPointer<Float>],
        pool: ThreadPool, isa: KernelISA, _ body: ([WeightMatrix]) -> Void
    ) {
        let bytes = ws.map(q8Bytes), minBytes = ws.map { $0.dtype.isKQuant ? 4 * $0.rows * ($0.columns / 32) : 0 }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: bytes.reduce(0, +) + minBytes.reduce(0, +), alignment: 64)
        defer { buffer.deallocate() }
        var widened: [WeightMatrix] = [], mins: [UnsafeMutablePointer<Float>?] = []
        var offset = 0
        for (i, w) in ws.enumerated() {
            let dst = buffer + offset
            let wmins = minBytes[i] > 0 ? (buffer + offset + bytes[i]).assumingMemoryBound(to: Float.self) : nil
            pool.parallelFor(w.rows, alignment: 16, minParts: parts(w.byteCount)) { r in
                if let wmins {
                    tk_kq_to_q8_0(w.cDType, w.data, dst, wmins, Int64(w.columns), Int64(r.lowerBound), Int64(r.upperBound))
                } else {
                    tk_q5_0_to_q8_0(w.data, dst, Int64(w.columns), Int64(r.lowerBound), Int64(r.upperBound))
                }
            }
            widened.append(WeightMatrix(dtype: .q8_0, rows: w.rows, columns: w.columns, data: UnsafeRawPointer(dst)))
            mins.append(wmins)
            offset += bytes[i] + minBytes[i]
        }
        body(widened)
        guard mins.contains(where: { $0 != nil }) else { return }
        let subs = ws[0].columns / 32
        let sums = FloatBuffer(count: m * subs, zeroed: false)
        pool.parallelFor(m) { rows in
            for a in rows {
                for j in 0..<subs {
                    var t: Float = 0
                    for l in 0..<32 { t += x[a * ws[0].columns + 32 * j + l] }
                    sums.mutable[a * subs + j] = t
                }
            }
        }
        for (i, w) in ws.enumerated() {
            guard let wmins = mins[i] else { continue }
            let table = WeightMatrix(dtype: .f32, rows: w.rows, columns: subs, data: UnsafeRawPointer(wmins))
            let slice = correctionRows(w.rows, m)
            let part = FloatBuffer(count: slice * w.rows, zeroed: false)
            for a0 in stride(from: 0, to: m, by: slice) {
                let n = min(slice, m - a0)
                gemm(table, x: UnsafeBufferPointer(rebasing: sums.buffer[a0 * subs..<(a0 + n) * subs]), m: n,
                     y: UnsafeMutableBufferPointer(rebasing: part.mutable[0..<n * w.rows]), pool: pool, isa: isa)
                let out = UnsafeMutableBufferPointer(rebasing: ys[i][a0 * w.rows..<(a0 + n) * w.rows])
                pool.parallelFor(n * w.rows) { r in
                    for e in r { out[e] -= part.mutable[e] }
                }
            }
        }
    }

    /// The int8 GEMM whose activations are laid out once for all threads (`gemm_q8_packed_x`),
    /// for one matrix or several sharing the input: one layout (prepacked panels or none, for
    /// all), then every matrix's rows shared out in one parallel call.
    private static func laidProducts(
        _ ws: [WeightMatrix], prepacked usable: [PrepackedWeights?], x: UnsafeBufferPointer<Float>, m: Int,
        ys: [UnsafeMutableBufferPointer<Float>], pool: ThreadPool, table: UnsafePointer<tk_kernels>
    ) {
        let first = ws[0], kernel = table.pointee.gemm_q8_packed_x!
        let k = Int64(first.columns)
        withActivations(first, x.baseAddress!, rows: m, table: table, pool: pool, quantize: true,
                        layQ8: usable[0] == nil ? 0 : first.dtype.panelOffset) { act in
            shareRows(of: ws, pool: pool) { i, w, rows in
                kernel(w.cDType, w.data, usable[i].map { UnsafeRawPointer($0.data) }, act, ys[i].baseAddress!,
                       Int64(w.rows), Int64(m), k, Int64(rows.lowerBound), Int64(rows.upperBound))
            }
        }
    }

    /// What the tile GEMM (AMX) does to each output as it stores it, saving a pass over the
    /// outputs and a hand-off to the pool: add the product to y (a residual connection,
    /// y += X Wᵀ) or clamp it at zero (ReLU). The sums of `.accumulate` start from y, so they
    /// round differently from adding y last (within 10⁻⁴ of |y| + |X Wᵀ|; C test).
    public enum Epilogue: Sendable {
        case accumulate
        case relu

        /// The kernel's `tk_epilogue` flag.
        var flags: Int32 {
            switch self {
            case .accumulate: Int32(TK_EPILOGUE_ACCUMULATE.rawValue)
            case .relu: Int32(TK_EPILOGUE_RELU.rawValue)
            }
        }
    }

    /// Whether a product of `m` rows with `dtype` weights runs on the tile GEMM (`roundsToBF16`:
    /// quantized weights only) and so can take an epilogue (`gemm(_:x:m:y:epilogue:)`); callers
    /// keep their separate pass where not.
    public static func fuses(_ dtype: DType, m: Int, isa: KernelISA = .current) -> Bool {
        dtype.hasTileKernels && roundsToBF16(dtype, m: m, isa: isa) && isa.table.pointee.gemm_bf16_x_epilogue != nil
    }

    /// Y = X Wᵀ with `epilogue` applied as the outputs are stored; only where `fuses` says so.
    public static func gemm(
        _ w: WeightMatrix, x: UnsafeBufferPointer<Float>, m: Int, y: UnsafeMutableBufferPointer<Float>, epilogue: Epilogue,
        pool: ThreadPool, isa: KernelISA = .current
    ) {
        precondition(fuses(w.dtype, m: m, isa: isa), "gemm: no epilogue for \(w.dtype) weights and \(m) rows on \(isa)")
        precondition(x.count == m * w.columns && y.count == m * w.rows, "gemm: x or y of the wrong size")
        bf16Products([w], x: x, m: m, ys: [y], pool: pool, table: isa.table, epilogue: epilogue)
    }

    /// A linear layer: Y = X Wᵀ (+ bias) for `m` rows, GEMV when m = 1 and GEMM otherwise. What a
    /// model's `Linear` calls, whatever the weight's dtype.
    ///
    /// ```swift
    /// MatMul.linear(wq, bias: nil, x: hidden, m: tokens, y: q)   // q: tokens × wq.rows
    /// ```
    public static func linear(
        _ w: WeightMatrix, bias: UnsafeBufferPointer<Float>?, x: UnsafeBufferPointer<Float>, m: Int,
        y: UnsafeMutableBufferPointer<Float>, pool: ThreadPool, isa: KernelISA = .current
    ) {
        gemm(w, x: x, m: m, y: y, pool: pool, isa: isa)
        guard let bias else { return }
        precondition(bias.count == w.rows, "linear: bias has \(bias.count) elements, W has \(w.rows) rows")
        for i in 0..<m {
            let row = y.baseAddress! + i * w.rows
            for r in 0..<w.rows { row[r] += bias[r] }
        }
    }

    /// Whether a product of `m` activation rows with `dtype` weights rounds the activations
    /// through q8_0 blocks (int8 dot products) or uses them as f32. GEMV on quantized weights
    /// always quantizes; a GEMM with many rows may instead take f32 activations where the
    /// instruction set has such a kernel (AMX: 32 rows or more, rounded to bf16 on the tiles).
    public static func usesQuantizedActivations(_ dtype: DType, m: Int, isa: KernelISA = .current) -> Bool {
        guard dtype.isQuantized else { return false }
        let dtype = multipliedAs(dtype, m: m, isa: isa)
        if m == 1 || !dtype.hasTileKernels { return true }
        let dt: tk_dtype = dtype == .q8_0 ? TK_Q8_0 : TK_Q4_0
        return tk_gemm_prefers_f32(isa.table, dt, Int64(m)) == 0
    }

    /// Rounds `n` floats to half precision (nearest even) into `y` (F16C where the ISA has it).
    public static func convertToF16(
        _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<UInt16>, count n: Int, isa: KernelISA = .current
    ) {
        isa.table.pointee.f32_to_f16(x, y, Int64(n))
    }

    /// Quantizes `x` (a multiple of 32 floats) to q8_0 blocks, 34 bytes per 32 values.
    public static func quantizeQ8_0(
        _ x: UnsafeBufferPointer<Float>, into blocks: UnsafeMutableRawBufferPointer, isa: KernelISA = .current
    ) {
        precondition(x.count % 32 == 0, "q8_0 rows need a multiple of 32 values")
        precondition(blocks.count >= x.count / 32 * 34)
        isa.table.pointee.quantize_row_q8_0(
            x.baseAddress!, blocks.baseAddress!.assumingMemoryBound(to: tk_block_q8_0.self), Int64(x.count))
    }

    /// Hands the kernels the activations in the form they pair with: the f32 rows themselves, the
    /// rows quantized to q8_0 blocks, those blocks laid out in the int8 GEMM's row groups
    /// (`layQ8`: `pack_q8_x`, with the prepacked panels' weight offset or 0), or (`packX`) packed in `gemm_packed_x`'s
    /// layout, in temporary memory. Prepared once per product, before the threads split the
    /// outputs: each range laying them out for itself cost ~30 % of a 512-row product cut into 16.
    private static func withActivations(
        _ w: WeightMatrix, _ x: UnsafePointer<Float>, rows m: Int, table: UnsafePointer<tk_kernels>,
        pool: ThreadPool? = nil, quantize: Bool, layQ8: Int32? = nil, packX: Bool = false,
        _ body: (UnsafeRawPointer) -> Void
    ) {
        if packX, let size = table.pointee.pack_x_size, let pack = table.pointee.pack_x {
            // The layout of `gemm_packed_x`, row groups packed in parallel.
            let groupRows = Int(table.pointee.pack_x_rows)
            let groups = (m + groupRows - 1) / groupRows
            let k = Int64(w.columns)
            withUnsafeTemporaryAllocation(byteCount: Int(size(Int64(m), k)), alignment: 64) { buffer in
                let packed = buffer.baseAddress!.assumingMemoryBound(to: Float.self)
                let packGroups = { (g: Range<Int>) in
                    pack(x, Int64(m), k, packed, Int64(g.lowerBound), Int64(g.upperBound))
                }
                if let pool { pool.parallelFor(groups, packGroups) } else { packGroups(0..<groups) }
                body(UnsafeRawPointer(packed))
            }
            return
        }
        guard quantize else {
            body(UnsafeRawPointer(x))
            return
        }
        let k = w.columns
        let rowBytes = Int(tk_act_row_bytes(w.cDType, Int64(k)))
        withUnsafeTemporaryAllocation(byteCount: m * rowBytes, alignment: 64) { buffer in
            let base = buffer.baseAddress!
            let quantizeRows: (Range<Int>) -> Void
            if w.dtype.isKQuant {
                let quantize = table.pointee.quantize_row_q8_K!
                quantizeRows = { range in
                    for i in range {
                        quantize(x + i * k, (base + i * rowBytes).assumingMemoryBound(to: tk_block_q8_K.self), Int64(k))
                    }
                }
            } else {
                let quantize = table.pointee.quantize_row_q8_0!
                quantizeRows = { range in
                    for i in range {
                        quantize(x + i * k, (base + i * rowBytes).assumingMemoryBound(to: tk_block_q8_0.self), Int64(k))
                    }
                }
            }
            // A few rows (a decoder step) take a microsecond or two here: less than waking the workers.
            let parallel = m * k >= Self.parallelActivationElements
            if let pool, parallel, m >= 8 {
                pool.parallelFor(m, quantizeRows)
            } else {
                quantizeRows(0..<m)
            }
            guard let layQ8, let size = table.pointee.pack_q8_x_size, let lay = table.pointee.pack_q8_x else {
                body(UnsafeRawPointer(base))
                return
            }
            let offset = layQ8
            let groupRows = Int(table.pointee.pack_q8_x_rows)
            let groups = (m + groupRows - 1) / groupRows
            withUnsafeTemporaryAllocation(byteCount: Int(size(Int64(m), Int64(k), offset)), alignment: 64) { laid in
                let layGroups = { (g: Range<Int>) in
                    lay(base, Int64(m), Int64(k), offset, laid.baseAddress!, Int64(g.lowerBound), Int64(g.upperBound))
                }
                if let pool, parallel { pool.parallelFor(groups, layGroups) } else { layGroups(0..<groups) }
                body(UnsafeRawPointer(laid.baseAddress!))
            }
        }
    }
}

/// A q8_0/q4_0 weight matrix copied once into the layout the instruction set's GEMM tile reads
/// (`tk_kernels.pack`: 16-row panels of 4-byte groups, offset to unsigned, with their scales).
///
/// Why: a GEMM over few activation rows — a decoder step for a batch of 8 sequences — otherwise
/// repacks every weight on every call, which costs as much as the multiply-adds themselves. The
/// copy takes as many bytes as the weights (q8_0: 34 per 32, q4_0: 18) besides them, so it is
/// made only for matrices that are multiplied with small batches again and again (`Linear` decides).
public final class PrepackedWeights: @unchecked Sendable {
    public let isa: KernelISA
    public let rows: Int
    public let columns: Int
    let data: UnsafeMutableRawPointer
    public let byteCount: Int

    /// nil when `isa` has no prepacked GEMM or `w` is not q8_0/q4_0.
    public init?(_ w: WeightMatrix, isa: KernelISA = .current, pool: ThreadPool) {
        let table = isa.table.pointee
        guard w.dtype.hasTileKernels, let size = table.pack_size, let pack = table.pack, table.gemm_q8_packed_x != nil,
              table.pack_rows > 0 else { return nil }
        let dt = w.cDType, n = Int64(w.rows), k = Int64(w.columns)
        let bytes = Int(size(dt, n, k))
        guard bytes > 0 else { return nil }
        self.isa = isa
        rows = w.rows
        columns = w.columns
        byteCount = bytes
        data = .allocate(byteCount: bytes, alignment: 64)
        let panelRows = Int(table.pack_rows)
        let panels = (w.rows + panelRows - 1) / panelRows
        let out = data
        pool.parallelFor(panels) { r in
            pack(dt, w.data, n, k, out, Int64(r.lowerBound), Int64(r.upperBound))
        }
    }

    deinit { data.deallocate() }

    /// Bytes a prepacked copy of `w` would take: 0 when none would be made (not q8_0/q4_0, or
    /// `isa` has no prepacked GEMM). For memory budgets.
    public static func byteCount(for w: WeightMatrix, isa: KernelISA = .current) -> Int {
        let table = isa.table.pointee
        guard w.dtype.hasTileKernels, let size = table.pack_size, table.pack != nil, table.gemm_q8_packed_x != nil,
              table.pack_rows > 0 else { return 0 }
        return max(0, Int(size(w.cDType, Int64(w.rows), Int64(w.columns))))
    }
}

extension DType {
    /// Whether the int8 tile GEMMs (AVX512-VNNI's laid-out activations and prepacked panels,
    /// AMX's bf16 tiles) take this dtype: q8_0 and q4_0. The other quantized dtypes multiply
    /// through their dot-product kernels.
    public var hasTileKernels: Bool { self == .q8_0 || self == .q4_0 }

    /// What a prepacked panel adds to each weight to make it unsigned for vpdpbusd (q8_0: 128,
    /// q4_0's nibbles: 8); the activations laid out for those panels carry −offset·Σx per block.
    var panelOffset: Int32 { self == .q4_0 ? 8 : 128 }
}
