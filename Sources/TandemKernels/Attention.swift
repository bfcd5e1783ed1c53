// Scaled dot-product attention (Vaswani et al. 2017, §3.2.1) of new queries over a KV cache, with
// grouped-query heads (LLaMA/SmolLM2), an optional additive bias (T5's relative positions, which
// T5 uses instead of 1/√d scaling: pass scale 1), a causal mask and key padding.
import CTandemKernels

/// Which keys a query may see.
public struct AttentionMask: @unchecked Sendable {
    /// Query i (absolute position `queryOffset + i`) sees keys 0 ... queryOffset + i only.
    public var causal: Bool
    /// Absolute position of the first query: the number of cached tokens before this step.
    public var queryOffset: Int
    /// `keys` flags; true marks a padding key that no query may attend to.
    public var keyPadding: UnsafeBufferPointer<Bool>?
    /// Sliding-window attention (Gemma 3's local layers), with `causal`: query i also sees no key
    /// before position queryOffset + i + 1 − window, so it sees the last `window` positions.
    public var window: Int?

    public init(causal: Bool, queryOffset: Int = 0, keyPadding: UnsafeBufferPointer<Bool>? = nil, window: Int? = nil) {
        precondition(window.map { $0 > 0 && causal } ?? true, "attention: a window needs a causal mask and one key")
        self.causal = causal
        self.queryOffset = queryOffset
        self.keyPadding = keyPadding
        self.window = window
    }

    /// Every query sees every key (an encoder without padding).
    public static let none = AttentionMask(causal: false)
}

/// Sizes of one attention call.
public struct AttentionShape: Sendable {
    public var queries: Int
    public var keys: Int
    public var heads: Int
    /// Key/value heads; `heads` must be a multiple (grouped-query attention).
    public var kvHeads: Int
    public var headDim: Int
    /// Floats from one cached position to the next (default kvHeads × headDim).
    public var kvStride: Int

    public init(queries: Int, keys: Int, heads: Int, kvHeads: Int? = nil, headDim: Int, kvStride: Int? = nil) {
        self.queries = queries
        self.keys = keys
        self.heads = heads
        self.kvHeads = kvHeads ?? heads
        self.headDim = headDim
        self.kvStride = kvStride ?? (kvHeads ?? heads) * headDim
        precondition(queries > 0 && keys > 0 && heads > 0 && headDim > 0, "attention: empty shape")
        precondition(heads % self.kvHeads == 0, "attention: \(heads) heads over \(self.kvHeads) kv heads")
        precondition(self.kvStride >= self.kvHeads * headDim, "attention: kv stride too small")
    }
}

public enum Attention {
    /// out[q, h, :] = Σₖ softmax(scale · q·k + bias[h, q, k] + mask)ₖ · v[k, h / group, :]
    ///
    /// - Parameters:
    ///   - query: [queries, heads, headDim].
    ///   - keys, values: [keys, kvStride] with head h/group at offset (h/group)·headDim.
    ///   - bias: optional [heads, queries, keys], added to the scaled scores.
    ///   - output: [queries, heads, headDim], overwritten.
    public static func attend(
        query: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
        output: UnsafeMutablePointer<Float>, shape: AttentionShape, scale: Float,
        mask: AttentionMask = .none, bias: UnsafePointer<Float>? = nil,
        pool: ThreadPool, isa: KernelISA = .current
    ) {
        let s = shape
        if let pad = mask.keyPadding { precondition(pad.count == s.keys, "attention: padding has \(pad.count) flags") }
        let scoresKernel = isa.table.pointee.attn_scores!, valuesKernel = isa.table.pointee.attn_values!
        let group = s.heads / s.kvHeads
        let items = s.heads * s.queries
        let d = Int64(s.headDim), ld = Int64(s.kvStride)
        // Grouped-query heads read the same keys: where there are enough (kv head, query) pairs to
        // keep every thread busy, a thread takes all the heads of one kv head and scores them one
        // L1-sized block of keys at a time, so each key comes from L2 or memory once instead of
        // once per head (Qwen2.5-1.5B: 6 heads a kv head; 12 % of a decode step after 512 tokens
        // went to reloading keys). Each score is the same dot product, so the same floats.
        if group > 1 && s.kvHeads * s.queries >= min(pool.threadCount, 2) && bias == nil {
            attendGrouped(query: query, keys: keys, values: values, output: output, shape: s, scale: scale, mask: mask,
                          pool: pool, isa: isa)
            return
        }
        let run = { (range: Range<Int>) in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: s.keys) { scores in
                for item in range {
                    let h = item / s.queries, qi = item % s.queries
                    let q = query + (qi * s.heads + h) * s.headDim
                    let kvOffset = (h / group) * s.headDim
                    // Keys past `visible` (the causal future, or cache rows not written yet) are
                    // never read: their scores are −∞ and the value sum stops before them.
                    let visible = mask.causal ? min(s.keys, mask.queryOffset + qi + 1) : s.keys
                    // Likewise the keys before a sliding window: scores[j] is key first + j.
                    let first = mask.window.map { max(0, mask.queryOffset + qi + 1 - $0) } ?? 0
                    let count = visible - first
                    let kvFirst = first * s.kvStride + kvOffset
                    scoresKernel(q, keys + kvFirst, ld, Int64(count), d, scores.baseAddress!)
                    let biasRow = bias.map { $0 + (h * s.queries + qi) * s.keys + first }
                    for j in 0..<count {
                        if mask.keyPadding?[first + j] ?? false {
                            scores[j] = -.infinity
                            continue
                        }
                        var v = scale * scores[j]
                        if let biasRow { v += biasRow[j] }
                        scores[j] = v
                    }
                    Ops.softmax(UnsafeMutableBufferPointer(rebasing: scores[0..<count]), isa: isa)
                    valuesKernel(scores.baseAddress!, values + kvFirst, ld, Int64(count), d,
                                 output + (qi * s.heads + h) * s.headDim)
                }
            }
        }
        // Heads × queries are independent; below ~64k multiply-adds threads cost more than they save.
        if items > 1 && items * s.keys * s.headDim >= 1 << 16 {
            pool.parallelFor(items, run)
        } else {
            run(0..<items)
        }
    }

    /// `attend` with the work shared out by (kv head, query): every head of the group scores one
    /// block of `keyBlock` keys before the next block is read.
    private static func attendGrouped(
        query: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
        output: UnsafeMutablePointer<Float>, shape s: AttentionShape, scale: Float, mask: AttentionMask,
        pool: ThreadPool, isa: KernelISA
    ) {
        let scoresKernel = isa.table.pointee.attn_scores!, valuesKernel = isa.table.pointee.attn_values!
        let group = s.heads / s.kvHeads
        let d = Int64(s.headDim), ld = Int64(s.kvStride)
        // 16 KiB of keys at 128 floats a head: read by all heads of the group while in L1.
        let keyBlock = max(8, 4096 / s.headDim)
        let run = { (range: Range<Int>) in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: group * s.keys) { scores in
                for item in range {
                    let kvh = item / s.queries, qi = item % s.queries
                    let visible = mask.causal ? min(s.keys, mask.queryOffset + qi + 1) : s.keys
                    let first = mask.window.map { max(0, mask.queryOffset + qi + 1 - $0) } ?? 0
                    let count = visible - first
                    let kvFirst = first * s.kvStride + kvh * s.headDim
                    var j0 = 0
                    while j0 < count {
                        let n = min(keyBlock, count - j0)
                        for g in 0..<group {
                            let q = query + (qi * s.heads + kvh * group + g) * s.headDim
                            scoresKernel(q, keys + kvFirst + j0 * s.kvStride, ld, Int64(n), d, scores.baseAddress! + g * count + j0)
                        }
                        j0 += n
                    }
                    for g in 0..<group {
                        let row = UnsafeMutableBufferPointer(rebasing: scores[g * count..<(g + 1) * count])
                        for j in 0..<count {
                            row[j] = (mask.keyPadding?[first + j] ?? false) ? -.infinity : scale * row[j]
                        }
                        Ops.softmax(row, isa: isa)
                        valuesKernel(row.baseAddress!, values + kvFirst, ld, Int64(count), d,
                                     output + (qi * s.heads + kvh * group + g) * s.headDim)
                    }
                }
            }
        }
        let items = s.kvHeads * s.queries
        if items > 1 && items * group * s.keys * s.headDim >= 1 << 16 {
            pool.parallelFor(items, run)
        } else {
            run(0..<items)
        }
    }

    /// One query head over `n` cached keys and values stored as contiguous int8 rows of `headDim`
    /// with one scale per row (`quantizeRows`), no scale, bias or mask: T5's cross-attention over
    /// a quantized model's cache, which every decoder step streams in full (int8 is half the bytes
    /// of f16). Runs on the calling thread; `scores` is scratch for `n` floats.
    public static func attendHead(
        query: UnsafePointer<Float>, keys: UnsafePointer<Int8>, keyScales: UnsafePointer<Float>,
        values: UnsafePointer<Int8>, valueScales: UnsafePointer<Float>, count n: Int, headDim d: Int,
        scores: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>, isa: KernelISA = .current
    ) {
        let t = isa.table.pointee
        t.attn_scores_i8!(query, keys, keyScales, Int64(n), Int64(d), scores)
        Ops.softmax(UnsafeMutableBufferPointer(start: scores, count: n), isa: isa)
        t.attn_values_i8!(scores, values, valueScales, Int64(n), Int64(d), output)
    }

    /// `rows` rows of `width` floats, `stride` apart, to int8 with one scale per row (max |x| / 127,
    /// rounded to nearest): the layout `attendHead(query:keys:keyScales:…)` reads.
    public static func quantizeRows(
        _ x: UnsafePointer<Float>, rows: Int, width: Int, stride: Int,
        into q: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>, isa: KernelISA = .current
    ) {
        let quantize = isa.table.pointee.quantize_rows_i8 ?? tk_quantize_rows_i8
        quantize(x, Int64(rows), Int64(width), Int64(stride), q, scales)
    }
}
