// Where `tandem summarize` reads documents from: a JSONL file or stdin (one JSON object per
// line), or a directory of .txt files. Input is streamed — never loaded whole — and every bad
// line becomes a reported skip with its line number and reason, never a crash.
import Foundation
import TandemFormat

/// One input document, or the reason a line was skipped.
public enum DocumentItem: Sendable {
    case document(id: String, text: String, line: Int)
    case skip(line: Int, id: String?, reason: String)
}

/// Reads lines from a file descriptor in chunks, yielding raw bytes per line (so invalid UTF-8
/// is seen and reported, not silently replaced).
final class LineReader {
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var start = 0
    /// buffer[start..<scanned] holds no newline: each byte is searched once, so a line that
    /// arrives in many chunks costs linear time, not quadratic (a 10^7-character document used to
    /// rescan its growing prefix after every 64 KiB read).
    private var scanned = 0
    private var eof = false
    /// Bytes read from the handle so far.
    private var read = 0
    /// Longest line accepted; longer lines are skipped (bounded memory on hostile input).
    let maxLineBytes: Int

    /// Bytes of the input consumed: every line returned so far, with its newline.
    var consumed: Int { read - (buffer.count - start) }

    init(handle: FileHandle, maxLineBytes: Int) {
        self.handle = handle
        self.maxLineBytes = maxLineBytes
    }

    /// The next line without its terminator, or nil at the end. `tooLong` lines are consumed
    /// and returned empty with the flag set.
    func next() -> (bytes: ArraySlice<UInt8>, tooLong: Bool)? {
        var skipping = false
        while true {
            if let nl = Self.newline(in: buffer, from: max(start, scanned)) {
                let line = buffer[start..<nl]
                start = nl + 1
                scanned = start
                if start > 1 << 20 { buffer.removeFirst(start); start = 0; scanned = 0 }
                if skipping { return ([], true) }
                return (line.last == UInt8(ascii: "\r") ? line.dropLast() : line, false)
            }
            scanned = buffer.count
            if buffer.count - start > maxLineBytes {
                skipping = true
                buffer.removeAll(keepingCapacity: true)
                start = 0
                scanned = 0
            }
            if eof {
                if start < buffer.count {
                    let line = buffer[start...]
                    start = buffer.count
                    return skipping ? ([], true) : (line, false)
                }
                return skipping ? ([], true) : nil
            }
            let chunk = handle.readData(ofLength: 1 << 16)
            read += chunk.count
            if chunk.isEmpty { eof = true } else { buffer.append(contentsOf: chunk) }
        }
    }

    /// Index of the first newline in bytes[from...], by memchr.
    private static func newline(in bytes: [UInt8], from: Int) -> Int? {
        bytes.withUnsafeBufferPointer { p in
            guard from < p.count, let base = p.baseAddress,
                  let hit = memchr(base + from, Int32(UInt8(ascii: "\n")), p.count - from) else { return nil }
            return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
        }
    }
}

/// Streams documents from JSONL (`idField`/`textField` configurable) or a directory of .txt files.
public final class DocumentSource {
    public enum Input { case jsonl(String), stdin, directory(String) }

    let input: Input
    let idField: String
    let textField: String
    private var reader: LineReader?
    private var files: [String] = []
    private var fileIndex = 0
    private var line = 0
    /// The input file's size, when it is a file (not standard input).
    private var inputBytes: Int?
    public static let maxDocumentBytes = 64 << 20

    public init(_ input: Input, idField: String = "id", textField: String = "text") throws {
        self.input = input
        self.idField = idField
        self.textField = textField
        switch input {
        case let .jsonl(path):
            guard let h = FileHandle(forReadingAtPath: path) else {
                throw RuntimeError.io("cannot open \(path): \(String(cString: strerror(errno)))")
            }
            reader = LineReader(handle: h, maxLineBytes: Self.maxDocumentBytes)
            inputBytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
        case .stdin:
            reader = LineReader(handle: .standardInput, maxLineBytes: Self.maxDocumentBytes)
        case let .directory(path):
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else {
                throw RuntimeError.io("cannot list \(path)")
            }
            files = names.filter { $0.hasSuffix(".txt") }.sorted().map { path + "/" + $0 }
        }
    }

    /// How many documents there are, when that is cheap to know (a directory), else nil.
    public var knownTotal: Int? {
        if case .directory = input { return files.count }
        return nil
    }

    /// How far through its input the source is, in the input's own unit: files of a directory,
    /// bytes of a JSONL file (whose document count is not known without reading it all); nil
    /// for standard input. For progress with an ETA.
    public var position: (done: Int, total: Int)? {
        switch input {
        case .directory: (fileIndex, files.count)
        case .jsonl: inputBytes.map { (min(reader!.consumed, $0), $0) }
        case .stdin: nil
        }
    }

    public func next() -> DocumentItem? {
        if case .directory = input {
            guard fileIndex < files.count else { return nil }
            let path = files[fileIndex]
            fileIndex += 1
            let id = String((path as NSString).lastPathComponent.dropLast(4))
            guard let data = FileManager.default.contents(atPath: path) else {
                return .skip(line: fileIndex, id: id, reason: "cannot read \(path)")
            }
            guard data.count <= Self.maxDocumentBytes else { return .skip(line: fileIndex, id: id, reason: "file larger than 64 MiB") }
            guard let text = String(validating: data, as: UTF8.self) else { return .skip(line: fileIndex, id: id, reason: "invalid UTF-8") }
            guard !text.allSatisfy(\.isWhitespace) else { return .skip(line: fileIndex, id: id, reason: "empty text") }
            return .document(id: id, text: text, line: fileIndex)
        }
        while let (bytes, tooLong) = reader!.next() {
            line += 1
            if tooLong { return .skip(line: line, id: nil, reason: "line longer than 64 MiB") }
            if bytes.allSatisfy({ $0 == 32 || $0 == 9 }) { continue }  // blank lines are not documents
            return parse(bytes, line: line)
        }
        return nil
    }

    /// One JSONL line through the strict JSON reader (JSONDecoder took ~20 µs a line: 2 s of a
    /// 100,000-document rerun went to reading lines whose ids were already done).
    func parse(_ bytes: ArraySlice<UInt8>, line: Int) -> DocumentItem {
        guard String(validating: bytes, as: UTF8.self) != nil else { return .skip(line: line, id: nil, reason: "invalid UTF-8") }
        guard let value = bytes.withUnsafeBufferPointer({ try? JSON.parse($0, what: "line \(line)") }) else {
            return .skip(line: line, id: nil, reason: "malformed JSON")
        }
        guard value.members != nil else { return .skip(line: line, id: nil, reason: "not a JSON object") }
        guard let field = value[idField] else { return .skip(line: line, id: nil, reason: "missing field \"\(idField)\"") }
        guard let id = field.documentId else {
            return .skip(line: line, id: nil, reason: "field \"\(idField)\" is not a non-empty string or an integer")
        }
        guard let value = value[textField] else { return .skip(line: line, id: id, reason: "missing field \"\(textField)\"") }
        guard case let .string(text) = value else { return .skip(line: line, id: id, reason: "field \"\(textField)\" is not a string") }
        guard !text.allSatisfy(\.isWhitespace) else { return .skip(line: line, id: id, reason: "empty text") }
        return .document(id: id, text: text, line: line)
    }
}

extension JSON {
    /// A document id as summarize reads it from its input and finds it again in its output: a
    /// non-empty string, or an integer (as its digits).
    var documentId: String? {
        switch self {
        case let .string(s) where !s.isEmpty: s
        case let .number(n) where n.rounded() == n && abs(n) < 9e15: String(Int64(n))
        default: nil
        }
    }
}
