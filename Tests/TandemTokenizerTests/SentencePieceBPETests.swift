import Foundation
import TandemFormat
import Testing
@testable import TandemTokenizer

/// llama.cpp's SPM tokenizer (Gemma 3) against llama.cpp itself: gemma3-small.gguf, a subset of
/// Gemma 3's real vocabulary, and its golden ids, pieces and decoded texts from
/// Tools/fixtures/make_spm_tokenizer_golden.py; the full 262,144-entry vocabulary when
/// TANDEM_GEMMA_GGUF names the real file. Conversion to a Tandem file and back is tested in
/// TandemConvertTests (GGUFSPMImportTests).
@Suite struct SentencePieceBPETests {
    static let smallGGUF = "Tests/Fixtures/tokenizers/gemma3-small.gguf"

    /// A GGUF's `tokenizer.ggml.*` arrays and ids, as the tokenizer takes them.
    struct Vocabulary {
        var tokens: [String]
        var scores: [Float]
        var types: [Int32]
        var bos, eos, unk, pad: Int32?
        var addSpacePrefix: Bool

        init(gguf path: String) throws {
            let file = try GGUFFile(path: path)
            tokens = try #require(file["tokenizer.ggml.tokens"]?.array?.strings)
            guard case .float32(let s)? = file["tokenizer.ggml.scores"]?.array else { throw Missing.scores }
            scores = s
            types = try #require(file["tokenizer.ggml.token_type"]?.array?.integers).map { Int32($0) }
            func id(_ key: String) -> Int32? { file["tokenizer.ggml.\(key)_token_id"]?.integer.map { Int32($0) } }
            (bos, eos, unk, pad) = (id("bos"), id("eos"), id("unknown"), id("padding"))
            addSpacePrefix = file["tokenizer.ggml.add_space_prefix"]?.bool ?? true
        }

        enum Missing: Error { case scores }

        func tokenizer(addSpacePrefix: Bool? = nil) throws(TokenizerError) -> SentencePieceBPETokenizer {
            try SentencePieceBPETokenizer(tokens: tokens, scores: scores, types: types, bosTokenId: bos, eosTokenId: eos,
                                          unknownTokenId: unk, padTokenId: pad, addSpacePrefix: addSpacePrefix ?? self.addSpacePrefix)
        }
    }

    static func small() throws -> (Vocabulary, SentencePieceBPETokenizer, Golden) {
        let vocabulary = try Vocabulary(gguf: Fixtures.repo.appendingPathComponent(smallGGUF).path)
        return (vocabulary, try vocabulary.tokenizer(), try Fixtures.golden("gemma3-small.encoded.json"))
    }

    /// Every golden text: llama.cpp's ids, and the pieces and decoded text that go with them.
    static func expectGolden(_ tokenizer: SentencePieceBPETokenizer, _ cases: [Golden.EncodeCase], _ name: String) {
        for c in cases {
            let ids = tokenizer.encode(c.text)
            #expect(ids == c.ids, "\(name): encode \(c.text.debugDescription)")
            #expect(ids.map { tokenizer.tokenText($0) } == c.pieces, "\(name): pieces of \(c.text.debugDescription)")
            #expect(tokenizer.decode(c.ids) == c.decoded, "\(name): decode \(c.text.debugDescription)")
        }
    }

    @Test func smallVocabularyEncodesAndDecodesLikeLlamaCpp() throws {
        let (_, tokenizer, golden) = try Self.small()
        #expect(tokenizer.vocabularySize == golden.vocab_size)
        #expect(tokenizer.bosTokenId == golden.bos_id && tokenizer.eosTokenId == golden.eos_id)
        #expect(tokenizer.unknownTokenId == golden.unk_id && tokenizer.padTokenId == golden.pad_id)
        #expect(golden.cases.count >= 35)
        // The golden texts reach byte fallback, special tokens inside text and the empty string.
        let byteIds = Set((0...255).compactMap { tokenizer.tokenId(String(format: "<0x%02X>", $0)) })
        #expect(golden.cases.contains { $0.ids.contains(where: byteIds.contains) })
        #expect(golden.cases.contains { $0.text.isEmpty })
        Self.expectGolden(tokenizer, golden.cases, "gemma3-small")
    }

    @Test func addSpacePrefixLikeLlamaCpp() throws {
        let (vocabulary, _, golden) = try Self.small()
        let cases = try #require(golden.add_prefix_space_cases)
        Self.expectGolden(try vocabulary.tokenizer(addSpacePrefix: true), cases, "gemma3-small, add_space_prefix")
    }

    @Test func decodesLikeLlamaCpp() throws {
        let (_, tokenizer, golden) = try Self.small()
        let cases = try #require(golden.decode_cases)
        // Every id of the vocabulary is in some case, and some decode to invalid UTF-8.
        #expect(Set(cases.flatMap(\.ids)).count == tokenizer.vocabularySize)
        #expect(cases.contains { $0.decoded.unicodeScalars.contains("\u{FFFD}") })
        for c in cases { #expect(tokenizer.decode(c.ids) == c.decoded, "decode \(c.ids)") }
    }

    @Test func streamsWhatDecodeGives() throws {
        let (_, tokenizer, golden) = try Self.small()
        for c in golden.cases { expectStreams(tokenizer, c.ids, c.decoded) }
        for c in golden.decode_cases ?? [] { expectStreams(tokenizer, c.ids, c.decoded) }
    }

    @Test func vocabularyLookups() throws {
        let (vocabulary, tokenizer, _) = try Self.small()
        for (id, token) in vocabulary.tokens.enumerated() {
            #expect(tokenizer.tokenText(Int32(id)) == token)
            #expect(tokenizer.tokenId(token) == Int32(id))
            #expect(tokenizer.tokenType(Int32(id))?.rawValue == UInt8(vocabulary.types[id]))
        }
        #expect(tokenizer.tokenText(-1) == nil && tokenizer.tokenText(Int32(tokenizer.vocabularySize)) == nil)
        #expect(tokenizer.tokenId("not a token at all") == nil)
        let specials = Set(vocabulary.types.indices.filter { [2, 3, 4].contains(vocabulary.types[$0]) }.map(Int32.init))
        #expect(tokenizer.specialTokenIds == specials)
        // Ids outside the vocabulary are skipped, as the protocol promises.
        #expect(tokenizer.decode([-5, Int32(tokenizer.vocabularySize)] + tokenizer.encode("Hello world")) == "Hello world")
    }

    /// Longest special first over the whole text, not leftmost-longest: the one-pass partition
    /// against llama.cpp's algorithm written out literally (one scan per special token), on
    /// specials chosen to overlap each other in every way.
    @Test(arguments: [
        "<bos><bo<bos>s>", "<<bos>>", "aaaa", "aaaaaaa", "abab aba", "<start_of_turn<end_of_turn>>",
        "xx  \n\n\n  \t\t  <b></b><bos>", String(repeating: " ", count: 100), "",
    ])
    func partitionMatchesTheLiteralAlgorithm(_ text: String) {
        let specials: [String] = ["<bos>", "<bo", "s>", "a", "aa", "aaa", "ab", "ba", "aba", "<", ">", "  ", "   ", "\n", "\n\n", "\t", "<b>", "</b>", "<end_of_turn>"]
        let entries = specials.enumerated().map { (Int32($0.offset), ArraySlice(Array($0.element.utf8))) }
        let partition = SpecialTokenPartition(entries)
        var bytes = Array(text.utf8)
        let fast = bytes.withUnsafeBufferPointer { partition.partition($0) }
        #expect(fast == Self.literalPartition(&bytes, specials), "\(text.debugDescription)")
    }

    /// llama.cpp's `tokenizer_st_partition` as written: for each special token (longest first, ties
    /// by id), every raw fragment searched left to right.
    static func literalPartition(_ text: inout [UInt8], _ specials: [String]) -> [SpecialTokenPartition.Fragment] {
        var fragments: [SpecialTokenPartition.Fragment] = text.isEmpty ? [] : [.text(0..<text.count)]
        let order = specials.indices.sorted { specials[$0].utf8.count != specials[$1].utf8.count ? specials[$0].utf8.count > specials[$1].utf8.count : $0 < $1 }
        for k in order {
            let token = Array(specials[k].utf8)
            var next: [SpecialTokenPartition.Fragment] = []
            for f in fragments {
                guard case .text(let range) = f else { next.append(f); continue }
                var from = range.lowerBound
                var p = range.lowerBound
                while p + token.count <= range.upperBound {
                    if Array(text[p..<p + token.count]) == token {
                        if p > from { next.append(.text(from..<p)) }
                        next.append(.token(Int32(k)))
                        p += token.count
                        from = p
                    } else {
                        p += 1
                    }
                }
                if from < range.upperBound { next.append(.text(from..<range.upperBound)) }
            }
            fragments = next
        }
        return fragments
    }

    /// Hostile vocabularies are errors, never crashes.
    @Test func malformedVocabulariesThrow() throws {
        let (v, _, _) = try Self.small()
        func build(_ edit: (inout Vocabulary) -> Void) -> TokenizerError? {
            var copy = v
            edit(&copy)
            do { _ = try copy.tokenizer(); return nil } catch { return error }
        }
        let cases: [(String, (inout Vocabulary) -> Void)] = [
            ("scores count", { $0.scores.removeLast() }),
            ("types count", { $0.types.append(1) }),
            ("NaN score", { $0.scores[700] = .nan }),
            ("infinite score", { $0.scores[701] = -.infinity }),
            ("duplicate spelling", { $0.tokens[702] = $0.tokens[703] }),
            ("bos out of range", { $0.bos = Int32($0.tokens.count) }),
            ("negative eos", { $0.eos = -2 }),
            ("unk out of range", { $0.unk = 1 << 30 }),
            ("byte token misspelled", { v in v.tokens[v.tokens.firstIndex(of: "<0x41>")!] = "<0xZZ>" }),
            ("empty", { $0 = Vocabulary(empty: $0) }),
        ]
        for (name, edit) in cases {
            let error = build(edit)
            guard case .invalidVocabulary? = error else { Issue.record("\(name): \(String(describing: error))"); continue }
        }
        // llama.cpp renames an empty spelling rather than refusing it, and reads unknown type codes
        // as undefined (decoded as nothing).
        let renamed = try #require(try? { var c = v; c.tokens[900] = ""; c.types[901] = 42; return try c.tokenizer() }())
        #expect(renamed.tokenText(900) == "[EMPTY_900]" && renamed.tokenType(901) == .undefined && renamed.decode([901]).isEmpty)
    }

    /// The real Gemma 3 vocabulary (262,144 entries), when TANDEM_GEMMA_GGUF names the GGUF file:
    /// llama.cpp's ids on every golden text, and the load time.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["TANDEM_GEMMA_GGUF"] != nil, "set TANDEM_GEMMA_GGUF to the Gemma 3 GGUF"))
    func fullGemmaVocabulary() throws {
        let path = try #require(ProcessInfo.processInfo.environment["TANDEM_GEMMA_GGUF"])
        let vocabulary = try Vocabulary(gguf: path)
        let clock = ContinuousClock()
        var tokenizer: SentencePieceBPETokenizer?
        let elapsed = try clock.measure { tokenizer = try vocabulary.tokenizer() }
        let gemma = try #require(tokenizer)
        let golden = try Fixtures.golden("gemma3-270m.encoded.json")
        #expect(gemma.vocabularySize == golden.vocab_size && gemma.vocabularySize == 262_144)
        Self.expectGolden(gemma, golden.cases, "gemma-3-270m")
        print("Gemma 3 vocabulary (\(gemma.vocabularySize) tokens) built from arrays in \(elapsed)")
    }
}

extension SentencePieceBPETests.Vocabulary {
    /// A vocabulary with no tokens at all.
    init(empty v: Self) {
        self = v
        tokens = []; scores = []; types = []
        bos = nil; eos = nil; unk = nil; pad = nil
    }
}
