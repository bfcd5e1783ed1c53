import Atomics
import Testing
@testable import TandemKernels

struct ThreadPoolTests {
    @Test(arguments: [1, 2, 3, 5])
    func runVisitsEveryThreadOnce(threads: Int) {
        let pool = ThreadPool(threads: threads, spinIterations: 1 << 10)
        for _ in 0..<50 {
            let hits = (0..<threads).map { _ in ManagedAtomic<Int>(0) }
            pool.run { t in hits[t].wrappingIncrement(ordering: .relaxed) }
            #expect(hits.allSatisfy { $0.load(ordering: .relaxed) == 1 })
        }
    }

    @Test(arguments: [1, 2, 4])
    func parallelForCoversRangeExactlyOnce(threads: Int) {
        let pool = ThreadPool(threads: threads, spinIterations: 1 << 10)
        for count in [0, 1, 2, 3, 15, 16, 17, 100, 1000] {
            for alignment in [1, 16] {
                let hits = (0..<count).map { _ in ManagedAtomic<Int>(0) }
                pool.parallelFor(count, alignment: alignment) { range in
                    if alignment > 1 { #expect(range.lowerBound % alignment == 0) }
                    for i in range { hits[i].wrappingIncrement(ordering: .relaxed) }
                }
                #expect(hits.allSatisfy { $0.load(ordering: .relaxed) == 1 }, "count \(count) alignment \(alignment)")
            }
        }
    }

    /// Workers that went to sleep (no spinning at all) still wake for every job.
    @Test func sleepingWorkersWake() {
        let pool = ThreadPool(threads: 3, spinIterations: 0)
        let total = ManagedAtomic<Int>(0)
        for _ in 0..<300 { pool.run { _ in total.wrappingIncrement(ordering: .relaxed) } }
        #expect(total.load(ordering: .relaxed) == 900)
    }
}
