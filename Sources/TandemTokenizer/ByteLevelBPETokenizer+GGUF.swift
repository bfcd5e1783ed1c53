// Building a byte-level BPE tokenizer from a GGUF vocabulary (`tokenizer.ggml.model = "gpt2"`):
// `tokenizer.ggml.tokens`, `tokenizer.ggml.merges`, `tokenizer.ggml.token_type`, and
// `tokenizer.ggml.pre` (mapped by the importer to a BPEPreTokenizer). Token types follow
// llama.cpp's `llama_token_type`: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused,
// 6 byte. Control and user-defined tokens are matched whole in the text, as llama.cpp does when
// it parses special tokens, and as `tokenizers` does for the added tokens they come from.

extension ByteLevelBPETokenizer {
    /// GGUF token types (llama.cpp `llama_token_type`).
    public enum GGUFTokenType: Int32, Sendable {
        case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    /// Builds the tokenizer from a GGUF-style vocabulary.
    ///
    /// - Parameters:
    ///   - tokens: vocabulary spellings by id (`Ġthe`, `<|endoftext|>`).
    ///   - merges: merges in rank order, each `"left right"`.
    ///   - tokenTypes: one GGUF token type per token, or nil when the file has none (then every
    ///     token is normal, and no token is matched whole).
    ///   - preTokenizer: the vocabulary's pre-tokenizer.
    ///   - bosTokenId, eosTokenId, padTokenId: `tokenizer.ggml.bos_token_id` and so on.
    public convenience init(tokens: [String], merges: [String], tokenTypes: [Int32]?,
                            preTokenizer: BPEPreTokenizer, bosTokenId: Int32?, eosTokenId: Int32?,
                            padTokenId: Int32? = nil) throws(TokenizerError) {
        if let tokenTypes, tokenTypes.count != tokens.count {
            throw .invalidVocabulary("\(tokenTypes.count) token types for \(tokens.count) tokens")
        }
        var vocabulary: [(token: String, id: Int32)] = []
        var added: [AddedToken] = []
        var unknown: String?
        vocabulary.reserveCapacity(tokens.count)
        for (i, token) in tokens.enumerated() {
            let id = Int32(i)
            switch tokenTypes.map({ GGUFTokenType(rawValue: $0[i]) }) {
            case .some(.control):
                added.append(AddedToken(id: id, content: token, special: true))
            case .some(.userDefined):
                added.append(AddedToken(id: id, content: token, special: false))
            case .some(.unknown):
                unknown = token
                vocabulary.append((token, id))
            case .some(.none):
                throw .invalidVocabulary("token \(i) has an unknown type \(tokenTypes![i])")
            default:
                vocabulary.append((token, id))
            }
        }
        var pairs: [(String, String)] = []
        pairs.reserveCapacity(merges.count)
        for (i, line) in merges.enumerated() {
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw .invalidVocabulary("merge \(i) \(line.debugDescription) is not two tokens") }
            pairs.append((String(parts[0]), String(parts[1])))
        }
        let definition = ByteLevelBPEDefinition(
            vocabulary: vocabulary, merges: pairs, addedTokens: added, unknownToken: unknown,
            ignoreMerges: preTokenizer == .llama3, preTokenizer: preTokenizer.pipeline)
        try self.init(definition) { _ in (bosTokenId, eosTokenId, padTokenId) }
    }
}
