// ggml block dequantization against gguf-py, llama.cpp's Python reference: every type in
// Tests/Fixtures/gguf/dequant.gguf (written by Tools/fixtures/make_gguf_fixtures.py) must decode
// bit for bit to the `<TYPE>.expected` tensor beside it. gguf-py and ggml's C evaluate each value
// with the same float operations in the same order (no FMA), so no tolerance is allowed.
import Foundation
import Testing
import TandemFormat

@Suite("GGUF dequantization") struct GGUFDequantizeTests {
    static let types: [GGMLType] = [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K]

    @Test(arguments: types) func matchesGGUFPy(_ type: GGMLType) throws {
        let file = try GGUFFile(path: Fixtures.path("Tests/Fixtures/gguf/dequant.gguf"))
        let t = try #require(file.tensor(type.name))
        let expected = try #require(file.tensor(type.name + ".expected"))
        #expect(t.type == type)
        #expect(t.dimensions == [256, 4] && expected.type == .f32)
        let got = try t.floats()
        let want = try expected.floats()
        #expect(got.count == want.count)
        var mismatches = 0
        for i in 0..<min(got.count, want.count) where got[i].bitPattern != want[i].bitPattern {
            if mismatches < 5 { Issue.record("\(type.name)[\(i)]: \(got[i]) != \(want[i])") }
            mismatches += 1
        }
        #expect(mismatches == 0, "\(type.name): \(mismatches) values differ")
        #expect(want.contains { $0 != 0 })
    }

    /// ggml's Q8_0 / Q4_0 blocks are Tandem's: DType decodes them to the same values.
    @Test(arguments: [(GGMLType.q8_0, DType.q8_0), (.q4_0, .q4_0), (.f16, .f16), (.bf16, .bf16), (.f32, .f32)])
    func sharedBlocksDecodeAlike(_ pair: (GGMLType, DType)) throws {
        let file = try GGUFFile(path: Fixtures.path("Tests/Fixtures/gguf/dequant.gguf"))
        let t = try #require(file.tensor(pair.0.name))
        #expect(pair.1.decode(t.data, count: t.info.elementCount) == (try t.floats()))
    }

    @Test func unsupportedTypeIsAnError() throws {
        var b = GGUFBytes()
        b.header(tensors: 1, kvs: 0)
        b.tensor("iq", dims: [256], type: GGMLType.iq2_XXS.rawValue, offset: 0)
        b.data(66)
        let path = Fixtures.temporary("iq.gguf")
        try Data(b.bytes).write(to: URL(fileURLWithPath: path))
        let file = try GGUFFile(path: path)
        #expect(throws: FormatError.self) { try file.tensor("iq")!.floats() }
    }
}
