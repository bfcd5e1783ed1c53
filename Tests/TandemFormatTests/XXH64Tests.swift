import Foundation
import Testing
@testable import TandemFormat

/// XXH64 against digests from the reference C library (Tools/fixtures/make_hash_golden.py).
@Test func xxh64MatchesReference() throws {
    let golden = try Fixtures.json("Tests/Fixtures/hash/xxh64.json")
    let cases = golden["cases"] as! [[String: String]]
    #expect(cases.count >= 40)
    for c in cases {
        let hex = c["hex"]!
        var bytes: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            bytes.append(UInt8(hex[i..<j], radix: 16)!)
            i = j
        }
        let seed = UInt64(c["seed"]!)!
        let expected = UInt64(c["digest"]!)!
        #expect(XXH64.hash(bytes, seed: seed) == expected, "length \(bytes.count) seed \(seed)")
        // Streaming in uneven pieces must give the same digest.
        var h = XXH64(seed: seed)
        var p = 0
        var step = 1
        bytes.withUnsafeBytes { raw in
            while p < raw.count {
                let n = min(step, raw.count - p)
                h.update(UnsafeRawBufferPointer(rebasing: raw[p..<p + n]))
                p += n
                step = step * 3 % 37 + 1
            }
        }
        #expect(h.finalize() == expected, "streamed, length \(bytes.count)")
    }
}
