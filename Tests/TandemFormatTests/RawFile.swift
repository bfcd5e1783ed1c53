import Foundation
@testable import TandemFormat

/// Builds Tandem files byte by byte from Formats/FORMAT.md, independently of the writer, so
/// tests can make files that are wrong in exactly one way.
struct RawEntry {
    var kind: UInt8 = 0
    var code: UInt8 = DType.f32.rawValue
    var dims: [UInt64]
    var name: String
    var offset: UInt64
    var stored: UInt64
    var raw: UInt64? = nil
    var checksum: UInt64? = nil
    var lengthOverride: UInt32? = nil
    var nameLengthOverride: UInt32? = nil
}

struct RawFile {
    var magic = TandemLayout.magic
    var version: UInt32 = 1
    var flags: UInt32 = 0
    var alignment: UInt64 = 64
    var metadata: [UInt8]
    var metadataEncoding: UInt32 = 0
    var metadataRawOverride: UInt64? = nil
    var entries: [RawEntry]
    var data: [UInt8]
    var entryCountOverride: UInt32? = nil
    var fileLengthOverride: UInt64? = nil
    var dataLengthOverride: UInt64? = nil
    var dirLengthOverride: UInt64? = nil
    var metaStoredOverride: UInt64? = nil
    var reservedByte: UInt8 = 0
    var fixHeaderChecksum = true

    static let metadataJSON = """
        {"format":"tandem","kind":"model","models":{"model":{"architecture":"t5","part":"full","prefix":"","config":{"d_model":32},"tokenizer":"main"}},\
        "tokenizers":{"main":{"type":"sentencepiece","blob":"tok","extra":{}}},"generation":{},\
        "provenance":{"sources":["x"],"converter":"test","created":"now","defaultDType":"f32","keepRules":[],"tensors":{}}}
        """

    /// A small valid file: two f32 [2, 32] tensors and a 10-byte raw blob.
    static func valid() -> RawFile {
        var data = [UInt8](repeating: 0, count: 64 * 9)
        for i in 0..<256 { data[i] = UInt8(i & 0xFF) }
        for i in 0..<256 { data[256 + i] = UInt8((i * 7) & 0xFF) }
        for i in 0..<10 { data[512 + i] = UInt8(65 + i) }
        return RawFile(
            metadata: Array(metadataJSON.utf8),
            entries: [
                RawEntry(dims: [2, 32], name: "a.weight", offset: 0, stored: 256),
                RawEntry(dims: [2, 32], name: "b.weight", offset: 256, stored: 256),
                RawEntry(kind: 1, code: 0, dims: [], name: "tok", offset: 512, stored: 10),
            ],
            data: data)
    }

    func entryBytes(_ e: RawEntry) -> [UInt8] {
        var b: [UInt8] = []
        let name = Array(e.name.utf8)
        let natural: Int = (48 + 8 * e.dims.count + name.count + 7) & ~7
        let length: UInt32 = e.lengthOverride ?? UInt32(natural)
        b.append(le: length)
        b += [e.kind, e.code, UInt8(truncatingIfNeeded: e.dims.count), 0]
        b.append(le: e.nameLengthOverride ?? UInt32(name.count))
        b.append(le: UInt32(0))
        b.append(le: e.offset)
        b.append(le: e.stored)
        b.append(le: e.raw ?? e.stored)
        let inData = e.offset <= UInt64(data.count) && e.stored <= UInt64(data.count) - e.offset
        let checksum = e.checksum ?? (inData ? XXH64.hash(Array(data[Int(e.offset)..<Int(e.offset + e.stored)])) : 0)
        b.append(le: checksum)
        for d in e.dims { b.append(le: d) }
        b += name
        while b.count % 8 != 0 { b.append(0) }
        return b
    }

    func bytes() -> [UInt8] {
        let directory = entries.flatMap(entryBytes)
        let metaOffset = 128
        let dirOffset = (metaOffset + metadata.count + 7) / 8 * 8
        let dataOffset = (dirOffset + directory.count + Int(alignment) - 1) / Int(alignment) * Int(alignment)
        let fileLength = dataOffset + data.count
        var out = [UInt8](repeating: 0, count: fileLength)
        for (i, m) in magic.enumerated() { out[i] = m }
        out.put(le: version, at: 8)
        out.put(le: flags, at: 12)
        out.put(le: fileLengthOverride ?? UInt64(fileLength), at: 16)
        out.put(le: UInt64(metaOffset), at: 24)
        out.put(le: metaStoredOverride ?? UInt64(metadata.count), at: 32)
        out.put(le: metadataRawOverride ?? UInt64(metadata.count), at: 40)
        out.put(le: metadataEncoding, at: 48)
        out.put(le: entryCountOverride ?? UInt32(entries.count), at: 52)
        out.put(le: UInt64(dirOffset), at: 56)
        out.put(le: dirLengthOverride ?? UInt64(directory.count), at: 64)
        out.put(le: UInt64(dataOffset), at: 72)
        out.put(le: dataLengthOverride ?? UInt64(data.count), at: 80)
        out.put(le: alignment, at: 88)
        out[110] = reservedByte
        out.replaceSubrange(metaOffset..<metaOffset + metadata.count, with: metadata)
        out.replaceSubrange(dirOffset..<dirOffset + directory.count, with: directory)
        out.replaceSubrange(dataOffset..<dataOffset + data.count, with: data)
        if fixHeaderChecksum {
            var h = XXH64()
            Array(out[0..<96]).withUnsafeBytes { h.update($0) }
            metadata.withUnsafeBytes { h.update($0) }
            directory.withUnsafeBytes { h.update($0) }
            out.put(le: h.finalize(), at: 96)
        }
        return out
    }

    /// Writes the file and tries to open it.
    func open(verify: Bool = false) throws(FormatError) -> TandemFile {
        let path = Fixtures.temporary("raw.tandem")
        FileManager.default.createFile(atPath: path, contents: Data(bytes()))
        defer { unlink(path) }
        return try TandemFile(path: path, verifyChecksums: verify)
    }
}
