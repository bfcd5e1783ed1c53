// Every available instruction set's GEMV and GEMM against the scalar reference, per dtype, over
// shapes that hit every edge of the kernels' tiles: one row, one column, sizes that are not
// multiples of 16/32/64, more threads than rows, zeros and large values.
import Testing
import TandemFormat
@testable import TandemKernels

struct MatMulTests {
    static let dtypes: [DType] = [.f32, .f16, .q8_0, .q4_0, .q5_0, .q4_K, .q5_K, .q6_K]

    /// (m, rows, columns): rows = outputs, columns = inputs. Quantized dtypes skip columns that
    /// are not whole blocks.
    static let shapes: [(m: Int, n: Int, k: Int)] = [
        (1, 1, 32), (1, 7, 64), (1, 33, 96), (1, 300, 544),
        (2, 1, 32), (3, 17, 160), (5, 16, 256), (6, 16, 288), (7, 31, 320), (13, 40, 544),
        (9, 3, 32), (20, 50, 1024), (33, 20, 96), (48, 20, 96), (1, 3, 1), (7, 19, 37), (8, 17, 300), (16, 16, 64),
        (3, 9, 512), (1, 33, 768), (40, 20, 512),
    ]

    /// NMSE against the reference that sees the same q8_0 activations. f32/f16 differ only by
    /// summation order; quantized paths also by the AVX2 quantizer's round-half-even (±1 on ties).
    static func bound(_ dtype: DType) -> Double {
        dtype.isQuantized ? 1e-6 : 1e-10
    }

    // Little spinning: the test runner runs suites in parallel on few cores.
    static let pools = [ThreadPool(threads: 1), ThreadPool(threads: 3, spinIterations: 1 << 10)]

    /// The grouped GEMV (q/k/v, gate/up) gives each matrix exactly what its own GEMV gives, for
    /// row counts that are not multiples of the 16-row split and totals both below and above the
    /// size where work is shared out.
    @Test(arguments: KernelISA.available, dtypes)
    func groupedGEMVMatchesSeparateGEMVs(isa: KernelISA, dtype: DType) {
        let k = dtype.isKQuant ? 256 : 96
        for rowCounts in [[5, 17, 17], [64, 16, 1], [300, 100, 100]] {
            let x = randomFloats(k, scale: 2, seed: 77)
            let weights = rowCounts.enumerated().map { randomFloats($0.element * k, scale: 1, seed: 100 + UInt64($0.offset)) }
            // Nest the temporary weight matrices, then compare inside.
            func nest(_ i: Int, _ made: [WeightMatrix]) {
                if i < rowCounts.count {
                    withWeights(weights[i], rows: rowCounts[i], columns: k, dtype: dtype) { nest(i + 1, made + [$0]) }
                    return
                }
                for pool in Self.pools {
                    let ys = rowCounts.map { UnsafeMutableBufferPointer<Float>.allocate(capacity: $0) }
                    defer { ys.forEach { $0.deallocate() } }
                    ys.forEach { $0.initialize(repeating: .nan) }
                    var separate = rowCounts.map { [Float](repeating: .nan, count: $0) }
                    x.withUnsafeBufferPointer { xb in
                        MatMul.gemv(made, x: xb, ys: ys, pool: pool, isa: isa)
                        for i in made.indices {
                            separate[i].withUnsafeMutableBufferPointer { MatMul.gemv(made[i], x: xb, y: $0, pool: pool, isa: isa) }
                        }
                    }
                    #expect(ys.map { Array($0) } == separate, "\(isa) \(dtype) rows \(rowCounts) threads \(pool.threadCount)")
                }
            }
            nest(0, [])
        }
    }

    /// q4_K and q5_K widened to q8_0 (`tk_kq_to_q8_0`, the K-quant prompt pass): every value is
    /// the q8_0 value less its sub-block's min, off from the K-quant value by no more than the
    /// half rounding of the scale d·sc (2⁻¹¹ of the scaled value).
    @Test(arguments: [DType.q4_K, .q5_K])
    func kQuantsWidenToQ8_0LessTheirMins(dtype: DType) {
        let (rows, columns) = (9, 512)
        withWeights([Float](repeating: 1, count: rows * columns), rows: rows, columns: columns, dtype: dtype) { w in
            let (wide, mins) = Reference.widened(w)
            defer { wide.data.deallocate() }
            var worst = 0.0
            for r in 0..<rows {
                let exact = Reference.dequantize(w, row: r), q8 = Reference.dequantize(wide, row: r)
                for c in 0..<columns {
                    let got = Double(q8[c]) - Double(mins[r * columns / 32 + c / 32])
                    let slack = abs(Double(q8[c])) * 0x1p-11 + 1e-7 * abs(Double(exact[c]))
                    worst = max(worst, abs(got - Double(exact[c])) - slack)
                    #expect(abs(got - Double(exact[c])) <= slack, "\(dtype) row \(r) column \(c): \(got) for \(exact[c])")
                }
            }
            #expect(worst <= 0)
        }
    }

    @Test(arguments: KernelISA.available, dtypes)
    func productsMatchReference(isa: KernelISA, dtype: DType) {
        var seed: UInt64 = 1
        for shape in Self.shapes where shape.k % dtype.blockSize == 0 {
            for scale: Float in [1, 3e4] {
                seed += 1
                let w = randomFloats(shape.n * shape.k, scale: 1, seed: seed)
                let x = randomFloats(shape.m * shape.k, scale: scale, seed: seed + 1000)
                withWeights(w, rows: shape.n, columns: shape.k, dtype: dtype) { wm in
                    let quantized = MatMul.usesQuantizedActivations(dtype, m: shape.m, isa: isa)
                    let expected = Reference.gemm(wm, x: x, m: shape.m, quantizeActivations: quantized,
                                                  bf16: MatMul.roundsToBF16(dtype, m: shape.m, isa: isa), isa: isa)
                    let expectedGEMV = Reference.gemm(wm, x: Array(x[0..<shape.k]), m: 1)
                    for pool in Self.pools {
                        var y = [Float](repeating: .nan, count: shape.m * shape.n)
                        x.withUnsafeBufferPointer { xb in
                            y.withUnsafeMutableBufferPointer { yb in
                                MatMul.gemm(wm, x: xb, m: shape.m, y: yb, pool: pool, isa: isa)
                            }
                        }
                        let e = nmse(y, expected)
                        #expect(e < Self.bound(dtype), "\(isa) \(dtype) gemm \(shape) scale \(scale) threads \(pool.threadCount): nmse \(e)")
                        if shape.m == 1 { continue }
                        // GEMV on the first activation row.
                        var v = [Float](repeating: .nan, count: shape.n)
                        x.withUnsafeBufferPointer { xb in
                            v.withUnsafeMutableBufferPointer { vb in
                                MatMul.gemv(wm, x: UnsafeBufferPointer(rebasing: xb[0..<shape.k]), y: vb, pool: pool, isa: isa)
                            }
                        }
                        let ev = nmse(v, expectedGEMV)
                        #expect(ev < Self.bound(dtype), "\(isa) \(dtype) gemv \(shape) threads \(pool.threadCount): nmse \(ev)")
                    }
                }
            }
        }
    }

    /// The quantized paths against the exact product of stored weights and float activations:
    /// what remains is the activations' q8_0 rounding (when the path quantizes them at all).
    @Test(arguments: KernelISA.available, [DType.q8_0, .q4_0, .q5_0, .q4_K, .q5_K, .q6_K])
    func quantizedActivationErrorIsSmall(isa: KernelISA, dtype: DType) {
        for m in [4, 40] { checkQuantizedActivationError(isa: isa, dtype: dtype, m: m) }
    }

    func checkQuantizedActivationError(isa: KernelISA, dtype: DType, m: Int) {
        let (n, k) = (24, 512)
        let w = randomFloats(n * k, seed: 7)
        let x = randomFloats(m * k, seed: 8)
        withWeights(w, rows: n, columns: k, dtype: dtype) { wm in
            let exact = Reference.gemm(wm, x: x, m: m, quantizeActivations: false)
            var y = [Float](repeating: .nan, count: m * n)
            x.withUnsafeBufferPointer { xb in
                y.withUnsafeMutableBufferPointer { MatMul.gemm(wm, x: xb, m: m, y: $0, pool: Self.pools[1], isa: isa) }
            }
            #expect(nmse(y, exact) < 1e-4)
        }
    }

    /// The prepacked GEMM (batched decoding) against the same GEMM packing on the fly: the same
    /// tiles and sums, so the same floats; and against the reference. Row counts that are not
    /// multiples of the 16-row panels or of the 32-row thread split; 2…13 activation rows, so every
    /// size of a last, partial group of 6 rows (each its own tile).
    @Test(arguments: KernelISA.available, [DType.q8_0, .q4_0])
    func prepackedGEMMMatchesPackingOnTheFly(isa: KernelISA, dtype: DType) {
        let shapes = [(n: 16, k: 32), (n: 50, k: 96), (n: 97, k: 256), (n: 130, k: 64)]
        var checked = 0
        for (n, k) in shapes {
            withWeights(randomFloats(n * k, seed: UInt64(n + k)), rows: n, columns: k, dtype: dtype) { wm in
                guard let packed = PrepackedWeights(wm, isa: isa, pool: Self.pools[1]) else { return }
                #expect(packed.rows == n && packed.columns == k)
                for m in [2, 3, 4, 5, 6, 7, 8, 13] {
                    let x = randomFloats(m * k, scale: 3, seed: UInt64(m))
                    var plain = [Float](repeating: .nan, count: m * n), fromPacked = plain
                    for pool in Self.pools {
                        x.withUnsafeBufferPointer { xb in
                            plain.withUnsafeMutableBufferPointer { MatMul.gemm(wm, x: xb, m: m, y: $0, pool: pool, isa: isa) }
                            fromPacked.withUnsafeMutableBufferPointer {
                                MatMul.gemm(wm, x: xb, m: m, y: $0, pool: pool, isa: isa, prepacked: packed)
                            }
                        }
                        #expect(fromPacked == plain, "\(isa) \(dtype) \(m)×\(n)×\(k)")
                        #expect(nmse(fromPacked, Reference.gemm(wm, x: x, m: m)) < 1e-4)
                    }
                }
                checked += 1
            }
        }
        // Only the instruction sets with a prepacked GEMM make one; the others answer nil.
        #expect(checked == 0 || checked == shapes.count)
        if isa == .avx512 { #expect(checked == shapes.count) }
    }

    /// The grouped GEMM (batched q/k/v, gate/up) gives each matrix exactly what its own GEMM
    /// gives, with and without prepacked panels, for row counts that are not multiples of the
    /// 32-row split (so ranges straddle matrices), activation rows from 2 to 13 and 40 (AMX: the
    /// bf16 tiles), and inputs both below and above the size whose activations are prepared in parallel.
    @Test(arguments: KernelISA.available, dtypes)
    func groupedGEMMMatchesSeparateGEMMs(isa: KernelISA, dtype: DType) {
        for (k, rowCounts) in [(96, [5, 17, 17]), (64, [40, 16, 1]), (256, [9, 30]), (8192, [33, 20])]
            where k % dtype.blockSize == 0 {
            let weights = rowCounts.enumerated().map { randomFloats($0.element * k, scale: 1, seed: 200 + UInt64($0.offset)) }
            func nest(_ i: Int, _ made: [WeightMatrix]) {
                guard i == rowCounts.count else {
                    withWeights(weights[i], rows: rowCounts[i], columns: k, dtype: dtype) { nest(i + 1, made + [$0]) }
                    return
                }
                let packs = made.map { PrepackedWeights($0, isa: isa, pool: Self.pools[1]) }
                for m in [2, 8, 13, 40] {
                    let x = randomFloats(m * k, scale: 3, seed: UInt64(m))
                    for pool in Self.pools {
                        for prepacked in [made.map { _ in nil }, packs] {
                            var separate = made.map { [Float](repeating: .nan, count: m * $0.rows) }
                            var grouped = separate
                            x.withUnsafeBufferPointer { xb in
                                for j in made.indices {
                                    separate[j].withUnsafeMutableBufferPointer {
                                        MatMul.gemm(made[j], x: xb, m: m, y: $0, pool: pool, isa: isa, prepacked: prepacked[j])
                                    }
                                }
                                let outs = grouped.indices.map { j in
                                    UnsafeMutableBufferPointer<Float>.allocate(capacity: m * made[j].rows)
                                }
                                defer { outs.forEach { $0.deallocate() } }
                                MatMul.gemm(made, x: xb, m: m, ys: outs, pool: pool, isa: isa, prepacked: prepacked)
                                for j in made.indices { grouped[j] = Array(outs[j]) }
                            }
                            #expect(grouped == separate, "\(isa) \(dtype) m=\(m) k=\(k) \(rowCounts)")
                        }
                    }
                }
            }
            nest(0, [])
        }
    }

    /// Products of many rows on the instruction sets that round to bf16 (AMX tiles): against the
    /// reference that rounds weights and activations the same way, so only the order of f32 sums
    /// remains (the q8_0-activation reference differs by ~1e-6 and would fail this bound). Shapes
    /// with partial 32 × 32 tiles, several 128-output macro panels and inputs past one 1024-input
    /// block; one thread and three.
    @Test(arguments: KernelISA.available, [DType.q8_0, .q4_0])
    func bf16TileGEMMMatchesBF16Reference(isa: KernelISA, dtype: DType) {
        if isa == .amx { #expect(MatMul.roundsToBF16(dtype, m: 32, isa: isa)) }
        for (m, n, k) in [(32, 32, 64), (70, 290, 1088), (33, 31, 96), (100, 40, 2048)] {
            guard MatMul.roundsToBF16(dtype, m: m, isa: isa) else { continue }
            let w = randomFloats(n * k, seed: UInt64(n * k))
            let x = randomFloats(m * k, scale: 2, seed: UInt64(m + k))
            withWeights(w, rows: n, columns: k, dtype: dtype) { wm in
                let expected = Reference.gemm(wm, x: x, m: m, bf16: true)
                for pool in Self.pools {
                    var y = [Float](repeating: .nan, count: m * n)
                    x.withUnsafeBufferPointer { xb in
                        y.withUnsafeMutableBufferPointer { MatMul.gemm(wm, x: xb, m: m, y: $0, pool: pool, isa: isa) }
                    }
                    #expect(nmse(y, expected) < 1e-10, "\(isa) \(dtype) \(m)×\(n)×\(k) threads \(pool.threadCount)")
                }
            }
        }
    }

    /// f32 weights on the bf16 tiles only when the caller allows it (a quantized model's prompt
    /// attention), at any input count: against the bf16-rounding reference then, and exact
    /// otherwise.
    @Test(arguments: KernelISA.available)
    func f32RoundsToBF16OnlyWhenAllowed(isa: KernelISA) {
        for (m, n, k) in [(40, 70, 100), (64, 300, 512), (33, 16, 37)] {
            let w = randomFloats(n * k, seed: UInt64(n + k)), x = randomFloats(m * k, scale: 3, seed: UInt64(m))
            withWeights(w, rows: n, columns: k, dtype: .f32) { wm in
                for allow in [false, true] {
                    var y = [Float](repeating: .nan, count: m * n)
                    x.withUnsafeBufferPointer { xb in
                        y.withUnsafeMutableBufferPointer {
                            MatMul.gemm(wm, x: xb, m: m, y: $0, pool: Self.pools[1], isa: isa, allowBF16: allow)
                        }
                    }
                    let rounds = allow && isa == .amx
                    let e = nmse(y, Reference.gemm(wm, x: x, m: m, bf16: rounds))
                    #expect(e < (rounds ? 1e-10 : Self.bound(.f32)), "\(isa) allow \(allow) \(m)×\(n)×\(k): nmse \(e)")
                }
            }
        }
    }

    /// Epilogues where the tile GEMM takes them (AMX, quantized weights, 32 rows or more) — and
    /// nowhere else: ReLU equal to clamping the plain product, accumulating within 10⁻⁴ of y₀ plus
    /// it, over the pool's output ranges (several 128-output panels, inputs past one chunk).
    @Test(arguments: KernelISA.available)
    func epiloguesMatchSeparatePasses(isa: KernelISA) {
        for dtype in [DType.q8_0, .q4_0] {
            for (m, n, k) in [(40, 300, 1056), (64, 128, 256)] {
                #expect(MatMul.fuses(dtype, m: m, isa: isa) == (isa == .amx), "\(isa) \(dtype)")
                #expect(!MatMul.fuses(dtype, m: 8, isa: isa) && !MatMul.fuses(.f32, m: m, isa: isa))
                guard MatMul.fuses(dtype, m: m, isa: isa) else { continue }
                let x = randomFloats(m * k, scale: 2, seed: UInt64(m)), y0 = randomFloats(m * n, scale: 20, seed: 9)
                withWeights(randomFloats(n * k, seed: UInt64(n)), rows: n, columns: k, dtype: dtype) { wm in
                    var plain = [Float](repeating: .nan, count: m * n), relu = plain, sum = y0
                    x.withUnsafeBufferPointer { xb in
                        plain.withUnsafeMutableBufferPointer { MatMul.gemm(wm, x: xb, m: m, y: $0, pool: Self.pools[1], isa: isa) }
                        relu.withUnsafeMutableBufferPointer {
                            MatMul.gemm(wm, x: xb, m: m, y: $0, epilogue: .relu, pool: Self.pools[1], isa: isa)
                        }
                        sum.withUnsafeMutableBufferPointer {
                            MatMul.gemm(wm, x: xb, m: m, y: $0, epilogue: .accumulate, pool: Self.pools[1], isa: isa)
                        }
                    }
                    #expect(relu == plain.map { max($0, 0) }, "\(dtype) \(m)×\(n)×\(k)")
                    let worst = (0..<m * n).map { abs(sum[$0] - (y0[$0] + plain[$0])) / (abs(y0[$0]) + abs(plain[$0])) }.max()!
                    #expect(worst < 1e-4, "\(dtype) \(m)×\(n)×\(k): accumulate off by \(worst)")
                }
            }
        }
    }

    @Test(arguments: KernelISA.available, dtypes)
    func zerosGiveZeros(isa: KernelISA, dtype: DType) {
        let (m, n, k) = (7, 18, dtype.isKQuant ? 256 : 64)
        withWeights([Float](repeating: 0, count: n * k), rows: n, columns: k, dtype: dtype) { wm in
            let x = randomFloats(m * k, seed: 3)
            var y = [Float](repeating: .nan, count: m * n)
            x.withUnsafeBufferPointer { xb in
                y.withUnsafeMutableBufferPointer { MatMul.gemm(wm, x: xb, m: m, y: $0, pool: Self.pools[1], isa: isa) }
            }
            #expect(y.allSatisfy { $0 == 0 })
        }
        withWeights(randomFloats(n * k, seed: 4), rows: n, columns: k, dtype: dtype) { wm in
            let x = [Float](repeating: 0, count: m * k)
            var y = [Float](repeating: .nan, count: m * n)
            x.withUnsafeBufferPointer { xb in
                y.withUnsafeMutableBufferPointer { MatMul.gemm(wm, x: xb, m: m, y: $0, pool: Self.pools[1], isa: isa) }
            }
            #expect(y.allSatisfy { $0 == 0 })
        }
    }

    /// Each ISA's activation quantizer against TandemFormat's reference encoder (ggml's
    /// quantize_row_q8_0_ref): same scale bits, values within one step (AVX2 rounds ties to even).
    @Test(arguments: KernelISA.available)
    func activationQuantizerMatchesReference(isa: KernelISA) {
        for (count, scale) in [(32, Float(1)), (96, 5), (512, 1e-3), (64, 0), (64, 3e4)] {
            let x = randomFloats(count, scale: scale, seed: UInt64(count))
            let expected = DType.q8_0.encode(x)
            var got = [UInt8](repeating: 0, count: expected.count)
            x.withUnsafeBufferPointer { xb in got.withUnsafeMutableBytes { MatMul.quantizeQ8_0(xb, into: $0, isa: isa) } }
            for b in 0..<count / 32 {
                #expect(got[b * 34] == expected[b * 34] && got[b * 34 + 1] == expected[b * 34 + 1], "\(isa) scale of block \(b)")
                for j in 0..<32 {
                    let g = Int8(bitPattern: got[b * 34 + 2 + j]), e = Int8(bitPattern: expected[b * 34 + 2 + j])
                    #expect(abs(Int(g) - Int(e)) <= 1 && g != -128, "\(isa) block \(b) element \(j): \(g) vs \(e)")
                }
            }
        }
    }

    @Test(arguments: [1, 5])
    func linearAddsBias(m: Int) {
        let (n, k) = (10, 64)
        let w = randomFloats(n * k, seed: 21), x = randomFloats(m * k, seed: 22), bias = randomFloats(n, seed: 23)
        withWeights(w, rows: n, columns: k, dtype: .f32) { wm in
            let plain = Reference.gemm(wm, x: x, m: m)
            var y = [Float](repeating: .nan, count: m * n)
            x.withUnsafeBufferPointer { xb in
                bias.withUnsafeBufferPointer { bb in
                    y.withUnsafeMutableBufferPointer { MatMul.linear(wm, bias: bb, x: xb, m: m, y: $0, pool: Self.pools[1]) }
                }
            }
            #expect(nmse(y, (0..<m * n).map { plain[$0] + bias[$0 % n] }) < 1e-10)
        }
    }

    @Test func currentISAIsAvailableAndGenericAlwaysIs() {
        #expect(KernelISA.current.isAvailable)
        #expect(KernelISA.available.first == .generic)
        #expect(KernelISA.resolve("GENERIC") == .success(.generic))
        #expect(KernelISA.resolve("sse9") == .failure(.unknown("sse9")))
        #if arch(x86_64)
        #expect(KernelISA.resolve("neon") == .failure(.unavailable(.neon)))
        #endif
    }
}
