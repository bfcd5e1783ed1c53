// Reader for Hugging Face safetensors files (single or sharded), the converter's input.
// Format: an 8-byte little-endian header length N, N bytes of JSON
// {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the data.
// Validated like our own format: sizes, overflow, bounds, overlaps, dtype × shape = length.
import Foundation

/// Element types a safetensors file may declare.
public enum SafetensorsDType: String, Sendable {
    case F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL
    case F8_E4M3, F8_E5M2, U16, U32, U64

    public var size: Int {
        switch self {
        case .F64, .I64, .U64: 8
        case .F32, .I32, .U32: 4
        case .F16, .BF16, .I16, .U16: 2
        case .I8, .U8, .BOOL, .F8_E4M3, .F8_E5M2: 1
        }
    }
}

public struct SafetensorsTensor: @unchecked Sendable {
    public let name: String
    public let dtype: SafetensorsDType
    public let shape: [Int]
    public let data: UnsafeRawBufferPointer
    public var elementCount: Int { shape.reduce(1, *) }

    /// The values as f32 (from F32, F16, BF16 or F64). Non-float types throw.
    public func floats() throws(FormatError) -> [Float] {
        var out = [Float](repeating: 0, count: elementCount)
        try out.withUnsafeMutableBufferPointer { (buf) throws(FormatError) in try floats(into: buf) }
        return out
    }

    /// Writes the values as f32 into `out` (exactly `elementCount` elements).
    public func floats(into out: UnsafeMutableBufferPointer<Float>) throws(FormatError) {
        precondition(out.count == elementCount)
        switch dtype {
        case .F32: DType.f32.decodeRow(data, into: out)
        case .F16: DType.f16.decodeRow(data, into: out)
        case .BF16: DType.bf16.decodeRow(data, into: out)
        case .F64:
            for i in 0..<out.count {
                out[i] = Float(Double(bitPattern: UInt64(littleEndian: data.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
            }
        default:
            throw .schema("tensor \(name) has dtype \(dtype.rawValue), which is not a float type")
        }
    }
}

/// One mapped safetensors file.
public final class SafetensorsFile: @unchecked Sendable {
    public static let maxHeaderBytes: UInt64 = 100 << 20
    public let path: String
    public let tensors: [String: SafetensorsTensor]
    /// Tensor names in file order (by data offset).
    public let names: [String]
    public let metadata: [String: String]
    private let file: MappedFile

    public init(path: String) throws(FormatError) {
        self.path = path
        file = try MappedFile(path: path)
        let bytes = file.bytes
        let size = UInt64(bytes.count)
        guard size >= 8 else { throw .truncated(what: "safetensors header length", needed: 8, actual: size) }
        let n = bytes.u64(0)
        guard n <= Self.maxHeaderBytes else {
            throw .limitExceeded(what: "safetensors header size", value: n, limit: Self.maxHeaderBytes)
        }
        guard 8 + n <= size else { throw .truncated(what: "safetensors header", needed: 8 + n, actual: size) }
        let header = Data(bytes[8..<Int(8 + n)])
        guard case let .object(root) = try JSONValue.parse(header, what: "safetensors header of \(path)") else {
            throw .malformedJSON(what: "safetensors header of \(path)", detail: "not an object")
        }
        let dataStart = Int(8 + n)
        let dataSize = size - 8 - n
        var tensors: [String: SafetensorsTensor] = [:]
        var spans: [(Int, Int, String)] = []
        var meta: [String: String] = [:]
        for (name, value) in root {
            if name == "__metadata__" {
                guard case let .object(m) = value else { throw .schema("safetensors __metadata__ is not an object") }
                for (k, v) in m { meta[k] = v.stringValue ?? "" }
                continue
            }
            guard let dtypeName = value["dtype"]?.stringValue else { throw .schema("safetensors tensor \(name) has no dtype") }
            guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
                throw .schema("safetensors tensor \(name) has unknown dtype \(dtypeName)")
            }
            guard case let .array(dims)? = value["shape"], dims.count <= TandemLayout.maxRank else {
                throw .schema("safetensors tensor \(name) has no valid shape")
            }
            var shape: [Int] = []
            var elements: UInt64 = 1
            for d in dims {
                guard let v = d.doubleValue, v >= 0, v.rounded() == v, v < 0x1p53 else {
                    throw .schema("safetensors tensor \(name) has a bad dimension")
                }
                shape.append(Int(v))
                elements = try checkedMul(elements, UInt64(v), "safetensors tensor \(name)")
            }
            guard case let .array(offs)? = value["data_offsets"], offs.count == 2,
                  let b = offs[0].doubleValue, let e = offs[1].doubleValue, b >= 0, e >= b, e < 0x1p53,
                  b.rounded() == b, e.rounded() == e
            else { throw .schema("safetensors tensor \(name) has bad data_offsets") }
            let begin = UInt64(b), end = UInt64(e)
            guard end <= dataSize else {
                throw .outOfBounds(what: "safetensors tensor \(name)", offset: begin, length: end - begin, limit: dataSize)
            }
            let bytesNeeded = try checkedMul(elements, UInt64(dtype.size), "safetensors tensor \(name)")
            guard bytesNeeded == end - begin else {
                throw .shapeMismatch(tensor: name, detail: "shape \(shape) as \(dtype.rawValue) needs \(bytesNeeded) bytes, offsets give \(end - begin)")
            }
            let start = dataStart + Int(begin)
            tensors[name] = SafetensorsTensor(
                name: name, dtype: dtype, shape: shape,
                data: UnsafeRawBufferPointer(rebasing: bytes[start..<start + Int(end - begin)]))
            if end > begin { spans.append((Int(begin), Int(end), name)) }
        }
        spans.sort { $0.0 < $1.0 }
        for i in spans.indices.dropFirst() where spans[i].0 < spans[i - 1].1 {
            throw .overlap("safetensors tensor \(spans[i - 1].2)", "safetensors tensor \(spans[i].2)")
        }
        self.tensors = tensors
        let empty = tensors.values.filter { $0.data.isEmpty }.map(\.name).sorted()
        self.names = spans.map(\.2) + empty
        self.metadata = meta
    }
}

/// A Hugging Face checkpoint's weights: one `model.safetensors`, or shards listed in
/// `model.safetensors.index.json`.
public final class SafetensorsCheckpoint: @unchecked Sendable {
    public let files: [SafetensorsFile]
    private let index: [String: SafetensorsTensor]

    public init(directory: String) throws(FormatError) {
        let fm = FileManager.default
        let indexPath = directory + "/model.safetensors.index.json"
        var paths: [String] = []
        if fm.fileExists(atPath: indexPath) {
            guard let data = fm.contents(atPath: indexPath) else { throw .io(path: indexPath, reason: "unreadable") }
            guard case let .object(map)? = try JSONValue.parse(data, what: indexPath)["weight_map"] else {
                throw .schema("\(indexPath) has no weight_map object")
            }
            var shardNames = Set<String>()
            for (_, v) in map {
                guard let f = v.stringValue, !f.contains("/"), !f.hasPrefix(".") else {
                    throw .schema("\(indexPath) names a shard outside the directory")
                }
                shardNames.insert(f)
            }
            paths = shardNames.sorted().map { directory + "/" + $0 }
        } else {
            let entries = (try? fm.contentsOfDirectory(atPath: directory)) ?? []
            paths = entries.filter { $0.hasSuffix(".safetensors") }.sorted().map { directory + "/" + $0 }
        }
        guard !paths.isEmpty else { throw .missing(what: "*.safetensors in \(directory)") }
        var files: [SafetensorsFile] = []
        var index: [String: SafetensorsTensor] = [:]
        for p in paths {
            let f = try SafetensorsFile(path: p)
            for (name, t) in f.tensors {
                guard index[name] == nil else { throw .duplicateName(name) }
                index[name] = t
            }
            files.append(f)
        }
        self.files = files
        self.index = index
    }

    public var names: [String] { files.flatMap(\.names) }
    public subscript(name: String) -> SafetensorsTensor? { index[name] }
}
