// Minimal writers of safetensors and GGUF files for the seed corpora: the layouts of
// Sources/TandemFormat/Safetensors.swift and GGUFFile.swift, written the way their reference
// writers (safetensors, gguf-py) write them.
import Foundation
import TandemFormat

enum SafetensorsSeed {
    struct Tensor {
        var name: String
        var dtype: String
        var shape: [Int]
        var data: [UInt8]
    }

    /// 8-byte header length, JSON header padded with spaces to 8 bytes, then the data.
    static func file(_ tensors: [Tensor], metadata: [String: String]) -> [UInt8] {
        var header: [String: Any] = ["__metadata__": metadata]
        var data: [UInt8] = []
        for t in tensors {
            header[t.name] = ["dtype": t.dtype, "shape": t.shape, "data_offsets": [data.count, data.count + t.data.count]]
            data += t.data
        }
        var json = [UInt8](try! JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
        json += [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8)
        var out: [UInt8] = []
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out += $0 }
        return out + json + data
    }
}

enum GGUFSeed {
    struct Tensor {
        var name: String
        var type: GGMLType
        /// ggml order, innermost first.
        var dimensions: [Int]
        var data: [UInt8]
    }

    /// GGUF v3: header, metadata in `keys` order, tensor infos, data aligned to 32 bytes.
    static func file(keys: [String], metadata: [String: GGUFValue], tensors: [Tensor]) -> [UInt8] {
        var w = Writer()
        w.u32(GGUFHeader.magic)
        w.u32(3)
        w.u64(UInt64(tensors.count))
        w.u64(UInt64(keys.count))
        for key in keys {
            w.string(key)
            w.value(metadata[key]!)
        }
        var offset = 0
        var offsets: [Int] = []
        for t in tensors {
            offsets.append(offset)
            offset += (t.data.count + 31) / 32 * 32
        }
        for (t, o) in zip(tensors, offsets) {
            w.string(t.name)
            w.u32(UInt32(t.dimensions.count))
            for d in t.dimensions { w.u64(UInt64(d)) }
            w.u32(t.type.rawValue)
            w.u64(UInt64(o))
        }
        for t in tensors {
            w.pad()
            w.bytes += t.data
        }
        return w.bytes
    }

    struct Writer {
        var bytes: [UInt8] = []
        mutating func int<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        mutating func u32(_ v: UInt32) { int(v) }
        mutating func u64(_ v: UInt64) { int(v) }
        mutating func string(_ s: String) { u64(UInt64(s.utf8.count)); bytes += Array(s.utf8) }
        mutating func pad() { bytes += [UInt8](repeating: 0, count: (32 - bytes.count % 32) % 32) }

        mutating func value(_ v: GGUFValue) {
            u32(v.type.rawValue)
            switch v {
            case let .uint8(x): int(x)
            case let .int8(x): int(x)
            case let .uint16(x): int(x)
            case let .int16(x): int(x)
            case let .uint32(x): int(x)
            case let .int32(x): int(x)
            case let .float32(x): int(x.bitPattern)
            case let .uint64(x): int(x)
            case let .int64(x): int(x)
            case let .float64(x): int(x.bitPattern)
            case let .bool(x): int(UInt8(x ? 1 : 0))
            case let .string(x): string(x)
            case let .array(a): array(a)
            }
        }

        mutating func array(_ a: GGUFArray) {
            u32(a.elementType.rawValue)
            u64(UInt64(a.count))
            switch a {
            case let .uint8(x): x.forEach { int($0) }
            case let .int8(x): x.forEach { int($0) }
            case let .uint16(x): x.forEach { int($0) }
            case let .int16(x): x.forEach { int($0) }
            case let .uint32(x): x.forEach { int($0) }
            case let .int32(x): x.forEach { int($0) }
            case let .float32(x): x.forEach { int($0.bitPattern) }
            case let .uint64(x): x.forEach { int($0) }
            case let .int64(x): x.forEach { int($0) }
            case let .float64(x): x.forEach { int($0.bitPattern) }
            case let .bool(x): x.forEach { int(UInt8($0 ? 1 : 0)) }
            case let .string(x): x.forEach { string($0) }
            case let .array(x): x.forEach { array($0) }
            }
        }
    }
}
