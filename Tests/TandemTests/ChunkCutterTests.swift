// `summarize --chunk`: an over-long document cut into prompts that each fit the model, covering
// the whole text in order, cut at whitespace, the text tokenized a window at a time.
import Foundation
import TandemConvert
import TandemFormat
import TandemTestSupport
import Testing
@testable import Tandem

struct ChunkCutterTests {
    static func model() throws -> TandemModel {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let out = Scratch.unique("chunk-t5.tandem")
        _ = try Converter.convert(ConvertOptions(source: repo.appendingPathComponent("Tests/Fixtures/checkpoints/t5-v1_1-tiny").path,
                                                 output: out, dtype: .q8_0, pool: .shared))
        return try TandemModel(path: out, pool: .shared)
    }

    @Test func chunksFitAndCoverTheWholeText() throws {
        let model = try Self.model()
        let words = ["rain", "town", "river", "über", "market", "日本", "road", "music", "light", "garden"]
        let text = (0..<4000).map { words[($0 * 7) % words.count] + ($0 % 37 == 0 ? ".\n" : "") }.joined(separator: " ")
        #expect(model.tokenizer.encode(text).count > 5 * model.maxInputTokens, "the document is several times the limit")
        var cutter = ChunkCutter(model: model, text: text, frame: PromptFrame(prefix: "summarize: "))
        var pieces: [String] = []
        while let chunk = cutter.next() {
            #expect(chunk.ids.count <= model.maxInputTokens)
            #expect(chunk.ids.last == model.eosTokenId)
            pieces.append(chunk.text)
        }
        #expect(pieces.count >= 5)
        let squash = { (s: String) in s.split(whereSeparator: \.isWhitespace).joined(separator: " ") }
        #expect(squash(pieces.joined(separator: " ")) == squash(text), "the pieces, in order, are the whole text")
        #expect(pieces.dropLast().allSatisfy { $0.count > 100 }, "chunks are filled, not cut short")
    }

    @Test func aWordLongerThanAChunkIsStillCut() throws {
        let model = try Self.model()
        let text = String(repeating: "abcdefghij", count: 2000)  // no whitespace at all
        var cutter = ChunkCutter(model: model, text: text, frame: PromptFrame(prefix: ""))
        var total = "", n = 0
        while let chunk = cutter.next() {
            #expect(chunk.ids.count <= model.maxInputTokens)
            total += chunk.text
            n += 1
        }
        #expect(total == text && n >= 2)
    }
}
