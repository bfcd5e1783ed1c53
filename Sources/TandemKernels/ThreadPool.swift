// A persistent pool of worker threads for the matrix products.
//
// Decode calls a GEMV per weight matrix per token, and a 512×512 matrix takes microseconds, so the
// cost of waking threads dominates unless they are already awake: `DispatchQueue.concurrentPerform`
// was measured to add little or nothing there. Workers therefore spin on an atomic generation
// counter for a while after each job (a new job starts within ~100 ns), and only then fall back to
// sleeping on a condition variable so an idle process does not burn its cores.
//
// Work is handed out in chunks that threads claim from an atomic counter rather than one fixed
// share per thread. On a quiet machine that changes nothing; on a loaded one (a laptop compiling
// in the background, two jobs sharing a 2-core box) a worker that the kernel has descheduled no
// longer holds the whole call hostage: the caller takes its chunks. With a fixed split, SmolLM2
// decode on 2 threads dropped from ~80 to 3–7 tokens/s as soon as a third process wanted a core.
import Atomics
import CTandemKernels
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Caller plus `threadCount - 1` workers sharing chunks of one job at a time.
///
/// ```swift
/// let pool = ThreadPool(threads: 2)
/// pool.parallelFor(rows) { range in for r in range { y[r] = dot(r) } }
/// ```
public final class ThreadPool: @unchecked Sendable {
    /// Threads taking part in each call, the caller included.
    public let threadCount: Int
    private let state: PoolState
    /// One parallel call at a time; the pool's job slot is shared.
    private let callLock = NSLock()

    /// The process-wide pool: `TANDEM_THREADS` threads when set, else one per core.
    public static let shared = ThreadPool(threads: defaultThreadCount)

    /// A pool of one thread (work runs on the caller), for kernels called from inside a
    /// `parallelFor`, which does not nest.
    public static let inline = ThreadPool(threads: 1)

    /// `TANDEM_THREADS` when set to a valid count, else the number of active cores. Callers that
    /// can report an error (the command line) use `defaultThreads()`, which refuses a bad value.
    public static var defaultThreadCount: Int {
        (try? defaultThreads()) ?? max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    /// The most threads a pool may have. A pool starts its threads up front, so a mistyped
    /// `--threads 1000000` would start a million threads before the first product.
    public static let maxThreads = 1024

    /// Threads per call when none are asked for: `TANDEM_THREADS` when set, else the active
    /// cores. Throws when `TANDEM_THREADS` is set to anything but a count in 1...`maxThreads`.
    public static func defaultThreads() throws(ThreadCountError) -> Int {
        if let raw = getenv("TANDEM_THREADS") {
            return try checkedThreads(String(cString: raw), source: "TANDEM_THREADS")
        }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

    /// `text` as a thread count in 1...`maxThreads`; `source` names where it came from in the error.
    public static func checkedThreads(_ text: String, source: String) throws(ThreadCountError) -> Int {
        guard let n = Int(text.trimmingCharacters(in: .whitespaces)), n >= 1, n <= maxThreads else {
            throw ThreadCountError(source: source, value: text)
        }
        return n
    }

    /// Chunks per thread that `parallelFor` cuts a range into: enough that a late thread's share
    /// can be taken over, few enough that claiming costs nothing next to the work.
    public static let chunksPerThread = 4

    /// - Parameter threads: threads per call including the caller (at least 1).
    /// - Parameter spinIterations: pause instructions a worker spins after a job before sleeping
    ///   (about 1 ms on current x86 cores at the default).
    public init(threads: Int = ThreadPool.defaultThreadCount, spinIterations: Int = 1 << 15) {
        precondition(threads >= 1, "a thread pool needs at least one thread")
        threadCount = threads
        state = PoolState(spinIterations: spinIterations)
        // Each worker starts from generation 0, read here rather than in the new thread: a thread
        // that started late would otherwise take the first job's generation as already seen.
        let start = state.generation.load(ordering: .relaxed)
        for index in 1..<max(threads, 1) {
            let state = self.state
            let thread = Thread { state.workerLoop(seen: start) }
            thread.name = "tandem-worker-\(index)"
            thread.start()
        }
    }

    deinit { state.stop() }

    /// Calls `body(c)` once for every chunk `c` in `0..<chunks`, spread over the pool's threads,
    /// and returns when all calls have returned. Chunks may run in any order and on any thread,
    /// the caller's included; two chunks never run on the same thread at once.
    public func run(chunks: Int, _ body: (_ chunk: Int) -> Void) {
        if threadCount == 1 || chunks <= 1 {
            for c in 0..<chunks { body(c) }
            return
        }
        callLock.lock()
        defer { callLock.unlock() }
        withoutActuallyEscaping(body) { job in
            state.execute(job, chunks: chunks)
        }
    }

    /// Calls `body(t)` for every `t` in `0..<threadCount`: one chunk per thread, for work that is
    /// already split evenly (the benchmarks' per-thread loops).
    public func run(_ body: (_ thread: Int) -> Void) {
        run(chunks: threadCount, body)
    }

    /// Splits `0..<count` into contiguous ranges whose bounds are multiples of `alignment` (except
    /// the end) and runs `body` on each in parallel: `chunksPerThread` per thread, or `minParts`
    /// if more, so that the last range to finish (while the other threads wait) is short. Small
    /// counts use fewer, larger ranges.
    public func parallelFor(_ count: Int, alignment: Int = 1, minParts: Int = 0, _ body: (Range<Int>) -> Void) {
        precondition(alignment >= 1)
        let units = (count + alignment - 1) / alignment
        let parts = threadCount == 1 ? 1 : min(max(threadCount * Self.chunksPerThread, minParts), units)
        if parts <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        run(chunks: parts) { c in
            let lo = min(count, units * c / parts * alignment)
            let hi = min(count, units * (c + 1) / parts * alignment)
            if lo < hi { body(lo..<hi) }
        }
    }
}

/// What the workers share; kept apart from `ThreadPool` so the threads do not keep it alive.
///
/// The protocol that keeps a late worker from touching a job whose caller has returned: a worker
/// counts itself in `active` before it looks at `open`, and the caller closes the job and then
/// waits for `active` to drain (both sequentially consistent), so either the worker sees the job
/// closed or the caller sees the worker and waits for it.
private final class PoolState: @unchecked Sendable {
    let generation = ManagedAtomic<Int>(0)
    let open = ManagedAtomic<Bool>(false)
    let active = ManagedAtomic<Int>(0)
    let nextChunk = ManagedAtomic<Int>(0)
    let doneChunks = ManagedAtomic<Int>(0)
    let sleepers = ManagedAtomic<Int>(0)
    let stopping = ManagedAtomic<Bool>(false)
    let spinIterations: Int
    /// Written by the caller before `open` is set, read by workers after they see it set.
    var job: ((Int) -> Void)?
    var chunkCount = 0
    let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init(spinIterations: Int) {
        self.spinIterations = spinIterations
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
    }

    // Each worker's thread holds this state until its loop has returned, so by the time it is
    // deinitialised no thread can touch the mutex or the condition any more. (They used to be
    // kept forever, which LeakSanitizer reported for every `--threads N` pool: issue 8.)
    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        cond.deallocate()
        mutex.deallocate()
    }

    func execute(_ job: @escaping (Int) -> Void, chunks: Int) {
        self.job = job
        chunkCount = chunks
        nextChunk.store(0, ordering: .relaxed)
        doneChunks.store(0, ordering: .relaxed)
        open.store(true, ordering: .sequentiallyConsistent)
        generation.wrappingIncrement(ordering: .sequentiallyConsistent)
        // Paired with the sleeper's increment-then-recheck: either it sees the new generation, or
        // we see it counted and wake it.
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 { wakeAll() }

        claimChunks()
        // Chunks other threads claimed may still be running. Spin: they usually finish within
        // microseconds; when the machine is oversubscribed, give the core away instead.
        wait { self.doneChunks.load(ordering: .acquiring) == chunks }
        open.store(false, ordering: .sequentiallyConsistent)
        wait { self.active.load(ordering: .sequentiallyConsistent) == 0 }
        self.job = nil
    }

    /// Runs chunks until none is left to claim.
    private func claimChunks() {
        while true {
            let c = nextChunk.loadThenWrappingIncrement(ordering: .relaxed)
            if c >= chunkCount { return }
            job?(c)
            doneChunks.wrappingIncrement(ordering: .releasing)
        }
    }

    private func wait(until done: () -> Bool) {
        var spins = 0
        while !done() {
            spins += 1
            if spins < 1 << 14 { tk_cpu_relax() } else { sched_yield() }
        }
    }

    func stop() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        generation.wrappingIncrement(ordering: .sequentiallyConsistent)
        wakeAll()
    }

    private func wakeAll() {
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(cond)
        pthread_mutex_unlock(mutex)
    }

    func workerLoop(seen start: Int) {
        var seen = start
        while true {
            var spins = 0
            var current = generation.load(ordering: .acquiring)
            while current == seen {
                if spins < spinIterations {
                    tk_cpu_relax()
                    spins += 1
                } else {
                    pthread_mutex_lock(mutex)
                    sleepers.wrappingIncrement(ordering: .sequentiallyConsistent)
                    while generation.load(ordering: .sequentiallyConsistent) == seen {
                        pthread_cond_wait(cond, mutex)
                    }
                    sleepers.wrappingDecrement(ordering: .sequentiallyConsistent)
                    pthread_mutex_unlock(mutex)
                    spins = 0
                }
                current = generation.load(ordering: .acquiring)
            }
            seen = current
            if stopping.load(ordering: .acquiring) { return }
            active.wrappingIncrement(ordering: .sequentiallyConsistent)
            if open.load(ordering: .sequentiallyConsistent) { claimChunks() }
            active.wrappingDecrement(ordering: .sequentiallyConsistent)
        }
    }
}

/// A thread count that is not a number in 1...`ThreadPool.maxThreads`.
public struct ThreadCountError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Where the value came from: `--threads`, `TANDEM_THREADS`.
    public let source: String
    public let value: String
    public var description: String { "\(source) must be a whole number from 1 to \(ThreadPool.maxThreads), got '\(value)'" }
}
