// A read-only memory mapping of a whole file. Weights are used in place from it: loading a
// model costs an open, an fstat and an mmap, and pages are read from disk only when touched.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A file mapped read-only into memory; unmapped when the last reference goes away.
///
/// If another process truncates the file while it is mapped, touching a page past the new end
/// raises SIGBUS (see Formats/FORMAT.md §9); Tandem never writes to a file it has mapped.
/// Every mapping is recorded so that a program can report that fault as one line naming the file
/// (`MappedFile.reportTruncationOnSIGBUS`, MappedFile+Truncation.swift).
public final class MappedFile: @unchecked Sendable {
    public let path: String
    /// The mapped bytes (empty for an empty file).
    public let bytes: UnsafeRawBufferPointer
    private let base: UnsafeMutableRawPointer?
    /// This mapping's slot in `MappingRegistry`, for the SIGBUS handler.
    private let registration: Int?

    public init(path: String) throws(FormatError) {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .io(path: path, reason: String(cString: strerror(errno))) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw .io(path: path, reason: "not a regular file") }
        let size = Int(st.st_size)
        if size == 0 {
            base = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            registration = nil
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else { throw .io(path: path, reason: "mmap: " + String(cString: strerror(errno))) }
        base = p
        bytes = UnsafeRawBufferPointer(start: p, count: size)
        registration = MappingRegistry.register(start: p, count: size, path: path)
    }

    /// Asks the kernel to read the whole file ahead (for models about to be used in full).
    public func willNeed() {
        if let base { _ = madvise(base, bytes.count, MADV_WILLNEED) }
    }

    /// Lets the kernel drop the pages of `range`, part of a read-only file mapping, from this
    /// process's memory; touched again, they are read back from the file. The converter calls it
    /// after each tensor, so converting a checkpoint holds one tensor's pages at a time instead of
    /// the whole checkpoint's (t5-large: 2.96 GB resident before). The range is widened to whole
    /// pages, which may drop a neighbour's first or last page: it is read back if needed.
    public static func dontNeed(_ range: UnsafeRawBufferPointer) {
        guard let start = range.baseAddress, range.count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let first = Int(bitPattern: start) / page * page
        let end = (Int(bitPattern: start) + range.count + page - 1) / page * page
        _ = madvise(UnsafeMutableRawPointer(bitPattern: first), end - first, MADV_DONTNEED)
    }

    deinit {
        if let registration { MappingRegistry.unregister(registration) }
        if let base { munmap(base, bytes.count) }
    }
}
