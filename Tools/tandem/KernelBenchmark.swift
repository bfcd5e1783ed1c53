// `tandem bench kernels`: the kernels measured against the machine's own limits, measured in the
// same run (Benchmarks/kernels/README.md). Part of the command, not of the TandemKernels library:
// nothing else runs it. Timing: one warm-up, then `runs` timed runs; the median is reported with
// min–max.
//
// GEMV weights rotate through enough copies of the matrix to fill `bandwidthBytes` (≥ 1 GiB by
// default), so every call streams its weights from DRAM, as decoding a model larger than the
// cache does, rather than from a warm last-level cache.
import CTandemKernels
import Foundation
import TandemFormat
import TandemKernels

/// One measurement; `--json` prints an array of these.
struct KernelBenchRecord: Codable, Sendable {
    /// "bandwidth", "peak", "gemv", "gemm", "pool".
    var kind: String
    var dtype: String?
    var m: Int?
    var n: Int?
    var k: Int?
    var threads: Int
    var gbps: Double?
    var gflops: Double?
    /// Of the measured limit: read bandwidth for bandwidth/gemv, f32 FMA peak for gemm.
    var fraction: Double?
    /// Median wall time of one call (pool rows) or of one run, in microseconds.
    var micros: Double?
    /// "tandem", "numpy" (OpenBLAS as installed) or "numpy-avx2" (OpenBLAS forced to Haswell kernels).
    var engine: String
    var isa: String
    /// Spread of the runs, min and max of the reported figure.
    var low: Double?
    var high: Double?
}

struct KernelBenchmark {
    struct Options: Sendable {
        var threads: Int
        var runs: Int
        /// Bytes streamed by the bandwidth probe and rotated through by GEMV.
        var bandwidthBytes: Int
        /// Benchmarks/kernels/numpy_gemm.py, or nil to skip the numpy reference.
        var numpyScript: String?
        var isa: KernelISA

        init(threads: Int = ThreadPool.defaultThreadCount, runs: Int = 5, bandwidthBytes: Int = 1 << 30,
                    numpyScript: String? = "Benchmarks/kernels/numpy_gemm.py", isa: KernelISA = .current) {
            self.threads = threads
            self.runs = runs
            self.bandwidthBytes = bandwidthBytes
            self.numpyScript = numpyScript
            self.isa = isa
        }
    }

    static let gemvShapes = [(n: 4096, k: 4096), (n: 2048, k: 8192), (n: 512, k: 2048)]
    static let gemmShapes = [(m: 512, n: 1024, k: 1024), (m: 512, n: 4096, k: 1024)]
    static let dtypes: [DType] = [.f32, .f16, .q8_0, .q4_0, .q5_0, .q4_K, .q5_K, .q6_K]

    let options: Options
    let log: (String) -> Void
    var records: [KernelBenchRecord] = []

    init(options: Options, log: @escaping (String) -> Void = { _ in }) {
        self.options = options
        self.log = log
    }

    /// Runs everything and returns the records in table order.
    mutating func run() -> [KernelBenchRecord] {
        let threadCounts = options.threads > 1 ? [1, options.threads] : [1]
        var bandwidth: [Int: Double] = [:]
        var peak: [Int: Double] = [:]
        for t in threadCounts {
            bandwidth[t] = measureBandwidth(threads: t)
            peak[t] = measurePeak(threads: t)
        }
        for dtype in Self.dtypes {
            for shape in Self.gemvShapes {
                for t in threadCounts { measureGEMV(dtype: dtype, n: shape.n, k: shape.k, threads: t, bandwidth: bandwidth[t]!) }
            }
        }
        // numpy as installed (OpenBLAS DYNAMIC_ARCH picks AVX-512 kernels where the CPU has them)
        // and pinned to OpenBLAS's Haswell (AVX2) kernels. Each runs one matmul between two of
        // Tandem's f32 runs, so all three see the same states of a host that drifts by ±20 %
        // from minute to minute.
        let references = [("numpy", NumpyServer(script: options.numpyScript, threads: options.threads, coreType: nil)),
                          ("numpy-avx2", NumpyServer(script: options.numpyScript, threads: options.threads, coreType: "Haswell"))]
            .compactMap { name, server in server.map { (name, $0) } }
        if options.numpyScript != nil { log("numpy reference: \(options.numpyScript!)") }
        for shape in Self.gemmShapes {
            let key = "\(shape.m)x\(shape.n)x\(shape.k)"
            var reference = [String: [Double]]()
            for dtype in Self.dtypes {
                measureGEMM(dtype: dtype, m: shape.m, n: shape.n, k: shape.k, threads: options.threads, peak: peak[options.threads]!) {
                    guard dtype == .f32 else { return }
                    for (name, server) in references {
                        // Idle workers spin before they sleep (ours ~1 ms, OpenBLAS's ~0.1 s by
                        // default): the pauses keep each engine's spinning out of the other's run.
                        // Every run, Tandem's included, follows the same pause: with 20 ms before
                        // numpy's and 250 ms before Tandem's, Tandem's 512×1024×1024 (5 ms) ran
                        // with its workers asleep and its caches cold, and read 95 GFLOP/s where
                        // it reads 191 alone (AMD Zen 4, held to AVX2).
                        usleep(250_000)
                        if let g = server.gflops(key) { reference[name, default: []].append(g) }
                    }
                    usleep(250_000)
                }
            }
            for (name, _) in references {
                guard let g = reference[name], !g.isEmpty else { continue }
                add(KernelBenchRecord(kind: "gemm", dtype: "f32", m: shape.m, n: shape.n, k: shape.k, threads: options.threads,
                                      gflops: median(g), fraction: median(g) / peak[options.threads]!, engine: name,
                                      isa: "openblas", low: g.min(), high: g.max()))
            }
        }
        measurePool()
        return records
    }

    // MARK: Limits

    mutating func measureBandwidth(threads: Int) -> Double {
        let count = options.bandwidthBytes / 4
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
        defer { buffer.deallocate() }
        for i in 0..<count { buffer[i] = Float(i & 1023) }  // distinct pages: nothing to deduplicate
        let pool = ThreadPool(threads: threads)
        let table = options.isa.table
        // One slot per possible range start, so no two chunks write the same slot.
        let sink = UnsafeMutablePointer<Double>.allocate(capacity: count / 4096 + 1)
        defer { sink.deallocate() }
        let times = timeRuns {
            pool.parallelFor(count, alignment: 4096) { r in
                sink[r.lowerBound / 4096] += table.pointee.sum_f32(buffer + r.lowerBound, Int64(r.count))
            }
        }
        let gbps = times.map { Double(options.bandwidthBytes) / $0 / 1e9 }
        add(KernelBenchRecord(kind: "bandwidth", dtype: "f32", threads: threads, gbps: median(gbps), fraction: 1,
                              engine: "tandem", isa: options.isa.rawValue, low: gbps.min(), high: gbps.max()))
        return median(gbps)
    }

    mutating func measurePeak(threads: Int) -> Double {
        let pool = ThreadPool(threads: threads)
        let table = options.isa.table
        let iters: Int64 = 20_000_000
        let sink = UnsafeMutablePointer<Float>.allocate(capacity: 64)
        defer { sink.deallocate() }
        var flops = 0.0
        let times = timeRuns {
            pool.run { t in flops = table.pointee.fma_loop(iters, sink + 8 * t) }
        }
        let gflops = times.map { flops * Double(threads) / $0 / 1e9 }
        add(KernelBenchRecord(kind: "peak", dtype: "f32", threads: threads, gflops: median(gflops), fraction: 1,
                              engine: "tandem", isa: options.isa.rawValue, low: gflops.min(), high: gflops.max()))
        return median(gflops)
    }

    // MARK: Products

    mutating func measureGEMV(dtype: DType, n: Int, k: Int, threads: Int, bandwidth: Double) {
        let bytes = dtype.rowBytes(columns: k) * n
        let copies = max(1, (options.bandwidthBytes + bytes - 1) / bytes)
        let weights = UnsafeMutableRawPointer.allocate(byteCount: bytes * copies, alignment: 64)
        defer { weights.deallocate() }
        Self.fillRandom(weights, bytes: bytes * copies, dtype: dtype)
        let matrices = (0..<copies).map { WeightMatrix(dtype: dtype, rows: n, columns: k, data: weights + $0 * bytes) }
        var x = (0..<k).map { Float(($0 % 17) - 8) / 8 }
        var y = [Float](repeating: 0, count: n)
        let pool = ThreadPool(threads: threads)
        let isa = options.isa
        var next = 0
        let calls = copies
        let times = x.withUnsafeMutableBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in
                timeRuns {
                    for _ in 0..<calls {
                        MatMul.gemv(matrices[next], x: UnsafeBufferPointer(xb), y: yb, pool: pool, isa: isa)
                        next = (next + 1) % copies
                    }
                }
            }
        }
        let gbps = times.map { Double(bytes * calls) / $0 / 1e9 }
        add(KernelBenchRecord(kind: "gemv", dtype: dtype.name, m: 1, n: n, k: k, threads: threads, gbps: median(gbps),
                              fraction: median(gbps) / bandwidth, micros: median(times) / Double(calls) * 1e6,
                              engine: "tandem", isa: isa.rawValue, low: gbps.min(), high: gbps.max()))
    }

    /// `between` runs after the warm-up and after each timed run (the reference engines' turns).
    mutating func measureGEMM(dtype: DType, m: Int, n: Int, k: Int, threads: Int, peak: Double, between: () -> Void = {}) {
        let bytes = dtype.rowBytes(columns: k) * n
        let weights = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        defer { weights.deallocate() }
        Self.fillRandom(weights, bytes: bytes, dtype: dtype)
        let w = WeightMatrix(dtype: dtype, rows: n, columns: k, data: weights)
        let x = (0..<m * k).map { Float(($0 % 23) - 11) / 11 }
        var y = [Float](repeating: 0, count: m * n)
        let pool = ThreadPool(threads: threads)
        let isa = options.isa
        let times = x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { yb in
                timeRuns(between: between) { MatMul.gemm(w, x: xb, m: m, y: yb, pool: pool, isa: isa) }
            }
        }
        let flops = 2.0 * Double(m) * Double(n) * Double(k)
        let gflops = times.map { flops / $0 / 1e9 }
        add(KernelBenchRecord(kind: "gemm", dtype: dtype.name, m: m, n: n, k: k, threads: threads, gflops: median(gflops),
                              fraction: median(gflops) / peak, micros: median(times) * 1e6,
                              engine: "tandem", isa: isa.rawValue, low: gflops.min(), high: gflops.max()))
    }

    /// Per-call cost of the pool: an empty job, and a 512×512 q8_0 GEMV (in cache), per thread count.
    mutating func measurePool() {
        let threadCounts = options.threads > 1 ? [1, options.threads] : [1]
        for t in threadCounts {
            let pool = ThreadPool(threads: t)
            let calls = 20_000
            let empty = timeRuns { for _ in 0..<calls { pool.run { _ in } } }.map { $0 / Double(calls) * 1e6 }
            add(KernelBenchRecord(kind: "pool", dtype: "none", threads: t, micros: median(empty), engine: "tandem",
                                  isa: options.isa.rawValue, low: empty.min(), high: empty.max()))
        }
        let (n, k) = (512, 512)
        let bytes = DType.q8_0.rowBytes(columns: k) * n
        let weights = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        defer { weights.deallocate() }
        Self.fillRandom(weights, bytes: bytes, dtype: .q8_0)
        let w = WeightMatrix(dtype: .q8_0, rows: n, columns: k, data: weights)
        let x = [Float](repeating: 0.5, count: k)
        var y = [Float](repeating: 0, count: n)
        for t in threadCounts {
            let pool = ThreadPool(threads: t)
            let calls = 2000
            let isa = options.isa
            let us = x.withUnsafeBufferPointer { xb in
                y.withUnsafeMutableBufferPointer { yb in
                    timeRuns { for _ in 0..<calls { MatMul.gemv(w, x: xb, y: yb, pool: pool, isa: isa) } }
                }
            }.map { $0 / Double(calls) * 1e6 }
            add(KernelBenchRecord(kind: "pool", dtype: "q8_0", m: 1, n: n, k: k, threads: t,
                                  gbps: Double(bytes) / median(us) / 1e3, micros: median(us), engine: "tandem",
                                  isa: options.isa.rawValue, low: us.min(), high: us.max()))
        }
    }

    // MARK: numpy / OpenBLAS reference

    // MARK: Helpers

    /// Random weights (speed does not depend on the values, but identical pages could be merged or
    /// compressed by a hypervisor): normal f32/f16 values in ±[0.5, 1), random int8/int4 quants
    /// with a fixed scale of ≈0.1, so no denormal or NaN ever enters the arithmetic.
    static func fillRandom(_ p: UnsafeMutableRawPointer, bytes: Int, dtype: DType) {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
        switch dtype {
        case .f32:
            let f = p.bindMemory(to: UInt32.self, capacity: bytes / 4)
            for i in 0..<bytes / 4 { f[i] = UInt32(truncatingIfNeeded: next()) & 0x807F_FFFF | 0x3F00_0000 }
        case .f16, .bf16:
            let h = p.bindMemory(to: UInt16.self, capacity: bytes / 2)
            for i in 0..<bytes / 2 { h[i] = UInt16(truncatingIfNeeded: next()) & 0x83FF | 0x3800 }
        case .q8_0, .q4_0:
            let words = p.bindMemory(to: UInt64.self, capacity: bytes / 8)
            for i in 0..<bytes / 8 { words[i] = next() }
            let raw = p.assumingMemoryBound(to: UInt8.self)
            for i in (bytes / 8) * 8..<bytes { raw[i] = UInt8(truncatingIfNeeded: next()) }
            let block = dtype.blockBytes
            for b in 0..<bytes / block {
                p.storeBytes(of: UInt16(0x2E66), toByteOffset: b * block, as: UInt16.self)
                if dtype == .q8_0 {
                    // ±127 at most: the activation quantizer never produces -128 either.
                    for j in 2..<block where raw[b * block + j] == 0x80 { raw[b * block + j] = 0x81 }
                }
            }
        case .q5_0, .q4_K, .q5_K, .q6_K:
            // Any bits are a valid block; only the f16 scales are fixed (q6_K's is last).
            let raw = p.assumingMemoryBound(to: UInt8.self)
            for i in 0..<bytes { raw[i] = UInt8(truncatingIfNeeded: next() >> 24) }
            let block = dtype.blockBytes
            for b in 0..<bytes / block {
                let at = b * block + (dtype == .q6_K ? 208 : 0)
                p.storeBytes(of: UInt16(0x2E66), toByteOffset: at, as: UInt16.self)
                if dtype.isKQuant, dtype != .q6_K { p.storeBytes(of: UInt16(0x2466), toByteOffset: at + 2, as: UInt16.self) }
            }
        }
    }

    mutating func add(_ r: KernelBenchRecord) {
        records.append(r)
        log(Self.row(r))
    }

    /// One warm-up, then `runs` timed runs; seconds per run. `between` (untimed) runs after the
    /// warm-up and after every timed run.
    func timeRuns(between: () -> Void = {}, _ body: () -> Void) -> [Double] {
        body()
        between()
        return (0..<max(1, options.runs)).map { _ in
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            between()
            return seconds
        }
    }

    func median(_ v: [Double]) -> Double {
        let s = v.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    // MARK: Table

    static let header = "kind       engine     dtype  shape (m×n×k)       thr      value        min–max         fraction   µs/call"

    static func row(_ r: KernelBenchRecord) -> String {
        func f(_ v: Double?, _ digits: Int = 1) -> String { v.map { String(format: "%.\(digits)f", $0) } ?? "" }
        let shape = r.n.map { "\(r.m ?? 1)×\($0)×\(r.k ?? 0)" } ?? ""
        let value: String
        if let g = r.gflops { value = "\(f(g)) GFLOP/s" }
        else if let b = r.gbps, r.kind != "pool" { value = "\(f(b)) GB/s" }
        else { value = "\(f(r.micros, 2)) µs" }
        let spread = r.low.map { "\(f($0))–\(f(r.high))" } ?? ""
        return pad(r.kind, 10) + " " + pad(r.engine, 10) + " " + pad(r.dtype ?? "", 6) + " " + pad(shape, 19) + " "
            + pad("\(r.threads)", 4) + " " + pad(value, 16, right: true) + "  " + pad(spread, 15) + " "
            + pad(r.fraction.map { String(format: "%.0f %%", $0 * 100) } ?? "", 9, right: true) + "  "
            + (r.kind == "pool" ? "" : f(r.micros, 1))
    }

    static func table(_ records: [KernelBenchRecord]) -> String {
        ([header] + records.map(row)).joined(separator: "\n")
    }

    static func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
        let n = s.count
        guard n < width else { return s }
        let fill = String(repeating: " ", count: width - n)
        return right ? fill + s : s + fill
    }
}

/// numpy's f32 matmul in a long-lived `numpy_gemm.py --serve` process: one timed matmul per
/// request, so the bench can interleave it with its own runs. nil when there is no script or
/// python3/numpy is missing. OpenBLAS tuning variables of the environment are removed: set on
/// some processors to work around old OpenBLAS bugs, they slow a current numpy.
final class NumpyServer {
    let process = Process()
    let input = Pipe(), output = Pipe()
    var pending = Data()

    init?(script: String?, threads: Int, coreType: String?) {
        guard let script, FileManager.default.fileExists(atPath: script) else { return nil }
        // A script that dies (no numpy) must fail the request, not kill the bench with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["-u", "OPENBLAS_CORETYPE", "-u", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS=\(threads)",
                             "OMP_NUM_THREADS=\(threads)"] + (coreType.map { ["OPENBLAS_CORETYPE=\($0)"] } ?? [])
            + ["python3", script, "--serve"]
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
    }

    deinit {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    /// GFLOP/s of one matmul of shape "MxNxK", or nil once the process has failed.
    func gflops(_ shape: String) -> Double? {
        guard process.isRunning else { return nil }
        do { try input.fileHandleForWriting.write(contentsOf: Data((shape + "\n").utf8)) } catch { return nil }
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                pending.removeSubrange(pending.startIndex...newline)
                return Double(line.trimmingCharacters(in: .whitespaces))
            }
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { return nil }  // end of file: the script failed (no numpy?)
            pending.append(chunk)
        }
    }
}
