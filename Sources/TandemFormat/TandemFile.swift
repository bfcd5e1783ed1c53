// Reader for Tandem weight files, format v1.
// The byte-level contract, and the list of everything a reader must reject, is
// Formats/FORMAT.md; this file implements its §2–§8 in order.
//
// Every field is validated before it is used: section bounds with overflow-checked arithmetic,
// the header checksum, each directory entry (name, dtype, rank, shape × dtype = byte length,
// alignment, bounds), overlaps, and the metadata schema. Nothing is allocated in proportion to
// the weights: tensors are views into the read-only mapping.
import Foundation

/// One tensor's directory entry.
public struct TensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: DType
    /// Outermost dimension first (row-major); a matrix is [rows, columns].
    public let shape: [Int]
    /// Absolute offset of the first byte in the file.
    public let offset: UInt64
    public let byteCount: Int
    /// XXH64 of the tensor's bytes.
    public let checksum: UInt64

    public var elementCount: Int { shape.reduce(1, *) }
}

/// One blob's directory entry (tokenizer files and other non-tensor bytes).
public struct BlobInfo: Sendable, Equatable {
    public let name: String
    public let encoding: BlobEncoding
    public let offset: UInt64
    public let storedCount: Int
    public let rawCount: Int
    public let checksum: UInt64
}

/// A tensor in place: `data` points into the file's mapping and stays valid while the
/// `TandemFile` that produced it is alive.
public struct TensorView: @unchecked Sendable {
    public let info: TensorInfo
    public let data: UnsafeRawBufferPointer
    public var name: String { info.name }
    public var dtype: DType { info.dtype }
    public var shape: [Int] { info.shape }
}

/// Sizes of the file's sections, for `tandem inspect`.
public struct SectionSizes: Sendable, Codable, Equatable {
    public var fileBytes: UInt64
    public var preambleBytes: UInt64
    public var metadataStored: UInt64
    public var metadataRaw: UInt64
    public var metadataEncoding: String
    public var directoryBytes: UInt64
    public var tensorBytes: UInt64
    public var blobStored: UInt64
    public var blobRaw: UInt64
}

/// An open, validated Tandem file.
public final class TandemFile: @unchecked Sendable {
    public let path: String
    public let version: UInt32
    public let metadata: TandemMetadata
    /// Tensors in directory order.
    public let tensors: [TensorInfo]
    public let blobs: [BlobInfo]
    public let sections: SectionSizes
    public let alignment: UInt64
    private let file: MappedFile
    private let tensorIndex: [String: Int]
    private let blobIndex: [String: Int]

    /// Maps and validates `path`. With `verifyChecksums`, also hashes every tensor and blob.
    public init(path: String, verifyChecksums: Bool = false) throws(FormatError) {
        self.path = path
        file = try MappedFile(path: path)
        let parsed = try Self.parse(file.bytes)
        version = parsed.version
        tensors = parsed.tensors
        blobs = parsed.blobs
        sections = parsed.sections
        alignment = parsed.alignment
        var ti: [String: Int] = [:]
        for (i, t) in tensors.enumerated() { ti[t.name] = i }
        var bi: [String: Int] = [:]
        for (i, b) in blobs.enumerated() { bi[b.name] = i }
        tensorIndex = ti
        blobIndex = bi
        let bytes = file.bytes
        let metaStored = UnsafeRawBufferPointer(rebasing: bytes[parsed.metaRange])
        let metaRaw: [UInt8]
        switch parsed.metaEncoding {
        case .raw: metaRaw = Array(metaStored)
        default:
            metaRaw = try LZ4.decode(metaStored, as: parsed.metaEncoding, rawCount: Int(parsed.sections.metadataRaw), what: "metadata")
        }
        metadata = try TandemMetadata.decode(Data(metaRaw), tensorNames: Set(ti.keys), blobNames: Set(bi.keys))
        if verifyChecksums { try verify() }
    }

    public func tensor(_ name: String) -> TensorView? {
        guard let i = tensorIndex[name] else { return nil }
        return view(tensors[i])
    }

    public func view(_ info: TensorInfo) -> TensorView {
        TensorView(info: info, data: UnsafeRawBufferPointer(rebasing: file.bytes[Int(info.offset)..<Int(info.offset) + info.byteCount]))
    }

    public func blobInfo(_ name: String) -> BlobInfo? { blobIndex[name].map { blobs[$0] } }

    /// The decoded content of a blob (decompressed if stored with LZ4).
    public func blob(_ name: String) throws(FormatError) -> [UInt8] {
        guard let i = blobIndex[name] else { throw .missing(what: "blob \(name)") }
        let b = blobs[i]
        let stored = UnsafeRawBufferPointer(rebasing: file.bytes[Int(b.offset)..<Int(b.offset) + b.storedCount])
        return try LZ4.decode(stored, as: b.encoding, rawCount: b.rawCount, what: "blob \(name)")
    }

    /// Hashes every tensor and blob and compares with the directory.
    public func verify() throws(FormatError) {
        for t in tensors where XXH64.hash(view(t).data) != t.checksum {
            throw .checksumMismatch(tensor: t.name)
        }
        for b in blobs {
            let stored = UnsafeRawBufferPointer(rebasing: file.bytes[Int(b.offset)..<Int(b.offset) + b.storedCount])
            if XXH64.hash(stored) != b.checksum { throw .checksumMismatch(tensor: b.name) }
        }
    }

    /// Advises the kernel that the whole file will be read soon.
    public func prefetch() { file.willNeed() }

    // MARK: - Parsing (Formats/FORMAT.md §2–§8)

    struct Parsed {
        var version: UInt32
        var alignment: UInt64
        var metaRange: Range<Int>
        var metaEncoding: BlobEncoding
        var tensors: [TensorInfo]
        var blobs: [BlobInfo]
        var sections: SectionSizes
    }

    static func parse(_ bytes: UnsafeRawBufferPointer) throws(FormatError) -> Parsed {
        let size = UInt64(bytes.count)
        let L = TandemLayout.self
        guard size >= UInt64(L.preambleSize) else {
            if size >= 8, !zip(bytes.prefix(8), L.magic).allSatisfy({ $0 == $1 }) { throw .badMagic }
            throw .truncated(what: "preamble", needed: UInt64(L.preambleSize), actual: size)
        }
        guard bytes.prefix(8).elementsEqual(L.magic) else { throw .badMagic }
        let version = bytes.u32(L.offVersion)
        guard version >= 1, version <= L.version else { throw .unsupportedVersion(version) }
        guard bytes.u32(L.offFlags) == 0 else { throw .reservedField("flags") }
        guard bytes[L.reservedRange].allSatisfy({ $0 == 0 }) else { throw .reservedField("preamble bytes 104–127") }

        let fileLength = bytes.u64(L.offFileLength)
        if size < fileLength { throw .truncated(what: "file", needed: fileLength, actual: size) }
        if size > fileLength { throw .trailingBytes(expected: fileLength, actual: size) }

        let alignment = bytes.u64(L.offAlignment)
        guard alignment >= L.minAlignment, alignment <= 1 << 20, alignment & (alignment - 1) == 0 else {
            throw .badHeader("alignment \(alignment) is not a power of two in 64…1 MiB")
        }

        // Sections: inside the file, after the preamble, not overlapping each other.
        let metaOffset = bytes.u64(L.offMetaOffset), metaStored = bytes.u64(L.offMetaStored)
        let metaRaw = bytes.u64(L.offMetaRaw)
        let dirOffset = bytes.u64(L.offDirOffset), dirLength = bytes.u64(L.offDirLength)
        let dataOffset = bytes.u64(L.offDataOffset), dataLength = bytes.u64(L.offDataLength)
        let sections = [("metadata", metaOffset, metaStored), ("directory", dirOffset, dirLength), ("data region", dataOffset, dataLength)]
        for (name, off, len) in sections {
            let end = try checkedAdd(off, len, name)
            guard off >= UInt64(L.preambleSize), end <= size else {
                throw .outOfBounds(what: name, offset: off, length: len, limit: size)
            }
        }
        for i in 0..<sections.count {
            for j in (i + 1)..<sections.count {
                let a = sections[i], b = sections[j]
                if a.2 > 0, b.2 > 0, a.1 < b.1 + b.2, b.1 < a.1 + a.2 { throw .overlap(a.0, b.0) }
            }
        }
        guard dataOffset % alignment == 0 else {
            throw .misaligned(what: "data region", offset: dataOffset, alignment: alignment)
        }
        guard let metaEncoding = BlobEncoding(rawValue: UInt8(truncatingIfNeeded: bytes.u32(L.offMetaEncoding))),
              bytes.u32(L.offMetaEncoding) <= 1
        else { throw .badHeader("unknown metadata encoding \(bytes.u32(L.offMetaEncoding))") }
        guard metaStored <= L.maxMetadataBytes, metaRaw <= L.maxMetadataBytes else {
            throw .limitExceeded(what: "metadata size", value: max(metaStored, metaRaw), limit: L.maxMetadataBytes)
        }
        if metaEncoding == .raw, metaStored != metaRaw {
            throw .badHeader("uncompressed metadata declares \(metaRaw) bytes but stores \(metaStored)")
        }
        guard dirLength <= L.maxDirectoryBytes else {
            throw .limitExceeded(what: "directory size", value: dirLength, limit: L.maxDirectoryBytes)
        }
        let entryCount = UInt64(bytes.u32(L.offEntryCount))
        guard entryCount <= L.maxEntries else {
            throw .limitExceeded(what: "entry count", value: entryCount, limit: L.maxEntries)
        }
        guard try checkedMul(entryCount, UInt64(L.entryFixedSize), "directory") <= dirLength else {
            throw .truncated(what: "directory of \(entryCount) entries", needed: entryCount * UInt64(L.entryFixedSize), actual: dirLength)
        }

        // The header checksum covers preamble bytes 0..<96, the stored metadata and the directory.
        let metaRange = Int(metaOffset)..<Int(metaOffset + metaStored)
        let dirRange = Int(dirOffset)..<Int(dirOffset + dirLength)
        var hasher = XXH64()
        hasher.update(UnsafeRawBufferPointer(rebasing: bytes[0..<L.offHeaderChecksum]))
        hasher.update(UnsafeRawBufferPointer(rebasing: bytes[metaRange]))
        hasher.update(UnsafeRawBufferPointer(rebasing: bytes[dirRange]))
        guard hasher.finalize() == bytes.u64(L.offHeaderChecksum) else { throw .headerChecksumMismatch }

        let (tensors, blobs) = try parseDirectory(
            UnsafeRawBufferPointer(rebasing: bytes[dirRange]), count: Int(entryCount),
            dataOffset: dataOffset, dataLength: dataLength, alignment: alignment)
        let sizes = SectionSizes(
            fileBytes: size, preambleBytes: UInt64(L.preambleSize), metadataStored: metaStored,
            metadataRaw: metaRaw, metadataEncoding: metaEncoding.name, directoryBytes: dirLength,
            tensorBytes: tensors.reduce(0) { $0 + UInt64($1.byteCount) },
            blobStored: blobs.reduce(0) { $0 + UInt64($1.storedCount) },
            blobRaw: blobs.reduce(0) { $0 + UInt64($1.rawCount) })
        return Parsed(version: version, alignment: alignment, metaRange: metaRange, metaEncoding: metaEncoding,
                      tensors: tensors, blobs: blobs, sections: sizes)
    }

    static func parseDirectory(_ dir: UnsafeRawBufferPointer, count: Int, dataOffset: UInt64, dataLength: UInt64, alignment: UInt64) throws(FormatError) -> ([TensorInfo], [BlobInfo]) {
        let L = TandemLayout.self
        var tensors: [TensorInfo] = []
        var blobs: [BlobInfo] = []
        var names = Set<String>()
        var ranges: [(start: UInt64, end: UInt64, name: String)] = []
        tensors.reserveCapacity(count)
        var cursor = 0
        for index in 0..<count {
            let remaining = dir.count - cursor
            guard remaining >= L.entryFixedSize else {
                throw .truncated(what: "directory entry \(index)", needed: UInt64(L.entryFixedSize), actual: UInt64(remaining))
            }
            let e = UnsafeRawBufferPointer(rebasing: dir[cursor..<dir.count])
            let entryLength = Int(e.u32(0))
            let kind = e[4], code = e[5], rank = Int(e[6])
            let nameLength = Int(e.u32(8))
            guard e[7] == 0, e.u32(12) == 0 else { throw .reservedField("directory entry \(index)") }
            guard rank <= L.maxRank else {
                throw .limitExceeded(what: "rank of directory entry \(index)", value: UInt64(rank), limit: UInt64(L.maxRank))
            }
            guard nameLength >= 1, nameLength <= L.maxNameBytes else {
                throw .badName("of \(nameLength) bytes in directory entry \(index)")
            }
            let needed = L.entryFixedSize + 8 * rank + nameLength
            let padded = (needed + 7) & ~7
            guard entryLength == padded, entryLength <= remaining else {
                throw .badHeader("directory entry \(index) has length \(entryLength), expected \(padded) within \(remaining) bytes")
            }
            let nameStart = L.entryFixedSize + 8 * rank
            let nameBytes = UnsafeRawBufferPointer(rebasing: e[nameStart..<nameStart + nameLength])
            guard let name = String(validating: nameBytes, as: UTF8.self), !name.contains("\0") else {
                throw .badName("(invalid UTF-8) in directory entry \(index)")
            }
            guard names.insert(name).inserted else { throw .duplicateName(name) }
            let offset = e.u64(16), stored = e.u64(24), raw = e.u64(32), checksum = e.u64(40)
            guard offset % alignment == 0 else { throw .misaligned(what: "tensor \(name)", offset: offset, alignment: alignment) }
            let end = try checkedAdd(offset, stored, "tensor \(name)")
            guard end <= dataLength else {
                throw .outOfBounds(what: "tensor \(name)", offset: offset, length: stored, limit: dataLength)
            }
            let absolute = dataOffset + offset
            switch kind {
            case 0:
                guard let dtype = DType(rawValue: code) else { throw .unknownDType(tensor: name, code: UInt32(code)) }
                var shape: [Int] = []
                var elements: UInt64 = 1
                for d in 0..<rank {
                    let dim = e.u64(L.entryFixedSize + 8 * d)
                    elements = try checkedMul(elements, dim, "tensor \(name) shape")
                    shape.append(Int(truncatingIfNeeded: dim))
                }
                guard elements <= UInt64(Int.max) else { throw .sizeOverflow("tensor \(name) shape") }
                if dtype.isQuantized, rank == 0 || shape[rank - 1] % dtype.blockSize != 0 {
                    throw .shapeMismatch(tensor: name, detail: "innermost dimension of \(shape) is not a multiple of the \(dtype) block (\(dtype.blockSize))")
                }
                guard let expected = dtype.byteCount(elements: elements) else {
                    throw .sizeOverflow("tensor \(name) bytes")
                }
                guard expected == stored, raw == stored else {
                    throw .shapeMismatch(tensor: name, detail: "shape \(shape) as \(dtype) needs \(expected) bytes, directory says \(stored)")
                }
                tensors.append(TensorInfo(name: name, dtype: dtype, shape: shape, offset: absolute, byteCount: Int(stored), checksum: checksum))
            case 1:
                guard let encoding = BlobEncoding(rawValue: code) else {
                    throw .badHeader("blob \(name) has unknown encoding \(code)")
                }
                guard rank == 0 else { throw .badHeader("blob \(name) has a shape") }
                guard raw <= L.maxBlobBytes else {
                    throw .limitExceeded(what: "blob \(name) size", value: raw, limit: L.maxBlobBytes)
                }
                if encoding == .raw, raw != stored {
                    throw .shapeMismatch(tensor: name, detail: "raw blob declares \(raw) bytes but stores \(stored)")
                }
                blobs.append(BlobInfo(name: name, encoding: encoding, offset: absolute, storedCount: Int(stored), rawCount: Int(raw), checksum: checksum))
            default:
                throw .unknownEntryKind(name: name, code: kind)
            }
            if stored > 0 { ranges.append((offset, end, name)) }
            cursor += entryLength
        }
        guard cursor == dir.count else {
            throw .badHeader("directory has \(dir.count - cursor) bytes after its \(count) entries")
        }
        ranges.sort { $0.start < $1.start }
        for i in ranges.indices.dropFirst() where ranges[i].start < ranges[i - 1].end {
            throw .overlap("tensor \(ranges[i - 1].name)", "tensor \(ranges[i].name)")
        }
        return (tensors, blobs)
    }
}
