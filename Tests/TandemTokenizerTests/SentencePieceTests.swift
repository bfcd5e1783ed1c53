import Testing
import TandemTokenizer

/// T5's tokenizers through the system SentencePiece library, against Python `sentencepiece`
/// (golden: t5-*.encoded.json from make_checkpoints.py, t5-*.extra.json from
/// make_tokenizer_golden.py).
@Suite struct SentencePieceTests {
    @Test(arguments: Fixtures.sentencePieceModels)
    func encodesAndDecodesLikeTheReference(name: String) throws {
        let sp = try Fixtures.sentencePiece(name)
        for file in ["\(name).encoded.json", "\(name).extra.json"] {
            let golden = try Fixtures.golden(file)
            for c in golden.cases {
                let ids = sp.encode(c.text)
                #expect(ids == c.ids, "\(file): encode \(c.text.debugDescription)")
                // Python gives an unknown piece's surface text; the vocabulary entry is <unk>.
                for (id, piece) in zip(ids, c.pieces) where id != sp.unknownTokenId {
                    #expect(sp.tokenText(id) == piece, "\(file): piece of \(c.text.debugDescription)")
                }
                #expect(sp.decode(c.ids) == c.decoded, "\(file): decode \(c.text.debugDescription)")
                if let withEOS = c.ids_with_eos, let eos = sp.eosTokenId {
                    #expect(ids + [eos] == withEOS, "\(file): T5 input with </s>")
                    #expect(sp.decode(withEOS) == c.decoded, "\(file): </s> decodes to nothing")
                }
            }
        }
    }

    @Test(arguments: Fixtures.sentencePieceModels)
    func decodesIdSequencesLikeTheReference(name: String) throws {
        let sp = try Fixtures.sentencePiece(name)
        let golden = try Fixtures.golden("\(name).extra.json")
        for c in try #require(golden.decode_cases) {
            #expect(sp.decode(c.ids) == c.decoded, "decode \(c.ids.prefix(12))…")
        }
    }

    @Test(arguments: Fixtures.sentencePieceModels)
    func vocabularyAndSpecialIdsMatch(name: String) throws {
        let sp = try Fixtures.sentencePiece(name)
        let golden = try Fixtures.golden("\(name).extra.json")
        #expect(sp.vocabularySize == golden.vocab_size)
        #expect(sp.eosTokenId == Golden.id(golden.eos_id))
        #expect(sp.padTokenId == Golden.id(golden.pad_id))
        #expect(sp.unknownTokenId == Golden.id(golden.unk_id))
        #expect(sp.bosTokenId == Golden.id(golden.bos_id))
        let pieces = try #require(golden.pieces)
        for (id, piece) in pieces.enumerated() {
            #expect(sp.tokenText(Int32(id)) == piece)
            #expect(sp.tokenId(try #require(piece)) == Int32(id))
        }
        #expect(sp.tokenText(Int32(golden.vocab_size)) == nil)
        #expect(sp.tokenText(-1) == nil)
        #expect(sp.tokenId("no such piece ✗✗✗") == nil)
    }

    @Test(arguments: Fixtures.sentencePieceModels)
    func streamsWhatDecodeGives(name: String) throws {
        let sp = try Fixtures.sentencePiece(name)
        let extra = try Fixtures.golden("\(name).extra.json")
        for c in try Fixtures.golden("\(name).encoded.json").cases + extra.cases {
            expectStreams(sp, c.ids, c.decoded)
        }
        for c in try #require(extra.decode_cases) { expectStreams(sp, c.ids, c.decoded) }
    }

    @Test(arguments: Fixtures.sentencePieceModels)
    func skipsIdsOutsideTheVocabulary(name: String) throws {
        let sp = try Fixtures.sentencePiece(name)
        let c = try #require(try Fixtures.golden("\(name).encoded.json").cases.first { !$0.ids.isEmpty })
        let size = Int32(sp.vocabularySize)
        let noisy = [size, -1] + c.ids + [size + 100, Int32.max, Int32.min]
        #expect(sp.decode(noisy) == c.decoded)
    }

    @Test func loaderBuildsSentencePiece() throws {
        let bytes = try Fixtures.bytes("Tests/Fixtures/checkpoints/t5-v1_0-tiny/spiece.model")
        let golden = try Fixtures.golden("t5-v1_0-tiny.encoded.json")
        let tokenizer = try TokenizerLoader.load(type: TokenizerLoader.sentencePieceType, bytes: bytes)
        for c in golden.cases { #expect(tokenizer.encode(c.text) == c.ids) }
    }

    @Test func rejectsBadModelBytes() throws {
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        let noise = (0..<4096).map { _ -> UInt8 in
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: seed >> 56)
        }
        let bad: [[UInt8]] = [[], [0], [UInt8](repeating: 0xFF, count: 64), Array("not a model".utf8), noise]
        for bytes in bad {
            #expect(throws: TokenizerError.self, "\(bytes.count) bytes") { _ = try SentencePieceTokenizer(modelBytes: bytes) }
        }
    }

    /// A protobuf cut at a field boundary can still parse, so a truncated model may load (with a
    /// shorter vocabulary); what must never happen is a crash, in loading or in use.
    @Test func survivesTruncatedModels() throws {
        let real = try Fixtures.bytes("Tests/Fixtures/checkpoints/t5-v1_1-tiny/spiece.model")
        var rejected = 0
        for n in stride(from: 1, to: real.count, by: max(1, real.count / 97)) {
            do {
                let sp = try SentencePieceTokenizer(modelBytes: Array(real[..<n]))
                let ids = sp.encode("Hello world, 東京 🙂")
                _ = sp.decode(ids + [0, 1, 2, Int32(sp.vocabularySize)])
            } catch {
                rejected += 1
            }
        }
        #expect(rejected > 0)
    }

    @Test func rejectsUnknownLoaderType() {
        #expect(throws: TokenizerError.unknownTokenizerType("wordpiece")) {
            _ = try TokenizerLoader.load(type: "wordpiece", bytes: [])
        }
    }
}
