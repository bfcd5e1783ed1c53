// Reading a Hugging Face `tokenizer.json` (the serialization of tokenizers' `TokenizerImpl`) into
// a ByteLevelBPEDefinition. Supported, because byte-level BPE models use them: model `BPE`
// (merges as "a b" strings or [a, b] pairs, `ignore_merges`, `unk_token`, `fuse_unk`);
// normalizer null; pre-tokenizers `ByteLevel`, `Split` (Isolated, with the GPT-2, LLaMA-3 or
// Qwen2 regex), `Digits`, and `Sequence` of these; decoder `ByteLevel`; post-processor ignored
// (`encode` adds no special tokens; see `Tokenizer.encode`). Anything else is reported as
// `TokenizerError.unsupported` rather than silently tokenized differently.
//
// JSON is parsed with Foundation's JSONSerialization: it happens once per load, and the
// heterogeneous shapes (merges as strings or pairs, tagged unions) read more plainly from
// dictionaries than from Codable.

import Foundation

extension ByteLevelBPETokenizer {
    /// Loads a `tokenizer.json`.
    ///
    /// - Parameters:
    ///   - tokenizerJSON: the file's bytes.
    ///   - tokenizerConfigJSON: the checkpoint's `tokenizer_config.json`, which names the BOS, EOS
    ///     and PAD tokens (`tokenizer.json` does not). Without it, well-known spellings are used:
    ///     BOS `<|begin_of_text|>`, `<s>` or `<|endoftext|>`; EOS `<|end_of_text|>`, `</s>` or
    ///     `<|endoftext|>` (GPT-2 uses `<|endoftext|>` for both); no PAD.
    /// - Throws: `TokenizerError.malformedTokenizerJSON` for invalid JSON or fields of the wrong
    ///   shape, `.invalidVocabulary` when vocabulary and merges disagree, `.unsupported` for
    ///   features this tokenizer does not implement.
    public convenience init(tokenizerJSON: [UInt8], tokenizerConfigJSON: [UInt8]? = nil) throws(TokenizerError) {
        let root = try JSONObject(parsing: tokenizerJSON, what: "tokenizer.json")
        let definition = try Self.definition(root)
        let probe = SpellingTable(definition)
        var bos: Int32?, eos: Int32?, pad: Int32?
        if let tokenizerConfigJSON {
            let config = try JSONObject(parsing: tokenizerConfigJSON, what: "tokenizer_config.json")
            func named(_ key: String) throws(TokenizerError) -> Int32? {
                guard let content = try config.specialTokenContent(key) else { return nil }
                guard let id = probe.id(content) else {
                    throw .invalidVocabulary("tokenizer_config.json \(key) \(content.debugDescription) is not in tokenizer.json")
                }
                return id
            }
            bos = try named("bos_token")
            eos = try named("eos_token")
            pad = try named("pad_token")
        } else {
            bos = ["<|begin_of_text|>", "<s>", "<|endoftext|>"].lazy.compactMap(probe.id).first
            eos = ["<|end_of_text|>", "</s>", "<|endoftext|>"].lazy.compactMap(probe.id).first
        }
        try self.init(definition, bos: bos, eos: eos, pad: pad)
    }

    private static func definition(_ root: JSONObject) throws(TokenizerError) -> ByteLevelBPEDefinition {
        let model = try root.object("model")
        let type = try model.optionalString("type") ?? "BPE"  // older files omit the model type
        guard type == "BPE" else { throw .unsupported("model type \(type) (only BPE)") }
        if try model.optionalBool("byte_fallback") == true { throw .unsupported("BPE byte_fallback") }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let v = try model.optionalString(key), !v.isEmpty { throw .unsupported("BPE \(key)") }
        }
        if try model.optionalNumber("dropout").map({ $0 > 0 }) == true { throw .unsupported("BPE dropout") }

        guard let vocabObject = model.raw["vocab"] as? [String: Any] else {
            throw .malformedTokenizerJSON("model.vocab is not an object")
        }
        var vocabulary: [(token: String, id: Int32)] = []
        vocabulary.reserveCapacity(vocabObject.count)
        for (token, value) in vocabObject {
            guard let id = JSONObject.int32(value) else {
                throw .malformedTokenizerJSON("model.vocab[\(token.debugDescription)] is not an integer id")
            }
            vocabulary.append((token, id))
        }
        vocabulary.sort { $0.id < $1.id }

        guard let mergeList = model.raw["merges"] as? [Any] else { throw .malformedTokenizerJSON("model.merges is not an array") }
        var merges: [(String, String)] = []
        merges.reserveCapacity(mergeList.count)
        for (i, m) in mergeList.enumerated() {
            if let line = m as? String {
                let parts = line.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw .malformedTokenizerJSON("merge \(i) \(line.debugDescription) is not two tokens") }
                merges.append((String(parts[0]), String(parts[1])))
            } else if let pair = m as? [Any], pair.count == 2, let a = pair[0] as? String, let b = pair[1] as? String {
                merges.append((a, b))
            } else {
                throw .malformedTokenizerJSON("merge \(i) is neither \"a b\" nor [a, b]")
            }
        }

        var added: [AddedToken] = []
        if let list = root.raw["added_tokens"], !(list is NSNull) {
            guard let list = list as? [Any] else { throw .malformedTokenizerJSON("added_tokens is not an array") }
            for (i, item) in list.enumerated() {
                guard let t = JSONObject(item) else {
                    throw .malformedTokenizerJSON("added_tokens[\(i)] is not an object")
                }
                guard let id = JSONObject.int32(t.raw["id"] as Any), let content = t.raw["content"] as? String else {
                    throw .malformedTokenizerJSON("added_tokens[\(i)] needs an integer id and a string content")
                }
                added.append(AddedToken(
                    id: id, content: content, special: try t.optionalBool("special") ?? false,
                    lstrip: try t.optionalBool("lstrip") ?? false, rstrip: try t.optionalBool("rstrip") ?? false,
                    singleWord: try t.optionalBool("single_word") ?? false,
                    normalized: try t.optionalBool("normalized") ?? false))
            }
        }

        if let normalizer = root.raw["normalizer"], !(normalizer is NSNull) {
            let n = try JSONObject(normalizer, what: "normalizer")
            let type = try n.optionalString("type")
            let isEmptySequence = type == "Sequence" && ((n.raw["normalizers"] as? [Any])?.isEmpty ?? false)
            if !isEmptySequence { throw .unsupported("normalizer \(type ?? "?")") }
        }
        guard let decoder = root.raw["decoder"], !(decoder is NSNull) else {
            throw .unsupported("no decoder (byte-level BPE needs the ByteLevel decoder)")
        }
        let decoderType = try JSONObject(decoder, what: "decoder").optionalString("type")
        guard decoderType == "ByteLevel" else { throw .unsupported("decoder \(decoderType ?? "?") (only ByteLevel)") }

        guard let pre = root.raw["pre_tokenizer"], !(pre is NSNull) else {
            throw .unsupported("no pre_tokenizer (byte-level BPE needs ByteLevel)")
        }
        let pipeline = try preTokenizer(JSONObject(pre, what: "pre_tokenizer"))

        return ByteLevelBPEDefinition(
            vocabulary: vocabulary, merges: merges, addedTokens: added,
            unknownToken: try model.optionalString("unk_token"),
            ignoreMerges: try model.optionalBool("ignore_merges") ?? false,
            fuseUnknown: try model.optionalBool("fuse_unk") ?? false,
            preTokenizer: pipeline)
    }

    /// Flattens the pre-tokenizer tree into a pipeline of split rules.
    private static func preTokenizer(_ root: JSONObject) throws(TokenizerError) -> PreTokenizerPipeline {
        var pipeline = PreTokenizerPipeline(addPrefixSpace: false, rules: [])
        var sawByteLevel = false
        func visit(_ p: JSONObject) throws(TokenizerError) {
            let type = try p.optionalString("type")
            switch type {
            case "Sequence":
                guard let items = p.raw["pretokenizers"] as? [Any] else {
                    throw .malformedTokenizerJSON("pre_tokenizer Sequence without pretokenizers")
                }
                for item in items { try visit(JSONObject(item, what: "pre_tokenizer")) }
            case "ByteLevel":
                if try p.optionalBool("add_prefix_space") == true {
                    // Only well defined here when ByteLevel comes first: it then sees whole segments.
                    guard pipeline.rules.isEmpty else { throw .unsupported("ByteLevel add_prefix_space after another pre-tokenizer") }
                    pipeline.addPrefixSpace = true
                }
                if try p.optionalBool("use_regex") ?? true { pipeline.rules.append(.gpt2Regex) }
                sawByteLevel = true
            case "Split":
                let behavior = try p.optionalString("behavior") ?? "Isolated"
                guard behavior == "Isolated" else { throw .unsupported("Split behavior \(behavior)") }
                guard try p.optionalBool("invert") != true else { throw .unsupported("Split invert") }
                guard let pattern = p.raw["pattern"] as? [String: Any], let regex = pattern["Regex"] as? String else {
                    throw .unsupported("Split pattern other than a Regex")
                }
                guard let rule = SplitRule.fromRegex(regex) else { throw .unsupported("Split regex \(regex.debugDescription)") }
                pipeline.rules.append(rule)
            case "Digits":
                pipeline.rules.append(.digits(individual: try p.optionalBool("individual_digits") ?? false))
            default:
                throw .unsupported("pre_tokenizer \(type ?? "?")")
            }
        }
        try visit(root)
        guard sawByteLevel else { throw .unsupported("pre_tokenizer without ByteLevel (not a byte-level BPE)") }
        return pipeline
    }
}

/// Spelling → id over a definition, before the tokenizer exists (to resolve BOS/EOS names).
private struct SpellingTable {
    private var ids: [[UInt8]: Int32] = [:]
    init(_ d: ByteLevelBPEDefinition) {
        for (token, id) in d.vocabulary { ids[Array(token.utf8)] = id }
        for t in d.addedTokens { ids[Array(t.content.utf8)] = t.id }
    }
    func id(_ spelling: String) -> Int32? { ids[Array(spelling.utf8)] }
}

/// A JSON object from JSONSerialization with typed, throwing accessors.
struct JSONObject {
    let raw: [String: Any]

    init?(_ value: Any) {
        guard let dict = value as? [String: Any] else { return nil }
        raw = dict
    }

    init(_ value: Any, what: String) throws(TokenizerError) {
        guard let dict = value as? [String: Any] else { throw .malformedTokenizerJSON("\(what) is not an object") }
        raw = dict
    }

    init(parsing bytes: [UInt8], what: String) throws(TokenizerError) {
        let value: Any
        do {
            value = try JSONSerialization.jsonObject(with: Data(bytes), options: [])
        } catch {
            throw .malformedTokenizerJSON("\(what) is not valid JSON")
        }
        try self.init(value, what: what)
    }

    func object(_ key: String) throws(TokenizerError) -> JSONObject {
        guard let v = raw[key] else { throw .malformedTokenizerJSON("missing \(key)") }
        return try JSONObject(v, what: key)
    }

    func optionalString(_ key: String) throws(TokenizerError) -> String? {
        guard let v = raw[key], !(v is NSNull) else { return nil }
        guard let s = v as? String else { throw .malformedTokenizerJSON("\(key) is not a string") }
        return s
    }

    func optionalBool(_ key: String) throws(TokenizerError) -> Bool? {
        guard let v = raw[key], !(v is NSNull) else { return nil }
        guard let b = v as? Bool else { throw .malformedTokenizerJSON("\(key) is not a boolean") }
        return b
    }

    func optionalNumber(_ key: String) throws(TokenizerError) -> Double? {
        guard let v = raw[key], !(v is NSNull) else { return nil }
        guard let d = v as? Double else { throw .malformedTokenizerJSON("\(key) is not a number") }
        return d
    }

    /// tokenizer_config.json spells a special token as a string or as {"content": …}.
    func specialTokenContent(_ key: String) throws(TokenizerError) -> String? {
        guard let v = raw[key], !(v is NSNull) else { return nil }
        if let s = v as? String { return s }
        if let d = v as? [String: Any], let s = d["content"] as? String { return s }
        throw .malformedTokenizerJSON("tokenizer_config.json \(key) is neither a string nor {content}")
    }

    /// An integer that fits Int32 (JSON numbers arrive as NSNumber).
    static func int32(_ value: Any) -> Int32? {
        // Not `value is Bool`: on Linux an NSNumber 0 or 1 also casts to Bool.
        guard let n = value as? NSNumber else { return nil }
        let d = n.doubleValue
        guard d == d.rounded(), d >= Double(Int32.min), d <= Double(Int32.max) else { return nil }
        return Int32(d)
    }
}
