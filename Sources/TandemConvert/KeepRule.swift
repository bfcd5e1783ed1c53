// `--keep PATTERN=dtype`: per-tensor overrides of the storage dtype. Flan-T5's FFN output
// projection (`*.DenseReluDense.wo.weight`) overflows in f16 and degrades in int8 in other
// engines; this is the escape hatch that keeps it in f32.
import TandemFormat
import TandemModels

/// A glob over tensor names (`*` any run of characters, `?` one character) and the dtype
/// matching tensors are stored in.
public struct KeepRule: Sendable, Equatable, CustomStringConvertible {
    public var pattern: String
    public var dtype: DType

    public init(pattern: String, dtype: DType) {
        self.pattern = pattern
        self.dtype = dtype
    }

    /// Parses `PATTERN=dtype`.
    public init(parsing text: String) throws(ConvertError) {
        guard let eq = text.lastIndex(of: "="), eq != text.startIndex else {
            throw .badOption("--keep expects PATTERN=dtype, got \(text)")
        }
        let name = String(text[text.index(after: eq)...])
        guard let dtype = DType(name: name), TensorKind.anyStorageDType.contains(dtype) else {
            throw .badOption("--keep \(text): unknown dtype \(name) (use \(TensorKind.anyStorageDType.listed))")
        }
        self.init(pattern: String(text[..<eq]), dtype: dtype)
    }

    public var description: String { "\(pattern)=\(dtype.name)" }

    public func matches(_ name: String) -> Bool { Self.glob(Array(pattern.utf8), Array(name.utf8)) }

    /// Iterative glob match with backtracking to the last `*` (linear in practice, no recursion).
    static func glob(_ p: [UInt8], _ s: [UInt8]) -> Bool {
        var pi = 0, si = 0, star = -1, mark = 0
        while si < s.count {
            if pi < p.count, p[pi] == UInt8(ascii: "?") || p[pi] == s[si] {
                pi += 1; si += 1
            } else if pi < p.count, p[pi] == UInt8(ascii: "*") {
                star = pi; mark = si; pi += 1
            } else if star >= 0 {
                pi = star + 1; mark += 1; si = mark
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.count
    }
}
