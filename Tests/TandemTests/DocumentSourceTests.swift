// Where summarize reads documents from, and how far through them it is (the progress line's
// percentage and ETA for JSONL input, whose document count is unknown until the end).
import Foundation
import Tandem
import TandemTestSupport
import Testing

struct DocumentSourceTests {
    @Test func jsonlPositionCountsBytesToTheEnd() throws {
        let lines = (0..<500).map { #"{"id":"d\#($0)","text":"\#(String(repeating: "word ", count: $0 % 50 + 1))"}"# }
            + ["not json", "", #"{"id":"last","text":"é"}"#]
        let text = lines.joined(separator: "\n")  // no newline after the last line
        let path = Scratch.unique("docs.jsonl")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let source = try DocumentSource(.jsonl(path))
        let total = text.utf8.count
        #expect(source.position?.done == 0 && source.position?.total == total)
        var last = 0, documents = 0, skips = 0
        while let item = source.next() {
            let done = try #require(source.position?.done)
            #expect(done > last && done <= total)
            last = done
            if case .document = item { documents += 1 } else { skips += 1 }
        }
        #expect(documents == 501 && skips == 1)
        #expect(source.position?.done == total)
    }

    @Test func directoryPositionCountsFiles() throws {
        let dir = Scratch.unique("docs")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for i in 0..<3 { try "text \(i)".write(toFile: "\(dir)/\(i).txt", atomically: true, encoding: .utf8) }
        let source = try DocumentSource(.directory(dir))
        var positions: [Int] = []
        while source.next() != nil { positions.append(source.position!.done) }
        #expect(positions == [1, 2, 3] && source.position?.total == 3)
    }
}
