// Reading the `spm-vocab` blob, the form in which a Tandem file stores a llama.cpp-style
// SentencePiece vocabulary (Formats/FORMAT.md §6.1; written by TandemConvert's GGUF import).
// A binary layout rather than JSON: Gemma 3's 262,144 entries load in milliseconds, and every
// array is one read. Every length and count is checked against the blob before it is used.

extension SentencePieceBPETokenizer {
    /// `"TSPV"`, the blob's first four bytes.
    public static let blobMagic: [UInt8] = Array("TSPV".utf8)
    /// The layout version this build reads and writes.
    public static let blobVersion: UInt32 = 1
    /// Bytes before the arrays: magic, version, flags, count, four special ids.
    public static let blobHeaderBytes = 32

    /// Loads a tokenizer from an `spm-vocab` blob. Throws `TokenizerError.invalidVocabulary` for a
    /// blob that is truncated, too long, of another version, with unknown flags, or whose
    /// vocabulary the array initializer refuses.
    public convenience init(vocabularyBlob blob: [UInt8]) throws(TokenizerError) {
        func fail(_ why: String) -> TokenizerError { .invalidVocabulary("spm-vocab blob: \(why)") }
        guard blob.count >= Self.blobHeaderBytes else { throw fail("\(blob.count) bytes, shorter than its \(Self.blobHeaderBytes)-byte header") }
        guard Array(blob[0..<4]) == Self.blobMagic else { throw fail("wrong magic") }
        func u32(_ at: Int) -> UInt32 {
            UInt32(blob[at]) | UInt32(blob[at + 1]) << 8 | UInt32(blob[at + 2]) << 16 | UInt32(blob[at + 3]) << 24
        }
        let version = u32(4), flags = u32(8), count = Int(u32(12))
        guard version == Self.blobVersion else { throw fail("version \(version) (this build reads \(Self.blobVersion))") }
        guard flags & ~1 == 0 else { throw fail("unknown flags 0x\(String(flags, radix: 16))") }
        guard count > 0, count <= Self.maximumVocabularySize else { throw fail("\(count) tokens (allowed: 1 to \(Self.maximumVocabularySize))") }
        func special(_ at: Int) throws(TokenizerError) -> Int32? {
            let v = Int32(bitPattern: u32(at))
            guard v >= -1 else { throw fail("special id \(v) at byte \(at)") }
            return v < 0 ? nil : v
        }
        let bos = try special(16), eos = try special(20), unk = try special(24), pad = try special(28)

        let scoresAt = Self.blobHeaderBytes, typesAt = scoresAt + 4 * count, lengthsAt = typesAt + count
        let textAt = lengthsAt + 4 * count
        guard blob.count >= textAt else { throw fail("\(blob.count) bytes, too short for \(count) tokens (\(textAt))") }
        var textBytes = 0
        for i in 0..<count { textBytes += Int(u32(lengthsAt + 4 * i)) }   // ≤ 2^24 × 2^32: no overflow
        guard blob.count == textAt + textBytes else {
            throw fail("\(blob.count) bytes, but its lengths say \(textAt + textBytes)")
        }
        let scores = (0..<count).map { Float(bitPattern: u32(scoresAt + 4 * $0)) }
        let types = Array(blob[typesAt..<lengthsAt])
        var offset = textAt
        let table = ByteTable(count: count, byteCount: textBytes) { i, storage in
            let n = Int(u32(lengthsAt + 4 * i))
            storage.append(contentsOf: blob[offset..<offset + n])
            offset += n
            return true
        }
        for (i, t) in types.enumerated() where TokenType(rawValue: t) == nil { throw fail("token \(i) has the type code \(t)") }
        try self.init(spellings: table, scores: scores, types: types,
                      bosTokenId: bos, eosTokenId: eos, unknownTokenId: unk, padTokenId: pad,
                      addSpacePrefix: flags & 1 != 0)
    }
}
