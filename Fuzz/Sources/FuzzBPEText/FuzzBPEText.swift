// Fuzz target: byte-level BPE encoding and decoding (Sources/TandemTokenizer/ByteLevelBPETokenizer.swift)
// with the committed vocabularies: three `tokenizer.json` files (GPT-2, LLaMA-3 and SmolLM
// pre-tokenizers) and the GGUF vocabulary of tiny-llama-f32.gguf. The first input byte picks the
// tokenizer, the rest is text (invalid UTF-8 repaired as `String(decoding:)` does).
//
// Checked beyond "does not crash": every id is in the vocabulary, and decoding gives the text
// back exactly for the tokenizers without lstrip/rstrip added tokens (byte-level BPE is lossless:
// every byte has a token; `<tool>` in the LLaMA-3 and SmolLM fixtures strips spaces around it).
import FuzzSupport
import TandemFormat
import TandemTokenizer

struct Case {
    var tokenizer: ByteLevelBPETokenizer
    var lossless: Bool
}

let cases: [Case] = {
    func json(_ path: String, lossless: Bool) -> Case {
        do { return Case(tokenizer: try ByteLevelBPETokenizer(tokenizerJSON: RepositoryFixtures.bytes(path)), lossless: lossless) }
        catch { fatalError("\(path): \(error)") }
    }
    return [
        json("Tests/Fixtures/checkpoints/gpt2-tiny/tokenizer.json", lossless: true),
        json("Tests/Fixtures/tokenizers/llama3-style-tiny.tokenizer.json", lossless: false),
        json("Tests/Fixtures/tokenizers/smollm-style-tiny.tokenizer.json", lossless: false),
        Case(tokenizer: ggufTokenizer("Tests/Fixtures/gguf/tiny-llama-f32.gguf"), lossless: true),
    ]
}()

/// The vocabulary of a committed GGUF file, built as ByteLevelBPETokenizer+GGUF.swift does.
func ggufTokenizer(_ path: String) -> ByteLevelBPETokenizer {
    do {
        let bytes = RepositoryFixtures.bytes(path)
        let header = try bytes.withUnsafeBytes { raw throws(FormatError) in try GGUFHeader.parse(raw) }
        let m = header.metadata
        return try ByteLevelBPETokenizer(
            tokens: m["tokenizer.ggml.tokens"]!.array!.strings!, merges: m["tokenizer.ggml.merges"]!.array!.strings!,
            tokenTypes: m["tokenizer.ggml.token_type"]?.array?.integers?.map { Int32($0) },
            preTokenizer: BPEPreTokenizer(rawValue: m["tokenizer.ggml.pre"]!.string!)!,
            bosTokenId: m["tokenizer.ggml.bos_token_id"]?.integer.map { Int32($0) },
            eosTokenId: m["tokenizer.ggml.eos_token_id"]?.integer.map { Int32($0) })
    } catch {
        fatalError("\(path): \(error)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let (selector, rest) = selectorAndRest(input(data, size))
    let c = cases[Int(selector) % cases.count]
    let text = String(decoding: rest, as: UTF8.self)
    let ids = c.tokenizer.encode(text)
    for id in ids {
        precondition(c.tokenizer.tokenText(id) != nil, "encode gave id \(id), which has no vocabulary entry")
    }
    let decoded = c.tokenizer.decode(ids)
    if c.lossless {
        precondition(Array(decoded.utf8) == Array(text.utf8), "decode(encode(\(text.debugDescription))) = \(decoded.debugDescription)")
    }
    let raw = stride(from: 0, to: rest.count - 3, by: 4).map { rest.loadUnaligned(fromByteOffset: $0, as: Int32.self) }
    _ = c.tokenizer.decode(raw)
    return 0
}

@main enum FuzzBPEText { static func main() { runLibFuzzer(fuzzOneInput) } }
