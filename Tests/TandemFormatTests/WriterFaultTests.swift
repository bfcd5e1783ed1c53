// Issue 8, item 4: a write that fails part-way (full disk, file-size limit, a converter error)
// leaves nothing under the final name — not a half-written file, not the temporary one — and an
// older file already under that name stays as it was. The command-line test with a real
// file-size limit is in Tests/TandemCLITests/FaultCLITests.swift.
import Foundation
import Testing
@testable import TandemFormat

@Suite("Writer faults") struct WriterFaultTests {
    struct Injected: Error {}

    static func writer() -> TandemFileWriter {
        let tensors = (0..<4).map { TensorPlan(name: "layer.\($0).weight", dtype: .f32, shape: [64, 64]) }
        return TandemFileWriter(metadata: WriterReaderTests.metadata(tensors.map(\.name)), tensors: tensors,
                                blobs: [BlobPlan(name: "tokenizer/spiece.model", encoding: .raw, content: Array("spm".utf8))])
    }

    /// The names in `dir`, sorted.
    static func leftovers(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
    }

    @Test func failureMidWriteLeavesNoFile() throws {
        let dir = Fixtures.temporary("writer-fault")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/model.tandem"
        var produced = 0
        #expect(throws: Injected.self) {
            try Self.writer().write(to: path) { plan, out in
                // Two tensors reach the file, then the source fails.
                if produced == 2 { throw Injected() }
                produced += 1
                out.initializeMemory(as: UInt8.self, repeating: UInt8(produced))
            }
        }
        #expect(produced == 2)
        #expect(Self.leftovers(dir).isEmpty, "left behind: \(Self.leftovers(dir))")
    }

    @Test func failedRewriteKeepsTheOldFile() throws {
        let dir = Fixtures.temporary("writer-fault")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/model.tandem"
        try Self.writer().write(to: path) { _, out in out.initializeMemory(as: UInt8.self, repeating: 7) }
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(throws: Injected.self) {
            try Self.writer().write(to: path) { plan, _ in
                if plan.name == "layer.3.weight" { throw Injected() }
            }
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(Self.leftovers(dir) == ["model.tandem"])
        _ = try TandemFile(path: path, verifyChecksums: true)
    }

    /// The error an I/O failure gives names the temporary file and the reason in one line.
    @Test func writeErrorsReadAsOneLine() {
        let e = TandemFileWriter.WriteError.io(path: "/x/model.tandem.tmp-1", reason: "File too large")
        #expect(e.description == "cannot write /x/model.tandem.tmp-1: File too large")
    }
}
