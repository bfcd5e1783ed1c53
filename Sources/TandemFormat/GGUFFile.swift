// Reader for GGUF files (llama.cpp's model format), versions 2 and 3, memory-mapped.
//
// Layout, per the GGUF specification (ggml/docs/gguf.md in ggml-org/ggml), all little-endian:
//   u32 magic "GGUF" · u32 version · u64 tensor count · u64 metadata count
//   metadata: { string key · u32 value type · value }*     string = u64 length + UTF-8 bytes
//                                                           array  = u32 element type + u64 count + elements
//   tensor infos: { string name · u32 n_dims · u64 ne[n_dims] · u32 ggml type · u64 offset }*
//   padding to `general.alignment` (u32, default 32), then the data section; each tensor's
//   offset is relative to the data section and a multiple of the alignment.
// Version 1 (u32 counts and lengths) predates August 2023 and is refused.
//
// GGUF parsers elsewhere have had heap overflows and out-of-bounds reads from crafted files
// (CVE-2024-21802: an unchecked array count; CVE-2025-53630: an unchecked size sum; and later
// ones), so every count, length and size here is checked against the bytes that remain BEFORE
// anything is allocated or read, with overflow-checked arithmetic, and every failure is a typed
// `FormatError`: a hostile file costs at most memory proportional to its own size.

/// Limits that no legitimate GGUF file comes near; they bound the work a hostile one can cause.
public enum GGUFLimits {
    /// Metadata keys are at most 65 535 bytes (spec).
    public static let maxKeyBytes = 65_535
    /// Tensor names: ggml's `GGML_MAX_NAME` is 64 bytes including the terminator; the spec says 64.
    public static let maxTensorNameBytes = 64
    /// ggml tensors have at most 4 dimensions (`GGML_MAX_DIMS`); a little slack for other writers.
    public static let maxDimensions = 8
    /// Arrays of arrays are allowed by the spec but used by nobody; bound the recursion.
    public static let maxArrayDepth = 4
}

/// The parsed header of a GGUF file: metadata and tensor directory, all validated.
public struct GGUFHeader: Sendable {
    public var version: UInt32
    /// `general.alignment`, or 32.
    public var alignment: Int
    /// Absolute offset of the data section.
    public var dataOffset: Int
    /// Metadata keys in file order.
    public var metadataKeys: [String]
    public var metadata: [String: GGUFValue]
    /// Tensors in file order.
    public var tensors: [GGUFTensorInfo]

    public static let magic: UInt32 = 0x4655_4747  // "GGUF" read as a little-endian u32
    public static let defaultAlignment = 32

    /// Parses and validates a whole GGUF file held in `bytes`.
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(FormatError) -> GGUFHeader {
        var r = GGUFCursor(bytes: bytes)
        let magic = try r.u32("magic")
        guard magic == GGUFHeader.magic else {
            throw .unsupportedGGUF("not a GGUF file (magic bytes \(hex(magic)), expected \"GGUF\")")
        }
        let version = try r.u32("version")
        guard version == 2 || version == 3 else {
            if version == 1 { throw .unsupportedGGUF("GGUF version 1 (2023, 32-bit counts) is not supported; re-convert with a current llama.cpp") }
            if version.byteSwapped == 2 || version.byteSwapped == 3 { throw .unsupportedGGUF("big-endian GGUF is not supported") }
            throw .unsupportedGGUF("GGUF version \(version) is not supported (this build reads versions 2 and 3)")
        }
        let tensorCount = try r.u64("tensor count")
        let kvCount = try r.u64("metadata count")
        // Each key/value takes at least: key length u64 + a 1-byte key + type u32 + a 1-byte value.
        try r.checkCount(kvCount, minimumSize: 14, what: "metadata count")

        var keys: [String] = []
        var metadata: [String: GGUFValue] = [:]
        keys.reserveCapacity(Int(kvCount))
        for _ in 0..<kvCount {
            let key = try r.string("metadata key", maxBytes: GGUFLimits.maxKeyBytes)
            guard !key.isEmpty else { throw .badHeader("GGUF metadata key \(keys.count) is empty") }
            let code = try r.u32("type of \(key)")
            guard let type = GGUFValueType(rawValue: code) else {
                throw .badHeader("GGUF metadata key \(key) has unknown value type \(code)")
            }
            let value = try r.value(type, depth: 0, key: key)
            guard metadata.updateValue(value, forKey: key) == nil else {
                throw .badHeader("GGUF metadata key \(key) appears twice")
            }
            keys.append(key)
        }

        var alignment = defaultAlignment
        if let a = metadata["general.alignment"] {
            guard case let .uint32(v) = a else { throw .badHeader("general.alignment is \(a.type), expected UINT32") }
            guard v != 0, v & (v - 1) == 0 else { throw .badHeader("general.alignment \(v) is not a power of two") }
            alignment = Int(v)
        }

        // name length u64 + n_dims u32 + type u32 + offset u64.
        try r.checkCount(tensorCount, minimumSize: 24, what: "tensor count")
        var infos: [GGUFTensorInfo] = []
        infos.reserveCapacity(Int(tensorCount))
        var seen = Set<String>()
        for _ in 0..<tensorCount {
            var info = try r.tensorInfo()
            guard seen.insert(info.name).inserted else { throw .duplicateName(info.name) }
            guard info.relativeOffset % UInt64(alignment) == 0 else {
                throw .misaligned(what: "GGUF tensor \(info.name)", offset: info.relativeOffset, alignment: UInt64(alignment))
            }
            info.offset = 0  // fixed below, once the data section is known
            infos.append(info)
        }

        // The data section starts at the next multiple of the alignment.
        let (padded, o1) = UInt64(r.position).addingReportingOverflow(UInt64(alignment - 1))
        guard !o1 else { throw .sizeOverflow("GGUF data section offset") }
        let dataStart = padded & ~UInt64(alignment - 1)
        let fileSize = UInt64(bytes.count)
        if !infos.isEmpty, dataStart > fileSize {
            throw .truncated(what: "GGUF data section", needed: dataStart, actual: fileSize)
        }
        for i in infos.indices {
            let (start, o2) = dataStart.addingReportingOverflow(infos[i].relativeOffset)
            let (end, o3) = start.addingReportingOverflow(UInt64(infos[i].byteCount))
            guard !o2, !o3, end <= fileSize else {
                throw .outOfBounds(what: "GGUF tensor \(infos[i].name)", offset: infos[i].relativeOffset,
                                   length: UInt64(infos[i].byteCount), limit: fileSize &- min(dataStart, fileSize))
            }
            infos[i].offset = Int(start)
        }
        // No two tensors may share bytes (a writer bug, or a trick to alias weights).
        let byStart = infos.indices.filter { infos[$0].byteCount > 0 }.sorted { infos[$0].offset < infos[$1].offset }
        for (a, b) in zip(byStart, byStart.dropFirst()) where infos[a].offset + infos[a].byteCount > infos[b].offset {
            throw .overlap("GGUF tensor \(infos[a].name)", "GGUF tensor \(infos[b].name)")
        }
        return GGUFHeader(version: version, alignment: alignment, dataOffset: Int(min(dataStart, fileSize)),
                          metadataKeys: keys, metadata: metadata, tensors: infos)
    }
}

private func hex(_ v: UInt32) -> String {
    let s = String(v.byteSwapped, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - s.count) + s
}

/// One entry of the tensor directory, validated: its bytes lie inside the file.
public struct GGUFTensorInfo: Sendable, Equatable {
    public var name: String
    public var type: GGMLType
    /// GGUF / ggml order: `dimensions[0]` (`ne[0]`) is the innermost, contiguous dimension.
    public var dimensions: [Int]
    /// Offset relative to the data section, as stored.
    public var relativeOffset: UInt64
    /// Absolute offset in the file.
    public var offset: Int
    public var byteCount: Int
    public var elementCount: Int

    /// Row-major shape (outermost first), as Tandem and PyTorch write it: `dimensions` reversed.
    public var shape: [Int] { dimensions.reversed() }
    /// Elements per row (`ne[0]`); 1 for a scalar.
    public var columns: Int { dimensions.first ?? 1 }
    public var rows: Int { columns == 0 ? 0 : elementCount / columns }
}

/// A tensor's bytes in the mapping; valid while its `GGUFFile` is alive.
public struct GGUFTensor: @unchecked Sendable {
    public let info: GGUFTensorInfo
    public let data: UnsafeRawBufferPointer
    public var name: String { info.name }
    public var type: GGMLType { info.type }
    public var dimensions: [Int] { info.dimensions }
}

/// A GGUF file, mapped read-only and validated as a whole when opened: once `init` returns,
/// every tensor view lies inside the mapping and every size is consistent, so consumers need
/// no further checks.
///
/// ```swift
/// let file = try GGUFFile(path: "SmolLM2-135M-Instruct.Q4_1.gguf")
/// let layers = file["llama.block_count"]?.integer            // 30
/// let q = file.tensor("blk.0.attn_q.weight")!                 // Q4_1, dimensions [576, 576]
/// let values = try q.floats()                                 // dequantized, row-major
/// ```
public final class GGUFFile: @unchecked Sendable {
    public let mapping: MappedFile
    public let header: GGUFHeader
    private let index: [String: Int]

    public init(path: String) throws(FormatError) {
        mapping = try MappedFile(path: path)
        header = try GGUFHeader.parse(mapping.bytes)
        var index: [String: Int] = [:]
        for (i, t) in header.tensors.enumerated() { index[t.name] = i }
        self.index = index
    }

    public var version: UInt32 { header.version }
    public var metadata: [String: GGUFValue] { header.metadata }
    public var tensorInfos: [GGUFTensorInfo] { header.tensors }
    public var tensors: [GGUFTensor] { header.tensors.map(view) }

    public subscript(key: String) -> GGUFValue? { header.metadata[key] }

    public func tensor(_ name: String) -> GGUFTensor? { index[name].map { view(header.tensors[$0]) } }

    private func view(_ info: GGUFTensorInfo) -> GGUFTensor {
        GGUFTensor(info: info, data: UnsafeRawBufferPointer(rebasing: mapping.bytes[info.offset..<info.offset + info.byteCount]))
    }
}

/// A bounds-checked reading position. Every read states what it reads, for the error message.
struct GGUFCursor {
    let bytes: UnsafeRawBufferPointer
    var position = 0

    var remaining: Int { bytes.count - position }

    func truncated(_ what: String, needing n: UInt64) -> FormatError {
        let (needed, o) = UInt64(position).addingReportingOverflow(n)
        return .truncated(what: "GGUF \(what)", needed: o ? .max : needed, actual: UInt64(bytes.count))
    }

    mutating func load<T: FixedWidthInteger>(_ what: @autoclosure () -> String, as: T.Type) throws(FormatError) -> T {
        let n = MemoryLayout<T>.size
        guard n <= remaining else { throw truncated(what(), needing: UInt64(n)) }
        defer { position += n }
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
    }

    mutating func u32(_ what: @autoclosure () -> String) throws(FormatError) -> UInt32 { try load(what(), as: UInt32.self) }
    mutating func u64(_ what: @autoclosure () -> String) throws(FormatError) -> UInt64 { try load(what(), as: UInt64.self) }

    /// Refuses a count of items, each at least `minimumSize` bytes, that the rest of the file
    /// cannot hold — checked before the count is used to reserve or loop.
    func checkCount(_ count: UInt64, minimumSize: Int, what: String) throws(FormatError) {
        guard count <= UInt64(remaining) / UInt64(minimumSize) else {
            let (n, o) = count.multipliedReportingOverflow(by: UInt64(minimumSize))
            throw truncated("\(what) \(count)", needing: o ? .max : n)
        }
    }

    /// A length-prefixed string, which must be valid UTF-8.
    mutating func string(_ what: @autoclosure () -> String, maxBytes: Int = .max) throws(FormatError) -> String {
        let n = try u64("\(what()) length")
        guard n <= UInt64(remaining) else { throw truncated("\(what()) of \(n) bytes", needing: n) }
        guard n <= UInt64(maxBytes) else { throw .limitExceeded(what: "GGUF \(what()) length", value: n, limit: UInt64(maxBytes)) }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[position..<position + Int(n)])
        guard let s = String(validating: slice, as: UTF8.self) else {
            throw .badHeader("GGUF \(what()) at offset \(position) is not valid UTF-8")
        }
        position += Int(n)
        return s
    }

    mutating func value(_ type: GGUFValueType, depth: Int, key: String) throws(FormatError) -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try load(key, as: UInt8.self))
        case .int8: return .int8(try load(key, as: Int8.self))
        case .uint16: return .uint16(try load(key, as: UInt16.self))
        case .int16: return .int16(try load(key, as: Int16.self))
        case .uint32: return .uint32(try load(key, as: UInt32.self))
        case .int32: return .int32(try load(key, as: Int32.self))
        case .float32: return .float32(Float(bitPattern: try load(key, as: UInt32.self)))
        case .uint64: return .uint64(try load(key, as: UInt64.self))
        case .int64: return .int64(try load(key, as: Int64.self))
        case .float64: return .float64(Double(bitPattern: try load(key, as: UInt64.self)))
        case .bool: return .bool(try bool(key))
        case .string: return .string(try string("value of \(key)"))
        case .array: return .array(try array(depth: depth + 1, key: key))
        }
    }

    mutating func bool(_ key: String) throws(FormatError) -> Bool {
        let b = try load(key, as: UInt8.self)
        guard b <= 1 else { throw .badHeader("GGUF bool in \(key) is \(b), not 0 or 1") }
        return b == 1
    }

    mutating func array(depth: Int, key: String) throws(FormatError) -> GGUFArray {
        guard depth <= GGUFLimits.maxArrayDepth else {
            throw .limitExceeded(what: "GGUF array nesting in \(key)", value: UInt64(depth), limit: UInt64(GGUFLimits.maxArrayDepth))
        }
        let code = try u32("array element type of \(key)")
        guard let type = GGUFValueType(rawValue: code) else {
            throw .badHeader("GGUF array \(key) has unknown element type \(code)")
        }
        let count64 = try u64("array count of \(key)")
        try checkCount(count64, minimumSize: type.minimumEncodedSize, what: "array \(key): \(type) count")
        let count = Int(count64)
        func many<T>(_ read: (inout GGUFCursor) throws(FormatError) -> T) throws(FormatError) -> [T] {
            var out: [T] = []
            out.reserveCapacity(count)
            for _ in 0..<count { out.append(try read(&self)) }
            return out
        }
        switch type {
        case .uint8: return .uint8(try many { c throws(FormatError) in try c.load(key, as: UInt8.self) })
        case .int8: return .int8(try many { c throws(FormatError) in try c.load(key, as: Int8.self) })
        case .uint16: return .uint16(try many { c throws(FormatError) in try c.load(key, as: UInt16.self) })
        case .int16: return .int16(try many { c throws(FormatError) in try c.load(key, as: Int16.self) })
        case .uint32: return .uint32(try many { c throws(FormatError) in try c.load(key, as: UInt32.self) })
        case .int32: return .int32(try many { c throws(FormatError) in try c.load(key, as: Int32.self) })
        case .float32: return .float32(try many { c throws(FormatError) in Float(bitPattern: try c.load(key, as: UInt32.self)) })
        case .uint64: return .uint64(try many { c throws(FormatError) in try c.load(key, as: UInt64.self) })
        case .int64: return .int64(try many { c throws(FormatError) in try c.load(key, as: Int64.self) })
        case .float64: return .float64(try many { c throws(FormatError) in Double(bitPattern: try c.load(key, as: UInt64.self)) })
        case .bool: return .bool(try many { c throws(FormatError) in try c.bool(key) })
        case .string: return .string(try many { c throws(FormatError) in try c.string("element of \(key)") })
        case .array: return .array(try many { c throws(FormatError) in try c.array(depth: depth + 1, key: key) })
        }
    }

    /// One tensor info; its byte size follows from type and dimensions, overflow-checked.
    mutating func tensorInfo() throws(FormatError) -> GGUFTensorInfo {
        let name = try string("tensor name", maxBytes: GGUFLimits.maxTensorNameBytes)
        guard !name.isEmpty else { throw .badName("(empty GGUF tensor name)") }
        let nDims = try u32("dimension count of \(name)")
        guard nDims <= UInt32(GGUFLimits.maxDimensions) else {
            throw .limitExceeded(what: "GGUF tensor \(name) dimension count", value: UInt64(nDims), limit: UInt64(GGUFLimits.maxDimensions))
        }
        var dims: [Int] = []
        var elements: UInt64 = 1
        for _ in 0..<nDims {
            let d = try u64("dimensions of \(name)")
            guard d <= UInt64(Int64.max) else { throw .sizeOverflow("dimension \(d) of GGUF tensor \(name)") }
            let (e, o) = elements.multipliedReportingOverflow(by: d)
            guard !o, e <= UInt64(Int64.max) else { throw .sizeOverflow("element count of GGUF tensor \(name)") }
            elements = e
            dims.append(Int(d))
        }
        let code = try u32("type of \(name)")
        guard let type = GGMLType(rawValue: code) else { throw .unknownDType(tensor: name, code: code) }
        let relativeOffset = try u64("offset of \(name)")
        let columns = UInt64(dims.first ?? 1)
        guard columns % UInt64(type.blockSize) == 0 else {
            throw .shapeMismatch(tensor: name, detail: "rows of \(columns) elements are not whole \(type.name) blocks of \(type.blockSize)")
        }
        // elements / blockSize blocks, each typeSize bytes (whole blocks per row, checked above).
        let (bytes, o) = (elements / UInt64(type.blockSize)).multipliedReportingOverflow(by: UInt64(type.typeSize))
        guard !o, bytes <= UInt64(Int.max) else { throw .sizeOverflow("byte size of GGUF tensor \(name)") }
        return GGUFTensorInfo(name: name, type: type, dimensions: dims, relativeOffset: relativeOffset, offset: 0,
                              byteCount: Int(bytes), elementCount: Int(elements))
    }
}
