import Foundation

/// Where tests write files: one directory per test process under the system's temporary
/// directory, removed when the process exits. Converted models reach half a gigabyte, and a
/// suite run converts dozens; without this every run left them behind.
public enum Scratch {
    /// The process's directory, made on first use.
    public static let directory: URL = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tandem-tests-\(getpid())")
        try? FileManager.default.removeItem(at: dir)  // a dead process's, if the pid came round again
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // Mapped files stay readable after their names go, so removing at exit is safe even
        // while a cached model is still open.
        atexit { try? FileManager.default.removeItem(at: Scratch.directory) }
        return dir
    }()

    /// A path in the directory no other call returns (`name` last, for readable failures).
    public static func unique(_ name: String) -> String {
        directory.appendingPathComponent("\(UUID().uuidString)-\(name)").path
    }

    /// A fixed path in the directory, for files a test caches under its own key.
    public static func named(_ name: String) -> String {
        directory.appendingPathComponent(name).path
    }
}
