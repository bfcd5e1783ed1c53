// The GGUF reader on valid files (the committed fixtures, written by gguf-py) and on hostile
// ones: each crafted file must be refused with the FormatError case named in the test, never a
// crash, a hang or an allocation the file's size does not justify (issue 8; the CVEs in
// GGUFFile.swift's header).
import Foundation
import Testing
@testable import TandemFormat

/// Builds GGUF bytes field by field, so a test can write exactly the lie it wants.
struct GGUFBytes {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func string(_ s: String) { u64(UInt64(s.utf8.count)); bytes += Array(s.utf8) }
    mutating func header(version: UInt32 = 3, tensors: UInt64, kvs: UInt64) {
        bytes += Array("GGUF".utf8)
        u32(version); u64(tensors); u64(kvs)
    }
    mutating func kvU32(_ key: String, _ v: UInt32) { string(key); u32(GGUFValueType.uint32.rawValue); u32(v) }
    mutating func tensor(_ name: String, dims: [UInt64], type: UInt32 = GGMLType.f32.rawValue, offset: UInt64) {
        string(name); u32(UInt32(dims.count)); for d in dims { u64(d) }; u32(type); u64(offset)
    }
    /// Pads to `alignment` and appends `count` data bytes.
    mutating func data(_ count: Int, alignment: Int = 32) {
        while bytes.count % alignment != 0 { bytes.append(0) }
        bytes += [UInt8](repeating: 0x3C, count: count)
    }

    /// A valid file: tensors of f32 `dims`, laid out back to back at 32-byte alignment.
    static func valid(_ tensors: [(String, [UInt64])]) -> GGUFBytes {
        var b = GGUFBytes()
        b.header(tensors: UInt64(tensors.count), kvs: 1)
        b.string("general.architecture"); b.u32(GGUFValueType.string.rawValue); b.string("test")
        var offset: UInt64 = 0
        for (name, dims) in tensors {
            b.tensor(name, dims: dims, offset: offset)
            offset += (dims.reduce(1, *) * 4 + 31) / 32 * 32
        }
        b.data(Int(offset))
        return b
    }
}

func parseGGUF(_ bytes: [UInt8]) throws(FormatError) -> GGUFHeader {
    var result: Result<GGUFHeader, FormatError>!
    bytes.withUnsafeBytes { raw in
        do throws(FormatError) { result = .success(try GGUFHeader.parse(raw)) } catch { result = .failure(error) }
    }
    return try result.get()
}

/// The error `bytes` give, or nil if they parse.
func ggufError(_ bytes: [UInt8]) -> FormatError? {
    do { _ = try parseGGUF(bytes); return nil } catch { return error }
}

@Suite("GGUF reader") struct GGUFReaderTests {
    @Test func readsTheTinyLlamaFixture() throws {
        let file = try GGUFFile(path: Fixtures.path("Tests/Fixtures/gguf/tiny-llama-q8.gguf"))
        #expect(file.version == 3)
        #expect(file.header.alignment == 32)
        #expect(file["general.architecture"] == .string("llama"))
        #expect(file["llama.attention.head_count"]?.integer == 4)
        #expect(file["tokenizer.ggml.tokens"]?.array?.count == 264)
        #expect(file["tokenizer.ggml.token_type"]?.array?.elementType == .int32)
        #expect(file["tokenizer.ggml.add_bos_token"] == .bool(false))
        #expect(file.header.metadataKeys.first == "general.architecture")
        let q = try #require(file.tensor("blk.0.attn_q.weight"))
        #expect(q.type == .q8_0 && q.dimensions == [32, 32] && q.info.shape == [32, 32])
        #expect(q.data.count == 32 * 34)
        let embd = try #require(file.tensor("token_embd.weight"))
        #expect(embd.type == .q4_0 && embd.info.shape == [264, 32] && embd.info.rows == 264)
        #expect(file.tensors.count == 21)
        for t in file.tensorInfos { #expect(t.offset % 32 == 0) }
    }

    @Test func typeTraitsMatchGGML() {
        // Spot checks against ggml-common.h's static_asserts.
        #expect(GGMLType.q4_K.typeSize == 2 + 2 + 12 + 128 && GGMLType.q4_K.blockSize == 256)
        #expect(GGMLType.q6_K.typeSize == 128 + 64 + 16 + 2)
        #expect(GGMLType.q8_0.rowBytes(columns: 64) == 68)
        #expect(GGMLType.q4_0.rowBytes(columns: 33) == nil)
        #expect(GGMLType.q2_K.name == "Q2_K" && GGMLType.iq2_XXS.name == "IQ2_XXS")
    }

    @Test func validBuilderParses() throws {
        let h = try parseGGUF(GGUFBytes.valid([("a", [8, 2]), ("b", [4])]).bytes)
        #expect(h.tensors.map(\.name) == ["a", "b"])
        #expect(h.tensors[1].offset == h.dataOffset + 64)
    }

    @Test func badMagicAndVersions() {
        var b = GGUFBytes.valid([("a", [8])])
        b.bytes[0] = UInt8(ascii: "X")
        #expect(isUnsupported(ggufError(b.bytes)))
        for version: UInt32 in [0, 1, 4, 0x0300_0000] {
            var v = GGUFBytes.valid([("a", [8])])
            withUnsafeBytes(of: version.littleEndian) { v.bytes.replaceSubrange(4..<8, with: $0) }
            #expect(isUnsupported(ggufError(v.bytes)), "version \(version)")
        }
        #expect(ggufError([]).map(isTruncated) == true)
        #expect(ggufError(Array("GGUF".utf8)).map(isTruncated) == true)
    }

    @Test func absurdCountsAreRefusedBeforeAllocating() {
        var kv = GGUFBytes()
        kv.header(tensors: 0, kvs: 1 << 60)
        #expect(ggufError(kv.bytes).map(isTruncated) == true)

        var tensors = GGUFBytes()
        tensors.header(tensors: UInt64.max, kvs: 0)
        #expect(ggufError(tensors.bytes).map(isTruncated) == true)

        var str = GGUFBytes()
        str.header(tensors: 0, kvs: 1)
        str.u64(1 << 62)  // key length
        str.bytes += Array("key".utf8)
        #expect(ggufError(str.bytes).map(isTruncated) == true)

        var value = GGUFBytes()
        value.header(tensors: 0, kvs: 1)
        value.string("k"); value.u32(GGUFValueType.string.rawValue); value.u64(1 << 62)
        #expect(ggufError(value.bytes).map(isTruncated) == true)

        // A "vocabulary" of 10^9 u32 in a file of a few hundred bytes.
        var array = GGUFBytes()
        array.header(tensors: 0, kvs: 1)
        array.string("tokenizer.ggml.token_type"); array.u32(GGUFValueType.array.rawValue)
        array.u32(GGUFValueType.uint32.rawValue); array.u64(1_000_000_000)
        array.bytes += [UInt8](repeating: 1, count: 256)
        #expect(ggufError(array.bytes).map(isTruncated) == true)

        // 2^61 strings: count × 8 overflows 64 bits.
        var strings = GGUFBytes()
        strings.header(tensors: 0, kvs: 1)
        strings.string("k"); strings.u32(GGUFValueType.array.rawValue); strings.u32(GGUFValueType.string.rawValue)
        strings.u64(1 << 61)
        #expect(ggufError(strings.bytes).map(isTruncated) == true)
    }

    @Test func nestedArraysAreBounded() {
        func nested(_ depth: Int) -> [UInt8] {
            var b = GGUFBytes()
            b.header(tensors: 0, kvs: 1)
            b.string("deep"); b.u32(GGUFValueType.array.rawValue)
            for _ in 1..<depth { b.u32(GGUFValueType.array.rawValue); b.u64(1) }
            b.u32(GGUFValueType.uint8.rawValue); b.u64(1); b.u8(7)
            return b.bytes
        }
        #expect(ggufError(nested(GGUFLimits.maxArrayDepth)) == nil)
        guard case .limitExceeded? = ggufError(nested(GGUFLimits.maxArrayDepth + 1)) else {
            Issue.record("depth \(GGUFLimits.maxArrayDepth + 1) accepted"); return
        }
        guard case .limitExceeded? = ggufError(nested(10_000)) else { Issue.record("depth 10000 accepted"); return }
    }

    @Test func tensorInfoLies() {
        func one(dims: [UInt64], type: UInt32 = GGMLType.f32.rawValue, offset: UInt64 = 0, data: Int = 64) -> FormatError? {
            var b = GGUFBytes()
            b.header(tensors: 1, kvs: 0)
            b.tensor("t", dims: dims, type: type, offset: offset)
            b.data(data)
            return ggufError(b.bytes)
        }
        #expect(one(dims: [16]) == nil)
        if case .sizeOverflow? = one(dims: [1 << 32, 1 << 32]) {} else { Issue.record("dims product overflow") }
        if case .sizeOverflow? = one(dims: [1 << 63]) {} else { Issue.record("dim above Int64.max") }
        if case .sizeOverflow? = one(dims: [1 << 31, 1 << 31], type: GGMLType.f64.rawValue) {} else { Issue.record("byte size overflow") }
        #expect(one(dims: [16], type: 4) == .unknownDType(tensor: "t", code: 4))
        #expect(one(dims: [16], type: 999) == .unknownDType(tensor: "t", code: 999))
        if case .outOfBounds? = one(dims: [16], offset: 1 << 20) {} else { Issue.record("offset past end") }
        if case .outOfBounds? = one(dims: [16], offset: UInt64.max - 31) {} else { Issue.record("offset overflow") }
        if case .outOfBounds? = one(dims: [1 << 20]) {} else { Issue.record("size past end") }
        if case .misaligned? = one(dims: [4], offset: 4) {} else { Issue.record("misaligned offset") }
        if case .shapeMismatch? = one(dims: [33, 2], type: GGMLType.q8_0.rawValue, data: 256) {} else { Issue.record("partial block") }
        if case .limitExceeded? = one(dims: [1, 1, 1, 1, 1, 1, 1, 1, 1]) {} else { Issue.record("9 dims") }
        #expect(one(dims: []) == nil)  // a scalar: one element
        #expect(one(dims: [0, 5]) == nil)  // an empty tensor takes no bytes
    }

    @Test func overlapAndDuplicates() {
        var b = GGUFBytes()
        b.header(tensors: 2, kvs: 0)
        b.tensor("a", dims: [16], offset: 0)
        b.tensor("b", dims: [16], offset: 32)  // a is 64 bytes: b starts inside it
        b.data(128)
        #expect(ggufError(b.bytes) == .overlap("GGUF tensor a", "GGUF tensor b"))

        var d = GGUFBytes()
        d.header(tensors: 2, kvs: 0)
        d.tensor("a", dims: [8], offset: 0)
        d.tensor("a", dims: [8], offset: 32)
        d.data(64)
        #expect(ggufError(d.bytes) == .duplicateName("a"))

        var k = GGUFBytes()
        k.header(tensors: 0, kvs: 2)
        k.kvU32("x", 1); k.kvU32("x", 2)
        if case .badHeader? = ggufError(k.bytes) {} else { Issue.record("duplicate key accepted") }
    }

    @Test func alignmentRules() {
        func aligned(_ a: UInt32, type: GGUFValueType = .uint32) -> FormatError? {
            var b = GGUFBytes()
            b.header(tensors: 1, kvs: 1)
            b.string("general.alignment"); b.u32(type.rawValue)
            if type == .uint64 { b.u64(UInt64(a)) } else { b.u32(a) }
            b.tensor("t", dims: [4], offset: 0)
            b.data(16, alignment: 64)
            return ggufError(b.bytes)
        }
        #expect(aligned(64) == nil)
        #expect(aligned(1) == nil)
        for bad: UInt32 in [0, 3, 48, 0xFFFF_FFFF] {
            if case .badHeader? = aligned(bad) {} else { Issue.record("alignment \(bad) accepted") }
        }
        if case .badHeader? = aligned(64, type: .uint64) {} else { Issue.record("u64 alignment accepted") }
        // A huge power of two pushes the data section past the end of the file.
        if case .truncated? = aligned(1 << 31) {} else { Issue.record("alignment 2^31") }
    }

    @Test func stringsAndBools() {
        var u = GGUFBytes()
        u.header(tensors: 0, kvs: 1)
        u.u64(2); u.bytes += [0xC3, 0x28]; u.u32(GGUFValueType.uint8.rawValue); u.u8(0)
        if case .badHeader? = ggufError(u.bytes) {} else { Issue.record("invalid UTF-8 key accepted") }

        var bo = GGUFBytes()
        bo.header(tensors: 0, kvs: 1)
        bo.string("flag"); bo.u32(GGUFValueType.bool.rawValue); bo.u8(2)
        if case .badHeader? = ggufError(bo.bytes) {} else { Issue.record("bool 2 accepted") }

        var ty = GGUFBytes()
        ty.header(tensors: 0, kvs: 1)
        ty.string("k"); ty.u32(13); ty.u32(0)
        if case .badHeader? = ggufError(ty.bytes) {} else { Issue.record("value type 13 accepted") }

        var long = GGUFBytes()
        long.header(tensors: 1, kvs: 0)
        long.tensor(String(repeating: "n", count: 65), dims: [4], offset: 0)
        long.data(16)
        if case .limitExceeded? = ggufError(long.bytes) {} else { Issue.record("65-byte tensor name accepted") }
    }

    /// Every prefix of a real file that ends inside its header or a tensor is refused.
    @Test func truncatedAtEveryHeaderByte() throws {
        let bytes = try [UInt8](Fixtures.data("Tests/Fixtures/gguf/tiny-llama-q8.gguf"))
        let header = try parseGGUF(bytes)
        let lastEnd = header.tensors.map { $0.offset + $0.byteCount }.max()!
        var cuts = Array(0..<header.dataOffset)
        cuts += stride(from: header.dataOffset, to: lastEnd, by: 97)
        for cut in cuts {
            switch ggufError(Array(bytes[..<cut])) {
            case .truncated?, .outOfBounds?: break
            case let other: Issue.record("cut at \(cut): \(String(describing: other))")
            }
        }
    }

    /// Seeded random byte flips, splices and truncations of a valid file: each either parses or
    /// throws; a crash would end the test run. TANDEM_GGUF_MUTATIONS=N runs N instead of 2000
    /// (e.g. under AddressSanitizer, for issue 8's fuzzing counts).
    @Test func mutationsNeverCrash() throws {
        let iterations = Int(ProcessInfo.processInfo.environment["TANDEM_GGUF_MUTATIONS"] ?? "") ?? 2000
        let original = try [UInt8](Fixtures.data("Tests/Fixtures/gguf/tiny-llama-q8.gguf"))
        let headerEnd = try parseGGUF(original).dataOffset
        var rng = SplitMix64(seed: 0x6767_7566)
        var parsed = 0, refused = 0
        for _ in 0..<iterations {
            var b = original
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                // Mostly the header, where the parser's decisions are.
                let at = Int.random(in: 0..<(Bool.random(using: &rng) ? min(headerEnd, b.count) : b.count), using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: b[at] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
                case 1: b[at] = UInt8.random(in: 0...255, using: &rng)
                case 2: b[at] = [0x00, 0xFF, 0x7F, 0x80][Int.random(in: 0..<4, using: &rng)]
                default: b = Array(b[..<at])
                }
                if b.isEmpty { break }
            }
            if let header = try? parseGGUF(b) {
                parsed += 1
                // What parses must be usable: every tensor view inside the buffer, dequantizable.
                for t in header.tensors {
                    #expect(t.offset + t.byteCount <= b.count)
                    if t.type.canDequantize, t.elementCount <= 1 << 16 {
                        var out = [Float](repeating: 0, count: t.columns)
                        b.withUnsafeBytes { raw in
                            let row = t.type.rowBytes(columns: t.columns)!
                            out.withUnsafeMutableBufferPointer { t.type.dequantizeRow(UnsafeRawBufferPointer(rebasing: raw[t.offset..<t.offset + row]), into: $0) }
                        }
                    }
                }
            } else {
                refused += 1
            }
        }
        print("GGUF mutations: \(parsed) parsed, \(refused) refused, 0 crashes")
        #expect(parsed + refused == iterations)
        #expect(refused > 0 && parsed > 0)
    }
}

private func isTruncated(_ e: FormatError) -> Bool { if case .truncated = e { true } else { false } }
private func isUnsupported(_ e: FormatError?) -> Bool { if case .unsupportedGGUF? = e { true } else { false } }
