// Fuzz target: the GGUF reader (Sources/TandemFormat/GGUFFile.swift) and what the importer does
// with an open file: dequantize every tensor (GGUFDequantize.swift) and build the byte-level BPE
// tokenizer from the vocabulary in the metadata (ByteLevelBPETokenizer+GGUF.swift). The input is
// a whole file; `GGUFHeader.parse` reads it from memory, `GGUFFile` maps it from a scratch file.
import FuzzSupport
import TandemFormat
import TandemTokenizer

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = input(data, size)
    guard let header = try? GGUFHeader.parse(bytes) else { return 0 }
    guard let file = try? GGUFFile(path: ScratchFile.write(bytes)) else {
        fatalError("GGUFHeader.parse accepted bytes that GGUFFile refused")
    }
    precondition(file.tensorInfos == header.tensors)
    for tensor in file.tensors where tensor.type.canDequantize {
        guard let values = try? tensor.floats() else { fatalError("dequantizing \(tensor.name) threw") }
        precondition(values.count == tensor.info.elementCount)
    }
    buildTokenizer(file)
    return 0
}

/// The vocabulary as `tandem convert` reads it: tokens, merges, token types and pre-tokenizer.
func buildTokenizer(_ file: GGUFFile) {
    guard let tokens = file["tokenizer.ggml.tokens"]?.array?.strings else { return }
    let merges = file["tokenizer.ggml.merges"]?.array?.strings ?? []
    let types = file["tokenizer.ggml.token_type"]?.array?.integers?.map { Int32(truncatingIfNeeded: $0) }
    let pre = file["tokenizer.ggml.pre"]?.string.flatMap(BPEPreTokenizer.init(rawValue:)) ?? .gpt2
    func id(_ key: String) -> Int32? { file[key]?.integer.map { Int32(truncatingIfNeeded: $0) } }
    guard let tokenizer = try? ByteLevelBPETokenizer(
        tokens: tokens, merges: merges, tokenTypes: types, preTokenizer: pre,
        bosTokenId: id("tokenizer.ggml.bos_token_id"), eosTokenId: id("tokenizer.ggml.eos_token_id"))
    else { return }
    let ids = tokenizer.encode("Hello world! 12345 <|endoftext|> héllo\n")
    _ = tokenizer.decode(ids)
}

@main enum FuzzGGUF { static func main() { runLibFuzzer(fuzzOneInput) } }
