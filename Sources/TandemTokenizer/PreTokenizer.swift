// Pre-tokenization for byte-level BPE: the text is cut into pieces ("words") before BPE runs on
// each piece, with the regexes of Hugging Face `tokenizers` (ByteLevel, Split, Digits
// pre-tokenizers) and llama.cpp (`llama-vocab.cpp` pre-tokenizer types gpt2, llama-bpe, qwen2,
// smollm). The regexes are matched by hand over Unicode scalars instead of with a regex engine:
// they are fixed, each alternative is a simple run of one character class, and a hand matcher
// is both much faster than NSRegularExpression and exact about `\p{L}`, `\p{N}` and `\s`
// (Oniguruma, which `tokenizers` uses: general categories L*, N*, and the White_Space property).

/// The pre-tokenizer of a byte-level BPE vocabulary, for vocabularies that do not carry their own
/// description (GGUF names it in `tokenizer.ggml.pre`).
public enum BPEPreTokenizer: String, Sendable, CaseIterable {
    /// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    case gpt2
    /// LLaMA-3: case-insensitive contractions, a letter run with one leading non-letter, numbers in
    /// groups of at most three, punctuation runs with trailing newlines, newline runs.
    case llama3
    /// Qwen2: the LLaMA-3 regex with single digits (`\p{N}` instead of `\p{N}{1,3}`).
    case qwen2
    /// SmolLM / SmolLM2 (StarCoder lineage): every digit alone, then the GPT-2 regex.
    case smollm

    var pipeline: PreTokenizerPipeline {
        switch self {
        case .gpt2: PreTokenizerPipeline(addPrefixSpace: false, rules: [.gpt2Regex])
        case .llama3: PreTokenizerPipeline(addPrefixSpace: false, rules: [.llama3Regex(maxDigits: 3)])
        case .qwen2: PreTokenizerPipeline(addPrefixSpace: false, rules: [.llama3Regex(maxDigits: 1)])
        case .smollm: PreTokenizerPipeline(addPrefixSpace: false, rules: [.digits(individual: true), .gpt2Regex])
        }
    }
}

/// One splitting step; each keeps the matches and the text between them as pieces (the
/// `Isolated` behaviour of `tokenizers`' Split).
enum SplitRule: Sendable, Equatable {
    case gpt2Regex
    /// The LLaMA-3 regex, with `\p{N}{1,maxDigits}`.
    case llama3Regex(maxDigits: Int)
    /// `tokenizers`' Digits: numbers (`char::is_numeric`, i.e. `\p{N}`) apart from the rest,
    /// each digit alone when `individual`.
    case digits(individual: Bool)

    /// The exact regex strings `tokenizers` writes in a Split pre-tokenizer, for recognising them.
    static func fromRegex(_ pattern: String) -> SplitRule? {
        switch pattern {
        case gpt2Pattern: .gpt2Regex
        case llama3Pattern: .llama3Regex(maxDigits: 3)
        case qwen2Pattern: .llama3Regex(maxDigits: 1)
        default: nil
        }
    }

    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let llama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
}

/// The steps a text segment goes through, in order.
struct PreTokenizerPipeline: Sendable, Equatable {
    /// `ByteLevel(add_prefix_space: true)`: a segment that does not start with a space gets one.
    var addPrefixSpace: Bool
    var rules: [SplitRule]

    /// Cuts `range` of `text` into pieces, appending them to `pieces`.
    func split(_ text: ClassifiedScalars, _ range: Range<Int>, into pieces: inout [Range<Int>]) {
        var current = [range]
        var next: [Range<Int>] = []
        for rule in rules {
            next.removeAll(keepingCapacity: true)
            for piece in current { rule.split(text, piece, into: &next) }
            swap(&current, &next)
        }
        pieces.append(contentsOf: current)
    }
}

/// Unicode scalars with their character classes, computed once per text.
struct ClassifiedScalars {
    static let letter: UInt8 = 1, number: UInt8 = 2, space: UInt8 = 4, newline: UInt8 = 8

    var scalars: [Unicode.Scalar]
    var classes: [UInt8]

    init<S: Sequence<Unicode.Scalar>>(_ source: S) {
        scalars = Array(source)
        classes = scalars.map(Self.classify)
    }

    static func classify(_ s: Unicode.Scalar) -> UInt8 {
        if s.value < 128 { return asciiClasses[Int(s.value)] }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return number
        default:
            return s.properties.isWhitespace ? space : 0
        }
    }

    private static let asciiClasses: [UInt8] = (0..<128).map { v -> UInt8 in
        switch UInt8(v) {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): letter
        case UInt8(ascii: "0")...UInt8(ascii: "9"): number
        case 0x0A, 0x0D: space | newline
        case 0x09, 0x0B, 0x0C, 0x20: space
        default: 0
        }
    }
}

extension SplitRule {
    func split(_ text: ClassifiedScalars, _ range: Range<Int>, into pieces: inout [Range<Int>]) {
        switch self {
        case .digits(let individual):
            splitDigits(text.classes, range, individual: individual, into: &pieces)
        case .gpt2Regex:
            isolateMatches(range, into: &pieces) { gpt2Match(text, $0, range.upperBound) }
        case .llama3Regex(let maxDigits):
            isolateMatches(range, into: &pieces) { llama3Match(text, $0, range.upperBound, maxDigits: maxDigits) }
        }
    }

    /// Regex find-all with `Isolated` behaviour: each match is a piece, and so is any text between
    /// matches (none for these regexes, whose alternatives together match every character).
    private func isolateMatches(_ range: Range<Int>, into pieces: inout [Range<Int>], match: (Int) -> Int?) {
        var i = range.lowerBound
        var gapStart = i
        while i < range.upperBound {
            if let end = match(i) {
                if gapStart < i { pieces.append(gapStart..<i) }
                pieces.append(i..<end)
                i = end
                gapStart = i
            } else {
                i += 1
            }
        }
        if gapStart < range.upperBound { pieces.append(gapStart..<range.upperBound) }
    }

    private func splitDigits(_ c: [UInt8], _ range: Range<Int>, individual: Bool, into pieces: inout [Range<Int>]) {
        var i = range.lowerBound
        var start = i
        while i < range.upperBound {
            if c[i] & ClassifiedScalars.number != 0 {
                if start < i { pieces.append(start..<i) }
                var end = i + 1
                if !individual { while end < range.upperBound, c[end] & ClassifiedScalars.number != 0 { end += 1 } }
                pieces.append(i..<end)
                i = end
                start = i
            } else {
                i += 1
            }
        }
        if start < range.upperBound { pieces.append(start..<range.upperBound) }
    }
}

// MARK: - The regexes, alternative by alternative

private let apostrophe = Unicode.Scalar(UInt8(ascii: "'"))
private let space = Unicode.Scalar(UInt8(ascii: " "))

/// End of `'s|'t|'re|'ve|'m|'ll|'d` at `i`, case-insensitive (ASCII) when asked.
@inline(__always)
private func contraction(_ s: [Unicode.Scalar], _ i: Int, _ end: Int, ignoringCase: Bool) -> Int? {
    guard s[i] == apostrophe, i + 1 < end else { return nil }
    func lower(_ k: Int) -> UInt32 {
        let v = s[k].value
        return ignoringCase && (65...90).contains(v) ? v | 0x20 : v
    }
    switch lower(i + 1) {
    case 0x73, 0x74, 0x6D, 0x64: return i + 2  // s t m d
    case 0x72, 0x76: return i + 2 < end && lower(i + 2) == 0x65 ? i + 3 : nil  // re ve
    case 0x6C: return i + 2 < end && lower(i + 2) == 0x6C ? i + 3 : nil  // ll
    default: return nil
    }
}

@inline(__always)
private func run(_ c: [UInt8], from i: Int, _ end: Int, while test: (UInt8) -> Bool) -> Int {
    var k = i
    while k < end, test(c[k]) { k += 1 }
    return k
}

@inline(__always) private func isOther(_ c: UInt8) -> Bool { c & (ClassifiedScalars.letter | ClassifiedScalars.number | ClassifiedScalars.space) == 0 }
@inline(__always) private func isLetter(_ c: UInt8) -> Bool { c & ClassifiedScalars.letter != 0 }
@inline(__always) private func isNumber(_ c: UInt8) -> Bool { c & ClassifiedScalars.number != 0 }
@inline(__always) private func isSpace(_ c: UInt8) -> Bool { c & ClassifiedScalars.space != 0 }

/// `\s+(?!\S)|\s+` at a whitespace character: the run, less its last character when a
/// non-space follows and the run is longer than one (that character then leads the next word).
@inline(__always)
private func whitespaceRun(_ c: [UInt8], _ i: Int, _ end: Int) -> Int {
    let k = run(c, from: i, end, while: isSpace)
    return k == end || k - i == 1 ? k : k - 1
}

/// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
private func gpt2Match(_ text: ClassifiedScalars, _ i: Int, _ end: Int) -> Int? {
    let s = text.scalars, c = text.classes
    if let k = contraction(s, i, end, ignoringCase: false) { return k }
    // ` ?X+`: X is the class of the first character after an optional ASCII space.
    let j = s[i] == space && i + 1 < end && !isSpace(c[i + 1]) ? i + 1 : i
    let x = c[j]
    if isLetter(x) { return run(c, from: j, end, while: isLetter) }
    if isNumber(x) { return run(c, from: j, end, while: isNumber) }
    if isOther(x) { return run(c, from: j, end, while: isOther) }
    return whitespaceRun(c, i, end)
}

/// LLaMA-3 (`maxDigits` 3) and Qwen2 (1):
/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
private func llama3Match(_ text: ClassifiedScalars, _ i: Int, _ end: Int, maxDigits: Int) -> Int? {
    let s = text.scalars, c = text.classes
    if let k = contraction(s, i, end, ignoringCase: true) { return k }
    let ci = c[i]
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if isLetter(ci) { return run(c, from: i, end, while: isLetter) }
    if !isNumber(ci), ci & ClassifiedScalars.newline == 0, i + 1 < end, isLetter(c[i + 1]) {
        return run(c, from: i + 1, end, while: isLetter)
    }
    // \p{N}{1,maxDigits}
    if isNumber(ci) { return min(run(c, from: i, end, while: isNumber), i + maxDigits) }
    // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
    let j = s[i] == space && i + 1 < end && isOther(c[i + 1]) ? i + 1 : i
    if isOther(c[j]) {
        let k = run(c, from: j, end, while: isOther)
        return run(c, from: k, end) { $0 & ClassifiedScalars.newline != 0 }
    }
    // \s*[\r\n]+ : the whitespace run up to and including its last CR or LF.
    let k = run(c, from: i, end, while: isSpace)
    var m = k - 1
    while m >= i, c[m] & ClassifiedScalars.newline == 0 { m -= 1 }
    if m >= i { return m + 1 }
    return whitespaceRun(c, i, end)
}
