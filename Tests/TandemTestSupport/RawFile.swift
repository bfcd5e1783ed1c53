// Test support shared by the format and CLI tests.
import Foundation
import TandemFormat

/// Builds Tandem files byte by byte from Formats/FORMAT.md, independently of the writer, so
/// tests can make files that are wrong in exactly one way.
public struct RawEntry {
    public var kind: UInt8 = 0
    public var code: UInt8 = DType.f32.rawValue
    public var dims: [UInt64]
    public var name: String
    public var offset: UInt64
    public var stored: UInt64
    public var raw: UInt64? = nil
    public var checksum: UInt64? = nil
    public var lengthOverride: UInt32? = nil
    public var nameLengthOverride: UInt32? = nil

    public init(kind: UInt8 = 0, code: UInt8 = DType.f32.rawValue, dims: [UInt64], name: String, offset: UInt64, stored: UInt64,
                raw: UInt64? = nil, checksum: UInt64? = nil, lengthOverride: UInt32? = nil, nameLengthOverride: UInt32? = nil) {
        self.kind = kind
        self.code = code
        self.dims = dims
        self.name = name
        self.offset = offset
        self.stored = stored
        self.raw = raw
        self.checksum = checksum
        self.lengthOverride = lengthOverride
        self.nameLengthOverride = nameLengthOverride
    }
}

public struct RawFile {
    public var magic = TandemLayout.magic
    public var version: UInt32 = 1
    public var flags: UInt32 = 0
    public var alignment: UInt64 = 64
    public var metadata: [UInt8]
    public var metadataEncoding: UInt32 = 0
    public var metadataRawOverride: UInt64? = nil
    public var entries: [RawEntry]
    public var data: [UInt8]
    public var entryCountOverride: UInt32? = nil
    public var fileLengthOverride: UInt64? = nil
    public var dataLengthOverride: UInt64? = nil
    public var dirLengthOverride: UInt64? = nil
    public var metaStoredOverride: UInt64? = nil
    public var reservedByte: UInt8 = 0
    public var fixHeaderChecksum = true

    public static let metadataJSON = """
        {"format":"tandem","kind":"model","models":{"model":{"architecture":"t5","part":"full","prefix":"","config":{"d_model":32},"tokenizer":"main"}},\
        "tokenizers":{"main":{"type":"sentencepiece","blob":"tok","extra":{}}},"generation":{},\
        "provenance":{"sources":["x"],"converter":"test","created":"now","defaultDType":"f32","keepRules":[],"tensors":{}}}
        """

    /// A small valid file: two f32 [2, 32] tensors and a 10-byte raw blob.
    public static func valid() -> RawFile {
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

    public func entryBytes(_ e: RawEntry) -> [UInt8] {
        var b: [UInt8] = []
        let name = Array(e.name.utf8)
        let natural: Int = (48 + 8 * e.dims.count + name.count + 7) & ~7
        let length: UInt32 = e.lengthOverride ?? UInt32(natural)
        b.appendLE(length)
        b += [e.kind, e.code, UInt8(truncatingIfNeeded: e.dims.count), 0]
        b.appendLE(e.nameLengthOverride ?? UInt32(name.count))
        b.appendLE(UInt32(0))
        b.appendLE(e.offset)
        b.appendLE(e.stored)
        b.appendLE(e.raw ?? e.stored)
        let inData = e.offset <= UInt64(data.count) && e.stored <= UInt64(data.count) - e.offset
        let checksum = e.checksum ?? (inData ? XXH64.hash(Array(data[Int(e.offset)..<Int(e.offset + e.stored)])) : 0)
        b.appendLE(checksum)
        for d in e.dims { b.appendLE(d) }
        b += name
        while b.count % 8 != 0 { b.append(0) }
        return b
    }

    public func bytes() -> [UInt8] {
        let directory = entries.flatMap(entryBytes)
        let metaOffset = 128
        let dirOffset = (metaOffset + metadata.count + 7) / 8 * 8
        let dataOffset = (dirOffset + directory.count + Int(alignment) - 1) / Int(alignment) * Int(alignment)
        let fileLength = dataOffset + data.count
        var out = [UInt8](repeating: 0, count: fileLength)
        for (i, m) in magic.enumerated() { out[i] = m }
        out.putLE(version, at: 8)
        out.putLE(flags, at: 12)
        out.putLE(fileLengthOverride ?? UInt64(fileLength), at: 16)
        out.putLE(UInt64(metaOffset), at: 24)
        out.putLE(metaStoredOverride ?? UInt64(metadata.count), at: 32)
        out.putLE(metadataRawOverride ?? UInt64(metadata.count), at: 40)
        out.putLE(metadataEncoding, at: 48)
        out.putLE(entryCountOverride ?? UInt32(entries.count), at: 52)
        out.putLE(UInt64(dirOffset), at: 56)
        out.putLE(dirLengthOverride ?? UInt64(directory.count), at: 64)
        out.putLE(UInt64(dataOffset), at: 72)
        out.putLE(dataLengthOverride ?? UInt64(data.count), at: 80)
        out.putLE(alignment, at: 88)
        out[110] = reservedByte
        out.replaceSubrange(metaOffset..<metaOffset + metadata.count, with: metadata)
        out.replaceSubrange(dirOffset..<dirOffset + directory.count, with: directory)
        out.replaceSubrange(dataOffset..<dataOffset + data.count, with: data)
        if fixHeaderChecksum {
            var h = XXH64()
            Array(out[0..<96]).withUnsafeBytes { h.update($0) }
            metadata.withUnsafeBytes { h.update($0) }
            directory.withUnsafeBytes { h.update($0) }
            out.putLE(h.finalize(), at: 96)
        }
        return out
    }

    /// Writes the file to `path`.
    public func write(to path: String) {
        FileManager.default.createFile(atPath: path, contents: Data(bytes()))
    }

    /// Writes the file and tries to open it.
    public func open(verify: Bool = false) throws(FormatError) -> TandemFile {
        let path = Scratch.unique("raw.tandem")
        FileManager.default.createFile(atPath: path, contents: Data(bytes()))
        defer { unlink(path) }
        return try TandemFile(path: path, verifyChecksums: verify)
    }
}

extension Array where Element == UInt8 {
    mutating func appendLE(_ v: UInt64) { for i in 0..<8 { append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) } }
    mutating func appendLE(_ v: UInt32) { for i in 0..<4 { append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) } }
    mutating func putLE(_ v: UInt64, at o: Int) { for i in 0..<8 { self[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) } }
    mutating func putLE(_ v: UInt32, at o: Int) { for i in 0..<4 { self[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) } }
}
