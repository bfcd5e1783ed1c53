// The tokenizer of a GGUF whose `tokenizer.ggml.model` is "llama" (llama.cpp's SPM vocabulary:
// Gemma 3, LLaMA 1/2, Mistral v0.1), written as an `spm-vocab` blob (Formats/FORMAT.md §6.1),
// which TandemTokenizer's SentencePieceBPETokenizer reads.
//
// The blob holds the vocabulary as llama.cpp uses it once loaded, so the import applies what
// llama.cpp's `llama_vocab::impl::load` (src/llama-vocab.cpp, read, not copied) does to an SPM
// vocabulary on the way in:
// * defaults when a key is missing: BOS 1, EOS 2, unknown 0, no padding, add_space_prefix true,
//   add_bos_token true, scores 0, every type normal; an empty spelling becomes `[EMPTY_<id>]`;
// * token types that llama.cpp overrides by spelling: end-of-generation tokens (`<end_of_turn>`,
//   `<|im_end|>`, `<EOT>`, …) and, when their id keys are missing, EOT/EOM/FIM tokens become
//   control; gpt-oss's `<|channel|>`, `<|message|>`, `<|start|>`, `<|constrain|>`, and `<|end|>`
//   beside both `<|return|>` and `<|call|>`, become user-defined. llama.cpp picks the EOT and
//   each FIM token by the first spelling its hash map yields; the import marks every spelling of
//   a list, which differs only for a vocabulary holding two spellings of one list.
// Vocabularies for which llama.cpp also strips spaces around special tokens (Phi-3 by
// `general.name`, jina-v2 by `tokenizer.ggml.pre`, nomic-bert-moe by architecture) are refused.
import Foundation
import TandemFormat

extension GGUFImporter {
    /// Spellings whose type llama.cpp sets to control whatever the file says (`special_eog_ids`).
    static let endOfGenerationSpellings: [String] = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<end_of_turn>", "<|endoftext|>",
        "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>",
    ]

    /// Spellings llama.cpp makes control when the id key (or its deprecated alias) is missing.
    static let controlByMissingKey: [(keys: [String], spellings: [String])] = [
        (["eot_token_id"], ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>", "_<EOT>",
                            "<｜end▁of▁sentence｜>", "<end_of_utterance>"]),
        (["eom_token_id"], ["<|eom_id|>"]),
        (["fim_pre_token_id", "prefix_token_id"], ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>"]),
        (["fim_suf_token_id", "suffix_token_id"], ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>"]),
        (["fim_mid_token_id", "middle_token_id"], ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>"]),
        (["fim_pad_token_id"], ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>"]),
        (["fim_rep_token_id"], ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"]),
        (["fim_sep_token_id"], ["<|file_sep|>"]),
    ]

    /// GGUF token types (llama.cpp `llama_token_type`).
    static let controlType: UInt8 = 3, userDefinedType: UInt8 = 4

    static func spmTokenizerBlobs(_ file: GGUFFile) throws(ConvertError) -> TokenizerImport {
        guard var tokens = file["tokenizer.ggml.tokens"]?.array?.strings else { throw .source("GGUF has no tokenizer.ggml.tokens string array") }
        guard !tokens.isEmpty else { throw .source("GGUF tokenizer.ggml.tokens is empty") }
        // llama.cpp renames an empty spelling rather than refusing it.
        for i in tokens.indices where tokens[i].isEmpty { tokens[i] = "[EMPTY_\(i)]" }
        let name = (file["general.name"]?.string ?? "").lowercased()
        let pre = file["tokenizer.ggml.pre"]?.string ?? ""
        let arch = file["general.architecture"]?.string ?? ""
        if name.contains("phi-3") || name.contains("phi3") || ["jina-v2-de", "jina-v2-es", "jina-v2-code"].contains(where: pre.contains)
            || arch.contains("nomic-bert-moe") {
            throw .source("GGUF \(file["general.name"]?.string ?? arch): llama.cpp strips spaces around its special tokens, which Tandem's SPM tokenizer does not do")
        }
        var scores = [Float](repeating: 0, count: tokens.count)
        if let s = file["tokenizer.ggml.scores"] {
            guard case .float32(let values)? = s.array, values.count == tokens.count else {
                throw .source("GGUF tokenizer.ggml.scores is not \(tokens.count) f32 values")
            }
            if let bad = values.firstIndex(where: { !$0.isFinite }) { throw .source("GGUF tokenizer.ggml.scores[\(bad)] is \(values[bad])") }
            scores = values
        }
        var types = [UInt8](repeating: 1, count: tokens.count)
        if let t = file["tokenizer.ggml.token_type"] {
            guard let ints = t.array?.integers, ints.count == tokens.count else {
                throw .source("GGUF tokenizer.ggml.token_type is not \(tokens.count) integers")
            }
            // llama.cpp reads codes outside 0...6 as "undefined" (0).
            types = ints.map { (0...6).contains($0) ? UInt8($0) : 0 }
        }
        // Keyed by bytes: String equality is canonical equivalence, and Gemma spells U+09DF and
        // U+09AF U+09BC as two tokens.
        var idOf: [[UInt8]: Int] = [:]
        idOf.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() where idOf.updateValue(i, forKey: Array(t.utf8)) != nil {
            throw .source("GGUF vocabulary spells token \(i) \(t.debugDescription) like an earlier one (llama.cpp aborts on that)")
        }
        applyLlamaCppTypeOverrides(&types, idOf: idOf, file: file)

        func special(_ key: String, default fallback: Int32?) throws(ConvertError) -> Int32? {
            guard let v = file["tokenizer.ggml.\(key)_token_id"] else { return fallback.flatMap { Int($0) < tokens.count ? $0 : nil } }
            guard let id = v.integer, id >= 0, id < tokens.count else { throw .source("GGUF tokenizer.ggml.\(key)_token_id \(v) is not a token id") }
            return Int32(id)
        }
        let ids = [try special("bos", default: 1), try special("eos", default: 2),
                   try special("unknown", default: 0), try special("padding", default: nil)]
        let addSpacePrefix = file["tokenizer.ggml.add_space_prefix"]?.bool ?? true
        let blob = spmVocabularyBlob(tokens: tokens, scores: scores, types: types, specialIds: ids, addSpacePrefix: addSpacePrefix)

        var generation: [String: JSONValue] = ["add_bos_token": .bool(file["tokenizer.ggml.add_bos_token"]?.bool ?? true)]
        if let template = file["tokenizer.chat_template"]?.string { generation["chat_template"] = .string(template) }
        let entry = TandemMetadata.TokenizerEntry(type: "spm-vocab", blob: spmBlobName)
        return TokenizerImport(entry: entry, blobs: [BlobPlan(name: spmBlobName, encoding: .lz4, content: blob)], generation: generation)
    }

    /// Where the blob goes in the Tandem file.
    static let spmBlobName = "tokenizer/vocabulary.spm"

    /// The token types llama.cpp ends up with after loading (see the file header).
    static func applyLlamaCppTypeOverrides(_ types: inout [UInt8], idOf: [[UInt8]: Int], file: GGUFFile) {
        func id(_ s: String) -> Int? { idOf[Array(s.utf8)] }
        for (keys, spellings) in controlByMissingKey where !keys.contains(where: { file["tokenizer.ggml.\($0)"] != nil }) {
            for s in spellings { if let i = id(s) { types[i] = controlType } }
        }
        for s in endOfGenerationSpellings { if let i = id(s) { types[i] = controlType } }
        for s in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"] { if let i = id(s) { types[i] = userDefinedType } }
        if id("<|return|>") != nil, id("<|call|>") != nil, let end = id("<|end|>") { types[end] = userDefinedType }
    }

    /// The `spm-vocab` blob (Formats/FORMAT.md §6.1): header, scores, types, spelling lengths,
    /// spellings. `specialIds` are BOS, EOS, unknown, padding (nil: none).
    public static func spmVocabularyBlob(tokens: [String], scores: [Float], types: [UInt8], specialIds: [Int32?],
                                         addSpacePrefix: Bool) -> [UInt8] {
        precondition(scores.count == tokens.count && types.count == tokens.count && specialIds.count == 4)
        var out: [UInt8] = []
        out.reserveCapacity(32 + 9 * tokens.count + tokens.reduce(0) { $0 + $1.utf8.count })
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        out.append(contentsOf: "TSPV".utf8)
        u32(1)
        u32(addSpacePrefix ? 1 : 0)
        u32(UInt32(tokens.count))
        for id in specialIds { u32(UInt32(bitPattern: id ?? -1)) }
        for s in scores { u32(s.bitPattern) }
        out.append(contentsOf: types)
        for t in tokens { u32(UInt32(t.utf8.count)) }
        for t in tokens { out.append(contentsOf: t.utf8) }
        return out
    }
}
