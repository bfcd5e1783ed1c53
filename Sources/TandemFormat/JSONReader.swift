// A small, strict JSON reader for outside data read in bulk: tokenizer files, and the JSONL that
// `tandem summarize` reads and appends. Why not Foundation's JSONSerialization or JSONDecoder: a
// 50k-token tokenizer.json (3.5 MB) takes it ~300 ms on Linux, against milliseconds here (model
// load time is part of "time to first token"), and reopening a 100,000-record summarize output
// took JSONDecoder 4.9 s. It is also bounded against hostile input: nesting depth is limited (no
// stack overflow from "[[[[…"), strings must be valid UTF-8 and valid JSON escapes (no lone
// surrogates), and every error is a FormatError. (Configs and metadata, decoded into Codable
// types, go through JSONValue and JSONDecoder.)

/// A parsed JSON value. Objects keep their members in file order.
public enum JSON: Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSON])
    case object([(key: String, value: JSON)])

    /// The member `key` of an object (the last one, should a key repeat), else nil.
    public subscript(key: String) -> JSON? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.key == key }?.value
    }

    public var isNull: Bool { if case .null = self { true } else { false } }

    public var string: String? { if case .string(let s) = self { s } else { nil } }

    public var bool: Bool? { if case .bool(let b) = self { b } else { nil } }

    public var array: [JSON]? { if case .array(let a) = self { a } else { nil } }

    public var members: [(key: String, value: JSON)]? { if case .object(let m) = self { m } else { nil } }

    /// An integral number that fits Int32.
    public var int32: Int32? {
        guard case .number(let d) = self, d == d.rounded(), d >= Double(Int32.min), d <= Double(Int32.max) else { return nil }
        return Int32(d)
    }

    public var number: Double? { if case .number(let d) = self { d } else { nil } }

    /// Parses a whole document (one value, surrounded by nothing but whitespace); `what` names
    /// it in the error.
    public static func parse(_ bytes: [UInt8], what: String) throws(FormatError) -> JSON {
        try bytes.withUnsafeBufferPointer { buffer throws(FormatError) in try parse(buffer, what: what) }
    }

    /// The same over bytes in place (a line of a JSONL file).
    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>, what: String) throws(FormatError) -> JSON {
        var parser = JSONParser(bytes)
        do { return try parser.document() } catch {
            throw .malformedJSON(what: what, detail: "\(error.message) at byte \(error.offset)")
        }
    }
}

private struct JSONParser {
    struct Failure: Error {
        var message: String
        var offset: Int
    }

    static let maximumDepth = 256

    let bytes: UnsafeBufferPointer<UInt8>
    var i = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    mutating func document() throws(Failure) -> JSON {
        let value = try self.value(depth: 0)
        skipWhitespace()
        guard i == bytes.count else { throw fail("text after the JSON value") }
        return value
    }

    private func fail(_ message: String) -> Failure { Failure(message: message, offset: i) }

    private mutating func skipWhitespace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    private mutating func value(depth: Int) throws(Failure) -> JSON {
        guard depth < Self.maximumDepth else { throw fail("nested deeper than \(Self.maximumDepth)") }
        skipWhitespace()
        guard i < bytes.count else { throw fail("unexpected end") }
        switch bytes[i] {
        case UInt8(ascii: "{"):
            i += 1
            var members: [(key: String, value: JSON)] = []
            skipWhitespace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            while true {
                skipWhitespace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a key") }
                let key = try string()
                skipWhitespace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                i += 1
                members.append((key, try value(depth: depth + 1)))
                skipWhitespace()
                guard i < bytes.count else { throw fail("unterminated object") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                guard bytes[i] == UInt8(ascii: "}") else { throw fail("expected ',' or '}'") }
                i += 1
                return .object(members)
            }
        case UInt8(ascii: "["):
            i += 1
            var items: [JSON] = []
            skipWhitespace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            while true {
                items.append(try value(depth: depth + 1))
                skipWhitespace()
                guard i < bytes.count else { throw fail("unterminated array") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                guard bytes[i] == UInt8(ascii: "]") else { throw fail("expected ',' or ']'") }
                i += 1
                return .array(items)
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default:
            return .number(try number())
        }
    }

    private mutating func literal(_ word: StaticString) throws(Failure) {
        let n = word.utf8CodeUnitCount
        guard bytes.count - i >= n, (0..<n).allSatisfy({ bytes[i + $0] == word.utf8Start[$0] }) else {
            throw fail("invalid literal")
        }
        i += n
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    private mutating func number() throws(Failure) -> Double {
        let start = i
        func digits(_ p: inout JSONParser) -> Int {
            let s = p.i
            while p.i < p.bytes.count, (0x30...0x39).contains(p.bytes[p.i]) { p.i += 1 }
            return p.i - s
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
        let intStart = i
        guard digits(&self) > 0 else { throw fail("invalid value") }
        if bytes[intStart] == UInt8(ascii: "0"), i - intStart > 1 { throw fail("leading zero") }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard digits(&self) > 0 else { throw fail("digits expected after '.'") }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard digits(&self) > 0 else { throw fail("digits expected in exponent") }
        }
        guard let d = Double(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)) else {
            throw fail("invalid number")
        }
        return d
    }

    /// A string at `i` (which is the opening quote).
    private mutating func string() throws(Failure) -> String {
        i += 1
        let start = i
        // Fast path: no escapes — the bytes are the string.
        while i < bytes.count, bytes[i] != UInt8(ascii: "\""), bytes[i] != UInt8(ascii: "\\") {
            guard bytes[i] >= 0x20 else { throw fail("control character in a string") }
            i += 1
        }
        guard i < bytes.count else { throw fail("unterminated string") }
        if bytes[i] == UInt8(ascii: "\"") {
            defer { i += 1 }
            return try utf8(UnsafeBufferPointer(rebasing: bytes[start..<i]))
        }
        var out = Array(bytes[start..<i])
        while true {
            guard i < bytes.count else { throw fail("unterminated string") }
            let b = bytes[i]
            if b == UInt8(ascii: "\"") {
                i += 1
                return try out.withUnsafeBufferPointer { buffer throws(Failure) in try utf8(buffer) }
            }
            guard b >= 0x20 else { throw fail("control character in a string") }
            guard b == UInt8(ascii: "\\") else { out.append(b); i += 1; continue }
            i += 1
            guard i < bytes.count else { throw fail("unterminated escape") }
            let e = bytes[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800...0xDBFF).contains(code) {
                    guard bytes.count - i >= 2, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                        throw fail("unpaired surrogate")
                    }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw fail("unpaired surrogate") }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(code) {
                    throw fail("unpaired surrogate")
                }
                UTF8.encode(Unicode.Scalar(code)!) { out.append($0) }
            default:
                throw fail("invalid escape")
            }
        }
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        guard bytes.count - i >= 4 else { throw fail("short \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw fail("invalid \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    private func utf8(_ buffer: UnsafeBufferPointer<UInt8>) throws(Failure) -> String {
        // String(decoding:) repairs invalid UTF-8; a repaired string no longer has the same bytes.
        // (Not String(validating:), which needs macOS 15.)
        let s = String(decoding: buffer, as: UTF8.self)
        guard buffer.allSatisfy({ $0 < 0x80 }) || s.utf8.elementsEqual(buffer) else { throw fail("invalid UTF-8 in a string") }
        return s
    }
}
