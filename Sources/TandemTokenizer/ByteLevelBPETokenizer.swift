// Byte-level BPE (GPT-2, LLaMA-3, SmolLM2, Qwen2): added tokens → pre-tokenizer → bytes → BPE
// merges → ids; decoding maps each token back to its bytes and reads them as UTF-8, replacing
// invalid sequences with U+FFFD. Reference: Hugging Face tokenizers (`TokenizerImpl::encode`,
// `models/bpe`, `pre_tokenizers/byte_level.rs`, `decoders/byte_level.rs`) and openai/gpt-2
// `encoder.py`. The loaders are in ByteLevelBPETokenizer+TokenizerJSON.swift (tokenizer.json)
// and ByteLevelBPETokenizer+GGUF.swift (GGUF vocabulary).

/// Everything a byte-level BPE tokenizer is built from, whatever file it came from.
struct ByteLevelBPEDefinition {
    /// Model vocabulary entries as spelled in the file (`Ġthe`).
    var vocabulary: [(token: String, id: Int32)]
    /// Merges in rank order, as pairs of vocabulary spellings.
    var merges: [(String, String)]
    var addedTokens: [AddedToken] = []
    var unknownToken: String? = nil
    var ignoreMerges = false
    var fuseUnknown = false
    var preTokenizer: PreTokenizerPipeline
}

/// A byte-level BPE tokenizer, exact against Hugging Face `tokenizers`.
///
/// ```swift
/// let gpt2 = try ByteLevelBPETokenizer(tokenizerJSON: tokenizerJSONBytes)
/// let ids = gpt2.encode("Hello world")        // e.g. [15496, 995] with GPT-2's vocabulary
/// gpt2.decode(ids) == "Hello world"
/// ```
///
/// Encoding: added and special tokens are matched first (they are never split), the text between
/// them is cut by the pre-tokenizer, and each piece's UTF-8 bytes are merged by BPE (results are
/// cached per distinct piece within one call). Decoding concatenates each token's bytes and reads
/// them as UTF-8 once, so a character split across several tokens comes out whole, and bytes
/// that do not form UTF-8 come out as U+FFFD, as `String::from_utf8_lossy` in the reference.
public final class ByteLevelBPETokenizer: Tokenizer {
    private let merges: BPEMerges
    private let preTokenizer: PreTokenizerPipeline
    private let addedTokens: AddedTokenMatcher
    /// id → spelling's UTF-8 (added tokens override the model vocabulary); none for an unused id.
    private let tokens: ByteTable
    /// id → the bytes the ByteLevel decoder gives the token.
    private let tokenBytes: ByteTable
    /// spelling's UTF-8 → id, for `tokenId`. Keyed by bytes, not String, because String equality
    /// is canonical equivalence and the vocabulary's identity is the exact scalars.
    private let idsBySpelling: SpellingIndex

    public let vocabularySize: Int
    public let bosTokenId: Int32?
    public let eosTokenId: Int32?
    public let padTokenId: Int32?
    public let unknownTokenId: Int32?

    /// The ids of the added tokens marked special (`<|endoftext|>`), e.g. to skip them in output.
    public let specialTokenIds: Set<Int32>

    /// Ids beyond the entries a vocabulary has are refused past this gap, so a hostile file with
    /// `"id": 2000000000` cannot make the loader allocate gigabytes.
    private static let maximumIdGap = 1 << 16

    /// Builds the tokenizer. `specialTokens` picks BOS, EOS and PAD, given a lookup from spelling
    /// to id (tokenizer.json names them by spelling, GGUF by id).
    init(_ d: ByteLevelBPEDefinition,
         specialTokens: (_ idOf: (String) -> Int32?) throws(TokenizerError) -> (bos: Int32?, eos: Int32?, pad: Int32?)) throws(TokenizerError) {
        let entryCount = d.vocabulary.count + d.addedTokens.count
        var maxId: Int32 = -1
        for (token, id) in d.vocabulary {
            guard id >= 0 else { throw .invalidVocabulary("negative id \(id) for \(token.debugDescription)") }
            maxId = max(maxId, id)
        }
        for t in d.addedTokens {
            guard t.id >= 0 else { throw .invalidVocabulary("negative id \(t.id) for added token \(t.content.debugDescription)") }
            guard !t.content.isEmpty else { throw .invalidVocabulary("added token \(t.id) is empty") }
            maxId = max(maxId, t.id)
        }
        guard maxId >= 0 else { throw .invalidVocabulary("the vocabulary is empty") }
        guard Int(maxId) < entryCount + Self.maximumIdGap else {
            throw .invalidVocabulary("id \(maxId) is far beyond the \(entryCount) entries")
        }
        let size = Int(maxId) + 1

        // The model vocabulary: spelling → id, one id per spelling and one spelling per id.
        var spellings = [String?](repeating: nil, count: size)
        var modelIds: [ByteString: Int32] = [:]
        modelIds.reserveCapacity(d.vocabulary.count)
        for (token, id) in d.vocabulary {
            guard spellings[Int(id)] == nil else { throw .invalidVocabulary("id \(id) is used twice") }
            guard modelIds.updateValue(id, forKey: ByteString(token)) == nil else {
                throw .invalidVocabulary("token \(token.debugDescription) appears twice")
            }
            spellings[Int(id)] = token
        }
        var byteIds = [Int32](repeating: -1, count: 256)
        var wordIds: [ByteString: Int32] = [:]
        if d.ignoreMerges { wordIds.reserveCapacity(d.vocabulary.count) }
        for (token, id) in d.vocabulary {
            guard let bytes = ByteLevelAlphabet.bytes(of: token) else { continue }
            if bytes.count == 1 { byteIds[Int(bytes[0])] = id }
            if d.ignoreMerges { wordIds[ByteString(bytes)] = id }
        }
        var mergeIds: [(left: Int32, right: Int32, merged: Int32)] = []
        mergeIds.reserveCapacity(d.merges.count)
        for (rank, (a, b)) in d.merges.enumerated() {
            guard let left = modelIds[ByteString(a)], let right = modelIds[ByteString(b)] else {
                throw .invalidVocabulary("merge \(rank) (\(a.debugDescription) \(b.debugDescription)) uses a token outside the vocabulary")
            }
            guard let merged = modelIds[ByteString(Array(a.utf8) + Array(b.utf8))] else {
                throw .invalidVocabulary("merge \(rank) makes \((a + b).debugDescription), which is not in the vocabulary")
            }
            mergeIds.append((left, right, merged))
        }
        var unknownId: Int32?
        if let unk = d.unknownToken {
            guard let id = modelIds[ByteString(unk)] else { throw .invalidVocabulary("unknown token \(unk.debugDescription) is not in the vocabulary") }
            unknownId = id
        }

        var ids = modelIds
        for t in d.addedTokens {
            spellings[Int(t.id)] = t.content
            ids[ByteString(t.content)] = t.id
        }
        let (bos, eos, pad) = try specialTokens { ids[ByteString($0)] }
        for special in [bos, eos, pad] {
            if let special, !(0..<Int32(size)).contains(special) || spellings[Int(special)] == nil {
                throw .invalidVocabulary("special token id \(special) is not in the vocabulary")
            }
        }

        merges = BPEMerges(merges: mergeIds, byteIds: byteIds, wordIds: wordIds, ignoreMerges: d.ignoreMerges,
                           unknownId: unknownId, fuseUnknown: d.fuseUnknown)
        preTokenizer = d.preTokenizer
        addedTokens = AddedTokenMatcher(d.addedTokens)
        tokens = ByteTable(count: size) { i, storage in
            guard let s = spellings[i] else { return false }
            storage.append(contentsOf: s.utf8)
            return true
        }
        // The ByteLevel decoder: a token whose every character is in the byte alphabet stands for
        // those bytes; any other token (an added token such as "<|résumé|>") for its own UTF-8.
        tokenBytes = ByteTable(count: size) { i, storage in
            guard let s = spellings[i] else { return true }
            if !ByteLevelAlphabet.append(bytesOf: s, to: &storage) { storage.append(contentsOf: s.utf8) }
            return true
        }
        idsBySpelling = SpellingIndex(ids, table: tokens)
        vocabularySize = size
        bosTokenId = bos
        eosTokenId = eos
        padTokenId = pad
        unknownTokenId = unknownId
        specialTokenIds = Set(d.addedTokens.filter(\.special).map(\.id))
    }

    public func encode(_ text: String) -> [Int32] {
        let classified = ClassifiedScalars(text.unicodeScalars)
        var out: [Int32] = []
        out.reserveCapacity(classified.scalars.count / 3 + 1)
        var cache: [ByteString: [Int32]] = [:]
        var pieces: [Range<Int>] = []
        var word = ByteString([])
        let segments: [AddedTokenMatcher.Segment] =
            addedTokens.isEmpty ? (classified.scalars.isEmpty ? [] : [.text(0..<classified.scalars.count)])
                                : addedTokens.split(classified)
        for segment in segments {
            switch segment {
            case .token(let id):
                out.append(id)
            case .text(let range):
                var source = classified
                var range = range
                if preTokenizer.addPrefixSpace, classified.scalars[range.lowerBound] != " " {
                    // ByteLevel(add_prefix_space): the segment is read as if it began with a space.
                    source = ClassifiedScalars(CollectionOfOne(" ") + classified.scalars[range])
                    range = 0..<source.scalars.count
                }
                pieces.removeAll(keepingCapacity: true)
                preTokenizer.split(source, range, into: &pieces)
                for piece in pieces {
                    word.bytes.removeAll(keepingCapacity: true)
                    for k in piece { appendUTF8(source.scalars[k], to: &word.bytes) }
                    if let ids = cache[word] {
                        out.append(contentsOf: ids)
                    } else {
                        let start = out.count
                        merges.tokenize(word, into: &out)
                        cache[word] = Array(out[start...])
                    }
                }
            }
        }
        return out
    }

    public func decode(_ ids: [Int32]) -> String {
        String(decoding: bytes(of: ids), as: UTF8.self)
    }

    /// The raw bytes `ids` stand for, before UTF-8 decoding (ids outside the vocabulary skipped).
    public func bytes(of ids: some Sequence<Int32>) -> [UInt8] {
        var bytes: [UInt8] = []
        for id in ids where id >= 0 && Int(id) < tokenBytes.count {
            bytes.append(contentsOf: tokenBytes[Int(id)])
        }
        return bytes
    }

    public func tokenText(_ id: Int32) -> String? {
        id >= 0 && Int(id) < tokens.count && tokens.has(Int(id)) ? String(decoding: tokens[Int(id)], as: UTF8.self) : nil
    }

    public func tokenId(_ text: String) -> Int32? {
        idsBySpelling.id(of: Array(text.utf8), in: tokens)
    }
}

@inline(__always)
private func appendUTF8(_ scalar: Unicode.Scalar, to bytes: inout [UInt8]) {
    let v = scalar.value
    if v < 0x80 {
        bytes.append(UInt8(v))
    } else {
        UTF8.encode(scalar) { bytes.append($0) }
    }
}
