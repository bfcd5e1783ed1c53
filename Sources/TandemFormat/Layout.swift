// Byte offsets and limits of format v1, in one place. Formats/FORMAT.md §2–§3 is the contract;
// a change here is a format change and needs a version bump there.

/// Constants of the Tandem file layout.
public enum TandemLayout {
    /// `\x89 T N D M \r \n \x1a`: the high byte catches 7-bit transfers, CR LF catches newline
    /// translation, and 0x1A stops `type` on DOS — the PNG trick.
    public static let magic: [UInt8] = [0x89, 0x54, 0x4E, 0x44, 0x4D, 0x0D, 0x0A, 0x1A]
    public static let version: UInt32 = 1
    public static let preambleSize = 128
    /// Every tensor's data starts on a multiple of this (bytes). Writers may use a larger power of two.
    public static let minAlignment: UInt64 = 64
    public static let entryFixedSize = 48
    public static let maxRank = 8
    public static let maxNameBytes = 4096
    /// Limits that keep a hostile header from making the reader allocate without bound.
    public static let maxMetadataBytes: UInt64 = 64 << 20
    public static let maxDirectoryBytes: UInt64 = 256 << 20
    public static let maxEntries: UInt64 = 1 << 20
    public static let maxBlobBytes: UInt64 = 1 << 30

    // Preamble field offsets.
    static let offVersion = 8, offFlags = 12, offFileLength = 16
    static let offMetaOffset = 24, offMetaStored = 32, offMetaRaw = 40, offMetaEncoding = 48
    static let offEntryCount = 52, offDirOffset = 56, offDirLength = 64
    static let offDataOffset = 72, offDataLength = 80, offAlignment = 88, offHeaderChecksum = 96
    static let reservedRange = 104..<128
}

/// How a blob's stored bytes encode its content (Formats/FORMAT.md §6).
public enum BlobEncoding: UInt8, Sendable, CaseIterable {
    case raw = 0
    case lz4 = 1
    /// Bytes shuffled by element (2-byte elements: all low bytes, then all high bytes), then LZ4:
    /// float data compresses far better once exponent bytes sit together.
    case lz4Shuffle2 = 2
    case lz4Shuffle4 = 3

    public var name: String {
        switch self {
        case .raw: "raw"
        case .lz4: "lz4"
        case .lz4Shuffle2: "lz4+shuffle2"
        case .lz4Shuffle4: "lz4+shuffle4"
        }
    }
}

/// Little-endian reads with bounds already checked by the caller.
extension UnsafeRawBufferPointer {
    @inline(__always) func u64(_ offset: Int) -> UInt64 {
        UInt64(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
    @inline(__always) func u32(_ offset: Int) -> UInt32 {
        UInt32(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
}

/// Little-endian appends, for writers.
extension Array where Element == UInt8 {
    mutating func append(le value: UInt64) { Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) } }
    mutating func append(le value: UInt32) { Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) } }
    mutating func put(le value: UInt64, at offset: Int) {
        Swift.withUnsafeBytes(of: value.littleEndian) { for i in 0..<8 { self[offset + i] = $0[i] } }
    }
    mutating func put(le value: UInt32, at offset: Int) {
        Swift.withUnsafeBytes(of: value.littleEndian) { for i in 0..<4 { self[offset + i] = $0[i] } }
    }
}

/// Overflow-checked arithmetic for sizes read from untrusted files.
@inline(__always) func checkedAdd(_ a: UInt64, _ b: UInt64, _ what: @autoclosure () -> String) throws(FormatError) -> UInt64 {
    let (r, o) = a.addingReportingOverflow(b)
    if o { throw .sizeOverflow(what()) }
    return r
}

@inline(__always) func checkedMul(_ a: UInt64, _ b: UInt64, _ what: @autoclosure () -> String) throws(FormatError) -> UInt64 {
    let (r, o) = a.multipliedReportingOverflow(by: b)
    if o { throw .sizeOverflow(what()) }
    return r
}
