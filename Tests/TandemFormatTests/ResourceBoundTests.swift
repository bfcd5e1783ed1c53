// Issue 8, item 3: files that declare absurd sizes — a 2^60-element tensor, a 10^9-entry
// vocabulary, a 4 GiB metadata string — are refused, with the error naming the lie, before
// anything is allocated in proportion to it. Each case states the exact error, so a reader that
// lost its bound (and, say, reserved 10^9 strings or trusted a 4 GiB length) fails here.
import Foundation
import Testing
@testable import TandemFormat
import TandemTestSupport

@Suite("Resource bounds") struct ResourceBoundTests {
    func error(_ file: RawFile) -> FormatError? {
        do { _ = try file.open(); return nil } catch { return error }
    }

    // MARK: .tandem

    @Test func tensorOfTwoToTheSixtyElements() {
        // Shape [2^30, 2^30] as f32 is 2^62 bytes; the directory says 256.
        var f = RawFile.valid()
        f.entries[0].dims = [1 << 30, 1 << 30]
        #expect(error(f) == .shapeMismatch(
            tensor: "a.weight", detail: "shape [1073741824, 1073741824] as f32 needs 4611686018427387904 bytes, directory says 256"))
        // The same tensor with a consistent 2^62-byte length: it lies past the data region.
        f.entries[0].stored = 1 << 62
        #expect(error(f) == .outOfBounds(what: "tensor a.weight", offset: 0, length: 1 << 62, limit: UInt64(f.data.count)))
        // As q4_0 (18 bytes per 32 elements) the byte count still fits 64 bits and is checked too.
        f = RawFile.valid()
        f.entries[0].code = DType.q4_0.rawValue
        f.entries[0].dims = [1 << 30, 1 << 30]
        #expect(error(f) == .shapeMismatch(
            tensor: "a.weight", detail: "shape [1073741824, 1073741824] as q4_0 needs 648518346341351424 bytes, directory says 256"))
    }

    @Test func metadataOfFourGiB() {
        let fourGiB: UInt64 = 4 << 30
        // Stored uncompressed: the section runs past the end of a file of a few hundred bytes.
        var f = RawFile.valid()
        f.metaStoredOverride = fourGiB
        f.metadataRawOverride = fourGiB
        let size = UInt64(f.bytes().count)
        #expect(error(f) == .outOfBounds(what: "metadata", offset: 128, length: fourGiB, limit: size))
        // LZ4 that claims to expand to 4 GiB: refused by the limit before a buffer is reserved.
        f = RawFile.valid()
        f.metadataEncoding = 1
        f.metadataRawOverride = fourGiB
        #expect(error(f) == .limitExceeded(what: "metadata size", value: fourGiB, limit: TandemLayout.maxMetadataBytes))
        // A tokenizer blob (LZ4) that claims 4 GiB of raw bytes.
        f = RawFile.valid()
        f.entries[2].code = BlobEncoding.lz4.rawValue
        f.entries[2].raw = fourGiB
        #expect(error(f) == .limitExceeded(what: "blob tok size", value: fourGiB, limit: TandemLayout.maxBlobBytes))
    }

    // MARK: GGUF

    /// A GGUF header with `general.architecture` = llama and then `rest` (one more key/value).
    func gguf(_ rest: (inout GGUFBytes) -> Void) -> [UInt8] {
        var b = GGUFBytes()
        b.header(tensors: 0, kvs: 2)
        b.string("general.architecture"); b.u32(GGUFValueType.string.rawValue); b.string("llama")
        rest(&b)
        return b.bytes
    }

    @Test func vocabularyOfTenToTheNineEntries() {
        var at = 0
        let bytes = gguf { b in
            b.string("tokenizer.ggml.tokens"); b.u32(GGUFValueType.array.rawValue); b.u32(GGUFValueType.string.rawValue)
            b.u64(1_000_000_000)
            at = b.bytes.count
            b.string("<unk>"); b.string("<s>"); b.string("</s>")
        }
        // Each string takes at least its 8-byte length: 8·10^9 bytes are needed from `at`.
        #expect(ggufError(bytes) == .truncated(
            what: "GGUF array tokenizer.ggml.tokens: STRING count 1000000000", needed: UInt64(at) + 8_000_000_000, actual: UInt64(bytes.count)))
        // The same for the scores (f32) and token types (i32) that come with a vocabulary.
        for (key, type) in [("tokenizer.ggml.scores", GGUFValueType.float32), ("tokenizer.ggml.token_type", .int32)] {
            var start = 0
            let b2 = gguf { b in
                b.string(key); b.u32(GGUFValueType.array.rawValue); b.u32(type.rawValue); b.u64(1_000_000_000)
                start = b.bytes.count
                b.bytes += [UInt8](repeating: 0, count: 64)
            }
            #expect(ggufError(b2) == .truncated(
                what: "GGUF array \(key): \(type) count 1000000000", needed: UInt64(start) + 4_000_000_000, actual: UInt64(b2.count)))
        }
    }

    @Test func metadataStringOfFourGiB() {
        let fourGiB: UInt64 = 4 << 30
        var at = 0
        let value = gguf { b in
            b.string("general.name"); b.u32(GGUFValueType.string.rawValue); b.u64(fourGiB)
            at = b.bytes.count
            b.bytes += Array("SmolLM2".utf8)
        }
        #expect(ggufError(value) == .truncated(
            what: "GGUF value of general.name of 4294967296 bytes", needed: UInt64(at) + fourGiB, actual: UInt64(value.count)))
        // One 4 GiB token inside a vocabulary array.
        let element = gguf { b in
            b.string("tokenizer.ggml.tokens"); b.u32(GGUFValueType.array.rawValue); b.u32(GGUFValueType.string.rawValue)
            b.u64(1); b.u64(fourGiB)
            at = b.bytes.count
            b.bytes += Array("hello".utf8)
        }
        #expect(ggufError(element) == .truncated(
            what: "GGUF element of tokenizer.ggml.tokens of 4294967296 bytes", needed: UInt64(at) + fourGiB, actual: UInt64(element.count)))
        // A 4 GiB key.
        var key = GGUFBytes()
        key.header(tensors: 0, kvs: 1)
        key.u64(fourGiB)
        key.bytes += Array("general".utf8)
        #expect(ggufError(key.bytes) == .truncated(
            what: "GGUF metadata key of 4294967296 bytes", needed: 32 + fourGiB, actual: UInt64(key.bytes.count)))
    }
}
