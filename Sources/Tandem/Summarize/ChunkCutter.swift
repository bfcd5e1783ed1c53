// `summarize --chunk`: an over-long document cut into prompts the model can read whole. The text
// is never tokenized at once (a 64 MiB document would cost gigabytes in SentencePiece): a window
// of bytes ending at a whitespace is tokenized, and shrunk until its tokens fit; the next window
// starts where it ended. Chunks come one at a time, so a document's chunks need not all be held.

struct ChunkCutter {
    let model: TandemModel
    let frame: PromptFrame
    /// Tokens of text per chunk, room left for the frame around it (and an encoder's end token).
    let size: Int
    private let utf8: String.UTF8View
    private var position: String.Index
    /// Bytes of text per token, as last measured: the next window's first guess.
    private var bytesPerToken = 4.0

    init(model: TandemModel, text: String, frame: PromptFrame) {
        self.model = model
        self.frame = frame
        utf8 = text.utf8
        position = utf8.startIndex
        // One token of slack: the frame and the piece may tokenize one longer joined than apart.
        let framing = model.tokenizer.encode(frame.prefix).count + model.tokenizer.encode(frame.suffix).count
        size = max(16, model.promptLimit - framing - 1)
    }

    /// The next chunk: its prompt ids (the frame around a piece of the text, and an encoder's end
    /// token) and the piece of text; nil at the end of the text.
    mutating func next() -> (ids: [Int32], text: String)? {
        while position < utf8.endIndex, TandemModel.isSpace(utf8[position]) { position = utf8.index(after: position) }
        guard position < utf8.endIndex else { return nil }
        var budget = max(16, Int(Double(size) * bytesPerToken))
        while true {
            var end = utf8.index(position, offsetBy: budget, limitedBy: utf8.endIndex) ?? utf8.endIndex
            if end < utf8.endIndex {
                // End the window at a whitespace in its last quarter, if there is one, and never
                // inside a character.
                let floor = utf8.index(position, offsetBy: max(1, budget * 3 / 4))
                if let space = utf8[floor..<end].lastIndex(where: TandemModel.isSpace) { end = space }
                while end > position, UTF8.isContinuation(utf8[end]) { end = utf8.index(before: end) }
                if end == position { end = utf8.index(after: position) }
            }
            let piece = String(Substring(utf8[position..<end]))
            let tokens = model.tokenizer.encode(piece)
            if tokens.count <= size || budget <= 16 {
                bytesPerToken = max(1, Double(utf8.distance(from: position, to: end)) / Double(max(tokens.count, 1)))
                position = end
                return (model.encodePrompt(frame.prefix + piece + frame.suffix).ids, piece)
            }
            budget = max(16, Int(Double(budget) * Double(size) / Double(tokens.count) * 0.9))
        }
    }
}
