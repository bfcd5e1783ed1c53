// Attention over many queries at once (an encoder pass, a prompt pass) as two matrix products
// per head — S = Q·Kᵀ, O = softmax(S)·V — on the f32 GEMM kernel, instead of one small dot
// product per (query, key) pair. For t5-large at 512 tokens that is ≈26 GFLOP per pass, which
// the blocked GEMM runs several times faster than per-pair dots. Decode steps (one query) keep
// using `Attention.attend`.
import TandemKernels

enum PrefillAttention {
    /// out[i, h, :] = Σⱼ softmax(scale·qᵢ·kⱼ + bias[h, i, j] + mask)ⱼ · vⱼ for every head.
    ///
    /// - Parameters:
    ///   - q: `queries` rows of `heads · headDim` floats.
    ///   - k, v: `keys` rows, `kvStride` floats apart, head g at offset g·headDim.
    ///   - causalOffset: when set, query i sees keys 0...causalOffset + i only.
    ///   - bias: optional [heads, queries, keys].
    ///   - out: `queries` rows of `heads · headDim` floats.
    static func attend(
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
        queries m: Int, keys n: Int, heads: Int, kvHeads: Int, headDim hd: Int, kvStride: Int,
        scale: Float, causalOffset: Int?, bias: UnsafePointer<Float>?, pool: ThreadPool
    ) {
        let group = heads / kvHeads
        let qStride = heads * hd
        let kh = FloatBuffer(count: n * hd), vt = FloatBuffer(count: hd * n)
        let qh = FloatBuffer(count: m * hd), s = FloatBuffer(count: m * n), o = FloatBuffer(count: m * hd)
        var loaded = -1
        for h in 0..<heads {
            let g = h / group
            // The gathers below are split across the pool too: as one thread's scalar loop they
            // were ~5 % of a t5-large encoder pass, with the other threads waiting.
            if g != loaded {
                // Kₕ as a contiguous [keys, hd] matrix and Vₕᵀ as [hd, keys]: the "weights" of the
                // two GEMMs. Ranges of 16 keys, so no two threads write one cache line of Vₕᵀ.
                let khp = kh.mutable.baseAddress!, vtp = vt.mutable.baseAddress!
                pool.parallelFor(n, alignment: 16) { keys in
                    for j in keys {
                        (khp + j * hd).update(from: k + j * kvStride + g * hd, count: hd)
                        let vr = v + j * kvStride + g * hd
                        for d in 0..<hd { vtp[d &* n &+ j] = vr[d] }
                    }
                }
                loaded = g
            }
            let qhp = qh.mutable.baseAddress!
            pool.parallelFor(m) { rows in
                for i in rows { (qhp + i * hd).update(from: q + i * qStride + h * hd, count: hd) }
            }
            MatMul.gemm(WeightMatrix(dtype: .f32, rows: n, columns: hd, data: UnsafeRawPointer(kh.mutable.baseAddress!)),
                        x: qh.buffer, m: m, y: s.mutable, pool: pool)
            // Scale, bias, mask and softmax of the score rows, split across the pool (a serial
            // loop here left the other cores spinning for ~10 % of an encoder pass).
            let scores = s.mutable
            pool.parallelFor(m) { rows in
                for i in rows {
                    let row = UnsafeMutableBufferPointer(rebasing: scores[i * n..<(i + 1) * n])
                    let visible = causalOffset.map { min(n, $0 + i + 1) } ?? n
                    if scale != 1 { for j in 0..<visible { row[j] *= scale } }
                    if let bias {
                        let b = bias + (h * m + i) * n
                        for j in 0..<visible { row[j] += b[j] }
                    }
                    for j in visible..<n { row[j] = -.infinity }
                    Ops.softmax(row)
                }
            }
            MatMul.gemm(WeightMatrix(dtype: .f32, rows: hd, columns: n, data: UnsafeRawPointer(vt.mutable.baseAddress!)),
                        x: s.buffer, m: m, y: o.mutable, pool: pool)
            let op = o.mutable.baseAddress!
            pool.parallelFor(m) { rows in
                for i in rows { (out + i * qStride + h * hd).update(from: op + i * hd, count: hd) }
            }
        }
    }
}
