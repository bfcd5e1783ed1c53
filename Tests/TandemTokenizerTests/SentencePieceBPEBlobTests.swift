import Testing
@testable import TandemTokenizer

/// The `spm-vocab` blob (Formats/FORMAT.md §6.1) that a Tandem file stores for a GGUF `llama`
/// vocabulary: a valid one built here byte by byte per the spec, and every way of breaking it,
/// each a typed error. The blob of the real Gemma 3 vocabulary is checked in TandemConvertTests
/// (GGUFSPMImportTests), where the importer writes it.
@Suite struct SentencePieceBPEBlobTests {
    /// An unknown tokenizer type's error lists `spm-vocab` among the known ones.
    @Test func unknownTypeNamesTheSPMType() {
        #expect(throws: TokenizerError.unknownTokenizerType("spm")) { try TokenizerLoader.load(type: "spm", bytes: []) }
        #expect(TokenizerError.unknownTokenizerType("x").description.contains(TokenizerLoader.spmVocabularyType))
    }

    /// A one-token blob loads; each broken variant of it throws.
    @Test func malformedBlobsThrow() throws {
        // A valid blob first: the smallest vocabulary, built by hand per FORMAT.md §6.1.
        func blob(count: UInt32 = 1, flags: UInt32 = 0, version: UInt32 = 1, specials: [Int32] = [-1, -1, -1, -1],
                  score: Float = 0.5, type: UInt8 = 1, spelling: [UInt8] = Array("a".utf8), lengthDelta: Int = 0) -> [UInt8] {
            var b = Array("TSPV".utf8)
            func u32(_ v: UInt32) { for k in 0..<4 { b.append(UInt8(truncatingIfNeeded: v >> (8 * k))) } }
            u32(version); u32(flags); u32(count)
            for s in specials { u32(UInt32(bitPattern: s)) }
            u32(score.bitPattern); b.append(type); u32(UInt32(spelling.count + lengthDelta)); b += spelling
            return b
        }
        let one = try SentencePieceBPETokenizer(vocabularyBlob: blob(flags: 1, specials: [0, -1, -1, 0]))
        #expect(one.vocabularySize == 1 && one.addSpacePrefix && one.bosTokenId == 0 && one.eosTokenId == nil)
        #expect(one.encode("a") == [0] && one.encode("b").isEmpty)
        let bad: [(String, [UInt8])] = [
            ("empty", []), ("header only", Array(blob().prefix(32))), ("magic", [0] + blob().dropFirst()),
            ("version", blob(version: 2)), ("flags", blob(flags: 2)), ("count 0", blob(count: 0)),
            ("count huge", blob(count: 1 << 30)), ("count 2", blob(count: 2)), ("special -2", blob(specials: [-2, -1, -1, -1])),
            ("special out of range", blob(specials: [1, -1, -1, -1])), ("type code", blob(type: 9)),
            ("length past end", blob(lengthDelta: 1)), ("trailing byte", blob() + [0]), ("NaN", blob(score: .nan)),
        ]
        for (name, bytes) in bad {
            #expect(throws: TokenizerError.self, "\(name)") { try SentencePieceBPETokenizer(vocabularyBlob: bytes) }
        }
    }
}
