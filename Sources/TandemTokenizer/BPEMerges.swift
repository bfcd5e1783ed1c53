// The BPE model proper: one pre-tokenized word (its UTF-8 bytes) → token ids, by repeatedly
// merging the adjacent pair with the lowest merge rank. Follows `Word::merge_all` in Hugging Face
// tokenizers (`models/bpe/word.rs`): a min-heap of candidate merges ordered by (rank, position),
// stale entries skipped when popped. Ties between equal ranks go to the leftmost pair, which is
// also what GPT-2's original `bpe()` produces. Everything works on ids, never on strings: a pair
// of ids is one UInt64 key, so the hot loop hashes integers only.

struct BPEMerges: Sendable {
    /// (left id << 32 | right id) → (rank << 32 | merged id).
    private var table: [UInt64: UInt64] = [:]
    /// The id of each single byte's token, or -1 when the vocabulary lacks it.
    let byteIds: [Int32]
    /// Every model token that is a byte sequence, by its bytes: for `ignore_merges`.
    let wordIds: [ByteString: Int32]
    /// LLaMA-3: a word that is itself a vocabulary entry is taken whole, before any merge.
    let ignoreMerges: Bool
    /// What a byte without a token becomes: the unknown id, or (nil) nothing, as in tokenizers.
    let unknownId: Int32?
    /// Consecutive unknown bytes become one unknown token.
    let fuseUnknown: Bool

    init(merges: [(left: Int32, right: Int32, merged: Int32)], byteIds: [Int32], wordIds: [ByteString: Int32],
         ignoreMerges: Bool, unknownId: Int32?, fuseUnknown: Bool) {
        table.reserveCapacity(merges.count)
        for (rank, m) in merges.enumerated() {
            let key = Self.key(m.left, m.right)
            // A repeated pair takes its last rank: tokenizers collects the merges into a HashMap,
            // where a later entry overwrites an earlier one.
            table[key] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: m.merged))
        }
        self.byteIds = byteIds
        self.wordIds = wordIds
        self.ignoreMerges = ignoreMerges
        self.unknownId = unknownId
        self.fuseUnknown = fuseUnknown
    }

    @inline(__always)
    private static func key(_ a: Int32, _ b: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
    }

    /// Appends the ids of one word to `out`.
    func tokenize(_ word: ByteString, into out: inout [Int32]) {
        if ignoreMerges, let id = wordIds[word] {
            out.append(id)
            return
        }
        var ids: [Int32] = []
        ids.reserveCapacity(word.bytes.count)
        for b in word.bytes {
            let id = byteIds[Int(b)]
            if id >= 0 {
                ids.append(id)
            } else if let unknownId {
                if fuseUnknown, ids.last == unknownId { continue }
                ids.append(unknownId)
            }
        }
        if ids.count < 2 {
            out.append(contentsOf: ids)
            return
        }
        merge(&ids)
        out.append(contentsOf: ids)
    }

    /// Merges `ids` in place until no adjacent pair has a merge.
    private func merge(_ ids: inout [Int32]) {
        let n = ids.count
        var next = [Int32](unsafeUninitializedCapacity: n) { buf, count in
            for i in 0..<n { buf[i] = i + 1 < n ? Int32(i + 1) : -1 }
            count = n
        }
        var prev = [Int32](unsafeUninitializedCapacity: n) { buf, count in
            for i in 0..<n { buf[i] = Int32(i - 1) }
            count = n
        }
        var alive = [Bool](repeating: true, count: n)
        // Keys: rank in the high half, position in the low half, so the integer order is
        // tokenizers' (rank, position) order.
        var heap = MinHeap<UInt64>()
        for i in 0..<(n - 1) {
            if let m = table[Self.key(ids[i], ids[i + 1])] { heap.push((m & 0xFFFF_FFFF_0000_0000) | UInt64(i)) }
        }
        while let top = heap.pop() {
            let rank = top >> 32
            let pos = Int(top & 0xFFFF_FFFF)
            guard alive[pos], next[pos] >= 0 else { continue }
            let right = Int(next[pos])
            // A stale entry: one of the two symbols changed since it was pushed.
            guard let m = table[Self.key(ids[pos], ids[right])], m >> 32 == rank else { continue }
            ids[pos] = Int32(truncatingIfNeeded: m & 0xFFFF_FFFF)
            alive[right] = false
            next[pos] = next[right]
            if next[right] >= 0 { prev[Int(next[right])] = Int32(pos) }
            if prev[pos] >= 0, let l = table[Self.key(ids[Int(prev[pos])], ids[pos])] {
                heap.push((l & 0xFFFF_FFFF_0000_0000) | UInt64(prev[pos]))
            }
            if next[pos] >= 0, let r = table[Self.key(ids[pos], ids[Int(next[pos])])] {
                heap.push((r & 0xFFFF_FFFF_0000_0000) | UInt64(pos))
            }
        }
        var k = 0
        for i in 0..<n where alive[i] {
            ids[k] = ids[i]
            k += 1
        }
        ids.removeLast(n - k)
    }
}
