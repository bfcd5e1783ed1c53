import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Monotonic time and process statistics for `--stats` and benchmarks.
public enum Clock {
    public static var now: UInt64 { DispatchTime.now().uptimeNanoseconds }
    public static func seconds(since start: UInt64) -> Double { Double(now - start) / 1e9 }

    /// Peak resident set size of this process so far, in bytes.
    public static var peakResidentBytes: UInt64 {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return UInt64(usage.ru_maxrss) * 1024
    }
}
