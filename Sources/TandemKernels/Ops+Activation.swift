// Element-wise activations, in place. Names follow Hugging Face's ACT2FN: "gelu_new" /
// "gelu_pytorch_tanh" = `gelu`, "gelu" = `geluErf`, "relu", "silu"; the gated forms are T5 v1.1's
// `T5DenseGatedActDense` (gelu_new(wi_0 x) ⊙ wi_1 x) and LLaMA's MLP (silu(gate) ⊙ up).
import CTandemKernels
import Foundation

extension Ops {
    /// GELU, tanh approximation (Hendrycks & Gimpel 2016, §2): ½x(1 + tanh(√(2/π)(x + 0.044715x³))).
    public static func gelu(_ x: UnsafeMutableBufferPointer<Float>, isa: KernelISA = .current) {
        guard !x.isEmpty else { return }
        isa.table.pointee.gelu_tanh_mul(x.baseAddress!, nil, Int64(x.count))
    }

    /// GELU, exact: ½x(1 + erf(x/√2)).
    public static func geluErf(_ x: UnsafeMutableBufferPointer<Float>) {
        for i in x.indices {
            let v = x[i]
            x[i] = 0.5 * v * (1 + Foundation.erf(v * 0.70710678118654752))
        }
    }

    /// max(0, x).
    public static func relu(_ x: UnsafeMutableBufferPointer<Float>) {
        for i in x.indices { x[i] = max(0, x[i]) }
    }

    /// SiLU / swish: x·σ(x).
    public static func silu(_ x: UnsafeMutableBufferPointer<Float>, isa: KernelISA = .current) {
        guard !x.isEmpty else { return }
        isa.table.pointee.silu_mul(x.baseAddress!, nil, Int64(x.count))
    }

    /// gate ← gelu_tanh(gate) ⊙ up (T5 v1.1 / Flan-T5 "gated-gelu").
    public static func gatedGelu(gate: UnsafeMutableBufferPointer<Float>, up: UnsafeBufferPointer<Float>, isa: KernelISA = .current) {
        precondition(gate.count == up.count, "gatedGelu: \(gate.count) vs \(up.count)")
        guard !gate.isEmpty else { return }
        isa.table.pointee.gelu_tanh_mul(gate.baseAddress!, up.baseAddress!, Int64(gate.count))
    }

    /// gate ← silu(gate) ⊙ up (SwiGLU, Shazeer 2020; LLaMA's MLP).
    public static func swiglu(gate: UnsafeMutableBufferPointer<Float>, up: UnsafeBufferPointer<Float>, isa: KernelISA = .current) {
        precondition(gate.count == up.count, "swiglu: \(gate.count) vs \(up.count)")
        guard !gate.isEmpty else { return }
        isa.table.pointee.silu_mul(gate.baseAddress!, up.baseAddress!, Int64(gate.count))
    }
}
