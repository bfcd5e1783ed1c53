// Fuzz target: the `.tandem` reader (Sources/TandemFormat/TandemFile.swift; Formats/FORMAT.md
// §2–§8). The input is a whole file. Its header checksum is recomputed before the file is read,
// so that mutations get past that check to the directory, metadata and blob parsers behind it
// (a random mutant would otherwise almost never have a matching XXH64). Once a file opens, every
// tensor is decoded, every blob decompressed and every checksum verified.
import FuzzSupport
import TandemFormat

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var bytes = [UInt8](input(data, size))
    fixHeaderChecksum(&bytes)
    guard let file = try? TandemFile(path: ScratchFile.write(bytes), verifyChecksums: false) else { return 0 }
    _ = try? file.verify()
    for info in file.tensors {
        let view = file.view(info)
        _ = info.dtype.decode(view.data, count: info.elementCount)
    }
    for blob in file.blobs { _ = try? file.blob(blob.name) }
    for (_, tokenizer) in file.metadata.tokenizers { _ = file.blobInfo(tokenizer.blob) }
    return 0
}

/// Writes XXH64(preamble bytes 0..<96 ‖ stored metadata ‖ directory) at offset 96 when the
/// preamble's section fields lie inside the input (FORMAT.md §3); otherwise leaves the bytes be.
func fixHeaderChecksum(_ bytes: inout [UInt8]) {
    guard bytes.count >= 128 else { return }
    func u64(_ offset: Int) -> UInt64 {
        (0..<8).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
    }
    func range(_ offset: Int, _ length: Int) -> Range<Int>? {
        let start = u64(offset), count = u64(length)
        let (end, overflow) = start.addingReportingOverflow(count)
        guard !overflow, end <= UInt64(bytes.count) else { return nil }
        return Int(start)..<Int(end)
    }
    guard let metadata = range(24, 32), let directory = range(56, 64) else { return }
    var hasher = XXH64()
    bytes.withUnsafeBytes { raw in
        hasher.update(UnsafeRawBufferPointer(rebasing: raw[0..<96]))
        hasher.update(UnsafeRawBufferPointer(rebasing: raw[metadata]))
        hasher.update(UnsafeRawBufferPointer(rebasing: raw[directory]))
    }
    let checksum = hasher.finalize()
    for i in 0..<8 { bytes[96 + i] = UInt8(truncatingIfNeeded: checksum >> (8 * UInt64(i))) }
}

@main enum FuzzTandemFile { static func main() { runLibFuzzer(fuzzOneInput) } }
