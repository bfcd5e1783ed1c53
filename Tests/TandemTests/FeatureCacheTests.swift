import Foundation
import Testing
@testable import Tandem
import TandemConvert
import TandemFormat
import TandemModels
import TandemTestSupport

/// `tandem features`' cache (FeatureCache.swift): each prompt's hidden states read back from the
/// LZ4 blocks equal the PyTorch reference's H (Tools/llm2slm/make_golden.py, random/qwen2 and
/// random/qwen2-layer1: qwen2-tiny as the reader) within f16 rounding, and a run stopped part-way
/// resumes to the same bytes as one that was not.
struct FeatureCacheTests {
    /// qwen2-tiny converted to f32, and the cases of one golden pair.
    static func reader(layer: Int?, scratch: String) throws -> (any PromptReader, [[String: Any]]) {
        let name = layer == nil ? "random/qwen2" : "random/qwen2-layer1"
        let dir = BundleGolden.root.appendingPathComponent(BundleGolden.pair(name)["llm"] as! String).standardized.path
        let out = Scratch.named("features-qwen2-tiny-\(scratch).tandem")
        _ = try Converter.convert(ConvertOptions(source: dir, output: out, dtype: .f32, pool: .shared))
        let r = try ArchitectureRegistry.reader(try TandemFile(path: out), layer: layer, pool: .shared)
        return (r, BundleGolden.pair(name)["cases"] as! [[String: Any]])
    }

    /// The hidden states of entry `i`, from the cache files.
    static func readBack(_ dir: String, _ i: Int, width: Int) throws -> [Float] {
        let index = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/h_cache.json"))) as! [String: Any]
        let e = (index["entries"] as! [[Int]])[i]
        let blob = try Data(contentsOf: URL(fileURLWithPath: dir + "/h_cache.bin"))[e[0]..<e[0] + e[1]]
        let bytes = [UInt8](blob)
        let raw = Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16 | Int(bytes[3]) << 24
        #expect(raw == e[2] * width * 2)
        let plain = try bytes[4...].withUnsafeBytes { try LZ4.decode($0, as: .lz4Shuffle2, rawCount: raw, what: "entry \(i)") }
        return (0..<raw / 2).map { Float(Float16(bitPattern: UInt16(plain[2 * $0]) | UInt16(plain[2 * $0 + 1]) << 8)) }
    }

    @Test(arguments: [nil, 1] as [Int?])
    func matchesTheReferenceWithinF16(layer: Int?) throws {
        let (reader, cases) = try Self.reader(layer: layer, scratch: "layer\(layer ?? 0)")
        let prompts = cases.map { ($0["input_ids"] as! [Int]).map(Int32.init) }
        let dir = Scratch.named("features-\(layer ?? 0)")
        try? FileManager.default.removeItem(atPath: dir)
        let s = try FeatureCache.write(reader: reader, prompts: prompts, directory: dir, key: "k")
        #expect(s.prompts == prompts.count && s.tokens == prompts.reduce(0) { $0 + $1.count })
        let name = layer == nil ? "random/qwen2" : "random/qwen2-layer1"
        for (i, c) in cases.enumerated() {
            let h = try BundleGolden.array(name, c, "H")
            let got = try Self.readBack(dir, i, width: reader.hiddenSize)
            let worst = zip(got, h).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
            #expect(got.count == h.count && worst <= 1e-3, "case \(i): relative error \(worst)")
        }
    }

    /// Prompts read together in one pass (as the cache groups short ones) give each the same
    /// hidden states as reading it alone, bit for bit.
    @Test(arguments: [nil, 1] as [Int?])
    func aBatchReadsAsEachAlone(layer: Int?) throws {
        let (reader, cases) = try Self.reader(layer: layer, scratch: "batch\(layer ?? 0)")
        let prompts = cases.map { ($0["input_ids"] as! [Int]).map(Int32.init) }
        #expect(prompts.reduce(0) { $0 + $1.count } <= reader.batchTokens)
        let together = try reader.read(batch: prompts)
        for (ids, h) in zip(prompts, together) { #expect(try reader.read(ids).array == h.array) }
    }

    @Test func resumesWhereItStopped() throws {
        let (reader, cases) = try Self.reader(layer: nil, scratch: "resume")
        let few = cases.map { ($0["input_ids"] as! [Int]).map(Int32.init) }
        let prompts = (0..<20).flatMap { _ in few }   // several passes' worth
        let whole = Scratch.named("features-whole"), parts = Scratch.named("features-parts")
        for d in [whole, parts] { try? FileManager.default.removeItem(atPath: d) }
        _ = try FeatureCache.write(reader: reader, prompts: prompts, directory: whole, key: "k")
        let first = try FeatureCache.write(reader: reader, prompts: prompts, directory: parts, key: "k") { done, _ in done < 1 }
        // It stops after the pass holding the first prompt.
        #expect(first.prompts > 0 && first.prompts < prompts.count && !FileManager.default.fileExists(atPath: parts + "/h_cache.json"))
        let rest = try FeatureCache.write(reader: reader, prompts: prompts, directory: parts, key: "k")
        #expect(rest.resumedAt == first.prompts && rest.prompts == prompts.count)
        for f in ["h_cache.bin", "h_cache.json"] {
            #expect(FileManager.default.contents(atPath: whole + "/" + f) == FileManager.default.contents(atPath: parts + "/" + f), "\(f)")
        }
        // Another key starts over.
        let other = try FeatureCache.write(reader: reader, prompts: prompts, directory: parts, key: "other")
        #expect(other.resumedAt == 0)
    }
}
