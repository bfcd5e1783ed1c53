// Fuzz target: loading a Hugging Face `tokenizer.json` (ByteLevelBPETokenizer+TokenizerJSON.swift,
// JSONParser.swift), the bytes `tandem convert` copies from a checkpoint and a `.tandem` file
// stores. The input is the file; when the first byte is odd, the input is split at its first NUL
// byte and the part after it is read as `tokenizer_config.json`. A tokenizer that loads then
// encodes and decodes a fixed text.
import FuzzSupport
import TandemTokenizer

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = [UInt8](input(data, size))
    var json = bytes[...], config: ArraySlice<UInt8>?
    if let first = bytes.first, first & 1 == 1, let nul = bytes.firstIndex(of: 0) {
        json = bytes[..<nul]
        config = bytes[(nul + 1)...]
    }
    guard let tokenizer = try? ByteLevelBPETokenizer(tokenizerJSON: Array(json), tokenizerConfigJSON: config.map(Array.init))
    else { return 0 }
    let ids = tokenizer.encode("Hello world! 12345 <|endoftext|> <tool> héllo\n\n  x")
    _ = tokenizer.decode(ids)
    for id in [tokenizer.bosTokenId, tokenizer.eosTokenId, tokenizer.padTokenId, tokenizer.unknownTokenId] {
        if let id, let text = tokenizer.tokenText(id) { _ = tokenizer.tokenId(text) }
    }
    return 0
}

@main enum FuzzTokenizerJSON { static func main() { runLibFuzzer(fuzzOneInput) } }
