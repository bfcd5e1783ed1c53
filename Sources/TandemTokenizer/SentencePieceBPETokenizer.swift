// The SentencePiece-style BPE tokenizer of GGUF vocabularies with `tokenizer.ggml.model =
// "llama"` (Gemma 3, LLaMA 1/2, Mistral v0.1), reproducing llama.cpp's LLAMA_VOCAB_TYPE_SPM
// rather than the sentencepiece library, so that ids are llama.cpp's own. Reference, read and not
// copied: llama.cpp src/llama-vocab.cpp — `llama_vocab::impl::tokenize` (SPM case, parse_special
// = true), `tokenizer_st_partition`, `llm_tokenizer_spm_session`, `byte_to_token`,
// `token_to_piece` and `detokenize`. The steps live in SpecialTokenPartition.swift and
// SentencePieceMerges.swift; the `spm-vocab` blob a Tandem file stores is read in
// SentencePieceBPETokenizer+Blob.swift.

/// A llama.cpp "SPM" tokenizer: scored vocabulary entries merged pairwise, highest score first,
/// with special tokens cut out of the text beforehand and byte tokens for characters the
/// vocabulary lacks.
///
/// Encoding (llama.cpp's `tokenize` with `parse_special = true`, without BOS):
/// 1. control, user-defined and unknown tokens are cut out of the text, longest token first
///    (see `SpecialTokenPartition`);
/// 2. each piece of text between them gets a leading space if `addSpacePrefix` and it follows a
///    special token or starts the text, has its spaces replaced by `▁` (U+2581), and is merged
///    (see `SentencePieceMerger`).
///
/// Decoding (llama.cpp's `detokenize` with `remove_special = false`, `unparse_special = false`):
/// normal entries with `▁` read as a space, byte tokens as their byte, user-defined entries as
/// written, control, unknown, unused and undefined entries as nothing; with `addSpacePrefix` the
/// first id's piece loses one leading space. The bytes are read as UTF-8, invalid sequences as
/// U+FFFD.
///
/// ```swift
/// let gemma = try SentencePieceBPETokenizer(tokens: tokens, scores: scores, types: types,
///                                           bosTokenId: 2, eosTokenId: 1, unknownTokenId: 3,
///                                           padTokenId: 0, addSpacePrefix: false)
/// gemma.encode("<start_of_turn>user\nHi")   // [105, 2364, 107, 10979] with Gemma 3's vocabulary
/// ```
public final class SentencePieceBPETokenizer: Tokenizer {
    /// GGUF token types (llama.cpp `llama_token_type`); 0 and unknown codes are `undefined`,
    /// as llama.cpp reads them.
    public enum TokenType: UInt8, Sendable {
        case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
    }

    /// id → spelling (UTF-8), every id present.
    private let spellings: ByteTable
    private let idsBySpelling: SpellingIndex
    /// Scores by id, -0 stored as +0.
    private let scores: [Float]
    /// `TokenType` raw values by id.
    private let types: [UInt8]
    /// byte → its token (`<0xXX>`, else the one-byte entry, else unknown), or -1.
    private let byteTokens: [Int32]
    private let specials: SpecialTokenPartition
    let maximumSpellingLength: Int

    /// Whether a piece of text at the start or after a special token is read with a leading
    /// space (`tokenizer.ggml.add_space_prefix`; true for LLaMA 2, false for Gemma 3).
    public let addSpacePrefix: Bool
    public let vocabularySize: Int
    public let bosTokenId: Int32?
    public let eosTokenId: Int32?
    public let padTokenId: Int32?
    public let unknownTokenId: Int32?

    /// Vocabularies beyond this are refused: ids are Int32 and a blob's count is read from the
    /// file, so a hostile count must not make the loader allocate gigabytes. 16 M is 64 times
    /// Gemma's 262,144.
    public static let maximumVocabularySize = 1 << 24

    /// Builds the tokenizer from a GGUF-style vocabulary (`tokenizer.ggml.tokens`, `.scores`,
    /// `.token_type`).
    ///
    /// Refused with `TokenizerError.invalidVocabulary`: no tokens or more than
    /// `maximumVocabularySize`, scores or types whose count differs from the tokens', a score that
    /// is not finite, two ids with one spelling (llama.cpp aborts on those), a byte token not
    /// spelled `<0xXX>`, and special ids outside the vocabulary. An empty spelling becomes
    /// `[EMPTY_<id>]`, as llama.cpp renames it.
    ///
    /// - Parameters:
    ///   - scores: one per token, or nil for all 0 (llama.cpp's default).
    ///   - types: `TokenType` codes, one per token, or nil for all normal.
    public convenience init(tokens: [String], scores: [Float]?, types: [Int32]?,
                            bosTokenId: Int32?, eosTokenId: Int32?, unknownTokenId: Int32?, padTokenId: Int32?,
                            addSpacePrefix: Bool) throws(TokenizerError) {
        if let scores, scores.count != tokens.count { throw .invalidVocabulary("\(scores.count) scores for \(tokens.count) tokens") }
        if let types, types.count != tokens.count { throw .invalidVocabulary("\(types.count) token types for \(tokens.count) tokens") }
        guard tokens.count <= Self.maximumVocabularySize else {
            throw .invalidVocabulary("\(tokens.count) tokens, above the limit \(Self.maximumVocabularySize)")
        }
        let table = ByteTable(count: tokens.count, byteCount: tokens.reduce(0) { $0 + $1.utf8.count }) { i, storage in
            storage.append(contentsOf: tokens[i].utf8)
            return true
        }
        try self.init(spellings: table, scores: scores ?? [Float](repeating: 0, count: tokens.count),
                      types: types.map { $0.map(Self.typeCode) } ?? [UInt8](repeating: TokenType.normal.rawValue, count: tokens.count),
                      bosTokenId: bosTokenId, eosTokenId: eosTokenId, unknownTokenId: unknownTokenId, padTokenId: padTokenId,
                      addSpacePrefix: addSpacePrefix)
    }

    /// The `TokenType` code llama.cpp gives a GGUF type value (unknown values: undefined).
    static func typeCode(_ value: Int32) -> UInt8 {
        (0...6).contains(value) ? UInt8(value) : TokenType.undefined.rawValue
    }

    /// The checked core of both initializers; `spellings` has an entry for every id.
    init(spellings table: ByteTable, scores: [Float], types: [UInt8],
         bosTokenId: Int32?, eosTokenId: Int32?, unknownTokenId: Int32?, padTokenId: Int32?,
         addSpacePrefix: Bool) throws(TokenizerError) {
        let count = table.count
        guard count > 0 else { throw .invalidVocabulary("the vocabulary is empty") }
        guard count <= Self.maximumVocabularySize else {
            throw .invalidVocabulary("\(count) tokens, above the limit \(Self.maximumVocabularySize)")
        }
        guard scores.count == count, types.count == count else {
            throw .invalidVocabulary("\(scores.count) scores and \(types.count) types for \(count) tokens")
        }
        var table = table
        if (0..<count).contains(where: { table[$0].isEmpty }) {
            // llama.cpp: "empty token at index i" → the spelling "[EMPTY_i]".
            let old = table
            table = ByteTable(count: count, byteCount: (0..<count).reduce(0) { $0 + max(old[$1].count, 16) }) { i, storage in
                if old[i].isEmpty { storage.append(contentsOf: "[EMPTY_\(i)]".utf8) } else { storage.append(contentsOf: old[i]) }
                return true
            }
        }
        var normalized = scores
        for i in 0..<count {
            guard scores[i].isFinite else { throw .invalidVocabulary("token \(i) has the score \(scores[i])") }
            if scores[i] == 0 { normalized[i] = 0 }   // -0 → +0: llama.cpp's comparisons tie them
        }
        do {
            idsBySpelling = try SpellingIndex(entriesOf: table)
        } catch {
            throw .invalidVocabulary("tokens \(error.first) and \(error.second) are both spelled \(String(decoding: table[Int(error.first)], as: UTF8.self).debugDescription)")
        }
        for id in [bosTokenId, eosTokenId, unknownTokenId, padTokenId] {
            if let id, !(0..<Int32(count)).contains(id) {
                throw .invalidVocabulary("special token id \(id) is outside the vocabulary of \(count)")
            }
        }
        var special: [(id: Int32, spelling: ArraySlice<UInt8>)] = []
        var longest = 0
        for i in 0..<count {
            longest = max(longest, table[i].count)
            switch TokenType(rawValue: types[i]) {
            case .control, .userDefined, .unknown:
                special.append((Int32(i), table[i]))
            case .byte:
                guard Self.hexByte(table[i]) != nil else {
                    throw .invalidVocabulary("byte token \(i) is spelled \(String(decoding: table[i], as: UTF8.self).debugDescription), not <0xXX>")
                }
            default:
                break
            }
        }
        spellings = table
        self.scores = normalized
        self.types = types
        specials = SpecialTokenPartition(special)
        maximumSpellingLength = longest
        self.addSpacePrefix = addSpacePrefix
        vocabularySize = count
        self.bosTokenId = bosTokenId
        self.eosTokenId = eosTokenId
        self.padTokenId = padTokenId
        self.unknownTokenId = unknownTokenId
        // llama.cpp `byte_to_token`: the entry `<0xXX>` (whatever its type), else the entry that
        // is the byte itself. Where neither exists llama.cpp throws (and the process aborts); here
        // the byte becomes the unknown token, or nothing without one.
        let index = idsBySpelling
        byteTokens = (0..<256).map { b in
            let hex = Array("<0x".utf8) + Self.hexDigits(UInt8(b)) + [UInt8(ascii: ">")]
            return index.id(of: hex, in: table) ?? index.id(of: [UInt8(b)], in: table) ?? unknownTokenId ?? -1
        }
    }

    /// The byte a `<0xXX>` spelling stands for (two hex digits, either case), or nil.
    static func hexByte(_ s: ArraySlice<UInt8>) -> UInt8? {
        guard s.count == 6, s.starts(with: "<0x".utf8), s.last == UInt8(ascii: ">") else { return nil }
        func digit(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            default: nil
            }
        }
        let i = s.startIndex
        guard let hi = digit(s[i + 3]), let lo = digit(s[i + 4]) else { return nil }
        return hi << 4 | lo
    }

    private static func hexDigits(_ b: UInt8) -> [UInt8] {
        let digits = Array("0123456789ABCDEF".utf8)
        return [digits[Int(b >> 4)], digits[Int(b & 15)]]
    }

    /// The type of `id`, or nil outside the vocabulary.
    public func tokenType(_ id: Int32) -> TokenType? {
        id >= 0 && Int(id) < vocabularySize ? TokenType(rawValue: types[Int(id)]) : nil
    }

    /// The ids the partition cuts out of text: control, user-defined and unknown tokens.
    public var specialTokenIds: Set<Int32> {
        Set((0..<Int32(vocabularySize)).filter { [.control, .userDefined, .unknown].contains(tokenType($0)) })
    }

    public func encode(_ text: String) -> [Int32] {
        var text = text
        return text.withUTF8 { encode(bytes: $0) }
    }

    /// The ids of arbitrary bytes (invalid UTF-8 included, read as llama.cpp reads it).
    public func encode(bytes text: UnsafeBufferPointer<UInt8>) -> [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(text.count / 3 + 1)
        var merger = SentencePieceMerger()
        var escaped: [UInt8] = []
        var afterSpecial = true
        for fragment in specials.partition(text) {
            switch fragment {
            case .token(let id):
                out.append(id)
                afterSpecial = true
            case .text(let range):
                escaped.removeAll(keepingCapacity: true)
                if addSpacePrefix && afterSpecial { escaped.append(contentsOf: Self.escapedSpace) }
                for b in text[range] {
                    if b == UInt8(ascii: " ") { escaped.append(contentsOf: Self.escapedSpace) } else { escaped.append(b) }
                }
                escaped.withUnsafeBufferPointer { merger.tokenize($0, self, into: &out) }
                afterSpecial = false
            }
        }
        return out
    }

    /// U+2581 LOWER ONE EIGHTH BLOCK, SentencePiece's space.
    static let escapedSpace: [UInt8] = [0xE2, 0x96, 0x81]

    public func decode(_ ids: [Int32]) -> String {
        String(decoding: bytes(of: ids), as: UTF8.self)
    }

    /// The raw bytes `ids` stand for, before UTF-8 decoding (ids outside the vocabulary skipped).
    public func bytes(of ids: some Sequence<Int32>) -> [UInt8] {
        var out: [UInt8] = []
        var removeSpace = addSpacePrefix
        for id in ids where id >= 0 && Int(id) < vocabularySize {
            let start = out.count
            appendPiece(Int(id), to: &out)
            // llama.cpp's detokenize passes lstrip = 1 for the first id only: one leading space
            // of its piece goes.
            if removeSpace, out.count > start, out[start] == UInt8(ascii: " ") { out.remove(at: start) }
            removeSpace = false
        }
        return out
    }

    /// llama.cpp's `token_to_piece(special: false)` for an SPM vocabulary.
    private func appendPiece(_ id: Int, to out: inout [UInt8]) {
        let spelling = spellings[id]
        switch TokenType(rawValue: types[id]) {
        case .normal:
            var i = spelling.startIndex
            while i < spelling.endIndex {
                if spelling[i] == 0xE2, spelling.endIndex - i >= 3, spelling[i + 1] == 0x96, spelling[i + 2] == 0x81 {
                    out.append(UInt8(ascii: " "))
                    i += 3
                } else {
                    out.append(spelling[i])
                    i += 1
                }
            }
        case .userDefined:
            out.append(contentsOf: spelling)
        case .byte:
            // Checked at init.
            out.append(Self.hexByte(spelling)!)
        default:
            break   // control, unknown, unused, undefined
        }
    }

    public func tokenText(_ id: Int32) -> String? {
        id >= 0 && Int(id) < vocabularySize ? String(decoding: spellings[Int(id)], as: UTF8.self) : nil
    }

    public func tokenId(_ text: String) -> Int32? {
        idsBySpelling.id(of: Array(text.utf8), in: spellings)
    }
}

extension SentencePieceBPETokenizer: SentencePieceVocabulary {
    @inline(__always)
    func entryId(_ bytes: UnsafeBufferPointer<UInt8>) -> Int32? { idsBySpelling.id(of: bytes, in: spellings) }

    @inline(__always)
    func score(_ id: Int32) -> Float { scores[Int(id)] }

    func byteToken(_ byte: UInt8) -> Int32? {
        let t = byteTokens[Int(byte)]
        return t >= 0 ? t : nil
    }
}
