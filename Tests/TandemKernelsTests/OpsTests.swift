// The non-matrix operations against the Double references in Reference+Ops.swift.
import Foundation
import Testing
@testable import TandemKernels

struct OpsTests {
    static let sizes = [1, 7, 8, 33, 512, 1000]

    @Test(arguments: sizes)
    func rmsNorm(n: Int) {
        for scale: Float in [1, 1e-3, 3e3] {
            let x = randomFloats(n, scale: scale, seed: UInt64(n)), w = randomFloats(n, seed: 99)
            var y = [Float](repeating: .nan, count: n)
            x.withUnsafeBufferPointer { xb in
                w.withUnsafeBufferPointer { wb in y.withUnsafeMutableBufferPointer { Ops.rmsNorm(xb, weight: wb, epsilon: 1e-6, into: $0) } }
            }
            #expect(nmse(y, Reference.rmsNorm(x, weight: w, epsilon: 1e-6)) < 1e-11)
        }
    }

    @Test(arguments: sizes)
    func layerNorm(n: Int) {
        let x = randomFloats(n, scale: 4, seed: UInt64(n) + 5).map { $0 + 10 }  // a large mean
        let w = randomFloats(n, seed: 1), b = randomFloats(n, seed: 2)
        for bias in [b, nil] {
            var y = [Float](repeating: .nan, count: n)
            x.withUnsafeBufferPointer { xb in
                w.withUnsafeBufferPointer { wb in
                    y.withUnsafeMutableBufferPointer { yb in
                        if let bias {
                            bias.withUnsafeBufferPointer { Ops.layerNorm(xb, weight: wb, bias: $0, epsilon: 1e-5, into: yb) }
                        } else {
                            Ops.layerNorm(xb, weight: wb, bias: nil, epsilon: 1e-5, into: yb)
                        }
                    }
                }
            }
            let e = nmse(y, Reference.layerNorm(x, weight: w, bias: bias, epsilon: 1e-5))
            #expect(n == 1 ? y.allSatisfy { $0 == (bias?[0] ?? 0) } : e < 1e-10)
        }
    }

    @Test(arguments: KernelISA.available)
    func softmaxIsStableAndMasks(isa: KernelISA) {
        for x in [randomFloats(100, scale: 5, seed: 1), [1000, 999, -1000], [88, 89, 90] + [Float](repeating: -.infinity, count: 3), [42]] {
            var y = x
            y.withUnsafeMutableBufferPointer { Ops.softmax($0, isa: isa) }
            #expect(nmse(y, Reference.softmax(x)) < 1e-12)
            #expect(abs(y.reduce(0, +) - 1) < 1e-5)
            #expect(zip(x, y).allSatisfy { $0.0 != -.infinity || $0.1 == 0 })
        }
        var masked = [Float](repeating: -.infinity, count: 4)
        masked.withUnsafeMutableBufferPointer { Ops.softmax($0, isa: isa) }
        #expect(masked == [0, 0, 0, 0])
    }

    /// The exp behind softmax, SiLU and GELU, on every instruction set: within a few ulp of libm
    /// over the whole finite range, exactly 0 where expf underflows and at −∞, +∞ past overflow.
    @Test(arguments: KernelISA.available)
    func vectorExpMatchesLibm(isa: KernelISA) {
        var x = [Float]()
        var v: Float = -87.3
        while v < 88.7 { x.append(v); v += 0.00731 }
        var y = x
        let sum = y.withUnsafeMutableBufferPointer { isa.table.pointee.exp_shifted($0.baseAddress!, Int64($0.count), 0) }
        var worst: Double = 0
        for (a, b) in zip(x, y) { worst = max(worst, abs(Double(b) - Foundation.exp(Double(a))) / Foundation.exp(Double(a))) }
        #expect(worst < 5e-7, "\(isa): max relative error \(worst)")
        #expect(abs(Double(sum) - y.reduce(0.0) { $0 + Double($1) }) <= 1e-5 * Double(sum))
        var edges: [Float] = [-.infinity, -1000, -87.5, 0, 1, 88.8, 1000, .infinity]
        _ = edges.withUnsafeMutableBufferPointer { isa.table.pointee.exp_shifted($0.baseAddress!, Int64($0.count), 0) }
        #expect(edges[0] == 0 && edges[1] == 0 && edges[2] == 0)
        #expect(edges[3] == 1 && abs(edges[4] - 2.7182817) < 1e-6)
        #expect(edges[5] == .infinity && edges[6] == .infinity && edges[7] == .infinity)
    }

    @Test(arguments: KernelISA.available)
    func activations(isa: KernelISA) {
        let x = randomFloats(1000, scale: 8, seed: 11) + [0, -0.0, 1e-8, -30, 30]
        func check(_ op: (UnsafeMutableBufferPointer<Float>) -> Void, _ ref: (Float) -> Float, tolerance: Float) -> Bool {
            var y = x
            y.withUnsafeMutableBufferPointer { op($0) }
            return zip(y, x.map(ref)).allSatisfy { abs($0.0 - $0.1) <= tolerance * max(1, abs($0.1)) }
        }
        #expect(check({ Ops.gelu($0, isa: isa) }, Reference.geluTanh, tolerance: 1e-6))
        #expect(check(Ops.geluErf, Reference.geluErf, tolerance: 1e-6))
        #expect(check({ Ops.silu($0, isa: isa) }, Reference.silu, tolerance: 1e-6))
        #expect(check(Ops.relu, { max(0, $0) }, tolerance: 0))
        let up = randomFloats(x.count, seed: 12)
        var g = x
        g.withUnsafeMutableBufferPointer { gb in up.withUnsafeBufferPointer { Ops.gatedGelu(gate: gb, up: $0, isa: isa) } }
        #expect(zip(g, zip(x, up).map { Reference.geluTanh($0.0) * $0.1 }).allSatisfy { abs($0.0 - $0.1) <= 1e-5 * max(1, abs($0.1)) })
        var s = x
        s.withUnsafeMutableBufferPointer { sb in up.withUnsafeBufferPointer { Ops.swiglu(gate: sb, up: $0, isa: isa) } }
        #expect(zip(s, zip(x, up).map { Reference.silu($0.0) * $0.1 }).allSatisfy { abs($0.0 - $0.1) <= 1e-5 * max(1, abs($0.1)) })
    }

    @Test(arguments: [RoPE.Style.interleaved, .halfSplit])
    func rope(style: RoPE.Style) {
        let (heads, headDim) = (3, 64)
        for rotary in [64, 32] {
            let rope = RoPE(headDim: headDim, rotaryDim: rotary, base: 10_000, style: style)
            for position in [0, 1, 17, 511, 4095] {
                let x = randomFloats(heads * headDim, seed: UInt64(position))
                var y = x
                y.withUnsafeMutableBufferPointer { rope.apply($0.baseAddress!, heads: heads, position: position) }
                for h in 0..<heads {
                    let ref = Reference.rope(Array(x[h * headDim..<(h + 1) * headDim]), position: position,
                                             rotaryDim: rotary, base: 10_000, style: style)
                    // f32 angles (as Hugging Face) vs Double: |Δangle| ≲ position · 2^-24.
                    let tol = Float(position + 1) * 3e-7 + 1e-6
                    #expect(maxAbsDiff(Array(y[h * headDim..<(h + 1) * headDim]), ref) <= tol, "\(style) rotary \(rotary) position \(position)")
                }
                if position == 0 { #expect(y == x) }
            }
        }
    }

    /// The two conventions are the same rotation on permuted dimensions.
    @Test func ropeStylesArePermutationsOfEachOther() {
        let d = 16
        let x = randomFloats(d, seed: 5)
        var a = x
        a.withUnsafeMutableBufferPointer { RoPE(headDim: d, style: .interleaved).apply($0.baseAddress!, heads: 1, position: 9) }
        // interleaved index 2i ↔ half-split index i, 2i+1 ↔ i + d/2.
        var b = (0..<d).map { j in j < d / 2 ? x[2 * j] : x[2 * (j - d / 2) + 1] }
        b.withUnsafeMutableBufferPointer { RoPE(headDim: d, style: .halfSplit).apply($0.baseAddress!, heads: 1, position: 9) }
        for i in 0..<d / 2 {
            #expect(a[2 * i] == b[i])
            #expect(a[2 * i + 1] == b[i + d / 2])
        }
    }

    struct AttentionCase: Sendable, CustomTestStringConvertible {
        var queries, keys, heads, kvHeads, headDim: Int
        var causal: Bool
        var padding: Bool
        var bias: Bool
        var testDescription: String { "q\(queries) k\(keys) h\(heads)/\(kvHeads) d\(headDim) causal=\(causal) pad=\(padding) bias=\(bias)" }
    }

    static let attentionCases: [AttentionCase] = [
        .init(queries: 1, keys: 1, heads: 1, kvHeads: 1, headDim: 8, causal: true, padding: false, bias: false),
        .init(queries: 1, keys: 37, heads: 4, kvHeads: 4, headDim: 64, causal: true, padding: false, bias: false),
        .init(queries: 5, keys: 12, heads: 6, kvHeads: 2, headDim: 32, causal: true, padding: false, bias: false),
        .init(queries: 9, keys: 9, heads: 8, kvHeads: 8, headDim: 64, causal: false, padding: true, bias: true),
        .init(queries: 20, keys: 20, heads: 4, kvHeads: 1, headDim: 48, causal: true, padding: true, bias: true),
        .init(queries: 3, keys: 130, heads: 2, kvHeads: 2, headDim: 16, causal: false, padding: false, bias: true),
        // Grouped heads scored a block of keys at a time (Qwen2.5-1.5B's decode shape: 19 blocks).
        .init(queries: 1, keys: 600, heads: 12, kvHeads: 2, headDim: 128, causal: true, padding: true, bias: false),
        .init(queries: 2, keys: 70, heads: 4, kvHeads: 1, headDim: 16, causal: true, padding: false, bias: false),
    ]

    @Test(arguments: attentionCases, KernelISA.available)
    func attention(c: AttentionCase, isa: KernelISA) {
        let shape = AttentionShape(queries: c.queries, keys: c.keys, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim)
        let q = randomFloats(c.queries * c.heads * c.headDim, scale: 2, seed: 1)
        let k = randomFloats(c.keys * shape.kvStride, scale: 2, seed: 2)
        let v = randomFloats(c.keys * shape.kvStride, seed: 3)
        let bias = c.bias ? randomFloats(c.heads * c.queries * c.keys, scale: 3, seed: 4) : nil
        let padding = c.padding ? (0..<c.keys).map { $0 % 3 == 2 } : nil
        let offset = c.keys - c.queries
        let scale = 1 / Float(c.headDim).squareRoot()
        let expected = Reference.attention(query: q, keys: k, values: v, shape: shape, scale: scale, causal: c.causal,
                                           queryOffset: offset, keyPadding: padding, bias: bias)
        var out = [Float](repeating: .nan, count: expected.count)
        let pool = ThreadPool(threads: 2, spinIterations: 1 << 10)
        let run = { (pad: UnsafeBufferPointer<Bool>?, b: UnsafePointer<Float>?) in
            out.withUnsafeMutableBufferPointer { o in
                Attention.attend(query: q, keys: k, values: v, output: o.baseAddress!, shape: shape, scale: scale,
                                 mask: AttentionMask(causal: c.causal, queryOffset: offset, keyPadding: pad), bias: b,
                                 pool: pool, isa: isa)
            }
        }
        let withBias = { (pad: UnsafeBufferPointer<Bool>?) in
            if let bias { bias.withUnsafeBufferPointer { run(pad, $0.baseAddress!) } } else { run(pad, nil) }
        }
        if let padding { padding.withUnsafeBufferPointer { withBias($0) } } else { withBias(nil) }
        #expect(nmse(out, expected) < 1e-10)
    }
}
