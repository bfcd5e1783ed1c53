// The output of `tandem summarize`: append-only JSONL, one whole line per finished document,
// written with a single write(2) each, so a `kill -9` at any instant leaves at worst one torn last
// line. Reopening repairs that line (truncates it) and reports the ids already done, so a rerun
// skips them: nothing is lost and nothing is written twice. Merging shard outputs is `cat`.
import Foundation
import TandemFormat
#if canImport(Glibc)
import Glibc
#endif

public final class ResultLog {
    public let path: String
    private let fd: Int32
    /// Ids already in the file when it was opened.
    public private(set) var done: Set<String> = []
    /// Bytes of a torn last line that were cut off on open (0 when the file was clean).
    public private(set) var repairedBytes = 0

    /// Opens (creating) `path` for appending, after reading the ids it holds and cutting a torn
    /// last line. `idKey` is the JSON key records use for the document id.
    public init(path: String, idKey: String = "id") throws {
        self.path = path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RuntimeError.io("cannot open \(path): \(String(cString: strerror(errno)))") }
        self.fd = fd
        let data = FileManager.default.contents(atPath: path) ?? Data()
        var end = data.count
        if let last = data.lastIndex(of: UInt8(ascii: "\n")) {
            end = last + 1
        } else {
            end = 0
        }
        if end < data.count {
            repairedBytes = data.count - end
            guard ftruncate(fd, off_t(end)) == 0 else { throw RuntimeError.io("cannot repair \(path): \(String(cString: strerror(errno)))") }
        }
        var lineStart = 0
        for i in 0..<end where data[i] == UInt8(ascii: "\n") {
            if case let .object(o)? = try? JSONValue.parse(data.subdata(in: lineStart..<i), what: path),
               let id = o[idKey]?.stringValue ?? o[idKey]?.intValue.map(String.init) {
                done.insert(id)
            }
            lineStart = i + 1
        }
        lseek(fd, 0, SEEK_END)
    }

    deinit { close(fd) }

    /// Appends one record as one line (one write call), then makes it durable.
    public func append(_ record: [String: JSONValue]) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var line = try enc.encode(JSONValue.object(record))
        line.append(UInt8(ascii: "\n"))
        try line.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw RuntimeError.io("cannot write \(path): \(String(cString: strerror(errno)))")
                }
                off += n
            }
        }
        fdatasync(fd)
    }
}
