// The many-query attention of encoder and prompt passes (PrefillAttention) against the scalar
// reference: blocks of queries spanning several tasks, grouped key/value heads, causal masks with
// a query offset (the keys a block never sees are skipped), T5's per-distance bias, and sliding
// windows (Gemma 3's local layers) — in the prompt pass here and in the decode kernel
// (`Attention.attend`) over the same cases.
import Foundation
import Testing
@testable import TandemKernels

struct PrefillAttentionTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var queries, keys, heads, kvHeads, headDim: Int
        var causalOffset: Int?
        var bias: Bool
        var window: Int? = nil
        var testDescription: String {
            "q\(queries) k\(keys) h\(heads)/\(kvHeads) d\(headDim) causal \(causalOffset.map(String.init) ?? "-") bias \(bias)"
                + (window.map { " window \($0)" } ?? "")
        }
    }

    static let cases = [
        Case(queries: 150, keys: 150, heads: 4, kvHeads: 2, headDim: 32, causalOffset: 0, bias: false),
        Case(queries: 70, keys: 200, heads: 3, kvHeads: 3, headDim: 64, causalOffset: 130, bias: false),
        Case(queries: 130, keys: 130, heads: 2, kvHeads: 2, headDim: 16, causalOffset: nil, bias: true),
        Case(queries: 65, keys: 65, heads: 1, kvHeads: 1, headDim: 8, causalOffset: 0, bias: false),
        Case(queries: 3, keys: 3, heads: 2, kvHeads: 1, headDim: 8, causalOffset: nil, bias: false),
        Case(queries: 150, keys: 150, heads: 4, kvHeads: 1, headDim: 32, causalOffset: 0, bias: false, window: 40),
        Case(queries: 20, keys: 200, heads: 2, kvHeads: 2, headDim: 16, causalOffset: 180, bias: false, window: 64),
        Case(queries: 9, keys: 30, heads: 2, kvHeads: 1, headDim: 8, causalOffset: 21, bias: false, window: 512),
    ]

    /// Deterministic values in [-scale, scale).
    static func values(_ count: Int, seed: UInt64, scale: Float) -> [Float] {
        var s = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            s ^= s << 13; s ^= s >> 7; s ^= s << 17
            return (Float(s >> 40) / Float(1 << 24) * 2 - 1) * scale
        }
    }

    @Test(arguments: cases)
    func matchesReference(c: Case) {
        check(c, allowBF16: false)
    }

    /// A quantized model's pass (`allowBF16`): on AMX, keys and values packed into bf16 panels
    /// once per head — within the rounding's bound of the f32 reference (measured max 2.6e-3 on
    /// these cases), the same floats on any pool; elsewhere the f32 path, as tight as above.
    @Test(arguments: cases)
    func tilesStayNearReference(c: Case) {
        check(c, allowBF16: true)
    }

    func check(_ c: Case, allowBF16: Bool) {
        let (m, n, hd) = (c.queries, c.keys, c.headDim)
        let kvStride = c.kvHeads * hd
        let q = Self.values(m * c.heads * hd, seed: 1, scale: 1), k = Self.values(n * kvStride, seed: 2, scale: 1)
        let v = Self.values(n * kvStride, seed: 3, scale: 1)
        let byDistance = c.bias ? Self.values(c.heads * (m + n - 1), seed: 4, scale: 3) : nil
        var full: [Float]?
        if let byDistance {
            var b = [Float](repeating: 0, count: c.heads * m * n)
            for h in 0..<c.heads {
                for i in 0..<m {
                    for j in 0..<n { b[(h * m + i) * n + j] = byDistance[h * (m + n - 1) + (m - 1 - i) + j] }
                }
            }
            full = b
        }
        let scale = 1 / Float(hd).squareRoot()
        let expected = Reference.attention(
            query: q, keys: k, values: v,
            shape: AttentionShape(queries: m, keys: n, heads: c.heads, kvHeads: c.kvHeads, headDim: hd),
            scale: scale, causal: c.causalOffset != nil, queryOffset: c.causalOffset ?? 0, keyPadding: nil, bias: full, window: c.window)
        var outputs: [[Float]] = []
        for pool in [ThreadPool(threads: 1), ThreadPool(threads: 3, spinIterations: 1 << 10)] {
            let out = UnsafeMutableBufferPointer<Float>.allocate(capacity: m * c.heads * hd)
            defer { out.deallocate() }
            out.initialize(repeating: .nan)
            let bias = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(byDistance?.count ?? 0, 1))
            defer { bias.deallocate() }
            if let byDistance { _ = bias.initialize(from: byDistance) }
            q.withUnsafeBufferPointer { qb in
                k.withUnsafeBufferPointer { kb in
                    v.withUnsafeBufferPointer { vb in
                        PrefillAttention.attend(
                            q: qb.baseAddress!, k: kb.baseAddress!, v: vb.baseAddress!, out: out.baseAddress!,
                            queries: m, keys: n, heads: c.heads, kvHeads: c.kvHeads, headDim: hd, kvStride: kvStride,
                            scale: scale, causalOffset: c.causalOffset, window: c.window,
                            bias: byDistance == nil ? nil : UnsafePointer(bias.baseAddress!),
                            allowBF16: allowBF16, pool: pool)
                    }
                }
            }
            let diff = zip(out, expected).map { abs($0 - $1) }.max() ?? 0
            let tiles = allowBF16 && BF16Panels.available(rows: m)
            #expect(diff < (tiles ? 1e-2 : 1e-5), "\(c.testDescription) tiles \(tiles) threads \(pool.threadCount): max difference \(diff)")
            outputs.append(Array(out))
        }
        // The blocks are fixed, not derived from the thread count: the same floats on any pool.
        #expect(outputs[0] == outputs[1])
        // The decode kernel on the same case (T5's bias aside, which it takes as a full matrix).
        if full == nil, c.causalOffset != nil || c.window == nil {
            let out = UnsafeMutableBufferPointer<Float>.allocate(capacity: m * c.heads * hd)
            defer { out.deallocate() }
            out.initialize(repeating: .nan)
            Attention.attend(query: q, keys: k, values: v, output: out.baseAddress!,
                             shape: AttentionShape(queries: m, keys: n, heads: c.heads, kvHeads: c.kvHeads, headDim: hd), scale: scale,
                             mask: AttentionMask(causal: c.causalOffset != nil, queryOffset: c.causalOffset ?? 0, window: c.window),
                             pool: ThreadPool(threads: 2))
            let diff = zip(out, expected).map { abs($0 - $1) }.max() ?? 0
            #expect(diff < 1e-5, "\(c.testDescription) decode kernel: max difference \(diff)")
        }
    }
}
