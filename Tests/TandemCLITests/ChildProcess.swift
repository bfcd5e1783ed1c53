// A child `tandem` whose peak memory the tests can read. Standard input comes from a file,
// standard output and error go to files, so a test can watch the output grow while the child runs
// and never blocks it on a full pipe.
//
// Peak memory is the child's own VmHWM (/proc/PID/status), sampled while it runs: the ru_maxrss
// that wait4 or getrusage report is no use here, because exec carries the high-water mark of the
// address space it replaces into the new program's count, and posix_spawn's child shares the
// spawning process's address space until exec (a test runner under AddressSanitizer: ~500 MiB).
// VmHWM only grows, so the last sample before exit is the peak up to the last few milliseconds.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

final class ChildProcess {
    let pid: pid_t
    let stdoutPath: String
    let stderrPath: String
    private(set) var status: Int32?
    /// The largest VmHWM sampled, in bytes.
    private(set) var peakResidentBytes = 0

    /// Starts `executable` (default: the built `tandem`) with `args`; `stdin` names a file to read
    /// (default /dev/null).
    init(_ args: [String], stdin: String = "/dev/null", executable: String = CLI.binary.path) throws {
        stdoutPath = CLI.temporary("child.stdout")
        stderrPath = CLI.temporary("child.stderr")
        let argv = [executable] + args
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        // A clean signal state whatever the test runner's threads block or ignore: the tests
        // send SIGINT and provoke SIGBUS and SIGXFSZ.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), defaults = sigset_t()
        sigemptyset(&none)
        sigemptyset(&defaults)
        for s in [SIGINT, SIGTERM, SIGBUS, SIGXFSZ, SIGPIPE] { sigaddset(&defaults, s) }
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { for a in cArgs { free(a) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, argv[0], &actions, &attributes, cArgs, environ)
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EINVAL) }
        pid = child
    }

    var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stdoutBytes: Data { (try? Data(contentsOf: URL(fileURLWithPath: stdoutPath))) ?? Data() }
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Waits (polling every 5 ms) until `condition` holds or `seconds` pass; true if it held.
    func waitFor(seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            sampleMemory()
            if condition() { return true }
            usleep(5_000)
        }
        return condition()
    }

    /// Reads the child's VmHWM (kB) while it is alive.
    private func sampleMemory() {
        guard status == nil, let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kb = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        else { return }
        peakResidentBytes = max(peakResidentBytes, kb * 1024)
    }

    /// Reaps the child (killing it first if it outlives `seconds`); returns its wait status.
    @discardableResult
    func wait(seconds: Double = 120) -> Int32 {
        if let status { return status }
        var st: Int32 = 0
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            sampleMemory()
            let r = waitpid(pid, &st, WNOHANG)
            if r == pid { break }
            if Date() > deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &st, 0)
                break
            }
            usleep(5_000)
        }
        status = st
        return st
    }

    /// Exit code when the child exited normally, nil when a signal ended it.
    var exitCode: Int32? {
        guard let s = status, s & 0x7F == 0 else { return nil }
        return (s >> 8) & 0xFF
    }

    /// The signal that ended the child, if one did.
    var terminatingSignal: Int32? {
        guard let s = status, s & 0x7F != 0, s & 0x7F != 0x7F else { return nil }
        return s & 0x7F
    }

    deinit {
        if status == nil { kill(pid, SIGKILL); wait(seconds: 5) }
        unlink(stdoutPath)
        unlink(stderrPath)
    }
}
