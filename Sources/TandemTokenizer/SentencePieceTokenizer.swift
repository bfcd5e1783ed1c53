// SentencePiece through the system library (libsentencepiece), for T5 / mT5 / Flan-T5.
// Reference: google/sentencepiece `SentencePieceProcessor` (Encode, Decode, IdToPiece); the C
// interface is Sources/CSentencePiece/include/csentencepiece.h.

import CSentencePiece

/// A SentencePiece tokenizer (unigram or BPE) loaded from a serialized model — the bytes of a
/// `spiece.model`, as a `.tandem` file stores them; never a path.
///
/// Encoding and decoding are the library's own, so normalization (`nmt_nfkc`), whitespace
/// handling (`▁`), `<unk>` (decoded as ` ⁇ `) and control pieces (`</s>`, `<pad>` decode to
/// nothing) are exactly Python `sentencepiece`'s. Text that spells a control piece, such as the
/// string `"</s>"`, is encoded as ordinary text, as `SentencePieceProcessor.encode` does; append
/// `eosTokenId` to get T5's encoder input.
///
/// ```swift
/// let sp = try SentencePieceTokenizer(modelBytes: bytes)
/// let input = sp.encode("translate English to German: Hello") + [sp.eosTokenId!]
/// ```
public final class SentencePieceTokenizer: Tokenizer, @unchecked Sendable {
    // @unchecked: the processor is only read after init (Encode/Decode are const in the C++
    // library and safe to call concurrently), and it is freed only in deinit.
    private let processor: OpaquePointer
    public let vocabularySize: Int
    public let bosTokenId: Int32?
    public let eosTokenId: Int32?
    public let padTokenId: Int32?
    public let unknownTokenId: Int32?

    /// Loads a model. Throws `TokenizerError.invalidSentencePieceModel` for bytes the library
    /// cannot parse (truncated, garbage, an empty vocabulary).
    public init(modelBytes: [UInt8]) throws(TokenizerError) {
        var handle: OpaquePointer?
        var message: UnsafeMutablePointer<CChar>?
        let status = modelBytes.withUnsafeBufferPointer { buffer in
            csp_load(buffer.baseAddress, buffer.count, &handle, &message)
        }
        guard status == CSP_OK, let handle else {
            let detail = Self.take(message) ?? "status \(status.rawValue)"
            throw .invalidSentencePieceModel(detail)
        }
        processor = handle
        vocabularySize = Int(csp_vocab_size(handle))
        func special(_ id: Int32) -> Int32? { id >= 0 && Int(id) < Int(csp_vocab_size(handle)) ? id : nil }
        bosTokenId = special(csp_bos_id(handle))
        eosTokenId = special(csp_eos_id(handle))
        padTokenId = special(csp_pad_id(handle))
        unknownTokenId = special(csp_unk_id(handle))
    }

    deinit { csp_free(processor) }

    public func encode(_ text: String) -> [Int32] {
        var text = text
        var ids: UnsafeMutablePointer<Int32>?
        var count = 0
        var message: UnsafeMutablePointer<CChar>?
        let status = text.withUTF8 { utf8 in
            utf8.withMemoryRebound(to: CChar.self) { chars in
                csp_encode(processor, chars.baseAddress, chars.count, &ids, &count, &message)
            }
        }
        _ = Self.take(message)
        defer { csp_free_ids(ids) }
        // The library fails only on an unloaded model, which init rules out.
        guard status == CSP_OK, let ids else { return [] }
        return Array(UnsafeBufferPointer(start: ids, count: count))
    }

    public func decode(_ ids: [Int32]) -> String {
        let valid = ids.filter { $0 >= 0 && Int($0) < vocabularySize }
        var text: UnsafeMutablePointer<CChar>?
        var length = 0
        var message: UnsafeMutablePointer<CChar>?
        let status = valid.withUnsafeBufferPointer { buffer in
            csp_decode(processor, buffer.baseAddress, buffer.count, &text, &length, &message)
        }
        _ = Self.take(message)
        defer { csp_free_string(text) }
        guard status == CSP_OK, let text else { return "" }
        // String(decoding:) repairs any invalid UTF-8 with U+FFFD, so a byte-fallback piece
        // decoded alone cannot produce an invalid String.
        return text.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }

    public func tokenText(_ id: Int32) -> String? {
        var piece: UnsafeMutablePointer<CChar>?
        var length = 0
        guard csp_id_to_piece(processor, id, &piece, &length) == CSP_OK, let piece else { return nil }
        defer { csp_free_string(piece) }
        return piece.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }

    public func tokenId(_ text: String) -> Int32? {
        var text = text
        let id = text.withUTF8 { utf8 in
            utf8.withMemoryRebound(to: CChar.self) { csp_piece_to_id(processor, $0.baseAddress, $0.count) }
        }
        return id >= 0 ? id : nil
    }

    /// Whether `id` is a control piece (`</s>`, `<pad>`), which decodes to nothing.
    public func isControl(_ id: Int32) -> Bool { csp_is_control(processor, id) != 0 }

    /// Copies and frees a message the shim allocated.
    private static func take(_ message: UnsafeMutablePointer<CChar>?) -> String? {
        guard let message else { return nil }
        defer { csp_free_string(message) }
        return String(cString: message)
    }
}
