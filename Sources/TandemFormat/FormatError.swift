// Every way a file Tandem reads can be wrong, as one typed error. The CLI prints
// `description` as a single line and exits non-zero; tests match on the case, so each rejection
// rule in Formats/FORMAT.md §8 has a case of its own.

/// A problem with a Tandem, safetensors or GGUF file, or with the bytes inside it.
public enum FormatError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file could not be opened, sized or mapped (`errno` text in `reason`).
    case io(path: String, reason: String)
    /// The file ends before a structure it must contain (`needed` bytes, `actual` present).
    case truncated(what: String, needed: UInt64, actual: UInt64)
    case badMagic
    case unsupportedVersion(UInt32)
    /// A field that the spec reserves (must be zero) is not zero, or a flag is unknown.
    case reservedField(String)
    /// A preamble field that is out of its allowed range (e.g. alignment not a power of two).
    case badHeader(String)
    /// The file is longer than its header says: something was appended or the header lies.
    case trailingBytes(expected: UInt64, actual: UInt64)
    /// A section or tensor lies (partly) outside the file or its region.
    case outOfBounds(what: String, offset: UInt64, length: UInt64, limit: UInt64)
    /// Two sections or two tensors share bytes.
    case overlap(String, String)
    case misaligned(what: String, offset: UInt64, alignment: UInt64)
    /// Sizes whose arithmetic overflows 64 bits, or a count beyond a sane limit.
    case sizeOverflow(String)
    case limitExceeded(what: String, value: UInt64, limit: UInt64)
    case headerChecksumMismatch
    case checksumMismatch(tensor: String)
    case unknownDType(tensor: String, code: UInt32)
    case unknownEntryKind(name: String, code: UInt8)
    case badName(String)
    case duplicateName(String)
    /// shape × dtype does not give the stored byte length.
    case shapeMismatch(tensor: String, detail: String)
    case malformedJSON(what: String, detail: String)
    /// JSON that parses but violates the schema (missing key, wrong type, dangling reference).
    case schema(String)
    case compression(what: String, detail: String)
    case missing(what: String)
    /// A file that is not GGUF v2/v3: wrong magic, version 1 or a future one, big-endian.
    case unsupportedGGUF(String)
    /// A valid file that uses something this build cannot decode (e.g. a GGUF tensor type
    /// without a dequantizer).
    case unsupported(String)

    public var description: String {
        switch self {
        case let .io(path, reason): "cannot read \(path): \(reason)"
        case let .truncated(what, needed, actual):
            "truncated file: \(what) needs \(needed) bytes, file has \(actual)"
        case .badMagic: "not a Tandem file (wrong magic bytes)"
        case let .unsupportedVersion(v):
            "unsupported format version \(v) (this build reads version \(TandemLayout.version))"
        case let .reservedField(f): "reserved field \(f) is not zero"
        case let .badHeader(detail): "bad header: \(detail)"
        case let .trailingBytes(expected, actual):
            "file is \(actual) bytes but its header says \(expected)"
        case let .outOfBounds(what, offset, length, limit):
            "\(what) at offset \(offset) (+\(length) bytes) lies past the end (\(limit))"
        case let .overlap(a, b): "\(a) overlaps \(b)"
        case let .misaligned(what, offset, alignment):
            "\(what) at offset \(offset) is not aligned to \(alignment) bytes"
        case let .sizeOverflow(what): "size of \(what) overflows 64-bit arithmetic"
        case let .limitExceeded(what, value, limit): "\(what) is \(value), above the limit \(limit)"
        case .headerChecksumMismatch: "header checksum mismatch (metadata or directory corrupted)"
        case let .checksumMismatch(t): "checksum mismatch in tensor \(t)"
        case let .unknownDType(t, code): "tensor \(t) has unknown dtype code \(code)"
        case let .unknownEntryKind(n, code): "directory entry \(n) has unknown kind \(code)"
        case let .badName(n): "invalid tensor name \(n)"
        case let .duplicateName(n): "duplicate tensor name \(n)"
        case let .shapeMismatch(t, detail): "tensor \(t): \(detail)"
        case let .malformedJSON(what, detail): "malformed JSON in \(what): \(detail)"
        case let .schema(detail): "invalid metadata: \(detail)"
        case let .compression(what, detail): "cannot decompress \(what): \(detail)"
        case let .missing(what): "missing \(what)"
        case let .unsupportedGGUF(detail): detail
        case let .unsupported(detail): "unsupported: \(detail)"
        }
    }
}
