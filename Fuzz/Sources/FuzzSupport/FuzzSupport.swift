// What every fuzz target shares: the libFuzzer entry, a scratch file for readers that take a
// path, and the committed fixtures a target loads once (a tokenizer to feed text to).
import CLibFuzzer
import Foundation

/// The fuzz input as a byte buffer (libFuzzer may pass a null pointer with size 0).
public func input(_ data: UnsafePointer<UInt8>?, _ size: Int) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(start: size == 0 ? nil : data, count: size)
}

/// Hands control to libFuzzer, which calls `test` once per input. Command-line flags are
/// libFuzzer's (`-runs=`, `-max_total_time=`, corpus directories).
///
/// SwiftPM links an executable with `main` aliased to the module's entry point, so libFuzzer's
/// own `main` is never linked in; `LLVMFuzzerRunDriver` is its documented replacement.
public func runLibFuzzer(_ test: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, test))
}

/// One file per process, rewritten for every input, for readers whose public entry is a path
/// (they memory-map it). Lives in /dev/shm when there is one, so no disk is touched.
public enum ScratchFile {
    /// Removed at a normal exit (libFuzzer's end of run); a crashed run leaves it behind.
    public static let path: String = {
        let dir = FileManager.default.isWritableFile(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        atexit { unlink(ScratchFile.path) }
        return "\(dir)/tandem-fuzz-\(getpid())"
    }()

    /// Replaces the file's content with `bytes` and returns its path.
    public static func write(_ bytes: UnsafeRawBufferPointer) -> String {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        precondition(fd >= 0, "cannot create \(path)")
        defer { close(fd) }
        var done = 0
        while done < bytes.count {
            let n = Foundation.write(fd, bytes.baseAddress! + done, bytes.count - done)
            precondition(n > 0, "cannot write \(path)")
            done += n
        }
        return path
    }

    public static func write(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { write($0) }
    }
}

/// Committed fixtures, found from this source file (Fuzz/Sources/FuzzSupport/ → the repository).
public enum RepositoryFixtures {
    public static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The bytes of `relative` (e.g. `Tests/Fixtures/gguf/dequant.gguf`); a missing fixture is a
    /// broken checkout, not a finding, so it stops the run.
    public static func bytes(_ relative: String) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: root.appendingPathComponent(relative).path) else {
            fatalError("fixture \(relative) not found under \(root.path)")
        }
        return [UInt8](data)
    }
}

/// Splits an input into a one-byte selector and the rest, so one target can cover several fixed
/// setups (which fixture tokenizer, which mode).
public func selectorAndRest(_ bytes: UnsafeRawBufferPointer) -> (selector: UInt8, rest: UnsafeRawBufferPointer) {
    guard let first = bytes.first else { return (0, bytes) }
    return (first, UnsafeRawBufferPointer(rebasing: bytes.dropFirst()))
}
