// Attention over many queries at once (an encoder pass, a prompt pass) as two matrix products
// per head and block of queries — S = Q·Kᵀ, O = softmax(S)·V — on the f32 GEMM kernel, instead of
// one small dot product per (query, key) pair. For t5-large at 512 tokens that is ≈26 GFLOP per
// pass, which the blocked GEMM runs several times faster than per-pair dots. Decode steps (one
// query) keep using `Attention.attend`.
//
// A kernel op, not model code: which tier runs it, whether K and V go into bf16 tile panels, how
// heads and query blocks are shared over the threads are decided here. A model states the math
// (queries, keys, values, scale, mask, bias) and whether its weights are quantized (`allowBF16`).
public enum PrefillAttention {
    /// Queries per task. Each (head, block) task runs its two products, the softmax and the copy
    /// out on one thread, so a layer is one hand-off to the pool (with the gathers, two), where
    /// splitting every product, softmax and copy of every head over the threads took ~8 per head,
    /// each with its idle tail (≈1,100 per t5-base encoder pass). Fixed, not derived from the
    /// thread count, so the floats do not depend on it. 128 rather than 64: each block's products
    /// read all of its head's keys and values, so half as many blocks read them half as often
    /// (t5-large q8_0, 512 tokens: encode 449 → 430 ms, medians of 5 alternating rounds).
    public static let queryBlock = 128

    /// Bytes of the per-task scratch `attend` works in on `threads` threads over `keys` keys of
    /// `headDim`: each running task's block of score rows plus its queries and outputs. For memory
    /// budgets (`memoryBytes` of the models that call `attend`).
    public static func scratchBytes(keys n: Int, headDim hd: Int, threads: Int) -> Int {
        4 * threads * queryBlock * (n + 2 * hd)
    }

    /// out[i, h, :] = Σⱼ softmax(scale·qᵢ·kⱼ + bias[h, i, j] + mask)ⱼ · vⱼ for every head.
    ///
    /// - Parameters:
    ///   - q: `queries` rows of `heads · headDim` floats.
    ///   - k, v: `keys` rows, `kvStride` floats apart, head g at offset g·headDim.
    ///   - causalOffset: when set, query i sees keys 0...causalOffset + i only.
    ///   - window: with `causalOffset`, query i sees the last `window` of those keys only
    ///     (sliding-window attention, Gemma 3's local layers). The masked keys are still
    ///     multiplied, then dropped: a prompt pass longer than the window does up to
    ///     (rows / window)× the products it needs, which Gemma's 512-token window makes rare.
    ///   - bias: optional, per head a vector over key − query distances, [heads, queries + keys − 1]
    ///     (`T5RelativePosition.biasByDistance`): query i's row over the keys starts at entry
    ///     queries − 1 − i of its head.
    ///   - out: `queries` rows of `heads · headDim` floats.
    ///   - allowBF16: the two products may round to bf16 on tiles (AMX, `BF16Panels`): a quantized
    ///     model's, whose weights already carry more error than that rounding adds (T5 q8_0, 100
    ///     tokens, relative encoder error on AMX: v1.0 0.0105 → 0.0104, v1.1 0.0154 → 0.0158;
    ///     `T5LongInputQuantizedTests`).
    public static func attend(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
        queries m: Int, keys n: Int, heads: Int, kvHeads: Int, headDim hd: Int, kvStride: Int,
        scale: Float, causalOffset: Int?, window: Int? = nil, bias: UnsafePointer<Float>?, allowBF16: Bool = false, pool: ThreadPool
    ) {
        precondition(window.map { $0 > 0 && causalOffset != nil } ?? true, "prefill attention: a window needs a causal offset")
        let group = heads / kvHeads
        let qStride = heads * hd
        // A window that hides keys from some query (the last query sees fewer than all).
        let windowed = window.map { w in causalOffset.map { $0 + m > w } ?? false } ?? false
        // On AMX tiles (a quantized model's pass): every key/value head's Kₕ and Vₕᵀ rounded to
        // bf16 panels once, for all its blocks of queries. (Not for a window that hides keys:
        // the tile softmax masks the causal future only.)
        if allowBF16, !windowed, BF16Panels.available(rows: m) {
            attendOnPanels(q: q, k: k, v: v, out: out, queries: m, keys: n, heads: heads, kvHeads: kvHeads, headDim: hd,
                           kvStride: kvStride, scale: scale, causalOffset: causalOffset, bias: bias, pool: pool)
            return
        }
        // Every key/value head's Kₕ as a contiguous [keys, hd] matrix and Vₕᵀ as [hd, keys]: the
        // "weights" of the two products. Ranges of 16 keys, so no two threads write one cache
        // line of a Vₕᵀ.
        let kh = FloatBuffer(count: kvHeads * n * hd, zeroed: false), vt = FloatBuffer(count: kvHeads * hd * n, zeroed: false)
        let khp = kh.mutable.baseAddress!, vtp = vt.mutable.baseAddress!
        pool.parallelFor(n, alignment: 16) { keys in
            for g in 0..<kvHeads {
                let kg = khp + g * n * hd, vg = vtp + g * hd * n
                for j in keys {
                    (kg + j * hd).update(from: k + j * kvStride + g * hd, count: hd)
                    let vr = v + j * kvStride + g * hd
                    for d in 0..<hd { vg[d &* n &+ j] = vr[d] }
                }
            }
        }
        let blocks = (m + queryBlock - 1) / queryBlock
        pool.parallelFor(heads * blocks) { tasks in
            let rowsMax = min(queryBlock, m)
            let scratch = FloatBuffer(count: rowsMax * (2 * hd + n) + (causalOffset == nil ? 0 : hd * n), zeroed: false)
            let qh = scratch.mutable.baseAddress!, o = qh + rowsMax * hd, s = o + rowsMax * hd, vPart = s + rowsMax * n
            for task in tasks {
                let h = task / blocks, i0 = (task % blocks) * queryBlock, rows = min(queryBlock, m - i0)
                let g = h / group
                // A causal block's last query sees keys 0..<seen; the keys after it are skipped
                // (half of a prompt pass's scores, exponentials and value sums).
                let seen = causalOffset.map { min(n, $0 + i0 + rows) } ?? n
                for r in 0..<rows { (qh + r * hd).update(from: q + (i0 + r) * qStride + h * hd, count: hd) }
                let scores = UnsafeMutableBufferPointer(start: s, count: rows * seen)
                MatMul.gemm(WeightMatrix(dtype: .f32, rows: seen, columns: hd, data: UnsafeRawPointer(khp + g * n * hd)),
                            x: UnsafeBufferPointer(start: qh, count: rows * hd), m: rows, y: scores, pool: .inline,
                            allowBF16: allowBF16)
                normalize(scores, rows: rows, seen: seen, firstQuery: i0, head: h, queries: m, keys: n, scale: scale,
                          causalOffset: causalOffset, window: windowed ? window : nil, bias: bias)
                // Vₕᵀ's first `seen` columns as a matrix of their own when the block stops short.
                var vh = UnsafeRawPointer(vtp + g * hd * n)
                if seen < n {
                    for d in 0..<hd { (vPart + d * seen).update(from: vtp + g * hd * n + d * n, count: seen) }
                    vh = UnsafeRawPointer(vPart)
                }
                MatMul.gemm(WeightMatrix(dtype: .f32, rows: hd, columns: seen, data: vh),
                            x: UnsafeBufferPointer(scores), m: rows, y: UnsafeMutableBufferPointer(start: o, count: rows * hd),
                            pool: .inline, allowBF16: allowBF16)
                for r in 0..<rows { (out + (i0 + r) * qStride + h * hd).update(from: o + r * hd, count: hd) }
            }
        }
    }

    /// Score rows → attention weights: scale, T5's bias, the causal mask and window, softmax.
    private static func normalize(
        _ scores: UnsafeMutableBufferPointer<Float>, rows: Int, seen: Int, firstQuery i0: Int, head h: Int,
        queries m: Int, keys n: Int, scale: Float, causalOffset: Int?, window: Int?, bias: UnsafePointer<Float>?
    ) {
        for r in 0..<rows {
            let i = i0 + r
            let row = UnsafeMutableBufferPointer(rebasing: scores[r * seen..<(r + 1) * seen])
            let visible = causalOffset.map { min(n, $0 + i + 1) } ?? n
            if scale != 1 { for j in 0..<visible { row[j] *= scale } }
            if let bias {
                let b = bias + h * (m + n - 1) + (m - 1 - i)
                for j in 0..<visible { row[j] += b[j] }
            }
            for j in visible..<seen { row[j] = -.infinity }
            if let window {
                for j in 0..<max(0, visible - window) { row[j] = -.infinity }
            }
            Ops.softmax(row)
        }
    }

    /// `attend` on AMX tiles: Kₕ and Vₕᵀ of every key/value head packed into bf16 panels once
    /// (one task per head), then each (head, block) task's two products read them — the same
    /// sums as `MatMul.gemm(allowBF16:)` on the f32 gathers, without rounding and transposing
    /// the keys and values again for every block.
    private static func attendOnPanels(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
        queries m: Int, keys n: Int, heads: Int, kvHeads: Int, headDim hd: Int, kvStride: Int,
        scale: Float, causalOffset: Int?, bias: UnsafePointer<Float>?, pool: ThreadPool
    ) {
        let group = heads / kvHeads
        let qStride = heads * hd
        let packed = UnsafeMutableBufferPointer<BF16Panels?>.allocate(capacity: 2 * kvHeads)
        packed.initialize(repeating: nil)
        defer {
            packed.deinitialize()
            packed.deallocate()
        }
        // Kₕ: key j (output) × dimension d (input) at k[j·kvStride + g·hd + d]; Vₕᵀ: dimension d
        // (output) × key j (input) at v[j·kvStride + g·hd + d].
        pool.parallelFor(2 * kvHeads) { tasks in
            for t in tasks {
                let g = t / 2
                packed[t] = t % 2 == 0
                    ? BF16Panels(k + g * hd, rows: n, columns: hd, outputStride: kvStride, inputStride: 1)
                    : BF16Panels(v + g * hd, rows: hd, columns: n, outputStride: 1, inputStride: kvStride)
            }
        }
        let blocks = (m + queryBlock - 1) / queryBlock
        pool.parallelFor(heads * blocks) { tasks in
            let rowsMax = min(queryBlock, m)
            let scores = FloatBuffer(count: rowsMax * n, zeroed: false)
            let s = scores.mutable.baseAddress!
            let kPanels = packed[0]!, vPanels = packed[1]!
            let rounded = UnsafeMutableRawPointer.allocate(
                byteCount: max(kPanels.scratchBytes(m: rowsMax, columns: hd), vPanels.scratchBytes(m: rowsMax, columns: n)),
                alignment: 64)
            defer { rounded.deallocate() }
            for task in tasks {
                let h = task / blocks, i0 = (task % blocks) * queryBlock, rows = min(queryBlock, m - i0)
                let g = h / group
                let seen = causalOffset.map { min(n, $0 + i0 + rows) } ?? n
                // The head's queries read in place and its outputs written in place (rows qStride apart).
                packed[2 * g]!.product(x: q + i0 * qStride + h * hd, ldx: qStride, m: rows, columns: hd, outputs: seen, y: s,
                                       ldy: seen, scratch: rounded)
                // The first query's bias row starts at entry m − 1 − i0 of its head (see `attend`).
                BF16Panels.softmaxRows(s, rows: rows, keys: seen, scale: scale, bias: bias.map { $0 + h * (m + n - 1) + (m - 1 - i0) },
                                       visible: causalOffset.map { $0 + i0 + 1 } ?? seen, into: rounded)
                packed[2 * g + 1]!.product(rounded: rounded, m: rows, columns: seen, outputs: hd, y: out + i0 * qStride + h * hd,
                                           ldy: qStride)
            }
        }
    }
}
