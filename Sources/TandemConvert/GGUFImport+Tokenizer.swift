// The tokenizer of a GGUF file. A byte-level BPE vocabulary (`tokenizer.ggml.model = "gpt2"`) is
// written as a Hugging Face `tokenizer.json` (+ a `tokenizer_config.json`), so that a model
// imported from GGUF carries the same kind of tokenizer as one converted from a Hugging Face
// checkpoint and loads through the same code. A SentencePiece-style one ("llama", Gemma 3) has no
// such counterpart that tokenizes as llama.cpp does; it becomes an `spm-vocab` blob
// (GGUFImport+SPMTokenizer.swift).
//
// Sources (read with the search tool, not copied): llama.cpp src/llama-vocab.cpp — the
// `tokenizer.ggml.pre` names and the regexes of each pre-tokenizer type (LLAMA_VOCAB_PRE_TYPE_SMOLLM
// is `\p{N}` then the GPT-2 regex; GPT2 the GPT-2 regex alone; LLAMA3 and QWEN2 their own) — and
// the token types of `llama_token_type` (3 control, 4 user-defined). The pre-tokenizers are
// written the way Hugging Face `tokenizers` writes the same splits (`Split` with a `Regex`,
// `Digits(individual_digits)` for `\p{N}`, then `ByteLevel` without its own regex), using the
// exact regex strings HF ships, so both Tandem's tokenizer and Python `tokenizers` read the file.
import Foundation
import TandemFormat

extension GGUFImporter {
    struct TokenizerImport {
        var entry: TandemMetadata.TokenizerEntry
        var blobs: [BlobPlan]
        /// chat_template, add_bos_token: generation defaults the runtime reads.
        var generation: [String: JSONValue]

        /// The same with every blob name under `prefix` (a bundle's `llm/` or `slm/`).
        func prefixed(_ prefix: String) -> TokenizerImport {
            var e = entry
            e.blob = prefix + e.blob
            e.extra = e.extra.mapValues { prefix + $0 }
            return TokenizerImport(entry: e, blobs: blobs.map { BlobPlan(name: prefix + $0.name, encoding: $0.encoding, content: $0.content) },
                                   generation: generation)
        }
    }

    static let gpt2Regex = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let llama3Regex = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Regex = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// The `pre_tokenizer` JSON for a `tokenizer.ggml.pre` name, or nil for names Tandem does
    /// not know (refused rather than guessed: a wrong split silently changes every token id).
    public static func preTokenizerJSON(_ pre: String) -> String? {
        let byteLevel = #"{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":false}"#
        func split(_ regex: String) -> String {
            #"{"type":"Split","pattern":{"Regex":"# + jsonString(regex) + #"},"behavior":"Isolated","invert":false}"#
        }
        let steps: [String]
        switch pre {
        case "gpt2", "gpt-2", "mpt", "olmo", "jais": steps = [split(gpt2Regex)]
        // llama.cpp gives these one regex list: `\p{N}` alone, then GPT-2's.
        case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b":
            steps = [#"{"type":"Digits","individual_digits":true}"#, split(gpt2Regex)]
        case "llama3", "llama-v3", "llama-bpe": steps = [split(llama3Regex)]
        case "qwen2": steps = [split(qwen2Regex)]
        default: return nil
        }
        return #"{"type":"Sequence","pretokenizers":["# + (steps + [byteLevel]).joined(separator: ",") + "]}"
    }

    static func tokenizerBlobs(_ file: GGUFFile, contextLength: Int?) throws(ConvertError) -> TokenizerImport {
        guard let model = file["tokenizer.ggml.model"]?.string else { throw .source("GGUF has no tokenizer (tokenizer.ggml.model)") }
        switch model {
        case "gpt2": return try byteLevelTokenizerBlobs(file, contextLength: contextLength)
        case "llama": return try spmTokenizerBlobs(file)
        default:
            throw .source("GGUF tokenizer model \(model) is not supported (Tandem imports gpt2, byte-level BPE, and llama, SentencePiece-style BPE)")
        }
    }

    /// A byte-level BPE vocabulary (`tokenizer.ggml.model = "gpt2"`) as a tokenizer.json.
    static func byteLevelTokenizerBlobs(_ file: GGUFFile, contextLength: Int?) throws(ConvertError) -> TokenizerImport {
        guard let tokens = file["tokenizer.ggml.tokens"]?.array?.strings else { throw .source("GGUF has no tokenizer.ggml.tokens string array") }
        let merges = file["tokenizer.ggml.merges"]?.array?.strings ?? []
        var types: [Int64]?
        if let t = file["tokenizer.ggml.token_type"] {
            guard let ints = t.array?.integers, ints.count == tokens.count else {
                throw .source("GGUF tokenizer.ggml.token_type is not \(tokens.count) integers")
            }
            types = ints
        }
        // No `tokenizer.ggml.pre` means llama.cpp's "default" split, which no Hugging Face
        // tokenizer has; refuse it rather than tokenize differently from llama.cpp.
        guard let pre = file["tokenizer.ggml.pre"]?.string else { throw .source("GGUF has no tokenizer.ggml.pre (pre-tokenizer)") }
        guard let preJSON = preTokenizerJSON(pre) else {
            throw .source("GGUF pre-tokenizer \(pre) is not supported (known: gpt2, smollm, starcoder, llama3, llama-bpe, qwen2 and their aliases)")
        }
        func special(_ key: String) throws(ConvertError) -> String? {
            guard let v = file["tokenizer.ggml.\(key)_token_id"] else { return nil }
            guard let id = v.integer, id >= 0, id < tokens.count else { throw .source("GGUF tokenizer.ggml.\(key)_token_id \(v) is not a token id") }
            return tokens[Int(id)]
        }
        let unk = try special("unknown")
        let json = try tokenizerJSON(tokens: tokens, merges: merges, tokenTypes: types, preTokenizer: preJSON,
                                     unknownToken: unk, ignoreMerges: pre.hasPrefix("llama"))
        var config: [String: JSONValue] = [
            "tokenizer_class": .string("GPT2Tokenizer"),
            "add_bos_token": .bool(file["tokenizer.ggml.add_bos_token"]?.bool ?? false),
            "add_eos_token": .bool(file["tokenizer.ggml.add_eos_token"]?.bool ?? false),
            "clean_up_tokenization_spaces": .bool(false),
        ]
        for (key, hf) in [("bos", "bos_token"), ("eos", "eos_token"), ("padding", "pad_token"), ("unknown", "unk_token")] {
            if let s = try special(key) { config[hf] = .string(s) }
        }
        if let n = contextLength { config["model_max_length"] = .number(Double(n)) }
        var generation: [String: JSONValue] = ["add_bos_token": config["add_bos_token"]!]
        if let template = file["tokenizer.chat_template"]?.string {
            config["chat_template"] = .string(template)
            generation["chat_template"] = .string(template)
        }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        // Encoding a JSONValue cannot fail.
        let configBytes = [UInt8](try! enc.encode(JSONValue.object(config)))
        let entry = TandemMetadata.TokenizerEntry(
            type: "hf-tokenizer-json", blob: "tokenizer/tokenizer.json",
            extra: ["tokenizer_config.json": "tokenizer/tokenizer_config.json"])
        return TokenizerImport(entry: entry, blobs: [
            BlobPlan(name: "tokenizer/tokenizer.json", encoding: .lz4, content: json),
            BlobPlan(name: "tokenizer/tokenizer_config.json", encoding: .lz4, content: configBytes),
        ], generation: generation)
    }

    /// A Hugging Face `tokenizer.json` for a byte-level BPE vocabulary: vocab in id order, merges
    /// in rank order, control (type 3) and user-defined (type 4) tokens as added tokens.
    /// Written by hand rather than through JSONSerialization so the vocabulary stays in id order
    /// and the bytes are the same on every run.
    public static func tokenizerJSON(tokens: [String], merges: [String], tokenTypes: [Int64]?, preTokenizer: String,
                                     unknownToken: String? = nil, ignoreMerges: Bool = false) throws(ConvertError) -> [UInt8] {
        var seen = Set<String>()
        seen.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() where !seen.insert(t).inserted {
            throw .source("GGUF vocabulary spells token \(i) \(t.debugDescription) like an earlier one; a tokenizer.json cannot hold both")
        }
        for (i, m) in merges.enumerated() where m.split(separator: " ", omittingEmptySubsequences: false).count != 2 {
            throw .source("GGUF merge \(i) \(m.debugDescription) is not two tokens")
        }
        var added: [String] = []
        for (i, t) in tokens.enumerated() {
            let type = tokenTypes?[i] ?? 1
            guard type == 3 || type == 4 else { continue }
            added.append(#"{"id":\#(i),"content":"# + jsonString(t) + #","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":\#(type == 3)}"#)
        }
        var s = #"{"version":"1.0","truncation":null,"padding":null,"added_tokens":["#
        s += added.joined(separator: ",")
        s += #"],"normalizer":null,"pre_tokenizer":"# + preTokenizer
        s += #","post_processor":null,"decoder":{"type":"ByteLevel","add_prefix_space":true,"trim_offsets":true,"use_regex":true},"#
        s += #""model":{"type":"BPE","dropout":null,"unk_token":"# + (unknownToken.map(jsonString) ?? "null")
        s += #","continuing_subword_prefix":null,"end_of_word_suffix":null,"fuse_unk":false,"byte_fallback":false,"ignore_merges":\#(ignoreMerges),"vocab":{"#
        s += tokens.enumerated().map { jsonString($0.element) + ":\($0.offset)" }.joined(separator: ",")
        s += #"},"merges":["#
        s += merges.map(jsonString).joined(separator: ",")
        s += "]}}"
        return Array(s.utf8)
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped.
    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20 || u.value == 0x7F:
                let h = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
}
