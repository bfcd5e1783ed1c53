// Fuzz target: loading a SentencePiece model from arbitrary bytes (SentencePieceTokenizer
// (modelBytes:), the bytes a `.tandem` file's tokenizer blob holds). A model that loads then
// encodes and decodes a fixed text. Loading is slower than the other targets per input; seed it
// with the small committed model (t5-v1_1-tiny, 3.8 kB).
import FuzzSupport
import TandemTokenizer

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let sp = try? SentencePieceTokenizer(modelBytes: [UInt8](input(data, size))) else { return 0 }
    let ids = sp.encode("Hello world. The quick brown fox, 12345 – héllo ⁇ </s>")
    _ = sp.decode(ids)
    _ = sp.decode(Array(0..<Int32(min(sp.vocabularySize, 64))))
    for id in [sp.bosTokenId, sp.eosTokenId, sp.padTokenId, sp.unknownTokenId] {
        if let id, let piece = sp.tokenText(id) { _ = sp.tokenId(piece) }
    }
    return 0
}

@main enum FuzzSentencePieceModel { static func main() { runLibFuzzer(fuzzOneInput) } }
