import Atomics
import Testing
import Foundation
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

    /// Every chunk of a many-chunk job runs exactly once, over many back-to-back jobs (the late
    /// worker / closed-job protocol under stress).
    @Test(arguments: [2, 3])
    func chunksRunExactlyOnce(threads: Int) {
        let pool = ThreadPool(threads: threads, spinIterations: 1 << 6)
        for chunks in [2, 7, 64, 1000] {
            for _ in 0..<100 {
                let hits = (0..<chunks).map { _ in ManagedAtomic<Int>(0) }
                pool.run(chunks: chunks) { c in hits[c].wrappingIncrement(ordering: .relaxed) }
                #expect(hits.allSatisfy { $0.load(ordering: .relaxed) == 1 }, "chunks \(chunks)")
            }
        }
    }

    /// A chunk that stalls (as a descheduled worker would) does not stop the others: the rest are
    /// taken by the remaining threads while it waits.
    @Test func stalledChunkDoesNotHoldTheRest() {
        let pool = ThreadPool(threads: 2, spinIterations: 1 << 10)
        let finishedWhileStalled = ManagedAtomic<Int>(0)
        let stallOver = ManagedAtomic<Bool>(false)
        pool.run(chunks: 50) { c in
            if c == 0 {
                // Wait (bounded) until the other 49 chunks have run on the other thread.
                var waited = 0
                while finishedWhileStalled.load(ordering: .acquiring) < 49 && waited < 2_000 {
                    usleep(1000)
                    waited += 1
                }
                stallOver.store(true, ordering: .releasing)
            } else if !stallOver.load(ordering: .acquiring) {
                finishedWhileStalled.wrappingIncrement(ordering: .releasing)
            }
        }
        #expect(finishedWhileStalled.load(ordering: .relaxed) == 49)
    }

    /// Workers that went to sleep (no spinning at all) still wake for every job.
    @Test func sleepingWorkersWake() {
        let pool = ThreadPool(threads: 3, spinIterations: 0)
        let total = ManagedAtomic<Int>(0)
        for _ in 0..<300 { pool.run { _ in total.wrappingIncrement(ordering: .relaxed) } }
        #expect(total.load(ordering: .relaxed) == 900)
    }
}
