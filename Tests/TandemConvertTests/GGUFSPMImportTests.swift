// GGUF import of a SentencePiece-style vocabulary (`tokenizer.ggml.model = "llama"`, Gemma 3):
// gemma3-small.gguf (Tools/fixtures/make_spm_tokenizer_golden.py) through the importer's
// tokenizer step, stored in a Tandem file as the converter stores it, loaded back by the runtime's
// loader, must give llama.cpp's golden ids and texts. Variants of the small GGUF, rewritten here
// key by key, check the importer's refusals and llama.cpp's load-time defaults and overrides.
import Foundation
import Testing
import TandemFormat
import TandemTokenizer
@testable import TandemConvert

@Suite("GGUF SPM tokenizer import") struct GGUFSPMImportTests {
    static let small = "Tests/Fixtures/tokenizers/gemma3-small.gguf"

    struct Golden: Decodable {
        struct Case: Decodable { var text: String; var ids: [Int32]; var decoded: String }
        struct DecodeCase: Decodable { var ids: [Int32]; var decoded: String }
        var vocab_size: Int
        var bos_id: Int32, eos_id: Int32, unk_id: Int32, pad_id: Int32
        var cases: [Case]
        var decode_cases: [DecodeCase]?
    }

    static func golden(_ name: String) throws -> Golden {
        try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("Tests/Fixtures/tokenizers/" + name))))
    }

    /// Imports `gguf`'s tokenizer, writes it into a Tandem file as `tandem convert` does, and
    /// loads it back through `TokenizerLoader`.
    static func roundTrip(_ gguf: String) throws -> (any Tokenizer, GGUFImporter.TokenizerImport) {
        let imported = try GGUFImporter.tokenizerBlobs(try GGUFFile(path: gguf), contextLength: nil)
        let meta = TandemMetadata(
            kind: .model, models: ["model": .init(architecture: "llama", config: .object([:]), tokenizer: "main")],
            tokenizers: ["main": imported.entry], generation: imported.generation,
            provenance: .init(sources: [gguf], converter: "test", created: "", defaultDType: "gguf", keepRules: [], tensors: [:]))
        let out = Fixtures.temporary("spm.tandem")
        try TandemFileWriter(metadata: meta, tensors: [], blobs: imported.blobs).write(to: out) { _, _ in }
        let file = try TandemFile(path: out)
        let entry = try #require(file.metadata.tokenizers["main"])
        return (try TokenizerLoader.load(type: entry.type, bytes: try file.blob(entry.blob)), imported)
    }

    @Test func smallGemmaVocabularyGivesLlamaCppIds() throws {
        let (tokenizer, imported) = try Self.roundTrip(Fixtures.path(Self.small))
        #expect(imported.entry.type == TokenizerLoader.spmVocabularyType && imported.blobs.map(\.encoding) == [.lz4])
        #expect(imported.generation["add_bos_token"] == .bool(true) && imported.generation["chat_template"] == nil)
        let golden = try Self.golden("gemma3-small.encoded.json")
        #expect(tokenizer.vocabularySize == golden.vocab_size)
        #expect(tokenizer.bosTokenId == golden.bos_id && tokenizer.eosTokenId == golden.eos_id)
        #expect(tokenizer.unknownTokenId == golden.unk_id && tokenizer.padTokenId == golden.pad_id)
        #expect(golden.cases.count >= 35)
        for c in golden.cases {
            #expect(tokenizer.encode(c.text) == c.ids, "encode \(c.text.debugDescription)")
            #expect(tokenizer.decode(c.ids) == c.decoded, "decode \(c.text.debugDescription)")
        }
        for c in try #require(golden.decode_cases) { #expect(tokenizer.decode(c.ids) == c.decoded, "decode \(c.ids)") }
    }

    /// The real Gemma 3 GGUF (TANDEM_GEMMA_GGUF): import, store, load, and llama.cpp's ids on every
    /// golden text; prints the blob size and the load time.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["TANDEM_GEMMA_GGUF"] != nil, "set TANDEM_GEMMA_GGUF to the Gemma 3 GGUF"))
    func fullGemmaVocabulary() throws {
        let path = try #require(ProcessInfo.processInfo.environment["TANDEM_GEMMA_GGUF"])
        let (tokenizer, imported) = try Self.roundTrip(path)
        let golden = try Self.golden("gemma3-270m.encoded.json")
        #expect(tokenizer.vocabularySize == 262_144)
        for c in golden.cases {
            #expect(tokenizer.encode(c.text) == c.ids, "encode \(c.text.debugDescription)")
            #expect(tokenizer.decode(c.ids) == c.decoded, "decode \(c.text.debugDescription)")
        }
        let blob = imported.blobs[0].content
        let clock = ContinuousClock()
        var loads: [Duration] = []
        for _ in 0..<3 { loads.append(try clock.measure { _ = try TokenizerLoader.load(type: TokenizerLoader.spmVocabularyType, bytes: blob) }) }
        print("Gemma 3 spm-vocab blob: \(blob.count) bytes raw, \(LZ4.compress(blob).count) LZ4; loads in \(loads.min()!)")
    }

    // MARK: - Variants of the small GGUF

    /// The small GGUF's metadata, in file order, to edit and write back.
    static func metadata() throws -> [(String, GGUFValue)] {
        let file = try GGUFFile(path: Fixtures.path(small))
        return file.header.metadataKeys.map { ($0, file[$0]!) }
    }

    /// Writes a tensor-less GGUF holding `kvs` and imports its tokenizer.
    static func importVariant(_ kvs: [(String, GGUFValue)]) throws(ConvertError) -> GGUFImporter.TokenizerImport {
        var b = TestGGUFWriter()
        b.bytes += Array("GGUF".utf8)
        b.u32(3); b.u64(0); b.u64(UInt64(kvs.count))
        for (k, v) in kvs { b.string(k); b.value(v) }
        let path = Fixtures.temporary("variant.gguf")
        try! Data(b.bytes).write(to: URL(fileURLWithPath: path))
        let file: GGUFFile
        do { file = try GGUFFile(path: path) } catch { throw .format(error) }
        return try GGUFImporter.tokenizerBlobs(file, contextLength: nil)
    }

    static func edited(_ kvs: [(String, GGUFValue)], _ key: String, _ value: GGUFValue?) -> [(String, GGUFValue)] {
        var out = kvs.filter { $0.0 != key }
        if let value { out.append((key, value)) }
        return out
    }

    @Test func variantWrittenHereImportsLikeTheFixture() throws {
        let kvs = try Self.metadata()
        let direct = try GGUFImporter.tokenizerBlobs(try GGUFFile(path: Fixtures.path(Self.small)), contextLength: nil)
        #expect(try Self.importVariant(kvs).blobs[0].content == direct.blobs[0].content)
    }

    @Test func hostileVocabulariesAreRefused() throws {
        let kvs = try Self.metadata()
        let tokens = try #require(kvs.first { $0.0 == "tokenizer.ggml.tokens" }?.1.array?.strings)
        let scoreArray = try #require(kvs.first { $0.0 == "tokenizer.ggml.scores" }?.1.array)
        guard case .float32(var scores) = scoreArray else { Issue.record("scores are \(scoreArray.elementType)"); return }
        scores[10] = .nan
        var duplicated = tokens
        duplicated[500] = duplicated[501]
        let cases: [(String, [(String, GGUFValue)], String)] = [
            ("scores count", Self.edited(kvs, "tokenizer.ggml.scores", .array(.float32([1, 2]))), "tokenizer.ggml.scores is not"),
            ("NaN score", Self.edited(kvs, "tokenizer.ggml.scores", .array(.float32(scores))), "tokenizer.ggml.scores[10] is nan"),
            ("types count", Self.edited(kvs, "tokenizer.ggml.token_type", .array(.int32([1]))), "token_type is not"),
            ("duplicate", Self.edited(kvs, "tokenizer.ggml.tokens", .array(.string(duplicated))), "spells token 501"),
            ("bos out of range", Self.edited(kvs, "tokenizer.ggml.bos_token_id", .uint32(UInt32(tokens.count))), "bos_token_id"),
            ("no tokens", Self.edited(kvs, "tokenizer.ggml.tokens", nil), "no tokenizer.ggml.tokens"),
            ("Phi-3", Self.edited(kvs, "general.name", .string("Phi-3 mini")), "strips spaces around its special tokens"),
            ("model", Self.edited(kvs, "tokenizer.ggml.model", .string("t5")), "tokenizer model t5 is not supported"),
        ]
        for (name, variant, message) in cases {
            do {
                _ = try Self.importVariant(variant)
                Issue.record("\(name): imported")
            } catch {
                #expect(error.description.contains(message), "\(name): \(error)")
            }
        }
    }

    /// Without the keys, llama.cpp's SPM defaults apply: BOS 1, EOS 2, unknown 0, no padding,
    /// add_space_prefix and add_bos_token true, scores 0, every type normal; spellings that
    /// llama.cpp makes control (`<end_of_turn>`) or user-defined (`<|channel|>`) are so, and an
    /// empty spelling is renamed as llama.cpp renames it.
    @Test func llamaCppDefaultsAndOverrides() throws {
        var kvs = try Self.metadata()
        for key in ["tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
                    "tokenizer.ggml.padding_token_id", "tokenizer.ggml.add_space_prefix", "tokenizer.ggml.add_bos_token",
                    "tokenizer.ggml.scores", "tokenizer.ggml.token_type"] {
            kvs = Self.edited(kvs, key, nil)
        }
        var tokens = try #require(kvs.first { $0.0 == "tokenizer.ggml.tokens" }?.1.array?.strings)
        tokens[900] = "<|channel|>"
        tokens[901] = ""
        kvs = Self.edited(kvs, "tokenizer.ggml.tokens", .array(.string(tokens)))
        let imported = try Self.importVariant(kvs)
        #expect(imported.generation["add_bos_token"] == .bool(true))
        let tokenizer = try SentencePieceBPETokenizer(vocabularyBlob: imported.blobs[0].content)
        #expect(tokenizer.bosTokenId == 1 && tokenizer.eosTokenId == 2 && tokenizer.unknownTokenId == 0 && tokenizer.padTokenId == nil)
        #expect(tokenizer.addSpacePrefix)
        let endOfTurn = try #require(tokenizer.tokenId("<end_of_turn>"))
        #expect(tokenizer.tokenType(endOfTurn) == .control && tokenizer.tokenType(900) == .userDefined)
        #expect(tokenizer.tokenType(try #require(tokenizer.tokenId("<bos>"))) == .normal)
        #expect(tokenizer.tokenText(901) == "[EMPTY_901]")
        // With every score 0, each merge is the leftmost possible one; control tokens are text.
        #expect(tokenizer.decode(tokenizer.encode("<bos> Hello<end_of_turn>")) == "<bos> Hello")
    }
}

/// GGUF bytes from metadata values (little-endian, version 3), for the variants above.
struct TestGGUFWriter {
    var bytes: [UInt8] = []

    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func string(_ s: String) { u64(UInt64(s.utf8.count)); bytes += Array(s.utf8) }

    mutating func value(_ v: GGUFValue) {
        u32(v.type.rawValue)
        switch v {
        case .uint8(let x): bytes.append(x)
        case .int8(let x): bytes.append(UInt8(bitPattern: x))
        case .uint16(let x): withUnsafeBytes(of: x.littleEndian) { bytes += $0 }
        case .int16(let x): withUnsafeBytes(of: x.littleEndian) { bytes += $0 }
        case .uint32(let x): u32(x)
        case .int32(let x): u32(UInt32(bitPattern: x))
        case .float32(let x): u32(x.bitPattern)
        case .bool(let x): bytes.append(x ? 1 : 0)
        case .string(let s): string(s)
        case .uint64(let x): u64(x)
        case .int64(let x): u64(UInt64(bitPattern: x))
        case .float64(let x): u64(x.bitPattern)
        case .array(let a): array(a)
        }
    }

    mutating func array(_ a: GGUFArray) {
        u32(a.elementType.rawValue)
        u64(UInt64(a.count))
        switch a {
        case .uint8(let xs): bytes += xs
        case .int8(let xs): bytes += xs.map { UInt8(bitPattern: $0) }
        case .uint16(let xs): for x in xs { withUnsafeBytes(of: x.littleEndian) { bytes += $0 } }
        case .int16(let xs): for x in xs { withUnsafeBytes(of: x.littleEndian) { bytes += $0 } }
        case .uint32(let xs): for x in xs { u32(x) }
        case .int32(let xs): for x in xs { u32(UInt32(bitPattern: x)) }
        case .float32(let xs): for x in xs { u32(x.bitPattern) }
        case .bool(let xs): bytes += xs.map { $0 ? 1 : 0 }
        case .string(let xs): for x in xs { string(x) }
        case .uint64(let xs): for x in xs { u64(x) }
        case .int64(let xs): for x in xs { u64(UInt64(bitPattern: x)) }
        case .float64(let xs): for x in xs { u64(x.bitPattern) }
        case .array(let xs): for x in xs { array(x) }
        }
    }
}
