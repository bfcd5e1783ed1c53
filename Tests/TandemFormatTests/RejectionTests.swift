import Foundation
import Testing
@testable import TandemFormat
import TandemTestSupport

/// One test per rejection rule of Formats/FORMAT.md §8: each bad file gives its own error.
struct RejectionTests {
    func rejects(_ file: RawFile, verify: Bool = false, _ check: (FormatError) -> Bool, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try file.open(verify: verify)
            Issue.record("file was accepted", sourceLocation: sourceLocation)
        } catch {
            #expect(check(error), "got \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func validBaseFileLoads() throws {
        let f = try RawFile.valid().open(verify: true)
        #expect(f.tensors.map(\.name) == ["a.weight", "b.weight"])
        #expect(try f.blob("tok") == Array("ABCDEFGHIJ".utf8))
    }

    @Test func truncatedFile() throws {
        let bytes = RawFile.valid().bytes()
        for cut in [0, 7, 64, 127, 128, 300, bytes.count - 1] {
            let path = Fixtures.temporary("cut.tandem")
            FileManager.default.createFile(atPath: path, contents: Data(bytes[0..<cut]))
            defer { unlink(path) }
            #expect {
                _ = try TandemFile(path: path)
            } throws: { e in
                if case .truncated = e as? FormatError { return true }
                return false
            }
        }
    }

    @Test func wrongMagic() {
        var f = RawFile.valid()
        f.magic = Array("GGUF\u{3}\0\0\0".utf8)
        rejects(f) { $0 == .badMagic }
    }

    @Test func futureVersion() {
        var f = RawFile.valid()
        f.version = 2
        rejects(f) { $0 == .unsupportedVersion(2) }
        f.version = 0
        rejects(f) { $0 == .unsupportedVersion(0) }
    }

    @Test func reservedFieldsAndFlags() {
        var f = RawFile.valid()
        f.flags = 1
        rejects(f) { if case .reservedField = $0 { true } else { false } }
        f = RawFile.valid()
        f.reservedByte = 9
        rejects(f) { if case .reservedField = $0 { true } else { false } }
    }

    @Test func trailingBytes() {
        var f = RawFile.valid()
        f.fileLengthOverride = UInt64(f.bytes().count - 64)
        rejects(f) { if case .trailingBytes = $0 { true } else { false } }
    }

    @Test func badAlignment() {
        var f = RawFile.valid()
        f.alignment = 96
        rejects(f) { if case .badHeader = $0 { true } else { false } }
    }

    @Test func offsetPastTheEnd() {
        var f = RawFile.valid()
        f.entries[1].offset = UInt64(f.data.count)
        rejects(f) { if case let .outOfBounds(what, _, _, _) = $0 { what == "tensor b.weight" } else { false } }
        // A section past the end of the file.
        f = RawFile.valid()
        f.dataLengthOverride = UInt64(f.data.count + 64)
        rejects(f) { if case let .outOfBounds(what, _, _, _) = $0 { what == "data region" } else { false } }
    }

    @Test func overlappingTensors() {
        var f = RawFile.valid()
        f.entries[1].offset = 192
        rejects(f) { if case .overlap = $0 { true } else { false } }
    }

    @Test func misalignedTensor() {
        var f = RawFile.valid()
        f.entries[1].offset = 260
        rejects(f) { if case .misaligned = $0 { true } else { false } }
    }

    @Test func shapeAndSizeDisagree() {
        var f = RawFile.valid()
        f.entries[0].dims = [3, 32]
        rejects(f) { if case let .shapeMismatch(t, _) = $0 { t == "a.weight" } else { false } }
        // A q8_0 row that is not whole blocks.
        f = RawFile.valid()
        f.entries[0].code = DType.q8_0.rawValue
        f.entries[0].dims = [1, 40]
        rejects(f) { if case .shapeMismatch = $0 { true } else { false } }
    }

    @Test func sizesThatOverflow() {
        var f = RawFile.valid()
        f.entries[0].dims = [1 << 40, 1 << 40]
        rejects(f) { if case .sizeOverflow = $0 { true } else { false } }
        f = RawFile.valid()
        f.entries[0].dims = [1 << 62]
        rejects(f) { if case .sizeOverflow = $0 { true } else { false } }
        f = RawFile.valid()
        f.entries[1].offset = UInt64.max - 63
        rejects(f) { if case .sizeOverflow = $0 { true } else { false } }
    }

    @Test func malformedJSON() {
        var f = RawFile.valid()
        f.metadata = Array("{\"format\": \"tandem\", ".utf8)
        rejects(f) { if case .malformedJSON = $0 { true } else { false } }
        f.metadata = [0xFF, 0xFE, 0x7B, 0x7D]
        rejects(f) { if case .malformedJSON = $0 { true } else { false } }
    }

    @Test func metadataSchema() {
        var f = RawFile.valid()
        f.metadata = Array(RawFile.metadataJSON.replacingOccurrences(of: "\"blob\":\"tok\"", with: "\"blob\":\"missing\"").utf8)
        rejects(f) { if case .schema = $0 { true } else { false } }
        f.metadata = Array(RawFile.metadataJSON.replacingOccurrences(of: "\"kind\":\"model\"", with: "\"kind\":7").utf8)
        rejects(f) { if case .schema = $0 { true } else { false } }
    }

    @Test func unknownDType() {
        var f = RawFile.valid()
        f.entries[0].code = 77
        rejects(f) { $0 == .unknownDType(tensor: "a.weight", code: 77) }
    }

    @Test func unknownEntryKindAndEncoding() {
        var f = RawFile.valid()
        f.entries[2].kind = 5
        rejects(f) { if case .unknownEntryKind = $0 { true } else { false } }
        f = RawFile.valid()
        f.metadataEncoding = 9
        rejects(f) { if case .badHeader = $0 { true } else { false } }
    }

    @Test func badNames() {
        var f = RawFile.valid()
        f.entries[1].name = "a.weight"
        rejects(f) { $0 == .duplicateName("a.weight") }
        f = RawFile.valid()
        f.entries[1].name = ""
        rejects(f) { if case .badName = $0 { true } else { false } }
    }

    @Test func badEntryLength() {
        var f = RawFile.valid()
        f.entries[0].lengthOverride = 1000
        rejects(f) { if case .badHeader = $0 { true } else { false } }
        f = RawFile.valid()
        f.entries[0].dims = [1, 1, 1, 1, 1, 1, 1, 1, 64]
        rejects(f) { if case .limitExceeded = $0 { true } else { false } }
    }

    @Test func hostileSizesAreRefusedBeforeAllocating() {
        var f = RawFile.valid()
        f.metaStoredOverride = 1 << 42
        rejects(f) { if case .outOfBounds = $0 { true } else { false } }
        f = RawFile.valid()
        f.metadataEncoding = 1
        f.metadataRawOverride = 4 << 30
        rejects(f) { if case .limitExceeded = $0 { true } else { false } }
        f = RawFile.valid()
        f.entryCountOverride = 1_000_000_000
        rejects(f) { if case .limitExceeded = $0 { true } else { false } }
        f = RawFile.valid()
        f.entries[2].raw = 1 << 40
        f.entries[2].code = BlobEncoding.lz4.rawValue
        rejects(f) { if case .limitExceeded = $0 { true } else { false } }
    }

    @Test func corruptLZ4Metadata() {
        var f = RawFile.valid()
        f.metadataEncoding = 1
        f.metadataRawOverride = 5000
        rejects(f) { if case .compression = $0 { true } else { false } }
    }

    @Test func headerChecksum() {
        var f = RawFile.valid()
        f.fixHeaderChecksum = false
        rejects(f) { $0 == .headerChecksumMismatch }
    }

    @Test func tensorChecksumOnVerify() throws {
        var f = RawFile.valid()
        f.entries[1].checksum = 12345
        _ = try f.open(verify: false)
        rejects(f, verify: true) { $0 == .checksumMismatch(tensor: "b.weight") }
    }

    @Test func everyErrorReadsAsOneLine() {
        let errors: [FormatError] = [
            .truncated(what: "x", needed: 1, actual: 0), .badMagic, .unsupportedVersion(9), .overlap("a", "b"),
            .sizeOverflow("x"), .malformedJSON(what: "m", detail: "d"), .unknownDType(tensor: "t", code: 3),
            .shapeMismatch(tensor: "t", detail: "d"), .headerChecksumMismatch,
        ]
        for e in errors { #expect(!e.description.contains("\n") && !e.description.isEmpty) }
    }
}
