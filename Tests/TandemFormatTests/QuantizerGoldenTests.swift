import Foundation
import Testing
@testable import TandemFormat

/// The reference quantizers against gguf-py (llama.cpp's reference), bit for bit.
/// Golden data: Tools/fixtures/make_quant_golden.py → Tests/Fixtures/quant.
struct QuantizerGoldenTests {
    struct Row {
        let name: String
        let values: [Float]
        let encoded: [DType: [UInt8]]
        let dequantized: [DType: [Float]]
    }

    static func rows() throws -> [Row] {
        let manifest = try Fixtures.json("Tests/Fixtures/quant/manifest.json")
        var files: [String: Data] = [:]
        for f in ["rows.f32", "f16.bin", "q8_0.bin", "q4_0.bin", "q8_0.dequant.f32", "q4_0.dequant.f32"] {
            files[f] = try Fixtures.data("Tests/Fixtures/quant/\(f)")
        }
        func slice(_ row: [String: Any], _ file: String) -> Data {
            let info = (row["files"] as! [String: [String: Int]])[file]!
            return files[file]!.subdata(in: info["offset"]!..<info["offset"]! + info["bytes"]!)
        }
        func floats(_ d: Data) -> [Float] { d.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) } }
        return (manifest["rows"] as! [[String: Any]]).map { r in
            Row(name: r["name"] as! String, values: floats(slice(r, "rows.f32")),
                encoded: [.f16: [UInt8](slice(r, "f16.bin")), .q8_0: [UInt8](slice(r, "q8_0.bin")), .q4_0: [UInt8](slice(r, "q4_0.bin"))],
                dequantized: [.q8_0: floats(slice(r, "q8_0.dequant.f32")), .q4_0: floats(slice(r, "q4_0.dequant.f32"))])
        }
    }

    @Test(arguments: [DType.f16, .q8_0, .q4_0])
    func encodeMatchesGGUFPy(dtype: DType) throws {
        let rows = try Self.rows()
        #expect(rows.count >= 10)
        for row in rows {
            let ours = dtype.encode(row.values)
            #expect(ours == row.encoded[dtype]!, "\(dtype) row \(row.name)")
        }
    }

    @Test(arguments: [DType.q8_0, .q4_0])
    func decodeMatchesGGUFPy(dtype: DType) throws {
        for row in try Self.rows() {
            let ours = row.encoded[dtype]!.withUnsafeBytes { dtype.decode($0, count: row.values.count) }
            let theirs = row.dequantized[dtype]!
            for (a, b) in zip(ours, theirs) {
                #expect(a == b || (a.isNaN && b.isNaN), "\(dtype) row \(row.name)")
            }
        }
    }
}
