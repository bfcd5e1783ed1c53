// Cutting special tokens out of a text before SentencePiece-style merging, exactly as llama.cpp
// does (`llama_vocab::impl::tokenizer_st_partition` in src/llama-vocab.cpp, read, not copied).
//
// llama.cpp's order is not leftmost-longest: it takes the special tokens one at a time, longest
// first, and cuts every occurrence of that token out of every piece of text still uncut (each
// piece searched left to right, non-overlapping, as `std::string::find` from the end of the
// previous match). So in "<bo<bos>s>" the 5-byte `<bos>` is cut before any 3-byte token is
// looked for, and a shorter token never cuts into a longer one's match.
//
// Doing that literally costs one scan of the text per special token: Gemma 3 has 6,414 of them,
// so a 100 kB prompt would take 640 MB of `find`. Instead one pass over the text with a trie of
// the special spellings lists every place each special token occurs, and the longest-first order
// is then replayed on those occurrences alone. An occurrence is taken when no byte of it was taken
// before, and checking its first and last byte is enough: every earlier match is at least as long
// (tokens are visited by length, longest first), and a match at least as long as the occurrence
// that overlaps it without covering its first byte must cover its last.
//
// Tokens of equal length are visited in id order. llama.cpp sorts them with an unstable
// `std::sort` by length alone, so its order among them is unspecified; it only matters when two
// different tokens of one length overlap in the text, which Gemma's never can (each starts with
// `<` and ends with `>`, or is a run of one character).

/// The special tokens of a vocabulary (control, user-defined, unknown) and the partition of a text
/// into those tokens and the raw text between them.
struct SpecialTokenPartition: Sendable {
    enum Fragment: Equatable {
        case token(Int32)
        case text(Range<Int>)
    }

    /// By rank (the order llama.cpp visits them: longest first, then by id): id and byte length.
    private let ids: [Int32]
    private let lengths: [Int32]
    /// The trie of spellings. Node 0 is the root; node n's children are the edges
    /// `childStart[n]..<childStart[n + 1]`, sorted by byte; `terminal[n]` is the rank of the
    /// token spelled by the path to n, or -1.
    private let childStart: [Int32]
    private let edgeByte: [UInt8]
    private let edgeTarget: [Int32]
    private let terminal: [Int32]
    /// The root's child for each first byte, or -1: most text bytes start no special token.
    private let rootChild: [Int32]

    var isEmpty: Bool { ids.isEmpty }

    /// - Parameter specials: each special token's id and spelling; spellings are non-empty and
    ///   distinct (the tokenizer checks both before).
    init(_ specials: [(id: Int32, spelling: ArraySlice<UInt8>)]) {
        let ranked = specials.sorted { $0.spelling.count != $1.spelling.count ? $0.spelling.count > $1.spelling.count : $0.id < $1.id }
        ids = ranked.map(\.id)
        lengths = ranked.map { Int32($0.spelling.count) }
        // Spellings in byte order, so each trie node's tokens are a contiguous run.
        let sorted = ranked.indices.sorted { ranked[$0].spelling.lexicographicallyPrecedes(ranked[$1].spelling) }
        var childStart: [Int32] = []
        var edgeByte: [UInt8] = []
        var edgeTarget: [Int32] = []
        var terminal: [Int32] = []
        // Breadth first: node k is pending[k], the run of `sorted` sharing its first `depth` bytes.
        var pending: [(lo: Int, hi: Int, depth: Int)] = [(0, sorted.count, 0)]
        var k = 0
        while k < pending.count {
            var (lo, hi, depth) = pending[k]
            childStart.append(Int32(edgeByte.count))
            terminal.append(-1)
            if lo < hi, ranked[sorted[lo]].spelling.count == depth {
                terminal[k] = Int32(sorted[lo])
                lo += 1
            }
            var i = lo
            while i < hi {
                let s = ranked[sorted[i]].spelling
                let byte = s[s.startIndex + depth]
                var j = i + 1
                while j < hi, ranked[sorted[j]].spelling.dropFirst(depth).first == byte { j += 1 }
                edgeByte.append(byte)
                edgeTarget.append(Int32(pending.count))
                pending.append((i, j, depth + 1))
                i = j
            }
            k += 1
        }
        childStart.append(Int32(edgeByte.count))
        var rootChild = [Int32](repeating: -1, count: 256)
        for e in Int(childStart[0])..<Int(childStart[1]) { rootChild[Int(edgeByte[e])] = edgeTarget[e] }
        self.childStart = childStart
        self.edgeByte = edgeByte
        self.edgeTarget = edgeTarget
        self.terminal = terminal
        self.rootChild = rootChild
    }

    /// Calls `found(rank)` for every special token that occurs at `text[start...]`, shortest first.
    @inline(__always)
    private func occurrences(in text: UnsafeBufferPointer<UInt8>, at start: Int, _ found: (Int) -> Void) {
        var node = Int(rootChild[Int(text[start])])
        var i = start + 1
        while node >= 0 {
            let rank = terminal[node]
            if rank >= 0 { found(Int(rank)) }
            guard i < text.count else { return }
            let byte = text[i]
            var child = -1
            for e in Int(childStart[node])..<Int(childStart[node + 1]) where edgeByte[e] >= byte {
                if edgeByte[e] == byte { child = Int(edgeTarget[e]) }
                break
            }
            node = child
            i += 1
        }
    }

    /// `text` as llama.cpp's partition leaves it: special tokens and the raw text between them,
    /// in order; no empty text fragment.
    func partition(_ text: UnsafeBufferPointer<UInt8>) -> [Fragment] {
        guard !text.isEmpty else { return [] }
        guard !ids.isEmpty else { return [.text(0..<text.count)] }
        // Every occurrence of every special token, grouped by rank (a counting sort over two
        // passes, so the positions of each rank come out ascending without a comparison sort).
        var start = [Int32](repeating: 0, count: ids.count + 1)
        for p in 0..<text.count { occurrences(in: text, at: p) { start[$0 + 1] += 1 } }
        if start.allSatisfy({ $0 == 0 }) { return [.text(0..<text.count)] }
        for r in 0..<ids.count { start[r + 1] += start[r] }
        var fill = start
        var positions = [Int32](repeating: 0, count: Int(start[ids.count]))
        for p in 0..<text.count {
            occurrences(in: text, at: p) { rank in
                positions[Int(fill[rank])] = Int32(p)
                fill[rank] += 1
            }
        }
        // Replay llama.cpp's order: rank by rank, each rank's occurrences left to right.
        var taken = [Bool](repeating: false, count: text.count)
        var matches: [(position: Int32, rank: Int32)] = []
        for rank in 0..<ids.count {
            let length = Int(lengths[rank])
            for k in Int(start[rank])..<Int(start[rank + 1]) {
                let p = Int(positions[k])
                guard !taken[p], !taken[p + length - 1] else { continue }
                for q in p..<p + length { taken[q] = true }
                matches.append((Int32(p), Int32(rank)))
            }
        }
        matches.sort { $0.position < $1.position }
        var fragments: [Fragment] = []
        fragments.reserveCapacity(2 * matches.count + 1)
        var end = 0
        for m in matches {
            let p = Int(m.position)
            if p > end { fragments.append(.text(end..<p)) }
            fragments.append(.token(ids[Int(m.rank)]))
            end = p + Int(lengths[Int(m.rank)])
        }
        if end < text.count { fragments.append(.text(end..<text.count)) }
        return fragments
    }
}
