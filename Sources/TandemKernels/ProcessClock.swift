// Monotonic time and the process's peak memory, for `--stats`, the encode-time counters and the
// benchmarks. Named ProcessClock, not Clock, so it does not shadow the standard library's Clock.
import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Monotonic time and process statistics for `--stats` and benchmarks.
public enum ProcessClock {
    public static var now: UInt64 { DispatchTime.now().uptimeNanoseconds }
    public static func seconds(since start: UInt64) -> Double { Double(now - start) / 1e9 }

    /// Peak resident set size of this process so far, in bytes.
    public static var peakResidentBytes: UInt64 {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return UInt64(usage.ru_maxrss) * 1024
    }
}

/// Seconds summed from any thread: a model's encode-time counters. One model may serve several
/// `generate` calls at once (tests do), so a plain `Double +=` on the runner would be a data race.
public final class SecondsCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var total: Double = 0

    public init() {}

    public func add(_ seconds: Double) {
        lock.lock()
        total += seconds
        lock.unlock()
    }

    public var value: Double {
        lock.lock()
        defer { lock.unlock() }
        return total
    }

    public func reset() {
        lock.lock()
        total = 0
        lock.unlock()
    }
}
