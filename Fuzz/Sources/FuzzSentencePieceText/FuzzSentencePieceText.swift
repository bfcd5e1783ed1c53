// Fuzz target: SentencePiece encoding and decoding (Sources/TandemTokenizer/SentencePieceTokenizer.swift
// over the CSentencePiece shim) with the committed T5 models. The first input byte picks the
// model, the rest is text (invalid UTF-8 is repaired the way `String(decoding:)` does, as the CLI
// does with its input): text → ids → text, then the same bytes read as raw ids (negative and
// out-of-range ones included) → text, and every id through the per-id lookups.
import FuzzSupport
import TandemTokenizer

let models: [SentencePieceTokenizer] = [
    "Tests/Fixtures/checkpoints/t5-v1_1-tiny/spiece.model",  // BPE, 320 pieces, byte fallback off
    "Tests/Fixtures/checkpoints/t5-v1_0-tiny/spiece.model",  // unigram
].map { path in
    do { return try SentencePieceTokenizer(modelBytes: RepositoryFixtures.bytes(path)) } catch { fatalError("\(path): \(error)") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let (selector, rest) = selectorAndRest(input(data, size))
    let sp = models[Int(selector) % models.count]
    let text = String(decoding: rest, as: UTF8.self)
    let ids = sp.encode(text)
    for id in ids { precondition(id >= 0 && Int(id) < sp.vocabularySize, "encode gave id \(id) outside the vocabulary") }
    _ = sp.decode(ids)

    let raw = stride(from: 0, to: rest.count - 3, by: 4).map { rest.loadUnaligned(fromByteOffset: $0, as: Int32.self) }
    _ = sp.decode(raw)
    for id in raw.prefix(16) {
        if let piece = sp.tokenText(id) { _ = sp.tokenId(piece) }
        _ = sp.isControl(id)
    }
    _ = sp.tokenId(text)
    return 0
}

@main enum FuzzSentencePieceText { static func main() { runLibFuzzer(fuzzOneInput) } }
