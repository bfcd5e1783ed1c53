// A JSON value kept as it was read, so a Hugging Face `config.json` can travel inside a Tandem
// file unchanged (every key, including the ones Tandem does not use) and be decoded into a
// model's typed config later.
import Foundation

public enum JSONValue: Codable, Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? c.decode(Double.self) {
            self = .number(n)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case let .bool(b): try c.encode(b)
        case let .number(n):
            if n.rounded() == n, abs(n) < 9e15 { try c.encode(Int64(n)) } else { try c.encode(n) }
        case let .string(s): try c.encode(s)
        case let .array(a): try c.encode(a)
        case let .object(o): try c.encode(o)
        }
    }

    public subscript(key: String) -> JSONValue? {
        if case let .object(o) = self { return o[key] }
        return nil
    }

    public var stringValue: String? { if case let .string(s) = self { s } else { nil } }
    public var doubleValue: Double? { if case let .number(n) = self { n } else { nil } }
    public var intValue: Int? {
        if case let .number(n) = self, n.rounded() == n, abs(n) < 9e15 { Int(n) } else { nil }
    }
    public var boolValue: Bool? { if case let .bool(b) = self { b } else { nil } }
    public var objectValue: [String: JSONValue]? { if case let .object(o) = self { o } else { nil } }
    public var arrayValue: [JSONValue]? { if case let .array(a) = self { a } else { nil } }

    /// Decodes this value into a `Decodable` type (a model's typed config).
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: JSONEncoder().encode(self))
    }

    /// Parses JSON bytes, mapping every failure to `FormatError.malformedJSON`.
    public static func parse(_ data: Data, what: String) throws(FormatError) -> JSONValue {
        do {
            return try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw .malformedJSON(what: what, detail: Self.describe(error))
        }
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case let DecodingError.dataCorrupted(ctx):
            ctx.underlyingError.map { "\($0.localizedDescription)" } ?? ctx.debugDescription
        case let DecodingError.keyNotFound(key, _): "missing key \(key.stringValue)"
        case let DecodingError.typeMismatch(_, ctx):
            "wrong type at \(ctx.codingPath.map(\.stringValue).joined(separator: ".")): \(ctx.debugDescription)"
        case let DecodingError.valueNotFound(_, ctx):
            "missing value at \(ctx.codingPath.map(\.stringValue).joined(separator: "."))"
        default: "\(error)"
        }
    }
}
