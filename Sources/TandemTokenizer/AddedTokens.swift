// Added and special tokens (`<|endoftext|>`, `<|im_start|>`, …) are found in the raw text before
// pre-tokenization, so that they are never cut up by the regex or by BPE. This follows
// `AddedVocabulary::extract_and_normalize` in Hugging Face tokenizers: first the tokens marked
// `normalized: false` (all special tokens), then, in the text left between them, the others;
// each pass takes the leftmost match and, at one position, the longest token
// (aho-corasick `LeftmostLongest`).

/// A token matched in the text as a whole, never split.
struct AddedToken: Sendable, Equatable {
    var id: Int32
    var content: String
    var special: Bool
    /// Eat the whitespace before / after the token (it becomes part of the token's match).
    var lstrip = false
    var rstrip = false
    /// Only match when not inside a word (letters, digits or `_` on neither side).
    var singleWord = false
    /// Matched after normalization (second pass) rather than on the raw text.
    var normalized = false
}

/// The two-pass matcher over a text's scalars.
struct AddedTokenMatcher: Sendable {
    enum Segment: Equatable {
        case token(Int32)
        case text(Range<Int>)
    }

    /// Per pass: candidate tokens by their first scalar, longest first.
    private let passes: [[UInt32: [(scalars: [Unicode.Scalar], token: AddedToken)]]]

    init(_ tokens: [AddedToken]) {
        var raw: [UInt32: [(scalars: [Unicode.Scalar], token: AddedToken)]] = [:]
        var normalized = raw
        for token in tokens {
            let scalars = Array(token.content.unicodeScalars)
            guard let first = scalars.first else { continue }
            if token.normalized && !token.special {
                normalized[first.value, default: []].append((scalars, token))
            } else {
                raw[first.value, default: []].append((scalars, token))
            }
        }
        func sorted(_ t: [UInt32: [(scalars: [Unicode.Scalar], token: AddedToken)]]) -> [UInt32: [(scalars: [Unicode.Scalar], token: AddedToken)]] {
            t.mapValues { $0.sorted { $0.scalars.count > $1.scalars.count } }
        }
        passes = [sorted(raw), sorted(normalized)].filter { !$0.isEmpty }
    }

    var isEmpty: Bool { passes.isEmpty }

    /// The text as a sequence of added tokens and the text between them (empty text is dropped).
    func split(_ text: ClassifiedScalars) -> [Segment] {
        var segments: [Segment] = text.scalars.isEmpty ? [] : [.text(0..<text.scalars.count)]
        for table in passes {
            var next: [Segment] = []
            for segment in segments {
                if case .text(let range) = segment {
                    split(text, range, table, into: &next)
                } else {
                    next.append(segment)
                }
            }
            segments = next
        }
        return segments
    }

    private func split(_ text: ClassifiedScalars, _ range: Range<Int>,
                       _ table: [UInt32: [(scalars: [Unicode.Scalar], token: AddedToken)]],
                       into out: inout [Segment]) {
        let s = text.scalars, c = text.classes
        var textStart = range.lowerBound
        var i = range.lowerBound
        while i < range.upperBound {
            guard let candidates = table[s[i].value],
                  let hit = candidates.first(where: { matches($0.scalars, s, at: i, end: range.upperBound) })
            else {
                i += 1
                continue
            }
            let token = hit.token
            var start = i
            var stop = i + hit.scalars.count
            if token.singleWord {
                let before = start > range.lowerBound && isWordCharacter(s[start - 1], c[start - 1])
                let after = stop < range.upperBound && isWordCharacter(s[stop], c[stop])
                if before || after {
                    i = stop
                    continue
                }
            }
            if token.lstrip {
                while start > textStart, c[start - 1] & ClassifiedScalars.space != 0 { start -= 1 }
            }
            if token.rstrip {
                while stop < range.upperBound, c[stop] & ClassifiedScalars.space != 0 { stop += 1 }
            }
            if textStart < start { out.append(.text(textStart..<start)) }
            out.append(.token(token.id))
            i = stop
            textStart = stop
        }
        if textStart < range.upperBound { out.append(.text(textStart..<range.upperBound)) }
    }

    private func matches(_ pattern: [Unicode.Scalar], _ s: [Unicode.Scalar], at i: Int, end: Int) -> Bool {
        guard end - i >= pattern.count else { return false }
        for k in 0..<pattern.count where s[i + k] != pattern[k] { return false }
        return true
    }

    private func isWordCharacter(_ s: Unicode.Scalar, _ c: UInt8) -> Bool {
        c & (ClassifiedScalars.letter | ClassifiedScalars.number) != 0 || s == "_"
    }
}
