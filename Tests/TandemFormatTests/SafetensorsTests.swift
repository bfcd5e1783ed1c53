import Foundation
import Testing
@testable import TandemFormat

/// Builds safetensors files byte by byte (8-byte header length, JSON header, data).
func safetensorsBytes(header: String, data: [UInt8], headerLengthOverride: UInt64? = nil) -> [UInt8] {
    var out: [UInt8] = []
    let h = Array(header.utf8)
    out.append(le: headerLengthOverride ?? UInt64(h.count))
    return out + h + data
}

struct SafetensorsTests {
    func write(_ bytes: [UInt8], name: String = "model.safetensors", in dir: String? = nil) -> String {
        let d = dir ?? Fixtures.temporary("st")
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        let path = d + "/" + name
        FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    func floats(_ v: [Float]) -> [UInt8] { v.flatMap { x in withUnsafeBytes(of: x) { Array($0) } } }

    @Test func readsFloatTypes() throws {
        let f32 = floats([1, -2, 3.5, 0])
        let f16: [UInt8] = [Float16(1.5), Float16(-0.25)].flatMap { x in withUnsafeBytes(of: x.bitPattern) { Array($0) } }
        let bf16: [UInt8] = [0x80, 0x3F, 0x00, 0xC0]  // 1.0, -2.0
        let header = #"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"F16","shape":[2],"data_offsets":[16,20]},"c":{"dtype":"BF16","shape":[2],"data_offsets":[20,24]}}"#
        let path = write(safetensorsBytes(header: header, data: f32 + f16 + bf16))
        let file = try SafetensorsFile(path: path)
        #expect(file.metadata["format"] == "pt")
        #expect(try file.tensors["a"]!.floats() == [1, -2, 3.5, 0])
        #expect(try file.tensors["b"]!.floats() == [1.5, -0.25])
        #expect(try file.tensors["c"]!.floats() == [1, -2])
        #expect(file.tensors["a"]!.shape == [2, 2])
        #expect(file.names == ["a", "b", "c"])
    }

    @Test func readsShardedCheckpoints() throws {
        let dir = Fixtures.temporary("sharded")
        _ = write(safetensorsBytes(header: #"{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: floats([7])), name: "model-00001-of-00002.safetensors", in: dir)
        _ = write(safetensorsBytes(header: #"{"y":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: floats([9])), name: "model-00002-of-00002.safetensors", in: dir)
        let index = #"{"metadata":{},"weight_map":{"x":"model-00001-of-00002.safetensors","y":"model-00002-of-00002.safetensors"}}"#
        FileManager.default.createFile(atPath: dir + "/model.safetensors.index.json", contents: Data(index.utf8))
        let ckpt = try SafetensorsCheckpoint(directory: dir)
        #expect(try ckpt["x"]!.floats() == [7])
        #expect(try ckpt["y"]!.floats() == [9])
        #expect(ckpt.files.count == 2)
    }

    @Test func shardIndexCannotEscapeTheDirectory() throws {
        let dir = Fixtures.temporary("escape")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dir + "/model.safetensors.index.json", contents: Data(#"{"weight_map":{"x":"../../etc/passwd"}}"#.utf8))
        #expect(throws: FormatError.self) { try SafetensorsCheckpoint(directory: dir) }
    }

    nonisolated(unsafe) static let hostile: [(String, [UInt8], (FormatError) -> Bool)] = [
        ("empty file", [], { if case .truncated = $0 { true } else { false } }),
        ("header longer than file", safetensorsBytes(header: "{}", data: [], headerLengthOverride: 1000), { if case .truncated = $0 { true } else { false } }),
        ("absurd header length", safetensorsBytes(header: "{}", data: [], headerLengthOverride: 1 << 60), { if case .limitExceeded = $0 { true } else { false } }),
        ("malformed JSON", safetensorsBytes(header: "{\"a\":", data: []), { if case .malformedJSON = $0 { true } else { false } }),
        ("header not an object", safetensorsBytes(header: "[1,2]", data: []), { if case .malformedJSON = $0 { true } else { false } }),
        ("unknown dtype", safetensorsBytes(header: #"{"a":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]), { if case .schema = $0 { true } else { false } }),
        ("offsets past the end", safetensorsBytes(header: #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: [0, 0, 0, 0]), { if case .outOfBounds = $0 { true } else { false } }),
        ("shape and offsets disagree", safetensorsBytes(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]), { if case .shapeMismatch = $0 { true } else { false } }),
        ("shape overflows", safetensorsBytes(header: #"{"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]), { if case .sizeOverflow = $0 { true } else { false } }),
        ("negative dimension", safetensorsBytes(header: #"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]), { if case .schema = $0 { true } else { false } }),
        ("overlapping tensors", safetensorsBytes(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, data: [UInt8](repeating: 0, count: 12)), { if case .overlap = $0 { true } else { false } }),
        ("reversed offsets", safetensorsBytes(header: #"{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}"#, data: [UInt8](repeating: 0, count: 12)), { if case .schema = $0 { true } else { false } }),
    ]

    @Test(arguments: 0..<hostile.count)
    func rejectsHostileFiles(index: Int) {
        let (name, bytes, check) = Self.hostile[index]
        let path = write(bytes)
        do {
            _ = try SafetensorsFile(path: path)
            Issue.record("\(name): accepted")
        } catch {
            #expect(check(error), "\(name): got \(error)")
        }
    }
}
