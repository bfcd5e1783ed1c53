// TandemTokenizer — the tokenizers Tandem's models need (docs/ARCHITECTURE.md §2):
//   * SentencePiece (T5, mT5, Flan-T5) through the system library, behind the CSentencePiece shim;
//   * byte-level BPE (GPT-2, LLaMA-3, SmolLM2) in Swift, from a Hugging Face `tokenizer.json` or
//     from a GGUF vocabulary;
//   * llama.cpp's SentencePiece-style BPE ("SPM": Gemma 3) in Swift, from a GGUF vocabulary.
// Each is exact against its reference (`sentencepiece`, `tokenizers`, llama.cpp); the golden files
// in Tests/Fixtures/tokenizers come from Tools/fixtures/make_checkpoints.py,
// make_tokenizer_golden.py and make_spm_tokenizer_golden.py.

/// Text ↔ token ids, the one interface the runtime uses for every model.
///
/// Implementations are immutable after loading, so one instance can serve many threads.
///
/// ```swift
/// let tokenizer = try TokenizerLoader.load(type: "sentencepiece", bytes: spieceModel)
/// let ids = tokenizer.encode("translate English to German: Hello")
/// let text = tokenizer.decode(ids)
/// ```
public protocol Tokenizer: Sendable {
    /// The ids for `text`, exactly as the reference tokenizer gives them, without any special
    /// tokens added around the text (no BOS, no EOS): whether a model wants them is the model's
    /// business (T5's encoder input ends with `</s>`; LLaMA prompts start with BOS).
    func encode(_ text: String) -> [Int32]

    /// The text for `ids`, exactly as the reference decoder gives it (special tokens are not
    /// skipped; SentencePiece's control pieces such as `</s>` decode to nothing by themselves).
    /// Ids outside `0..<vocabularySize` are skipped, as Hugging Face `tokenizers` does: a model's
    /// embedding table is often padded past the tokenizer's vocabulary (T5: 32128 rows for 32100
    /// pieces), and a sampled padding id must not crash generation.
    func decode(_ ids: [Int32]) -> String

    /// One past the largest id the tokenizer knows.
    var vocabularySize: Int { get }
    var bosTokenId: Int32? { get }
    var eosTokenId: Int32? { get }
    var padTokenId: Int32? { get }
    var unknownTokenId: Int32? { get }

    /// The vocabulary entry for `id` as the tokenizer stores it (SentencePiece: `▁the`;
    /// byte-level BPE: `Ġthe`; special tokens: their content), or nil for an unknown id.
    func tokenText(_ id: Int32) -> String?

    /// The id whose vocabulary entry is exactly `text` (the inverse of `tokenText`), or nil.
    func tokenId(_ text: String) -> Int32?
}

/// Why a tokenizer could not be loaded. Loading reads outside data (bytes from a `.tandem` file,
/// a converted checkpoint), so every failure is a value, never a crash.
public enum TokenizerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The SentencePiece library rejected the model bytes (truncated, garbage, inconsistent).
    case invalidSentencePieceModel(String)
    /// `tokenizer.json` is not JSON, or a field has the wrong shape.
    case malformedTokenizerJSON(String)
    /// Vocabulary and merges disagree (a merge of unknown tokens, a duplicate or negative id).
    case invalidVocabulary(String)
    /// A well-formed tokenizer that uses a feature Tandem does not implement.
    case unsupported(String)
    /// `TokenizerLoader` was given a type it does not know.
    case unknownTokenizerType(String)

    public var description: String {
        switch self {
        case .invalidSentencePieceModel(let m): "invalid SentencePiece model: \(m)"
        case .malformedTokenizerJSON(let m): "malformed tokenizer.json: \(m)"
        case .invalidVocabulary(let m): "invalid tokenizer vocabulary: \(m)"
        case .unsupported(let m): "unsupported tokenizer feature: \(m)"
        case .unknownTokenizerType(let t):
            "unknown tokenizer type \"\(t)\" (known: \(TokenizerLoader.sentencePieceType), \(TokenizerLoader.huggingFaceJSONType), \(TokenizerLoader.spmVocabularyType))"
        }
    }
}

/// Builds a tokenizer from the bytes a `.tandem` file stores, keyed by the metadata's tokenizer
/// type (`TandemMetadata.TokenizerEntry.type`).
public enum TokenizerLoader {
    /// A SentencePiece `ModelProto` (`spiece.model`).
    public static let sentencePieceType = "sentencepiece"
    /// A Hugging Face `tokenizer.json` (byte-level BPE).
    public static let huggingFaceJSONType = "hf-tokenizer-json"
    /// A llama.cpp-style SentencePiece vocabulary imported from GGUF (Formats/FORMAT.md §6.1).
    public static let spmVocabularyType = "spm-vocab"

    /// - Parameters:
    ///   - type: `sentencepiece`, `hf-tokenizer-json` or `spm-vocab`.
    ///   - bytes: the tokenizer file's contents.
    ///   - extra: the entry's extra files by file name; `tokenizer_config.json`, when present,
    ///     names a `tokenizer.json`'s BOS/EOS/PAD tokens.
    public static func load(type: String, bytes: [UInt8], extra: [String: [UInt8]] = [:]) throws(TokenizerError) -> any Tokenizer {
        switch type {
        case sentencePieceType:
            return try SentencePieceTokenizer(modelBytes: bytes)
        case huggingFaceJSONType:
            return try ByteLevelBPETokenizer(tokenizerJSON: bytes, tokenizerConfigJSON: extra["tokenizer_config.json"])
        case spmVocabularyType:
            return try SentencePieceBPETokenizer(vocabularyBlob: bytes)
        default:
            throw .unknownTokenizerType(type)
        }
    }
}
