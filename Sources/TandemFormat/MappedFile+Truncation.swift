// A model file that shrinks while it is mapped (Formats/FORMAT.md §9). Touching a mapped page
// past the file's new end raises SIGBUS, which by default kills the process with a bare "Bus
// error". There is no way to turn that fault into a Swift error at the access (weights are read
// in place by the kernels), so a program opts in to a handler that recognises the fault as one in
// a mapped file, prints one line naming the file, and exits.
//
// The handler runs on whichever thread touched the page, at any point of its work, so it may only
// use async-signal-safe calls: it reads a fixed table of raw memory (never allocated, retained or
// locked by it), `write(2)`s a message assembled from bytes stored in advance, and `_exit(2)`s.
// `MappedFile` records its range in the table when it maps a file and clears it before unmapping.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension MappedFile {
    /// Makes SIGBUS in a file mapped by `MappedFile` print `<prefix>model file <path> was
    /// truncated or changed while in use` on standard error and exit with `exitCode`, instead of
    /// dying of the signal. Faults anywhere else go to the previous handler (or the default
    /// action), unchanged. Process-wide; call once, early (the `tandem` command does).
    ///
    /// ```swift
    /// MappedFile.reportTruncationOnSIGBUS(prefix: "tandem: error: ")
    /// let model = try TandemFile(path: "model.tandem")   // if another process truncates it now…
    /// // …the next read of a lost page prints the message and exits 1.
    /// ```
    public static func reportTruncationOnSIGBUS(prefix: String, exitCode: Int32 = 1) {
        // Installed once: a second install would record this handler as the "previous" one, and
        // a fault outside any mapping would then return to it forever.
        guard MappingRegistry.configure(prefix: prefix, exitCode: exitCode) else { return }
        var action = sigaction()
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_SIGINFO
        #if os(Linux)
        action.__sigaction_handler.sa_sigaction = onSIGBUS
        #else
        action.__sigaction_u.__sa_sigaction = onSIGBUS
        #endif
        sigaction(SIGBUS, &action, MappingRegistry.previousAction)
    }
}

/// The handler: a fault inside a registered mapping is reported and ends the process; any other
/// fault restores the previous disposition and returns, so the access faults again and meets it.
private func onSIGBUS(_ signal: Int32, _ info: UnsafeMutablePointer<siginfo_t>?, _ context: UnsafeMutableRawPointer?) {
    #if os(Linux)
    let address = info.map { UInt(bitPattern: $0.pointee._sifields._sigfault.si_addr) } ?? 0
    #else
    let address = info.map { UInt(bitPattern: $0.pointee.si_addr) } ?? 0
    #endif
    if address != 0, let slot = MappingRegistry.slot(containing: address) {
        MappingRegistry.report(slot)
        _exit(MappingRegistry.exitCode)
    }
    sigaction(SIGBUS, MappingRegistry.previousAction, nil)
}

/// The live mappings, as a fixed table the signal handler can read without allocating or locking.
///
/// Layout (raw bytes, allocated once): a header slot — exit code at 0, prefix length at 8, the
/// prefix's UTF-8 from 16 — then `slotCount` slots of `slotBytes`: start address at 0 (0 = free),
/// end address at 8, path length at 16, the path's UTF-8 (cut to `pathCapacity` bytes) from 24.
/// Slots are written under `lock` with the start address last, so a reader never sees a slot whose
/// start is set before its end and path are.
enum MappingRegistry {
    static let slotCount = 256
    static let slotBytes = 512
    static let pathCapacity = slotBytes - 24

    nonisolated(unsafe) static let table: UnsafeMutableRawPointer = {
        let bytes = (slotCount + 1) * slotBytes
        let p = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        p.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        return p
    }()
    nonisolated(unsafe) static let previousAction: UnsafeMutablePointer<sigaction> = {
        let p = UnsafeMutablePointer<sigaction>.allocate(capacity: 1)
        p.initialize(to: sigaction())
        return p
    }()
    private static let lock = NSLock()

    private static func slot(_ index: Int) -> UnsafeMutableRawPointer { table + (index + 1) * slotBytes }

    static var exitCode: Int32 { table.load(as: Int32.self) }

    nonisolated(unsafe) private static var installed = false

    /// Sets the message prefix and exit code; returns true the first time (install the handler).
    static func configure(prefix: String, exitCode: Int32) -> Bool {
        let bytes = Array(prefix.utf8.prefix(slotBytes - 16))
        lock.lock()
        defer { lock.unlock() }
        defer { installed = true }
        table.storeBytes(of: exitCode, as: Int32.self)
        table.storeBytes(of: bytes.count, toByteOffset: 8, as: Int.self)
        bytes.withUnsafeBytes { (table + 16).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        return !installed
    }

    /// Records a mapping; returns its slot, or nil when every slot is taken (the mapping then
    /// works as usual, but a fault in it is not recognised).
    static func register(start: UnsafeRawPointer, count: Int, path: String) -> Int? {
        let name = Array(path.utf8.prefix(pathCapacity))
        lock.lock()
        defer { lock.unlock() }
        for i in 0..<slotCount where slot(i).load(as: UInt.self) == 0 {
            let s = slot(i)
            s.storeBytes(of: UInt(bitPattern: start) + UInt(count), toByteOffset: 8, as: UInt.self)
            s.storeBytes(of: name.count, toByteOffset: 16, as: Int.self)
            name.withUnsafeBytes { (s + 24).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            s.storeBytes(of: UInt(bitPattern: start), as: UInt.self)
            return i
        }
        return nil
    }

    static func unregister(_ index: Int) {
        lock.lock()
        defer { lock.unlock() }
        slot(index).storeBytes(of: 0, as: UInt.self)
    }

    /// The slot whose range holds `address` (async-signal-safe: loads only).
    static func slot(containing address: UInt) -> Int? {
        for i in 0..<slotCount {
            let s = slot(i)
            let start = s.load(as: UInt.self)
            if start != 0, address >= start, address < s.load(fromByteOffset: 8, as: UInt.self) { return i }
        }
        return nil
    }

    /// Writes `<prefix>model file <path> was truncated or changed while in use` (async-signal-safe).
    static func report(_ index: Int) {
        let s = slot(index)
        _ = write(STDERR_FILENO, table + 16, table.load(fromByteOffset: 8, as: Int.self))
        writeStatic("model file ")
        _ = write(STDERR_FILENO, s + 24, s.load(fromByteOffset: 16, as: Int.self))
        writeStatic(" was truncated or changed while in use\n")
    }

    private static func writeStatic(_ text: StaticString) {
        _ = write(STDERR_FILENO, text.utf8Start, text.utf8CodeUnitCount)
    }
}
