import Foundation
import Testing
@testable import TandemTokenizer

/// A tokenizer.json is outside data: every way of getting it wrong is a typed error, never a
/// crash. Each case edits the gpt2-tiny tokenizer.json in one place.
@Suite struct MalformedTokenizerJSONTests {
    typealias Edit = @Sendable (inout [String: Any]) -> Void

    static func edited(_ edit: Edit) throws -> [UInt8] {
        let path = Fixtures.byteLevelModels[0].tokenizerJSON
        var json = try JSONSerialization.jsonObject(with: Data(Fixtures.bytes(path))) as! [String: Any]
        edit(&json)
        return [UInt8](try JSONSerialization.data(withJSONObject: json))
    }

    static func editModel(_ edit: @escaping @Sendable (inout [String: Any]) -> Void) -> Edit {
        { json in
            var model = json["model"] as! [String: Any]
            edit(&model)
            json["model"] = model
        }
    }

    static let malformed: [(String, Edit)] = [
        ("no model", { $0["model"] = nil }),
        ("model is a string", { $0["model"] = "BPE" }),
        ("vocab is a list", editModel { $0["vocab"] = ["a", "b"] }),
        ("vocab id is a string", editModel { m in var v = m["vocab"] as! [String: Any]; v["a"] = "one"; m["vocab"] = v }),
        ("vocab id is fractional", editModel { m in var v = m["vocab"] as! [String: Any]; v["a"] = 1.5; m["vocab"] = v }),
        ("merges is an object", editModel { $0["merges"] = ["a": "b"] }),
        ("merge of three", editModel { $0["merges"] = ["a b c"] }),
        ("merge is a number", editModel { $0["merges"] = [7] }),
        ("added_tokens is an object", { $0["added_tokens"] = ["id": 1] }),
        ("added token without content", { $0["added_tokens"] = [["id": 1]] }),
        ("pre_tokenizer is a list", { $0["pre_tokenizer"] = [1, 2] }),
        ("Sequence without list", { $0["pre_tokenizer"] = ["type": "Sequence"] }),
        ("bool field is a string", { $0["pre_tokenizer"] = ["type": "ByteLevel", "use_regex": "yes"] }),
    ]

    static let invalidVocabulary: [(String, Edit)] = [
        ("merge of unknown tokens", editModel { m in m["merges"] = (m["merges"] as! [Any]) + [["zzz✗", "q✗"]] }),
        ("merge result not in vocab", editModel { m in m["merges"] = (m["merges"] as! [Any]) + [["a", "✗"]] }),
        ("negative id", editModel { m in var v = m["vocab"] as! [String: Any]; v["a"] = -3; m["vocab"] = v }),
        ("duplicate id", editModel { m in var v = m["vocab"] as! [String: Any]; v["a"] = v["b"]; m["vocab"] = v }),
        ("huge id", editModel { m in var v = m["vocab"] as! [String: Any]; v["a"] = 2_000_000_000; m["vocab"] = v }),
        ("empty vocabulary", { j in
            j["added_tokens"] = [Any]()
            var m = j["model"] as! [String: Any]; m["vocab"] = [String: Any](); m["merges"] = [Any](); j["model"] = m
        }),
        ("empty added token", { $0["added_tokens"] = [["id": 3, "content": ""]] }),
        ("unknown unk_token", editModel { $0["unk_token"] = "<nope>" }),
    ]

    static let unsupported: [(String, Edit)] = [
        ("WordPiece model", editModel { $0["type"] = "WordPiece" }),
        ("byte_fallback", editModel { $0["byte_fallback"] = true }),
        ("subword prefix", editModel { $0["continuing_subword_prefix"] = "##" }),
        ("normalizer", { $0["normalizer"] = ["type": "NFKC"] }),
        ("no decoder", { $0["decoder"] = NSNull() }),
        ("WordPiece decoder", { $0["decoder"] = ["type": "WordPiece"] }),
        ("no pre_tokenizer", { $0["pre_tokenizer"] = NSNull() }),
        ("unknown regex", { $0["pre_tokenizer"] = ["type": "Split", "pattern": ["Regex": "\\w+"], "behavior": "Isolated", "invert": false] }),
        ("Split Removed", { $0["pre_tokenizer"] = ["type": "Split", "pattern": ["Regex": "\\s+"], "behavior": "Removed"] }),
        ("Whitespace pre-tokenizer", { $0["pre_tokenizer"] = ["type": "Whitespace"] }),
        ("Digits only, no ByteLevel", { $0["pre_tokenizer"] = ["type": "Digits", "individual_digits": true] }),
    ]

    @Test func rejectsBytesThatAreNotJSON() {
        let bad: [String] = [
            "", "{", "[1, 2]", "null", "{\"a\": 1,}", "{\"a\" 1}", "{\"a\": 01}", "{\"a\": 1.}", "{\"a\": -}",
            "{\"a\": tru}", "{\"a\": \"\\ud800\"}", "{\"a\": \"\\udc00x\"}", "{\"a\": \"\\x\"}", "{\"a\": \"\\u12\"}",
            "{\"a\": \"tab\there\"}", "{\"a\": \"open", "{} {}", "{\"a\": 1} x",
            String(repeating: "[", count: 100_000), "{\"a\":" + String(repeating: "[", count: 1000) + String(repeating: "]", count: 1000) + "}",
        ]
        for text in bad {
            #expect(throws: TokenizerError.self, "\(text.prefix(40).debugDescription)") {
                _ = try ByteLevelBPETokenizer(tokenizerJSON: Array(text.utf8))
            }
        }
        for bytes in [[0xFF, 0xFE, 0x00], Array("{\"a\": \"".utf8) + [0xC3, 0x28] + Array("\"}".utf8)] as [[UInt8]] {
            #expect(throws: TokenizerError.self) { _ = try ByteLevelBPETokenizer(tokenizerJSON: bytes) }
        }
    }

    @Test func rejectsMalformedFields() throws {
        for (what, edit) in Self.malformed {
            let bytes = try Self.edited(edit)
            #expect("\(what)".isEmpty == false)
            do {
                _ = try ByteLevelBPETokenizer(tokenizerJSON: bytes)
                Issue.record("\(what): loaded")
            } catch {
                guard case .malformedTokenizerJSON = error else { Issue.record("\(what): \(error)"); continue }
            }
        }
    }

    @Test func rejectsInconsistentVocabularies() throws {
        for (what, edit) in Self.invalidVocabulary {
            do {
                _ = try ByteLevelBPETokenizer(tokenizerJSON: Self.edited(edit))
                Issue.record("\(what): loaded")
            } catch let error as TokenizerError {
                guard case .invalidVocabulary = error else { Issue.record("\(what): \(error)"); continue }
            }
        }
    }

    @Test func reportsUnsupportedFeatures() throws {
        for (what, edit) in Self.unsupported {
            do {
                _ = try ByteLevelBPETokenizer(tokenizerJSON: Self.edited(edit))
                Issue.record("\(what): loaded")
            } catch let error as TokenizerError {
                guard case .unsupported = error else { Issue.record("\(what): \(error)"); continue }
            }
        }
    }

    @Test func rejectsConfigNamingAMissingToken() throws {
        let json = try Self.edited { _ in }
        let config = Array(#"{"eos_token": {"content": "<|not-here|>"}}"#.utf8)
        #expect(throws: TokenizerError.self) { _ = try ByteLevelBPETokenizer(tokenizerJSON: json, tokenizerConfigJSON: config) }
        #expect(throws: TokenizerError.self) { _ = try ByteLevelBPETokenizer(tokenizerJSON: json, tokenizerConfigJSON: Array("nope".utf8)) }
    }

    @Test func ggufVocabularyErrors() {
        #expect(throws: TokenizerError.self) {
            _ = try ByteLevelBPETokenizer(tokens: ["a", "b"], merges: [], tokenTypes: [1], preTokenizer: .gpt2, bosTokenId: nil, eosTokenId: nil)
        }
        #expect(throws: TokenizerError.self) {
            _ = try ByteLevelBPETokenizer(tokens: ["a", "b"], merges: ["a c"], tokenTypes: nil, preTokenizer: .gpt2, bosTokenId: nil, eosTokenId: nil)
        }
        #expect(throws: TokenizerError.self) {
            _ = try ByteLevelBPETokenizer(tokens: ["a", "b"], merges: [], tokenTypes: [1, 99], preTokenizer: .gpt2, bosTokenId: nil, eosTokenId: nil)
        }
        #expect(throws: TokenizerError.self) {
            _ = try ByteLevelBPETokenizer(tokens: ["a", "b"], merges: [], tokenTypes: nil, preTokenizer: .gpt2, bosTokenId: 7, eosTokenId: nil)
        }
        #expect(throws: TokenizerError.self) {
            _ = try ByteLevelBPETokenizer(tokens: [], merges: [], tokenTypes: nil, preTokenizer: .gpt2, bosTokenId: nil, eosTokenId: nil)
        }
    }
}
