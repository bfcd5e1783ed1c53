// The strict JSON reader (JSONReader.swift) that tokenizer files and summarize's JSONL go through.
import Foundation
import TandemFormat
import Testing

struct JSONReaderTests {
    /// The reader against Foundation's on escapes, numbers and nesting.
    @Test func jsonReaderAgreesWithFoundation() throws {
        let text = #"{"s": "\u00e9\ud83d\ude00\n\t\"\\\/ é 😀", "n": [0, -1, 2.5, 1e3, -0.25E-2, 2147483647],"#
            + #" "b": [true, false, null], "o": {"k": {"k": []}}, "e": ""}"#
        let ours = try JSON.parse(Array(text.utf8), what: "test")
        let theirs = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
        #expect(ours["s"]?.string == theirs["s"] as? String)
        #expect(ours["n"]?.array?.compactMap(\.number) == (theirs["n"] as! [NSNumber]).map(\.doubleValue))
        #expect(ours["n"]?.array?.last?.int32 == Int32.max)
        #expect(ours["b"]?.array?.map { $0.bool } == [true, false, nil])
        #expect(ours["o"]?["k"]?["k"]?.array?.isEmpty == true)
        #expect(ours["e"]?.string == "")
    }

    /// Bad documents are one FormatError naming what was read and where, never a crash.
    @Test func malformedDocumentsAreErrors() {
        for text in ["", "{", "{\"a\" 1}", "[1,]", "01", "\"\\ud800\"", "{\"a\": tru}", "1 2", String(repeating: "[", count: 300)] {
            do {
                _ = try JSON.parse(Array(text.utf8), what: "line 7")
                Issue.record("accepted \(text.prefix(20))")
            } catch {
                guard case let .malformedJSON(what, detail) = error else { Issue.record("\(error)"); continue }
                #expect(what == "line 7" && detail.contains("at byte"), "\(detail)")
            }
        }
    }
}
