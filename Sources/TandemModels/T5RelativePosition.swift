// T5's relative position buckets (Raffel et al. 2020, §2.1), exactly as Hugging Face transformers'
// `T5Attention._relative_position_bucket` computes them, f32 logarithm included: half the buckets
// are exact offsets, the rest grow logarithmically up to `maxDistance`. The encoder is
// bidirectional (separate buckets for keys before and after the query), the decoder causal.
import Foundation

public enum T5RelativePosition {
    /// The bucket of `relativePosition` = key position − query position.
    public static func bucket(
        relativePosition: Int, bidirectional: Bool, numBuckets: Int = 32, maxDistance: Int = 128
    ) -> Int {
        var buckets = numBuckets
        var result = 0
        var n = relativePosition
        if bidirectional {
            buckets /= 2
            if n > 0 { result += buckets }
            n = abs(n)
        } else {
            n = -min(n, 0)
        }
        let maxExact = buckets / 2
        if n < maxExact { return result + n }
        // torch: (log(n.float() / max_exact) / math.log(max_distance / max_exact) * (nb - max_exact)).long()
        // — every step in f32 (the Python double divisor is rounded to f32 first), then truncated.
        let ratio = Float(n) / Float(maxExact)
        let divisor = Float(Foundation.log(Double(maxDistance) / Double(maxExact)))
        let scaled = Foundation.log(ratio) / divisor * Float(buckets - maxExact)
        let large = min(maxExact + Int(scaled), buckets - 1)
        return result + large
    }

    /// The attention bias [heads, queries, keys] from the learned table [numBuckets, heads]
    /// (`relative_attention_bias.weight`), for queries at positions `queryOffset ..< queryOffset +
    /// queries` and keys at 0 ..< keys (HF `compute_bias`).
    public static func bias(
        table: UnsafeBufferPointer<Float>, heads: Int, queries: Int, keys: Int, queryOffset: Int = 0,
        bidirectional: Bool, numBuckets: Int = 32, maxDistance: Int = 128,
        into out: UnsafeMutableBufferPointer<Float>
    ) {
        precondition(table.count == numBuckets * heads, "T5 bias table must be [\(numBuckets), \(heads)]")
        precondition(out.count == heads * queries * keys, "T5 bias output must be [heads, queries, keys]")
        for q in 0..<queries {
            for k in 0..<keys {
                let b = bucket(relativePosition: k - (queryOffset + q), bidirectional: bidirectional,
                               numBuckets: numBuckets, maxDistance: maxDistance)
                for h in 0..<heads { out[(h * queries + q) * keys + k] = table[b * heads + h] }
            }
        }
    }

    /// The same bias as one vector per head over key − query distances, [heads, queries + keys − 1]:
    /// entry `queries − 1 + (key − query)` (query counted from `queryOffset`, as in `bias`). Row
    /// (h, q) of `bias` is then the `keys` floats from h·(queries + keys − 1) + queries − 1 − q.
    ///
    /// Why: the bias depends only on the distance, so the [heads, queries, keys] tensor (12.6 MB for
    /// a 512-token t5-base encode, a logarithm per entry) repeats these few values; attention
    /// reads its rows from here instead.
    public static func biasByDistance(
        table: UnsafeBufferPointer<Float>, heads: Int, queries: Int, keys: Int, queryOffset: Int = 0,
        bidirectional: Bool, numBuckets: Int = 32, maxDistance: Int = 128,
        into out: UnsafeMutableBufferPointer<Float>
    ) {
        precondition(table.count == numBuckets * heads, "T5 bias table must be [\(numBuckets), \(heads)]")
        let span = queries + keys - 1
        precondition(out.count == heads * span, "T5 bias by distance must be [heads, queries + keys - 1]")
        for e in 0..<span {
            // Entry e is key − query = e − (queries − 1), the query at position queryOffset + q.
            let b = bucket(relativePosition: e - (queries - 1) - queryOffset, bidirectional: bidirectional,
                           numBuckets: numBuckets, maxDistance: maxDistance)
            for h in 0..<heads { out[h * span + e] = table[b * heads + h] }
        }
    }
}
