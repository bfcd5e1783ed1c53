// GPT-2's byte ↔ character table ("bytes_to_unicode" in openai/gpt-2 encoder.py; `ByteLevel` in
// Hugging Face tokenizers). Byte-level BPE vocabularies spell every byte as one printable
// character so that a vocabulary entry never holds whitespace or control characters: bytes
// `!`…`~`, `¡`…`¬`, `®`…`ÿ` stand for themselves, the other 68 bytes map to U+0100… in order
// (space → `Ġ` U+0120, newline → `Ċ` U+010A).

enum ByteLevelAlphabet {
    /// byte → its character's scalar value.
    static let scalarForByte: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            if isPrintable(UInt8(byte)) {
                table[byte] = UInt32(byte)
            } else {
                table[byte] = next
                next += 1
            }
        }
        return table
    }()

    /// The byte a character of a byte-level vocabulary entry stands for, or nil if the character
    /// is not in the alphabet (U+0000…U+0143 minus the unprintable Latin-1 positions).
    static func byte(for scalar: Unicode.Scalar) -> UInt8? {
        let v = scalar.value
        if v < 256 { return isPrintable(UInt8(v)) ? UInt8(v) : nil }
        return v < 256 + 68 ? byteForShifted[Int(v - 256)] : nil
    }

    /// The bytes a vocabulary entry stands for, or nil when a character is outside the alphabet.
    static func bytes(of token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.unicodeScalars.count)
        return append(bytesOf: token, to: &out) ? out : nil
    }

    /// Appends the bytes a vocabulary entry stands for to `out`; false, with `out` as it was,
    /// when a character is outside the alphabet.
    static func append(bytesOf token: String, to out: inout [UInt8]) -> Bool {
        let start = out.count
        for scalar in token.unicodeScalars {
            guard let b = byte(for: scalar) else {
                out.removeSubrange(start...)
                return false
            }
            out.append(b)
        }
        return true
    }

    private static func isPrintable(_ b: UInt8) -> Bool {
        (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
    }

    private static let byteForShifted: [UInt8] = {
        var table = [UInt8](repeating: 0, count: 68)
        for byte in 0..<256 where scalarForByte[byte] >= 256 {
            table[Int(scalarForByte[byte] - 256)] = UInt8(byte)
        }
        return table
    }()
}
