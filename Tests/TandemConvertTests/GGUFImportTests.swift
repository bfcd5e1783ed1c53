// GGUF → Tandem import on the tiny LLaMA fixtures (Tools/fixtures/make_gguf_fixtures.py): a
// seeded Hugging Face model written the way llama.cpp's convert_hf_to_gguf.py writes it, q/k
// rows permuted for ggml's RoPE. After import the q/k rows must be the Hugging Face originals
// again — exactly for f32, block for block for Q8_0 (rows move whole, blocks are untouched).
import Foundation
import Testing
import TandemFormat
import TandemModels
@testable import TandemConvert

@Suite("GGUF import") struct GGUFImportTests {
    static let dir = "Tests/Fixtures/gguf/"

    func importFixture(_ name: String, _ dtype: DType, keep: [KeepRule] = []) throws -> (TandemFile, ConvertReport) {
        let out = Fixtures.temporary("\(name)-\(dtype.name).tandem")
        let report = try GGUFImporter.convert(ConvertOptions(source: Fixtures.path(Self.dir + name), output: out, dtype: dtype, keep: keep, pool: .shared))
        return (try TandemFile(path: out), report)
    }

    func floats(_ view: TensorView) -> [Float] { view.dtype.decode(view.data, count: view.info.elementCount) }

    /// A GGUF whose `general.architecture` no architecture of the registry maps is refused with
    /// one line naming it and the architectures that are imported; nothing is written.
    @Test func unmappedArchitectureIsRefused() throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path(Self.dir + "tiny-llama-f32.gguf"))))
        let key = Array("general.architecture".utf8), value = Array("llama".utf8)
        let at = try #require((0...(bytes.count - key.count)).first { Array(bytes[$0..<$0 + key.count]) == key })
        let v = at + key.count + 4 + 8   // value type (u32), string length (u64)
        #expect(Array(bytes[v..<v + 5]) == value)
        bytes.replaceSubrange(v..<v + 5, with: Array("qwen9".utf8))
        let source = Fixtures.temporary("qwen9.gguf"), out = Fixtures.temporary("qwen9.tandem")
        try Data(bytes).write(to: URL(fileURLWithPath: source))
        do {
            _ = try GGUFImporter.convert(ConvertOptions(source: source, output: out, dtype: .q8_0, pool: .shared))
            Issue.record("imported")
        } catch {
            #expect(error.description.contains("GGUF architecture qwen9 is not supported (Tandem imports: \(ArchitectureRegistry.supportedGGUFArchitectures.joined(separator: ", ")))"), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func f32ImportRestoresHuggingFaceRows() throws {
        let (file, report) = try importFixture("tiny-llama-f32.gguf", .f32)
        let hf = try SafetensorsFile(path: Fixtures.path(Self.dir + "tiny-llama-hf.safetensors"))
        #expect(hf.names.count == 4)
        for name in hf.names {
            let view = try #require(file.tensor(name))
            #expect(floats(view) == (try hf.tensors[name]!.floats()), "\(name) differs from the Hugging Face original")
        }
        // Everything else is the GGUF tensor, unchanged, under its Hugging Face name.
        let gguf = try GGUFFile(path: Fixtures.path(Self.dir + "tiny-llama-f32.gguf"))
        for t in gguf.tensors where !t.name.contains("attn_q") && !t.name.contains("attn_k") {
            let view = try #require(file.tensor(LlamaArchitecture.gguf!.tensorName(t.name)!))
            #expect(view.shape == t.info.shape)
            #expect(floats(view) == (try t.floats()), "\(t.name)")
        }
        #expect(file.tensor("lm_head.weight") == nil)
        #expect(report.tensorCount == 20 && report.skipped.isEmpty)

        let model = try #require(file.metadata.models["model"])
        #expect(model.architecture == "llama")
        let c = model.config
        #expect(c["rope_layout"] == .string("hf-half-split"))
        #expect(c["tie_word_embeddings"] == .bool(true))
        #expect(c["num_attention_heads"]?.intValue == 4 && c["num_key_value_heads"]?.intValue == 2)
        #expect(c["hidden_size"]?.intValue == 32 && c["intermediate_size"]?.intValue == 64 && c["num_hidden_layers"]?.intValue == 2)
        #expect(c["rms_norm_eps"]?.doubleValue == 1e-5 && c["rope_theta"]?.doubleValue == 10_000)
        #expect(c["vocab_size"]?.intValue == 264 && c["max_position_embeddings"]?.intValue == 256)
        #expect(c["bos_token_id"]?.intValue == 1 && c["eos_token_id"]?.intValue == 2)
        #expect(file.metadata.generation["chat_template"]?.stringValue?.contains("<|im_start|>") == true)
    }

    @Test func q8BlocksAreCopiedWithRowsUnpermuted() throws {
        let (file, _) = try importFixture("tiny-llama-q8.gguf", .q8_0)
        let hf = try SafetensorsFile(path: Fixtures.path(Self.dir + "tiny-llama-hf.safetensors"))
        for name in hf.names {
            let view = try #require(file.tensor(name))
            #expect(view.dtype == .q8_0)
            // gguf-py's Q8_0 quantizer is ggml's; quantizing the HF rows gives the same blocks.
            #expect([UInt8](view.data) == DType.q8_0.encode(try hf.tensors[name]!.floats()), "\(name)")
            #expect(file.metadata.provenance.tensors[name]?.rule.contains("copied, RoPE rows un-permuted") == true)
        }
        #expect(file.tensor("lm_head.weight")?.dtype == .q8_0)
        #expect(file.metadata.models["model"]?.config["tie_word_embeddings"] == .bool(false))
        #expect(file.tensor("model.norm.weight")?.dtype == .f32)
        // The Q4_0 embedding is requantized: dequantized by ggml's rule, encoded by Tandem's.
        let gguf = try GGUFFile(path: Fixtures.path(Self.dir + "tiny-llama-q8.gguf"))
        let embd = try #require(file.tensor("model.embed_tokens.weight"))
        #expect([UInt8](embd.data) == DType.q8_0.encode(try gguf.tensor("token_embd.weight")!.floats()))
    }

    @Test func q4TargetCopiesQ4Blocks() throws {
        let (file, report) = try importFixture("tiny-llama-q8.gguf", .q4_0, keep: [KeepRule(pattern: "*.o_proj.weight", dtype: .f16)])
        let gguf = try GGUFFile(path: Fixtures.path(Self.dir + "tiny-llama-q8.gguf"))
        let embd = try #require(file.tensor("model.embed_tokens.weight"))
        #expect(embd.dtype == .q4_0 && [UInt8](embd.data) == [UInt8](gguf.tensor("token_embd.weight")!.data))
        let q = try #require(file.tensor("model.layers.1.self_attn.q_proj.weight"))
        #expect(q.dtype == .q4_0)
        #expect(file.tensor("model.layers.0.self_attn.o_proj.weight")?.dtype == .f16)
        #expect(report.dtypeCounts["f16"] == 2)
    }

    /// `sourceRow` inverts llama.cpp's `LlamaModel.permute`, written here as in the Python:
    /// reshape(heads, 2, d/2) → swapaxes(1, 2) → reshape.
    @Test(arguments: [(8, 1), (8, 2), (16, 4), (576, 9), (192, 3)]) func permutationIsInverted(_ c: (Int, Int)) {
        let (rows, heads) = c
        let d = rows / heads
        var permuted = [Int](repeating: -1, count: rows)  // GGUF row → HF row
        for h in 0..<heads { for s in 0..<2 { for i in 0..<d / 2 { permuted[h * d + i * 2 + s] = h * d + s * d / 2 + i } } }
        for r in 0..<rows { #expect(permuted[GGUFImporter.sourceRow(huggingFaceRow: r, rows: rows, heads: heads)] == r) }
    }

    @Test func tokenizerJSONIsFaithful() throws {
        let (file, _) = try importFixture("tiny-llama-f32.gguf", .f32)
        let entry = try #require(file.metadata.tokenizers["main"])
        #expect(entry.type == "hf-tokenizer-json")
        let json = try #require(JSONSerialization.jsonObject(with: Data(try file.blob(entry.blob))) as? [String: Any])
        let model = try #require(json["model"] as? [String: Any])
        #expect(model["type"] as? String == "BPE")
        let vocab = try #require(model["vocab"] as? [String: Int])
        #expect(vocab.count == 264 && vocab["<|im_start|>"] == 1 && vocab["Ġthe"] == 261)
        #expect((model["merges"] as? [String])?.first == "Ġ t")
        let added = try #require(json["added_tokens"] as? [[String: Any]])
        #expect(added.map { $0["content"] as? String } == ["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
        #expect(added.allSatisfy { $0["special"] as? Bool == true })
        let pre = try #require(json["pre_tokenizer"] as? [String: Any])
        let steps = try #require(pre["pretokenizers"] as? [[String: Any]])
        #expect(steps.map { $0["type"] as? String } == ["Digits", "Split", "ByteLevel"])
        #expect((steps[1]["pattern"] as? [String: String])?["Regex"] == GGUFImporter.gpt2Regex)
        #expect((json["decoder"] as? [String: Any])?["type"] as? String == "ByteLevel")
        let config = try #require(JSONSerialization.jsonObject(with: Data(try file.blob(entry.extra["tokenizer_config.json"]!))) as? [String: Any])
        #expect(config["bos_token"] as? String == "<|im_start|>" && config["eos_token"] as? String == "<|im_end|>")
        #expect(config["add_bos_token"] as? Bool == false)
        #expect(GGUFImporter.jsonString("a\"b\\\n\u{1}") == #""a\"b\\\n\u0001""#)
    }

    /// By default a GGUF's matrices keep their own types; one Tandem does not run (here Q3_K) is
    /// refused naming the type and the `--dtype` way out, and `--keep` may name a type Tandem
    /// only copies (a K-quant) just for a tensor that already is one.
    @Test func keepingSourceTypesRefusesWhatTandemDoesNotRun() throws {
        let dequant = try GGUFFile(path: Fixtures.path(Self.dir + "dequant.gguf"))
        let expected = ExpectedTensor("model.layers.0.mlp.down_proj.weight", [4, 256], .linear)
        let keep = ConvertOptions(source: "x.gguf", output: "x.tandem", dtype: .q8_0, keepSourceTypes: true, pool: .shared)
        for (type, dtype) in [(GGMLType.q4_K, DType.q4_K), (.q5_K, .q5_K), (.q6_K, .q6_K), (.q5_0, .q5_0), (.q8_0, .q8_0),
                              (.q4_0, .q4_0), (.f16, .f16), (.f32, .f32), (.bf16, .f32)] {
            let src = try #require(dequant.tensor(type.name))
            #expect(try GGUFImporter.chooseDType(expected, source: src, options: keep).0 == dtype, "\(type.name)")
        }
        for type in [GGMLType.q3_K, .q2_K, .q4_1, .q5_1] {
            let src = try #require(dequant.tensor(type.name))
            #expect {
                _ = try GGUFImporter.chooseDType(expected, source: src, options: keep)
            } throws: { e in
                "\(e)".contains("has type \(type.name), which Tandem does not run; convert with --dtype q8_0 or q4_0")
            }
            // With --dtype it is re-quantized.
            var requantize = keep
            requantize.keepSourceTypes = false
            #expect(try GGUFImporter.chooseDType(expected, source: src, options: requantize).0 == .q8_0)
        }
        var rule = keep
        rule.keep = [KeepRule(pattern: "*.down_proj.weight", dtype: .q4_K)]
        #expect(try GGUFImporter.chooseDType(expected, source: try #require(dequant.tensor("Q4_K")), options: rule).0 == .q4_K)
        #expect {
            _ = try GGUFImporter.chooseDType(expected, source: try #require(dequant.tensor("Q6_K")), options: rule)
        } throws: { e in
            "\(e)".contains("q4_K blocks are only copied from a tensor of that type")
        }
    }

    @Test func refusesWhatItCannotImport() throws {
        // Not llama.
        let other = Fixtures.path(Self.dir + "dequant.gguf")
        #expect {
            try GGUFImporter.convert(ConvertOptions(source: other, output: Fixtures.temporary("x.tandem"), dtype: .f32, pool: .shared))
        } throws: { e in
            if case ConvertError.source(let m) = e { m.contains("architecture test") } else { false }
        }
        // Not a GGUF file at all.
        let bogus = Fixtures.temporary("bogus.gguf")
        try Data("not gguf at all, just text".utf8).write(to: URL(fileURLWithPath: bogus))
        #expect {
            try GGUFImporter.convert(ConvertOptions(source: bogus, output: Fixtures.temporary("y.tandem"), dtype: .f32, pool: .shared))
        } throws: { e in
            if case ConvertError.format(.unsupportedGGUF) = e { true } else { false }
        }
        #expect(GGUFImporter.preTokenizerJSON("no-such-pre") == nil)
        #expect(LlamaArchitecture.gguf!.tensorName("blk.07.attn_q.weight") == nil)
        #expect(LlamaArchitecture.gguf!.tensorName("blk.12.ffn_down.weight") == "model.layers.12.mlp.down_proj.weight")
        #expect(LlamaArchitecture.gguf!.tensorName("rope_freqs.weight") == nil)
    }
}
