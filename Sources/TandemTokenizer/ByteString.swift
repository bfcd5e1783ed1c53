// A dictionary key made of bytes. Vocabulary lookups key on a token's exact bytes rather than on
// String, for two reasons: String equality is Unicode canonical equivalence (two distinct
// vocabulary entries could compare equal), and String hashing normalizes, which is slow. Plain
// [UInt8] keys hash one byte at a time through Hasher; this hashes the buffer in one call, which
// makes loading a 50k-entry vocabulary several times faster.

struct ByteString: Hashable, Sendable {
    var bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    init(_ string: String) { bytes = Array(string.utf8) }

    func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    static func == (a: ByteString, b: ByteString) -> Bool { a.bytes == b.bytes }
}
