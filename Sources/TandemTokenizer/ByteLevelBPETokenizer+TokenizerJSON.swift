// Reading a Hugging Face `tokenizer.json` (the serialization of tokenizers' `TokenizerImpl`) into
// a ByteLevelBPEDefinition. Supported, because byte-level BPE models use them: model `BPE`
// (merges as "a b" strings or [a, b] pairs, `ignore_merges`, `unk_token`, `fuse_unk`);
// normalizer null; pre-tokenizers `ByteLevel`, `Split` (Isolated, with the GPT-2, LLaMA-3 or
// Qwen2 regex), `Digits`, and `Sequence` of these; decoder `ByteLevel`; post-processor ignored
// (`encode` adds no special tokens; see `Tokenizer.encode`). Anything else is reported as
// `TokenizerError.unsupported` rather than silently tokenized differently.
import TandemFormat

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
        let root = try parseJSON(tokenizerJSON, what: "tokenizer.json")
        let definition = try Self.definition(root)
        let config = try tokenizerConfigJSON.map { bytes throws(TokenizerError) in
            let config = try parseJSON(bytes, what: "tokenizer_config.json")
            guard config.members != nil else { throw .malformedTokenizerJSON("tokenizer_config.json is not an object") }
            return config
        }
        try self.init(definition) { idOf throws(TokenizerError) in
            guard let config else {
                return (["<|begin_of_text|>", "<s>", "<|endoftext|>"].lazy.compactMap(idOf).first,
                        ["<|end_of_text|>", "</s>", "<|endoftext|>"].lazy.compactMap(idOf).first, nil)
            }
            func named(_ key: String) throws(TokenizerError) -> Int32? {
                // A special token is spelled as a string or as {"content": …}.
                guard let value = config[key], !value.isNull else { return nil }
                guard let content = value.string ?? value["content"]?.string else {
                    throw .malformedTokenizerJSON("tokenizer_config.json \(key) is neither a string nor {content}")
                }
                guard let id = idOf(content) else {
                    throw .invalidVocabulary("tokenizer_config.json \(key) \(content.debugDescription) is not in tokenizer.json")
                }
                return id
            }
            return (try named("bos_token"), try named("eos_token"), try named("pad_token"))
        }
    }

    private static func definition(_ root: JSON) throws(TokenizerError) -> ByteLevelBPEDefinition {
        guard root.members != nil else { throw .malformedTokenizerJSON("tokenizer.json is not an object") }
        guard let model = root["model"], model.members != nil else { throw .malformedTokenizerJSON("model is missing or not an object") }
        let type = try optionalString(model, "type") ?? "BPE"  // older files omit the model type
        guard type == "BPE" else { throw .unsupported("model type \(type) (only BPE)") }
        if try optionalBool(model, "byte_fallback") == true { throw .unsupported("BPE byte_fallback") }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let v = try optionalString(model, key), !v.isEmpty { throw .unsupported("BPE \(key)") }
        }
        if let dropout = model["dropout"], !dropout.isNull {
            guard let p = dropout.number else { throw .malformedTokenizerJSON("dropout is not a number") }
            if p > 0 { throw .unsupported("BPE dropout") }
        }

        guard let vocabMembers = model["vocab"]?.members else { throw .malformedTokenizerJSON("model.vocab is not an object") }
        var vocabulary: [(token: String, id: Int32)] = []
        vocabulary.reserveCapacity(vocabMembers.count)
        for (token, value) in vocabMembers {
            guard let id = value.int32 else {
                throw .malformedTokenizerJSON("model.vocab[\(token.debugDescription)] is not an integer id")
            }
            vocabulary.append((token, id))
        }

        guard let mergeList = model["merges"]?.array else { throw .malformedTokenizerJSON("model.merges is not an array") }
        var merges: [(String, String)] = []
        merges.reserveCapacity(mergeList.count)
        for (i, m) in mergeList.enumerated() {
            if let line = m.string {
                let parts = line.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw .malformedTokenizerJSON("merge \(i) \(line.debugDescription) is not two tokens") }
                merges.append((String(parts[0]), String(parts[1])))
            } else if let pair = m.array, pair.count == 2, let a = pair[0].string, let b = pair[1].string {
                merges.append((a, b))
            } else {
                throw .malformedTokenizerJSON("merge \(i) is neither \"a b\" nor [a, b]")
            }
        }

        var added: [AddedToken] = []
        if let list = root["added_tokens"], !list.isNull {
            guard let list = list.array else { throw .malformedTokenizerJSON("added_tokens is not an array") }
            for (i, t) in list.enumerated() {
                guard t.members != nil else { throw .malformedTokenizerJSON("added_tokens[\(i)] is not an object") }
                guard let id = t["id"]?.int32, let content = t["content"]?.string else {
                    throw .malformedTokenizerJSON("added_tokens[\(i)] needs an integer id and a string content")
                }
                added.append(AddedToken(
                    id: id, content: content, special: try optionalBool(t, "special") ?? false,
                    lstrip: try optionalBool(t, "lstrip") ?? false, rstrip: try optionalBool(t, "rstrip") ?? false,
                    singleWord: try optionalBool(t, "single_word") ?? false,
                    normalized: try optionalBool(t, "normalized") ?? false))
            }
        }

        if let normalizer = root["normalizer"], !normalizer.isNull {
            let type = try optionalString(normalizer, "type")
            let isEmptySequence = type == "Sequence" && (normalizer["normalizers"]?.array?.isEmpty ?? false)
            if !isEmptySequence { throw .unsupported("normalizer \(type ?? "?")") }
        }
        guard let decoder = root["decoder"], !decoder.isNull else {
            throw .unsupported("no decoder (byte-level BPE needs the ByteLevel decoder)")
        }
        let decoderType = try optionalString(decoder, "type")
        guard decoderType == "ByteLevel" else { throw .unsupported("decoder \(decoderType ?? "?") (only ByteLevel)") }

        guard let pre = root["pre_tokenizer"], !pre.isNull else {
            throw .unsupported("no pre_tokenizer (byte-level BPE needs ByteLevel)")
        }
        let pipeline = try preTokenizer(pre)

        return ByteLevelBPEDefinition(
            vocabulary: vocabulary, merges: merges, addedTokens: added,
            unknownToken: try optionalString(model, "unk_token"),
            ignoreMerges: try optionalBool(model, "ignore_merges") ?? false,
            fuseUnknown: try optionalBool(model, "fuse_unk") ?? false,
            preTokenizer: pipeline)
    }

    /// Flattens the pre-tokenizer tree into a pipeline of split rules.
    private static func preTokenizer(_ root: JSON) throws(TokenizerError) -> PreTokenizerPipeline {
        var pipeline = PreTokenizerPipeline(addPrefixSpace: false, rules: [])
        var sawByteLevel = false
        func visit(_ p: JSON) throws(TokenizerError) {
            let type = try optionalString(p, "type")
            switch type {
            case "Sequence":
                guard let items = p["pretokenizers"]?.array else {
                    throw .malformedTokenizerJSON("pre_tokenizer Sequence without pretokenizers")
                }
                for item in items { try visit(item) }
            case "ByteLevel":
                if try optionalBool(p, "add_prefix_space") == true {
                    // Only well defined here when ByteLevel comes first: it then sees whole segments.
                    guard pipeline.rules.isEmpty else { throw .unsupported("ByteLevel add_prefix_space after another pre-tokenizer") }
                    pipeline.addPrefixSpace = true
                }
                if try optionalBool(p, "use_regex") ?? true { pipeline.rules.append(.gpt2Regex) }
                sawByteLevel = true
            case "Split":
                let behavior = try optionalString(p, "behavior") ?? "Isolated"
                guard behavior == "Isolated" else { throw .unsupported("Split behavior \(behavior)") }
                guard try optionalBool(p, "invert") != true else { throw .unsupported("Split invert") }
                guard let regex = p["pattern"]?["Regex"]?.string else { throw .unsupported("Split pattern other than a Regex") }
                guard let rule = SplitRule.fromRegex(regex) else { throw .unsupported("Split regex \(regex.debugDescription)") }
                pipeline.rules.append(rule)
            case "Digits":
                pipeline.rules.append(.digits(individual: try optionalBool(p, "individual_digits") ?? false))
            default:
                throw .unsupported("pre_tokenizer \(type ?? "?")")
            }
        }
        try visit(root)
        guard sawByteLevel else { throw .unsupported("pre_tokenizer without ByteLevel (not a byte-level BPE)") }
        return pipeline
    }

    private static func optionalString(_ object: JSON, _ key: String) throws(TokenizerError) -> String? {
        guard object.members != nil else { throw .malformedTokenizerJSON("expected an object with \(key)") }
        guard let v = object[key], !v.isNull else { return nil }
        guard let s = v.string else { throw .malformedTokenizerJSON("\(key) is not a string") }
        return s
    }

    private static func optionalBool(_ object: JSON, _ key: String) throws(TokenizerError) -> Bool? {
        guard object.members != nil else { throw .malformedTokenizerJSON("expected an object with \(key)") }
        guard let v = object[key], !v.isNull else { return nil }
        guard let b = v.bool else { throw .malformedTokenizerJSON("\(key) is not a boolean") }
        return b
    }
}

/// A tokenizer file's JSON, its syntax errors as the tokenizer's own.
func parseJSON(_ bytes: [UInt8], what: String) throws(TokenizerError) -> JSON {
    do { return try JSON.parse(bytes, what: what) } catch {
        guard case let .malformedJSON(what, detail) = error else { throw .malformedTokenizerJSON("\(error)") }
        throw .malformedTokenizerJSON("\(what): \(detail)")
    }
}
