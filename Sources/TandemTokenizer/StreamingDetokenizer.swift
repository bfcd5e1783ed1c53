// Turning generated ids into text one id at a time. A byte-level token can end in the middle of
// a UTF-8 character (an emoji is often 2–4 tokens), and SentencePiece drops the leading space of
// the first piece it decodes, so neither "decode the new id alone" nor "decode everything again"
// is right. This follows the offsets scheme of Hugging Face text-generation-inference
// (`decode_token`): decode a short window of recent ids twice — without and with the new ids —
// and emit the difference, unless the window ends in U+FFFD, which means the last character is
// (so far) incomplete and is held back until later ids complete it or `finish()` flushes it.

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
    /// Ids from the start of the current window; those before `readIndex` were already emitted.
    private var window: [Int32] = []
    private var readIndex = 0
    /// decode(window[..<readIndex]), kept as scalars to diff against.
    private var emittedInWindow: [Unicode.Scalar] = []

    public init(tokenizer: any Tokenizer) {
        self.tokenizer = tokenizer
    }

    /// Adds one id; returns the text it completes (often empty, never a broken character).
    public mutating func append(_ id: Int32) -> String {
        window.append(id)
        let text = Array(tokenizer.decode(window).unicodeScalars)
        if text.last == Unicode.Scalar(0xFFFD) { return "" }
        let chunk = difference(text)
        // Slide the window: the ids just emitted become the context for the next difference,
        // which keeps SentencePiece's first-piece rule and a split character's bytes consistent.
        window.removeFirst(readIndex)
        readIndex = window.count
        emittedInWindow = Array(tokenizer.decode(window).unicodeScalars)
        return chunk
    }

    /// Adds several ids; returns the text they complete.
    public mutating func append(contentsOf ids: some Sequence<Int32>) -> String {
        var out = ""
        for id in ids { out += append(id) }
        return out
    }

    /// Emits whatever is still held back (incomplete bytes as U+FFFD) and starts over.
    public mutating func finish() -> String {
        let text = Array(tokenizer.decode(window).unicodeScalars)
        let chunk = difference(text)
        window.removeAll()
        readIndex = 0
        emittedInWindow.removeAll()
        return chunk
    }

    /// The scalars of `text` after the already emitted part of the window.
    private func difference(_ text: [Unicode.Scalar]) -> String {
        // Decoding a window is prefix-stable for these tokenizers (more ids only append text,
        // once the emitted part ends on a complete character), so the emitted scalars are a
        // prefix of `text`. Should a tokenizer ever break that, emit from the first difference
        // on rather than lose text.
        var common = 0
        let limit = min(emittedInWindow.count, text.count)
        while common < limit, emittedInWindow[common] == text[common] { common += 1 }
        var out = String.UnicodeScalarView()
        out.append(contentsOf: text[common...])
        return String(out)
    }
}
