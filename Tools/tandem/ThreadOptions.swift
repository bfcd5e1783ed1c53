// `--threads`, the same on every command: one default, one check, one error line.
import ArgumentParser
import TandemKernels

/// The thread option every working command shares (`@OptionGroup var threading: ThreadOptions`).
/// Default: `TANDEM_THREADS` when set, else one thread per core. An out-of-range `--threads` or
/// `TANDEM_THREADS` is refused while the arguments are validated, before any work starts.
struct ThreadOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Threads (default: TANDEM_THREADS, else all cores).",
        discussion: "A whole number from 1 to \(ThreadPool.maxThreads)."))
    var threads: String?

    func validate() throws {
        _ = try count()
    }

    /// The validated thread count.
    func count() throws -> Int {
        do {
            if let threads { return try ThreadPool.checkedThreads(threads, source: "--threads") }
            return try ThreadPool.defaultThreads()
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// A pool of `count()` threads for this command's work.
    func pool() throws -> ThreadPool {
        ThreadPool(threads: try count())
    }
}
