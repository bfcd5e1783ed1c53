// Fuzz target: the JSONL input of `tandem summarize` (Sources/Tandem/Summarize/DocumentSource.swift):
// the input is the whole file, read line by line until the end; every line must become a
// document or a reported skip. The same bytes are then reopened as an existing output file
// (ResultLog.swift), which reads the ids already done and cuts a torn last line.
import FuzzSupport
import Tandem

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let path = ScratchFile.write(input(data, size))
    guard let source = try? DocumentSource(.jsonl(path)) else { fatalError("cannot open \(path)") }
    var lines = 0
    while let item = source.next() {
        lines += 1
        precondition(lines <= size + 1, "more items than lines")
        switch item {
        case let .document(id, text, _): precondition(!id.isEmpty && !text.isEmpty)
        case .skip: break
        }
    }
    _ = try? ResultLog(path: path)
    return 0
}

@main enum FuzzSummarizeJSONL { static func main() { runLibFuzzer(fuzzOneInput) } }
