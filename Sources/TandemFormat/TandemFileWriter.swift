// Writer for Tandem weight files, format v1 (Formats/FORMAT.md).
//
// The layout is planned before any data is produced: every tensor's size follows from its
// dtype and shape, and blobs are encoded up front, so offsets are fixed and tensors can be
// streamed one at a time (a converter never holds the whole model). The file is written under a
// temporary name, fsync'ed, and renamed into place: a crash or a full disk never leaves a
// half-written file under the final name.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A tensor to be written: what the directory will say about it.
public struct TensorPlan: Sendable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]

    public init(name: String, dtype: DType, shape: [Int]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
    }

    public var byteCount: Int {
        let elements = shape.reduce(1, *)
        return elements / dtype.blockSize * dtype.blockBytes
    }
}

/// A blob to be written, with its content.
public struct BlobPlan: Sendable {
    public var name: String
    public var encoding: BlobEncoding
    public var content: [UInt8]

    public init(name: String, encoding: BlobEncoding, content: [UInt8]) {
        self.name = name
        self.encoding = encoding
        self.content = content
    }
}

/// Writes one Tandem file.
public struct TandemFileWriter {
    public var metadata: TandemMetadata
    public var tensors: [TensorPlan]
    public var blobs: [BlobPlan]
    public var alignment: UInt64 = TandemLayout.minAlignment
    /// Compress the metadata with LZ4 when it saves at least this fraction.
    public var compressMetadata = true

    public init(metadata: TandemMetadata, tensors: [TensorPlan], blobs: [BlobPlan]) {
        self.metadata = metadata
        self.tensors = tensors
        self.blobs = blobs
    }

    public enum WriteError: Error, CustomStringConvertible, Sendable, Equatable {
        case io(path: String, reason: String)
        case invalidPlan(String)
        public var description: String {
            switch self {
            case let .io(path, reason): "cannot write \(path): \(reason)"
            case let .invalidPlan(r): "invalid tensor plan: \(r)"
            }
        }
    }

    /// Writes the file. `produce` fills each tensor's bytes (exactly `plan.byteCount`) in
    /// directory order; `progress` is called after each tensor with (done, total) bytes.
    public func write(
        to path: String,
        produce: (TensorPlan, UnsafeMutableRawBufferPointer) throws -> Void,
        progress: ((Int, Int) -> Void)? = nil
    ) throws {
        try validatePlan()
        let L = TandemLayout.self
        let encodedBlobs = blobs.map { LZ4.encode($0.content, as: $0.encoding) }
        let metaRaw = [UInt8](metadata.encoded())
        var metaStored = metaRaw
        var metaEncoding = BlobEncoding.raw
        if compressMetadata {
            let c = LZ4.compress(metaRaw)
            if c.count < metaRaw.count * 9 / 10 { metaStored = c; metaEncoding = .lz4 }
        }

        // Data region layout: tensors in order, then blobs, each aligned.
        let align = alignment
        func up(_ x: UInt64) -> UInt64 { (x + align - 1) / align * align }
        var offsets: [UInt64] = []
        var cursor: UInt64 = 0
        for t in tensors { cursor = up(cursor); offsets.append(cursor); cursor += UInt64(t.byteCount) }
        var blobOffsets: [UInt64] = []
        for b in encodedBlobs { cursor = up(cursor); blobOffsets.append(cursor); cursor += UInt64(b.count) }
        let dataLength = cursor

        // Directory, checksums patched in after the data is written.
        var directory: [UInt8] = []
        var checksumSlots: [Int] = []
        func appendEntry(kind: UInt8, code: UInt8, shape: [Int], name: String, offset: UInt64, stored: UInt64, raw: UInt64) {
            let start = directory.count
            let nameBytes = Array(name.utf8)
            let length = (L.entryFixedSize + 8 * shape.count + nameBytes.count + 7) & ~7
            directory.append(le: UInt32(length))
            directory += [kind, code, UInt8(shape.count), 0]
            directory.append(le: UInt32(nameBytes.count))
            directory.append(le: UInt32(0))
            directory.append(le: offset)
            directory.append(le: stored)
            directory.append(le: raw)
            checksumSlots.append(directory.count)
            directory.append(le: UInt64(0))
            for d in shape { directory.append(le: UInt64(d)) }
            directory += nameBytes
            directory += [UInt8](repeating: 0, count: start + length - directory.count)
        }
        for (t, off) in zip(tensors, offsets) {
            appendEntry(kind: 0, code: t.dtype.rawValue, shape: t.shape, name: t.name, offset: off,
                        stored: UInt64(t.byteCount), raw: UInt64(t.byteCount))
        }
        for (i, b) in blobs.enumerated() {
            appendEntry(kind: 1, code: b.encoding.rawValue, shape: [], name: b.name, offset: blobOffsets[i],
                        stored: UInt64(encodedBlobs[i].count), raw: UInt64(b.content.count))
        }

        let metaOffset = UInt64(L.preambleSize)
        let dirOffset = (metaOffset + UInt64(metaStored.count) + 7) / 8 * 8
        let dataOffset = up(dirOffset + UInt64(directory.count))
        let fileLength = dataOffset + dataLength

        let tmp = path + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw WriteError.io(path: tmp, reason: String(cString: strerror(errno))) }
        var success = false
        defer {
            close(fd)
            if !success { unlink(tmp) }
        }
        func pwriteAll(_ buf: UnsafeRawBufferPointer, at offset: UInt64) throws {
            var done = 0
            while done < buf.count {
                let n = pwrite(fd, buf.baseAddress! + done, buf.count - done, off_t(offset) + off_t(done))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw WriteError.io(path: tmp, reason: String(cString: strerror(errno)))
                }
                done += n
            }
        }
        // Reserve the space first, so a full disk fails here rather than midway.
        let reserve = posix_fallocate(fd, 0, off_t(fileLength))
        if reserve != 0, reserve != EOPNOTSUPP, reserve != EINVAL {
            throw WriteError.io(path: tmp, reason: String(cString: strerror(reserve)))
        }

        let total = tensors.reduce(0) { $0 + $1.byteCount }
        var done = 0
        let maxBytes = tensors.map(\.byteCount).max() ?? 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(maxBytes, 1), alignment: 64)
        defer { buffer.deallocate() }
        for (i, t) in tensors.enumerated() {
            let slice = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<t.byteCount])
            try produce(t, slice)
            let digest = XXH64.hash(UnsafeRawBufferPointer(slice))
            directory.put(le: digest, at: checksumSlots[i])
            try pwriteAll(UnsafeRawBufferPointer(slice), at: dataOffset + offsets[i])
            done += t.byteCount
            progress?(done, total)
        }
        for (i, b) in encodedBlobs.enumerated() {
            directory.put(le: XXH64.hash(b), at: checksumSlots[tensors.count + i])
            try b.withUnsafeBytes { try pwriteAll($0, at: dataOffset + blobOffsets[i]) }
        }

        var pre = [UInt8](repeating: 0, count: L.preambleSize)
        for (i, m) in L.magic.enumerated() { pre[i] = m }
        pre.put(le: L.version, at: L.offVersion)
        pre.put(le: fileLength, at: L.offFileLength)
        pre.put(le: metaOffset, at: L.offMetaOffset)
        pre.put(le: UInt64(metaStored.count), at: L.offMetaStored)
        pre.put(le: UInt64(metaRaw.count), at: L.offMetaRaw)
        pre.put(le: UInt32(metaEncoding.rawValue), at: L.offMetaEncoding)
        pre.put(le: UInt32(tensors.count + blobs.count), at: L.offEntryCount)
        pre.put(le: dirOffset, at: L.offDirOffset)
        pre.put(le: UInt64(directory.count), at: L.offDirLength)
        pre.put(le: dataOffset, at: L.offDataOffset)
        pre.put(le: dataLength, at: L.offDataLength)
        pre.put(le: align, at: L.offAlignment)
        var hasher = XXH64()
        pre.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<L.offHeaderChecksum])) }
        metaStored.withUnsafeBytes { hasher.update($0) }
        directory.withUnsafeBytes { hasher.update($0) }
        pre.put(le: hasher.finalize(), at: L.offHeaderChecksum)

        try pre.withUnsafeBytes { try pwriteAll($0, at: 0) }
        try metaStored.withUnsafeBytes { try pwriteAll($0, at: metaOffset) }
        try directory.withUnsafeBytes { try pwriteAll($0, at: dirOffset) }
        // Zero padding between sections is already there: posix_fallocate / sparse holes read as 0.
        guard ftruncate(fd, off_t(fileLength)) == 0 else {
            throw WriteError.io(path: tmp, reason: String(cString: strerror(errno)))
        }
        guard fsync(fd) == 0 else { throw WriteError.io(path: tmp, reason: "fsync: " + String(cString: strerror(errno))) }
        guard rename(tmp, path) == 0 else {
            throw WriteError.io(path: path, reason: "rename: " + String(cString: strerror(errno)))
        }
        success = true
        // Make the rename itself durable.
        let dirPath = (path as NSString).deletingLastPathComponent
        let dfd = open(dirPath.isEmpty ? "." : dirPath, O_RDONLY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    private func validatePlan() throws {
        var seen = Set<String>()
        for t in tensors {
            guard !t.name.isEmpty, t.name.utf8.count <= TandemLayout.maxNameBytes else { throw WriteError.invalidPlan("bad name \(t.name)") }
            guard seen.insert(t.name).inserted else { throw WriteError.invalidPlan("duplicate name \(t.name)") }
            guard t.shape.count <= TandemLayout.maxRank, t.shape.allSatisfy({ $0 >= 0 }) else {
                throw WriteError.invalidPlan("\(t.name) has shape \(t.shape)")
            }
            if t.dtype.isQuantized, (t.shape.last ?? 0) % t.dtype.blockSize != 0 || t.shape.isEmpty {
                throw WriteError.invalidPlan("\(t.name): innermost dimension of \(t.shape) is not a multiple of \(t.dtype.blockSize)")
            }
        }
        for b in blobs {
            guard !b.name.isEmpty, seen.insert(b.name).inserted else { throw WriteError.invalidPlan("duplicate or empty blob name \(b.name)") }
        }
        guard alignment >= TandemLayout.minAlignment, alignment & (alignment - 1) == 0 else {
            throw WriteError.invalidPlan("alignment \(alignment)")
        }
    }
}
