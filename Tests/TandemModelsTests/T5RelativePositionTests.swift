// T5's relative-position buckets against Hugging Face's (T5BucketGolden.swift, made by
// Tools/fixtures/make_t5_bucket_golden.py), and the two layouts of the bias built from them.
import Testing
import TandemModels

struct T5RelativePositionTests {
    @Test func t5BucketsMatchHuggingFace() {
        for c in T5BucketGolden.cases {
            for (i, rp) in T5BucketGolden.positions.enumerated() {
                let got = T5RelativePosition.bucket(relativePosition: rp, bidirectional: c.bidirectional,
                                                    numBuckets: c.numBuckets, maxDistance: c.maxDistance)
                #expect(got == c.buckets[i], "bidirectional \(c.bidirectional) buckets \(c.numBuckets) distance \(c.maxDistance) position \(rp)")
            }
        }
    }

    @Test func t5BiasLayout() {
        let (heads, buckets) = (2, 32)
        let table = (0..<buckets * heads).map(Float.init)
        var out = [Float](repeating: .nan, count: heads * 3 * 5)
        table.withUnsafeBufferPointer { t in
            out.withUnsafeMutableBufferPointer {
                T5RelativePosition.bias(table: t, heads: heads, queries: 3, keys: 5, queryOffset: 2, bidirectional: false, into: $0)
            }
        }
        for h in 0..<heads {
            for q in 0..<3 {
                for k in 0..<5 {
                    let b = T5RelativePosition.bucket(relativePosition: k - (q + 2), bidirectional: false)
                    #expect(out[(h * 3 + q) * 5 + k] == table[b * heads + h])
                }
            }
        }
    }

    /// The per-distance vectors hold every row of the full bias, bidirectional and causal, with a
    /// query offset, where queries ≠ keys and the far buckets are logarithmic.
    @Test func t5BiasByDistanceHoldsEveryRow() {
        let (heads, buckets) = (3, 32)
        let table = (0..<buckets * heads).map { Float($0) * 0.25 - 7 }
        for (queries, keys, offset, bidirectional) in [(200, 200, 0, true), (7, 300, 0, true), (5, 260, 250, false), (1, 1, 0, true)] {
            var full = [Float](repeating: .nan, count: heads * queries * keys)
            var byDistance = [Float](repeating: .nan, count: heads * (queries + keys - 1))
            table.withUnsafeBufferPointer { t in
                full.withUnsafeMutableBufferPointer {
                    T5RelativePosition.bias(table: t, heads: heads, queries: queries, keys: keys, queryOffset: offset,
                                            bidirectional: bidirectional, into: $0)
                }
                byDistance.withUnsafeMutableBufferPointer {
                    T5RelativePosition.biasByDistance(table: t, heads: heads, queries: queries, keys: keys, queryOffset: offset,
                                                      bidirectional: bidirectional, into: $0)
                }
            }
            let span = queries + keys - 1
            for h in 0..<heads {
                for q in 0..<queries {
                    let start = h * span + queries - 1 - q
                    #expect(Array(byDistance[start..<start + keys]) == Array(full[(h * queries + q) * keys..<(h * queries + q + 1) * keys]),
                            "\(queries)×\(keys) offset \(offset) head \(h) query \(q)")
                }
            }
        }
    }
}
