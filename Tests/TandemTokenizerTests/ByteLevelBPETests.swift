import Foundation
import Testing
@testable import TandemTokenizer

/// Byte-level BPE against Hugging Face `tokenizers`: GPT-2's tokenizer.json from the gpt2-tiny
/// checkpoint, and the LLaMA-3-style and SmolLM2-style tokenizers trained by
/// make_tokenizer_golden.py.
@Suite struct ByteLevelBPETests {
    @Test(arguments: Fixtures.byteLevelModels)
    func encodesAndDecodesLikeTheReference(_ m: Fixtures.BPE) throws {
        let tokenizer = try Fixtures.byteLevel(m)
        for file in m.goldenFiles {
            let golden = try Fixtures.golden(file)
            #expect(tokenizer.vocabularySize == golden.vocab_size)
            for c in golden.cases {
                let ids = tokenizer.encode(c.text)
                #expect(ids == c.ids, "\(file): encode \(c.text.debugDescription)")
                // An added token with lstrip/rstrip is reported with the spaces it ate (" <tool> ").
                let spellings = ids.map { tokenizer.tokenText($0) }
                #expect(spellings == c.pieces || spellings == c.pieces.map { $0.trimmingCharacters(in: .whitespaces) },
                        "\(file): pieces of \(c.text.debugDescription)")
                #expect(tokenizer.decode(c.ids) == c.decoded, "\(file): decode \(c.text.debugDescription)")
            }
        }
    }

    @Test(arguments: Fixtures.byteLevelModels)
    func decodesInvalidUTF8LikeTheReference(_ m: Fixtures.BPE) throws {
        let tokenizer = try Fixtures.byteLevel(m)
        let golden = try Fixtures.golden(try #require(m.goldenFiles.last))
        let cases = try #require(golden.decode_cases)
        #expect(cases.contains { $0.decoded.unicodeScalars.contains("\u{FFFD}") })
        for c in cases {
            #expect(tokenizer.decode(c.ids) == c.decoded, "decode \(c.ids)")
        }
    }

    @Test(arguments: Fixtures.byteLevelModels)
    func streamsWhatDecodeGives(_ m: Fixtures.BPE) throws {
        let tokenizer = try Fixtures.byteLevel(m)
        for file in m.goldenFiles {
            let golden = try Fixtures.golden(file)
            for c in golden.cases { expectStreams(tokenizer, c.ids, c.decoded) }
            for c in golden.decode_cases ?? [] { expectStreams(tokenizer, c.ids, c.decoded) }
        }
    }

    @Test(arguments: Fixtures.byteLevelModels)
    func vocabularyMatches(_ m: Fixtures.BPE) throws {
        let tokenizer = try Fixtures.byteLevel(m)
        let golden = try Fixtures.golden(try #require(m.goldenFiles.last))
        let pieces = try #require(golden.pieces)
        #expect(pieces.count == tokenizer.vocabularySize)
        for (id, piece) in pieces.enumerated() {
            #expect(tokenizer.tokenText(Int32(id)) == piece)
            if let piece { #expect(tokenizer.tokenId(piece) == Int32(id)) }
        }
        #expect(tokenizer.specialTokenIds == Set(try #require(golden.special_ids)))
        #expect(tokenizer.tokenText(Int32(tokenizer.vocabularySize)) == nil)
        #expect(tokenizer.tokenText(-1) == nil)
    }

    /// tokenizer_config.json names BOS/EOS; the checkpoint's golden file records them.
    @Test func specialIdsFromTokenizerConfig() throws {
        let m = Fixtures.byteLevelModels[0]
        let golden = try Fixtures.golden(m.goldenFiles[0])
        let withConfig = try Fixtures.byteLevel(m)
        #expect(withConfig.eosTokenId == golden.eos_id)
        #expect(withConfig.bosTokenId == golden.bos_id)
        // Without the config, GPT-2's convention (`<|endoftext|>` for both) gives the same.
        let bare = try ByteLevelBPETokenizer(tokenizerJSON: Fixtures.bytes(m.tokenizerJSON))
        #expect(bare.eosTokenId == golden.eos_id)
        #expect(bare.bosTokenId == golden.bos_id)
        let loaded = try TokenizerLoader.load(type: TokenizerLoader.huggingFaceJSONType, bytes: Fixtures.bytes(m.tokenizerJSON),
                                              extra: ["tokenizer_config.json": Fixtures.bytes(try #require(m.config))])
        #expect(loaded.eosTokenId == golden.eos_id)
        for c in golden.cases { #expect(loaded.encode(c.text) == c.ids) }
    }

    @Test(arguments: Fixtures.byteLevelModels)
    func decodeSkipsIdsOutsideTheVocabulary(_ m: Fixtures.BPE) throws {
        let tokenizer = try Fixtures.byteLevel(m)
        let c = try #require(try Fixtures.golden(m.goldenFiles[0]).cases.first { !$0.ids.isEmpty })
        let size = Int32(tokenizer.vocabularySize)
        #expect(tokenizer.decode([size, -5] + c.ids + [size + 1000, Int32.max]) == c.decoded)
    }

    /// The same vocabulary handed over as a GGUF file stores it: tokens by id, merges as
    /// "a b" strings, token types, and the pre-tokenizer by name.
    @Test(arguments: Fixtures.byteLevelModels)
    func ggufVocabularyEncodesTheSame(_ m: Fixtures.BPE) throws {
        let json = try JSONSerialization.jsonObject(with: Data(Fixtures.bytes(m.tokenizerJSON))) as! [String: Any]
        let model = json["model"] as! [String: Any]
        let merges = (model["merges"] as! [Any]).map { ($0 as? [String])?.joined(separator: " ") ?? ($0 as! String) }
        let added = (json["added_tokens"] as! [[String: Any]])
        let golden = try Fixtures.golden(try #require(m.goldenFiles.last))
        let tokens = try #require(golden.pieces).map { $0 ?? "" }
        var types = [Int32](repeating: ByteLevelBPETokenizer.GGUFTokenType.normal.rawValue, count: tokens.count)
        for t in added {
            let type: ByteLevelBPETokenizer.GGUFTokenType = (t["special"] as! Bool) ? .control : .userDefined
            types[(t["id"] as! NSNumber).intValue] = type.rawValue
        }
        let reference = try Fixtures.byteLevel(m)
        let gguf = try ByteLevelBPETokenizer(tokens: tokens, merges: merges, tokenTypes: types, preTokenizer: m.preTokenizer,
                                             bosTokenId: reference.bosTokenId, eosTokenId: reference.eosTokenId)
        // GGUF has no lstrip/rstrip flags, so the `<tool>` cases (which test them) are left out.
        let stripFlags = added.filter { ($0["lstrip"] as! Bool) || ($0["rstrip"] as! Bool) }.map { $0["content"] as! String }
        for file in m.goldenFiles {
            for c in try Fixtures.golden(file).cases where !stripFlags.contains(where: c.text.contains) {
                #expect(gguf.encode(c.text) == c.ids, "\(file): encode \(c.text.debugDescription)")
                #expect(gguf.decode(c.ids) == c.decoded)
            }
        }
    }

    /// Older tokenizer.json files write merges as "a b" strings, newer ones as [a, b] pairs.
    @Test func mergesAsStringsLoadTheSame() throws {
        let m = Fixtures.byteLevelModels[1]
        var json = try JSONSerialization.jsonObject(with: Data(Fixtures.bytes(m.tokenizerJSON))) as! [String: Any]
        var model = json["model"] as! [String: Any]
        model["merges"] = (model["merges"] as! [[String]]).map { $0.joined(separator: " ") }
        json["model"] = model
        let bytes = [UInt8](try JSONSerialization.data(withJSONObject: json))
        let tokenizer = try ByteLevelBPETokenizer(tokenizerJSON: bytes)
        for c in try Fixtures.golden(m.goldenFiles[0]).cases { #expect(tokenizer.encode(c.text) == c.ids) }
    }

    /// ByteLevel(add_prefix_space: true), as RoBERTa-style files have it: golden data from the
    /// gpt2-tiny tokenizer with that one flag changed.
    @Test func addPrefixSpace() throws {
        let m = Fixtures.byteLevelModels[0]
        var json = try JSONSerialization.jsonObject(with: Data(Fixtures.bytes(m.tokenizerJSON))) as! [String: Any]
        var pre = json["pre_tokenizer"] as! [String: Any]
        pre["add_prefix_space"] = true
        json["pre_tokenizer"] = pre
        let tokenizer = try ByteLevelBPETokenizer(tokenizerJSON: [UInt8](try JSONSerialization.data(withJSONObject: json)))
        let cases = try #require(try Fixtures.golden("gpt2-tiny.extra.json").add_prefix_space_cases)
        for c in cases {
            #expect(tokenizer.encode(c.text) == c.ids, "encode \(c.text.debugDescription)")
            #expect(tokenizer.decode(c.ids) == c.decoded)
        }
    }

    /// One tokenizer instance serves many threads (the word cache is per call, the rest is
    /// immutable; SentencePiece's processor is const after loading).
    @Test func concurrentUseGivesTheSameIds() throws {
        let tokenizers: [any Tokenizer] = try Fixtures.byteLevelModels.map(Fixtures.byteLevel)
            + Fixtures.sentencePieceModels.map(Fixtures.sentencePiece)
        let texts = try Fixtures.golden("gpt2-tiny.extra.json").cases.map(\.text)
        for tokenizer in tokenizers {
            let serial = texts.map(tokenizer.encode)
            let results = Mutex(Array(repeating: [[Int32]](), count: 8))
            DispatchQueue.concurrentPerform(iterations: 8) { k in
                let ids = texts.map(tokenizer.encode)
                results.withLock { $0[k] = ids }
            }
            #expect(results.withLock { $0.allSatisfy { $0 == serial } })
        }
    }
}

/// A lock-protected value for collecting results from concurrent test iterations.
final class Mutex<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
