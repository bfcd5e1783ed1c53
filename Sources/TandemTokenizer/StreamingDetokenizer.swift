// Turning generated ids into text one id at a time. Two things make "decode the new id alone"
// wrong: a byte-level token can end in the middle of a UTF-8 character (an emoji is often 2–4
// tokens), and SentencePiece decodes the first pieces of a sequence differently (it drops their
// leading `▁`, all of them when the model removes extra whitespace). Decoding everything again
// at every step is right but quadratic. This follows the offsets scheme of Hugging Face
// text-generation-inference (`decode_token`): decode a short window of recent ids and emit what
// it adds, unless it ends in U+FFFD, which means the last character is (so far) incomplete and
// is held back until later ids complete it or `finish()` flushes it. Instead of TGI's few
// previous ids, the window is preceded by an *anchor* — the ids of a plain letter — so that
// SentencePiece reads the window as the middle of a sentence, whatever the previous ids were.

/// Incremental detokenization for streaming generation.
///
/// The chunks it returns, concatenated, are exactly `tokenizer.decode(allIds)`, and no chunk ends
/// with a character that later ids could still change: incomplete UTF-8 is withheld until it is
/// complete, and bytes that can never form a character come out as U+FFFD — as in the
/// reference decode — once a later character follows them, or at `finish()`.
///
/// ```swift
/// var stream = StreamingDetokenizer(tokenizer: tokenizer)
/// for id in generatedIds { print(stream.append(id), terminator: "") }
/// print(stream.finish())
/// ```
public struct StreamingDetokenizer: Sendable {
    public let tokenizer: any Tokenizer
    /// Ids not yet emitted, or — until the first text appears — every id since the start, since
    /// the sequence's beginning is decoded differently from its middle.
    private var window: [Int32] = []
    /// decode(window) as emitted so far (only non-empty before the first text: control ids).
    private var emitted: [Unicode.Scalar] = []
    /// Whether text has been emitted; from then on the window is decoded after the anchor.
    private var started = false
    /// Ids whose text is one letter, and that text; empty when the tokenizer has no such ids.
    private let anchor: [Int32]
    private let anchorText: [Unicode.Scalar]

    public init(tokenizer: any Tokenizer) {
        self.tokenizer = tokenizer
        let ids = tokenizer.encode("a")
        let text = Array(tokenizer.decode(ids).unicodeScalars)
        let usable = !ids.isEmpty && !text.isEmpty && text.last != Self.replacement
            && Array(tokenizer.decode(ids + ids).unicodeScalars.prefix(text.count)) == text
        anchor = usable ? ids : []
        anchorText = usable ? text : []
    }

    private static let replacement = Unicode.Scalar(0xFFFD)!

    /// Adds one id; returns the text it completes (often empty, never a broken character).
    public mutating func append(_ id: Int32) -> String {
        window.append(id)
        let text = decodeWindow()
        if text.last == Self.replacement { return "" }
        let chunk = difference(text)
        if started || !chunk.isEmpty {
            started = true
            window.removeAll(keepingCapacity: true)
            emitted.removeAll(keepingCapacity: true)
        } else {
            emitted = text
        }
        return String(chunk)
    }

    /// Adds several ids; returns the text they complete.
    public mutating func append(contentsOf ids: some Sequence<Int32>) -> String {
        var out = ""
        for id in ids { out += append(id) }
        return out
    }

    /// Emits whatever is still held back (incomplete bytes as U+FFFD) and starts over.
    public mutating func finish() -> String {
        let chunk = difference(decodeWindow())
        window.removeAll()
        emitted.removeAll()
        started = false
        return String(chunk)
    }

    /// The window's text, as it reads at its place in the whole sequence.
    private func decodeWindow() -> [Unicode.Scalar] {
        guard started, !anchor.isEmpty else { return Array(tokenizer.decode(window).unicodeScalars) }
        let text = Array(tokenizer.decode(anchor + window).unicodeScalars)
        return text.starts(with: anchorText) ? Array(text[anchorText.count...]) : text
    }

    /// The scalars of `text` after the already emitted part.
    private func difference(_ text: [Unicode.Scalar]) -> String.UnicodeScalarView {
        // Decoding is prefix-stable for these tokenizers once the emitted part ends on a complete
        // character, so `emitted` is a prefix of `text`. Should a tokenizer ever break that,
        // emit from the first difference on rather than lose text.
        var common = 0
        let limit = min(emitted.count, text.count)
        while common < limit, emitted[common] == text[common] { common += 1 }
        var out = String.UnicodeScalarView()
        out.append(contentsOf: text[common...])
        return out
    }
}
