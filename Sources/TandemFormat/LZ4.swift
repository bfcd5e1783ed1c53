// LZ4 block compression through the system library (liblz4), plus the byte shuffle that makes
// float arrays compressible. Decompression is bounded by the declared raw size, which the
// caller has already checked against a limit, so hostile input cannot make it allocate more.
import CLZ4

public enum LZ4 {
    /// Compresses `input` into an LZ4 block.
    public static func compress(_ input: [UInt8]) -> [UInt8] {
        precondition(input.count < Int(Int32.max), "LZ4 block input over 2 GiB")
        let bound = Int(LZ4_compressBound(Int32(input.count)))
        var out = [UInt8](repeating: 0, count: max(bound, 1))
        let written = input.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                LZ4_compress_default(
                    src.baseAddress?.assumingMemoryBound(to: CChar.self),
                    dst.baseAddress!.assumingMemoryBound(to: CChar.self),
                    Int32(input.count), Int32(bound))
            }
        }
        precondition(written > 0 || input.isEmpty, "LZ4 compression failed")
        out.removeSubrange(Int(written)...)
        return out
    }

    /// Decompresses an LZ4 block that must expand to exactly `rawCount` bytes.
    public static func decompress(_ input: UnsafeRawBufferPointer, rawCount: Int, what: String) throws(FormatError) -> [UInt8] {
        guard input.count < Int(Int32.max), rawCount < Int(Int32.max) else {
            throw .limitExceeded(what: "\(what) size", value: UInt64(max(input.count, rawCount)), limit: UInt64(Int32.max))
        }
        if rawCount == 0 {
            if input.count <= 1 { return [] }
            throw .compression(what: what, detail: "data present for an empty section")
        }
        var out = [UInt8](repeating: 0, count: rawCount)
        let n = out.withUnsafeMutableBytes { dst in
            LZ4_decompress_safe(
                input.baseAddress?.assumingMemoryBound(to: CChar.self),
                dst.baseAddress!.assumingMemoryBound(to: CChar.self),
                Int32(input.count), Int32(rawCount))
        }
        guard n == rawCount else {
            throw .compression(what: what, detail: n < 0 ? "corrupt LZ4 block" : "expanded to \(n) bytes, expected \(rawCount)")
        }
        return out
    }

    /// Groups byte `b` of every `width`-byte element together (all byte 0s, then all byte 1s…).
    /// A trailing partial element is left in place.
    public static func shuffle(_ bytes: [UInt8], width: Int) -> [UInt8] {
        let n = bytes.count / width
        var out = bytes
        for i in 0..<n { for b in 0..<width { out[b * n + i] = bytes[i * width + b] } }
        return out
    }

    /// Inverse of `shuffle`.
    public static func unshuffle(_ bytes: [UInt8], width: Int) -> [UInt8] {
        let n = bytes.count / width
        var out = bytes
        for i in 0..<n { for b in 0..<width { out[i * width + b] = bytes[b * n + i] } }
        return out
    }

    /// Encodes `raw` for storage with `encoding`.
    public static func encode(_ raw: [UInt8], as encoding: BlobEncoding) -> [UInt8] {
        switch encoding {
        case .raw: raw
        case .lz4: compress(raw)
        case .lz4Shuffle2: compress(shuffle(raw, width: 2))
        case .lz4Shuffle4: compress(shuffle(raw, width: 4))
        }
    }

    /// Decodes stored bytes back to their `rawCount` original bytes.
    public static func decode(_ stored: UnsafeRawBufferPointer, as encoding: BlobEncoding, rawCount: Int, what: String) throws(FormatError) -> [UInt8] {
        switch encoding {
        case .raw:
            guard stored.count == rawCount else {
                throw .compression(what: what, detail: "raw blob of \(stored.count) bytes declares \(rawCount)")
            }
            return Array(stored)
        case .lz4: return try decompress(stored, rawCount: rawCount, what: what)
        case .lz4Shuffle2: return unshuffle(try decompress(stored, rawCount: rawCount, what: what), width: 2)
        case .lz4Shuffle4: return unshuffle(try decompress(stored, rawCount: rawCount, what: what), width: 4)
        }
    }
}
