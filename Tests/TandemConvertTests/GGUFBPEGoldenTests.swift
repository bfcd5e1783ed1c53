// Qwen2.5-Coder's byte-level BPE vocabulary (151,936 tokens, pre-tokenizer qwen2) imported from
// the real GGUF as `tandem convert` imports it, against llama.cpp's ids on the same golden texts
// as the SentencePiece-style vocabulary (Tools/fixtures/make_bpe_tokenizer_golden.py). Opt-in:
// the file is 491 MB (TANDEM_QWEN_GGUF=$(scripts/fetch-gguf.sh qwen2.5-coder-0.5b)).
import Foundation
import Testing
import TandemFormat
import TandemTokenizer
@testable import TandemConvert

struct GGUFBPEGoldenTests {
    struct Golden: Decodable {
        struct Case: Decodable { var text: String; var ids: [Int32] }
        var vocab_size: Int
        var cases: [Case]
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["TANDEM_QWEN_GGUF"] != nil, "set TANDEM_QWEN_GGUF to the Qwen2.5-Coder GGUF"))
    func qwenVocabularyGivesLlamaCppIds() throws {
        let path = try #require(ProcessInfo.processInfo.environment["TANDEM_QWEN_GGUF"])
        let (tokenizer, imported) = try GGUFSPMImportTests.roundTrip(path)
        #expect(imported.entry.type == TokenizerLoader.huggingFaceJSONType)
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path(
            "Tests/Fixtures/tokenizers/qwen2.5-coder.encoded.json"))))
        #expect(tokenizer.vocabularySize == golden.vocab_size)
        #expect(golden.cases.count >= 35)
        for c in golden.cases {
            #expect(tokenizer.encode(c.text) == c.ids, "encode \(c.text.debugDescription)")
        }
    }
}
