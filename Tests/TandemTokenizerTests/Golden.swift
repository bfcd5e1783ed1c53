import Foundation
import TandemTokenizer

/// The committed tokenizer fixtures, found from this file, and the golden files' shape.
///
/// Golden data comes only from the Python references: `*.encoded.json` from
/// Tools/fixtures/make_checkpoints.py, `*.extra.json` and the `*-style-tiny` files from
/// Tools/fixtures/make_tokenizer_golden.py. No expected value is typed in these tests.
enum Fixtures {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func bytes(_ relative: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: repo.appendingPathComponent(relative)))
    }

    static func golden(_ relative: String) throws -> Golden {
        try JSONDecoder().decode(Golden.self, from: Data(bytes("Tests/Fixtures/tokenizers/\(relative)")))
    }

    /// The SentencePiece checkpoints: unigram + nmt_nfkc (v1.0) and BPE + identity (v1.1).
    static let sentencePieceModels = ["t5-v1_0-tiny", "t5-v1_1-tiny"]

    static func sentencePiece(_ name: String) throws -> SentencePieceTokenizer {
        try SentencePieceTokenizer(modelBytes: bytes("Tests/Fixtures/checkpoints/\(name)/spiece.model"))
    }

    /// A byte-level BPE fixture: its tokenizer.json, its golden files, and the pre-tokenizer a
    /// GGUF file would name for it.
    struct BPE: CustomTestStringConvertible, Sendable {
        var name: String
        var tokenizerJSON: String
        var config: String?
        var goldenFiles: [String]
        var preTokenizer: BPEPreTokenizer
        var testDescription: String { name }
    }

    static let byteLevelModels = [
        BPE(name: "gpt2-tiny", tokenizerJSON: "Tests/Fixtures/checkpoints/gpt2-tiny/tokenizer.json",
            config: "Tests/Fixtures/checkpoints/gpt2-tiny/tokenizer_config.json",
            goldenFiles: ["gpt2-tiny.encoded.json", "gpt2-tiny.extra.json"], preTokenizer: .gpt2),
        BPE(name: "llama3-style-tiny", tokenizerJSON: "Tests/Fixtures/tokenizers/llama3-style-tiny.tokenizer.json",
            goldenFiles: ["llama3-style-tiny.encoded.json"], preTokenizer: .llama3),
        BPE(name: "smollm-style-tiny", tokenizerJSON: "Tests/Fixtures/tokenizers/smollm-style-tiny.tokenizer.json",
            goldenFiles: ["smollm-style-tiny.encoded.json"], preTokenizer: .smollm),
    ]

    static func byteLevel(_ m: BPE) throws -> ByteLevelBPETokenizer {
        try ByteLevelBPETokenizer(tokenizerJSON: bytes(m.tokenizerJSON), tokenizerConfigJSON: m.config.map(bytes))
    }
}

import Testing

struct Golden: Decodable {
    struct EncodeCase: Decodable {
        var text: String
        var ids: [Int32]
        var pieces: [String]
        var decoded: String
        var ids_with_eos: [Int32]?
    }

    struct DecodeCase: Decodable {
        var ids: [Int32]
        var decoded: String
    }

    var vocab_size: Int
    var eos_id: Int32?
    var bos_id: Int32?
    var pad_id: Int32?
    var unk_id: Int32?
    var pieces: [String?]?
    var special_ids: [Int32]?
    var cases: [EncodeCase]
    var decode_cases: [DecodeCase]?
    var add_prefix_space_cases: [EncodeCase]?

    /// SentencePiece says -1 for "none".
    static func id(_ v: Int32?) -> Int32? { v.flatMap { $0 >= 0 ? $0 : nil } }
}

/// Checks a stream: the chunks concatenate to `expected` and, after every id, the text so far is
/// a prefix of it (scalar by scalar), so no chunk ever carried a replacement character that later
/// ids would have completed.
func expectStreams(_ tokenizer: any Tokenizer, _ ids: [Int32], _ expected: String, sourceLocation: SourceLocation = #_sourceLocation) {
    var stream = StreamingDetokenizer(tokenizer: tokenizer)
    let target = Array(expected.unicodeScalars)
    var soFar: [Unicode.Scalar] = []
    for id in ids {
        soFar += stream.append(id).unicodeScalars
        #expect(soFar.count <= target.count && Array(target[..<soFar.count]) == soFar,
                "stream \(ids) emitted \(String(String.UnicodeScalarView(soFar)).debugDescription), not a prefix of \(expected.debugDescription)",
                sourceLocation: sourceLocation)
    }
    soFar += stream.finish().unicodeScalars
    #expect(soFar == target, "stream \(ids) gave \(String(String.UnicodeScalarView(soFar)).debugDescription)", sourceLocation: sourceLocation)
}
