// A persistent pool of worker threads for the matrix products.
//
// Decode calls a GEMV per weight matrix per token, and a 512×512 matrix takes microseconds, so the
// cost of waking threads dominates unless they are already awake: `DispatchQueue.concurrentPerform`
// was measured to add little or nothing there. Workers therefore spin on an atomic generation
// counter for a while after each job (a new job starts within ~100 ns), and only then fall back to
// sleeping on a condition variable so an idle process does not burn its cores.
import Atomics
import CTandemKernels
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Caller plus `threadCount - 1` workers; each `run` hands every thread the same closure with its
/// index and returns when all are done.
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

    /// `TANDEM_THREADS` when set to a positive number, else the number of active cores.
    public static var defaultThreadCount: Int {
        if let raw = getenv("TANDEM_THREADS"), let n = Int(String(cString: raw)), n > 0 { return n }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }

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
            let thread = Thread { state.workerLoop(index: index, seen: start) }
            thread.name = "tandem-worker-\(index)"
            thread.start()
        }
    }

    deinit { state.stop() }

    /// Calls `body(t)` once for every `t` in `0..<threadCount`, concurrently, and returns when all
    /// calls have returned. The caller runs `body(0)`.
    public func run(_ body: (_ thread: Int) -> Void) {
        if threadCount == 1 {
            body(0)
            return
        }
        callLock.lock()
        defer { callLock.unlock() }
        withoutActuallyEscaping(body) { job in
            state.dispatch(job, workers: threadCount - 1)
            job(0)
            state.waitForWorkers()
        }
    }

    /// Splits `0..<count` into at most `threadCount` contiguous ranges whose bounds are multiples
    /// of `alignment` (except the end) and runs `body` on each in parallel. Small counts, where the
    /// split would leave threads without work, use fewer threads.
    public func parallelFor(_ count: Int, alignment: Int = 1, _ body: (Range<Int>) -> Void) {
        precondition(alignment >= 1)
        let units = (count + alignment - 1) / alignment
        let parts = min(threadCount, units)
        if parts <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        run { t in
            guard t < parts else { return }
            let lo = min(count, units * t / parts * alignment)
            let hi = min(count, units * (t + 1) / parts * alignment)
            if lo < hi { body(lo..<hi) }
        }
    }
}

/// What the workers share; kept apart from `ThreadPool` so the threads do not keep it alive.
private final class PoolState: @unchecked Sendable {
    let generation = ManagedAtomic<Int>(0)
    let pending = ManagedAtomic<Int>(0)
    let sleepers = ManagedAtomic<Int>(0)
    let stopping = ManagedAtomic<Bool>(false)
    let spinIterations: Int
    /// Written by the caller before `generation` is bumped (release), read by workers after they
    /// see the new generation (acquire).
    var job: ((Int) -> Void)?
    let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init(spinIterations: Int) {
        self.spinIterations = spinIterations
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
    }

    // The mutex and condition are never freed: workers may still touch them after the pool is
    // gone. Pools are few and long-lived, so this leaks a few bytes per pool at most.

    func dispatch(_ job: @escaping (Int) -> Void, workers: Int) {
        self.job = job
        pending.store(workers, ordering: .relaxed)
        generation.wrappingIncrement(ordering: .sequentiallyConsistent)
        // Paired with the sleeper's increment-then-recheck: either it sees the new generation, or
        // we see it counted and wake it.
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 { wakeAll() }
    }

    func waitForWorkers() {
        // Spin: a worker usually finishes within microseconds. When the machine is oversubscribed
        // a worker may be descheduled, so after a while give the core away instead of burning it.
        var spins = 0
        while pending.load(ordering: .acquiring) > 0 {
            spins += 1
            if spins < 1 << 14 { tk_cpu_relax() } else { sched_yield() }
        }
        job = nil
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

    func workerLoop(index: Int, seen start: Int) {
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
            job?(index)
            pending.wrappingDecrement(ordering: .releasing)
        }
    }
}
