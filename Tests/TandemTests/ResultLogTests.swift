// Reopening summarize's output: the ids already done (whatever JSON spelling they have), a torn
// last line cut off — also one longer than the 64 KiB steps the end is read back in — and appends
// going after what was kept.
import Foundation
import Tandem
import TandemFormat
import TandemTestSupport
import Testing

struct ResultLogTests {
    func reopen(_ contents: String) throws -> (ResultLog, String) {
        let path = Scratch.unique("results.jsonl")
        try contents.write(toFile: path, atomically: true, encoding: .utf8)
        return (try ResultLog(path: path), path)
    }

    @Test func readsEveryIdSpelling() throws {
        let lines = [
            #"{"id":"doc-1","summary":"a"}"#, #"{"summary":"b","id":"doc-2"}"#, #"{"id":"quote\"and\\slash\u00e9","summary":"c"}"#,
            #"{"id":42,"summary":"d"}"#, #"  {"id" : "spaced" , "summary" : "e"}  "#, #"not json"#, #"{"summary":"no id"}"#, "",
        ]
        let (log, _) = try reopen(lines.joined(separator: "\n") + "\n")
        #expect(log.done == ["doc-1", "doc-2", "quote\"and\\slashé", "42", "spaced"])
        #expect(log.repairedBytes == 0)
    }

    @Test(arguments: [10, 70_000, 200_000])
    func tornLastLineIsCut(tornBytes: Int) throws {
        let kept = #"{"id":"a","summary":"x"}"# + "\n" + #"{"id":"b","summary":"y"}"# + "\n"
        let torn = #"{"id":"c","summary":""# + String(repeating: "z", count: tornBytes)
        let (log, path) = try reopen(kept + torn)
        #expect(log.done == ["a", "b"])
        #expect(log.repairedBytes == torn.utf8.count)
        try log.append(["id": .string("c"), "summary": .string("again")])
        let after = try String(contentsOfFile: path, encoding: .utf8)
        #expect(after == kept + #"{"id":"c","summary":"again"}"# + "\n")
    }

    @Test func fileWithoutANewlineIsOneTornLine() throws {
        let torn = #"{"id":"only","summ"#
        let (log, path) = try reopen(torn)
        #expect(log.done.isEmpty && log.repairedBytes == torn.utf8.count)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)).isEmpty)
    }
}
