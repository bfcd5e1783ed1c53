// The SentencePiece-style merge loop of llama.cpp's SPM tokenizer (`llm_tokenizer_spm_session` in
// src/llama-vocab.cpp, read, not copied), for one piece of text whose spaces are already `▁`:
//
// 1. Split the bytes into UTF-8 characters. A byte that cannot start a character is one symbol,
//    and a lead byte takes as many bytes as it announces (fewer at the end), whether or not they
//    are continuation bytes — llama.cpp's `unicode_len_utf8`; Swift strings are valid UTF-8, so
//    only `encode(bytes:)` can meet the other cases.
// 2. Every adjacent pair whose bytes together spell a vocabulary entry (of any type) goes into a
//    priority queue ordered by that entry's score, highest first, then by the left symbol's
//    position, leftmost first.
// 3. Pop the best pair; skip it if either symbol was merged away or has grown since the pair was
//    queued (their lengths no longer add up); otherwise merge the right symbol into the left and
//    queue the new pairs with both neighbours.
// 4. Each remaining symbol is its vocabulary id, or, when it is not an entry (only a character
//    that was never merged can be one), the byte token of each of its bytes.
//
// A popped pair that is still valid is the only valid one with its left symbol, so ties in
// (score, position) between queue entries never change the result. Scores are compared as
// llama.cpp compares floats: -0 equals +0 (the tokenizer stores -0 as +0).

/// What the merge loop needs from the vocabulary.
protocol SentencePieceVocabulary {
    /// The id of the entry spelled exactly `bytes`, of any type.
    func entryId(_ bytes: UnsafeBufferPointer<UInt8>) -> Int32?
    /// The score of an entry (higher merges first).
    func score(_ id: Int32) -> Float
    /// The longest spelling in bytes: a longer pair cannot be an entry.
    var maximumSpellingLength: Int { get }
    /// The token for a byte that no entry covers: `<0xXX>`, else the byte itself, else unknown.
    func byteToken(_ byte: UInt8) -> Int32?
}

/// Reusable buffers for the merge loop, so a text of many fragments allocates once.
struct SentencePieceMerger {
    private var start: [Int32] = []
    private var length: [Int32] = []
    private var prev: [Int32] = []
    private var next: [Int32] = []
    /// The vocabulary id each symbol spells once merged (-1: not looked up yet).
    private var id: [Int32] = []
    private var queue = MinHeap<Bigram>()

    /// Appends the ids of `text` (one fragment, spaces already escaped) to `out`.
    mutating func tokenize(_ text: UnsafeBufferPointer<UInt8>, _ vocabulary: some SentencePieceVocabulary, into out: inout [Int32]) {
        guard !text.isEmpty else { return }
        start.removeAll(keepingCapacity: true)
        length.removeAll(keepingCapacity: true)
        id.removeAll(keepingCapacity: true)
        prev.removeAll(keepingCapacity: true)
        next.removeAll(keepingCapacity: true)
        var offset = 0
        while offset < text.count {
            let n = min(Self.utf8Length(text[offset]), text.count - offset)
            prev.append(Int32(start.count - 1))
            start.append(Int32(offset))
            length.append(Int32(n))
            id.append(-1)
            offset += n
            next.append(offset < text.count ? Int32(start.count) : -1)
        }
        queue.removeAll()
        for i in 1..<max(start.count, 1) { tryQueue(i - 1, i, text, vocabulary) }

        while let pair = queue.pop() {
            let left = Int(pair.left), right = Int(pair.right)
            guard length[left] > 0, length[right] > 0, length[left] + length[right] == pair.size else { continue }
            length[left] += length[right]
            length[right] = 0
            id[left] = pair.id
            next[left] = next[right]
            if next[right] >= 0 { prev[Int(next[right])] = Int32(left) }
            tryQueue(Int(prev[left]), left, text, vocabulary)
            tryQueue(left, Int(next[left]), text, vocabulary)
        }

        var i = 0
        while i >= 0 {
            let bytes = UnsafeBufferPointer(rebasing: text[Int(start[i])..<Int(start[i] + length[i])])
            if id[i] >= 0 {
                out.append(id[i])
            } else if let entry = vocabulary.entryId(bytes) {
                out.append(entry)
            } else {
                for b in bytes { if let t = vocabulary.byteToken(b) { out.append(t) } }
            }
            i = Int(next[i])
        }
    }

    /// Queues the pair (left, right) when their bytes together spell an entry.
    @inline(__always)
    private mutating func tryQueue(_ left: Int, _ right: Int, _ text: UnsafeBufferPointer<UInt8>, _ vocabulary: some SentencePieceVocabulary) {
        guard left >= 0, right >= 0 else { return }
        let size = Int(length[left] + length[right])
        guard size <= vocabulary.maximumSpellingLength else { return }
        let s = Int(start[left])
        guard let entry = vocabulary.entryId(UnsafeBufferPointer(rebasing: text[s..<s + size])) else { return }
        queue.push(Bigram(score: vocabulary.score(entry), left: Int32(left), right: Int32(right), size: Int32(size), id: entry))
    }

    /// Bytes of the UTF-8 sequence a byte starts, as llama.cpp's `unicode_len_utf8` says: a
    /// continuation byte counts as one, and so does an ASCII byte.
    @inline(__always)
    static func utf8Length(_ byte: UInt8) -> Int {
        switch byte >> 4 {
        case 0xC, 0xD: 2
        case 0xE: 3
        case 0xF: 4
        default: 1
        }
    }
}

/// A candidate merge: the left and right symbols, their bytes together, and the entry they spell.
/// Ordered for `MinHeap` by `precedes`: the smallest is the one merged first.
struct Bigram: Comparable {
    var score: Float
    var left: Int32
    var right: Int32
    var size: Int32
    var id: Int32

    /// Whether `self` is popped before `other`: higher score, then the left symbol further left.
    @inline(__always)
    func precedes(_ other: Bigram) -> Bool {
        score > other.score || (score == other.score && left < other.left)
    }

    static func < (a: Bigram, b: Bigram) -> Bool { a.precedes(b) }
    static func == (a: Bigram, b: Bigram) -> Bool { !a.precedes(b) && !b.precedes(a) }
}
