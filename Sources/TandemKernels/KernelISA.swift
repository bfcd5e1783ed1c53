// The instruction set every kernel call uses, chosen once at start-up (after CTranslate2's
// `cpu_isa.h`): the best one this CPU supports, unless `TANDEM_ISA=generic|avx2|avx2vnni|avx512|amx|neon`
// names another, so that every path can be run and tested on one machine. Asking for one this CPU
// cannot run is an error (message on stderr, exit status 2), never a silent fallback.
import CTandemKernels
import Foundation

/// An instruction-set variant of the C kernels.
///
/// ```swift
/// print(KernelISA.current)          // "avx2" on a Haswell-or-later x86 CPU
/// // TANDEM_ISA=generic swift test  // forces the portable C kernels
/// ```
public enum KernelISA: String, CaseIterable, Sendable, CustomStringConvertible {
    /// Portable C, compiled for the baseline target (SSE2 on x86-64).
    case generic
    /// AVX2 + FMA + F16C on x86-64.
    case avx2
    /// `avx2` plus AVX-VNNI (`vpdpbusd`) for the int8 GEMM (Alder Lake, Sapphire Rapids, Zen 5).
    case avx2vnni
    /// `avx2` with 512-bit GEMM kernels and the int8 GEMV on the EVEX (AVX512-VNNI) `vpdpbusd`:
    /// AVX-512 F/BW/VL + AVX512-VNNI (Cascade Lake, Ice Lake and Sapphire Rapids servers, Zen 4
    /// and later). It does not need AVX-VNNI, which Zen 4 and the older Xeons lack.
    case avx512
    /// `avx512` with the product of quantized weights and 32 or more activation rows (prompt
    /// encoding) on AMX-BF16 tiles, weights and activations rounded to bf16 (Sapphire Rapids and
    /// later Xeons; on Linux 5.16 or later, which grants the tile state on request).
    case amx
    /// Advanced SIMD on AArch64 (`sdot` when compiled for a CPU with the dot-product extension).
    case neon

    var cValue: tk_isa {
        switch self {
        case .generic: TK_ISA_GENERIC
        case .avx2: TK_ISA_AVX2
        case .avx2vnni: TK_ISA_AVX2_VNNI
        case .avx512: TK_ISA_AVX512
        case .amx: TK_ISA_AMX
        case .neon: TK_ISA_NEON
        }
    }

    /// Whether the kernels were compiled in and this CPU can run them.
    public var isAvailable: Bool { tk_isa_available(cValue) != 0 }

    /// Every instruction set this process can use, `generic` first.
    public static var available: [KernelISA] { allCases.filter(\.isAvailable) }

    /// The fastest available instruction set (declaration order is slowest to fastest per CPU family).
    public static var best: KernelISA { available.last ?? .generic }

    /// The name the C side reports (e.g. "neon+dotprod").
    public var kernelName: String { String(cString: table.pointee.name) }

    public var description: String { rawValue }

    /// The instruction set all public kernels use unless told otherwise: `TANDEM_ISA` when set,
    /// else `best`. An unknown or unavailable `TANDEM_ISA` is a configuration error, not something
    /// to paper over (a test or benchmark run would silently measure another path), so the
    /// process prints one line to standard error and exits with status 2.
    public static let current: KernelISA = {
        guard let raw = getenv("TANDEM_ISA").map({ String(cString: $0) }), !raw.isEmpty else {
            return best
        }
        switch resolve(raw) {
        case .success(let isa): return isa
        case .failure(let error):
            FileHandle.standardError.write(Data("tandem: \(error)\n".utf8))
            exit(2)
        }
    }()

    /// Why `current` is what it is, in one line: forced by `TANDEM_ISA`, or the best of the tiers
    /// this CPU can run (named, with the next one up and why it is missing).
    public static var choice: String {
        let all = available.map(\.rawValue).joined(separator: ", ")
        if let raw = getenv("TANDEM_ISA").map({ String(cString: $0) }), !raw.isEmpty {
            return "\(current) forced by TANDEM_ISA (this CPU runs: \(all))"
        }
        var line = "\(current), the best this CPU runs (\(all))"
        let above = allCases.drop { $0 != current }.dropFirst()
        if let next = above.first(where: { !$0.isAvailable && $0 != .neon }) {
            line += "; not \(next): " + next.requirement
        }
        if current == .neon {
            line += current.kernelName.contains("i8mm")
                ? "; prompt products on smmla, dot products on sdot (the CPU has the int8 matrix-multiply extension)"
                : current.kernelName.contains("dotprod") ? "; int8 products on sdot (the CPU has the dot-product extension)"
                : "; int8 products widened (no dot-product extension)"
        }
        return line
    }

    /// What a tier needs of the CPU (and, for AMX, of the kernel).
    var requirement: String {
        switch self {
        case .generic: "nothing"
        case .avx2: "AVX2, FMA and F16C"
        case .avx2vnni: "AVX-VNNI"
        case .avx512: "AVX-512 F/BW/VL and AVX512-VNNI"
        case .amx: "AMX-BF16 tiles, granted by Linux 5.16 or later (arch_prctl)"
        case .neon: "an AArch64 CPU"
        }
    }

    /// Parses a `TANDEM_ISA` value and checks that this machine can run it.
    public static func resolve(_ name: String) -> Result<KernelISA, KernelISAError> {
        guard let isa = KernelISA(rawValue: name.lowercased()) else {
            return .failure(.unknown(name))
        }
        guard isa.isAvailable else { return .failure(.unavailable(isa)) }
        return .success(isa)
    }

    /// The C traits table; only valid for an available instruction set.
    package var table: UnsafePointer<tk_kernels> {
        guard let t = tk_kernels_for(cValue) else {
            preconditionFailure("instruction set \(self) is not available on this CPU")
        }
        return t
    }
}

/// Why a requested instruction set cannot be used.
public enum KernelISAError: Error, CustomStringConvertible, Equatable {
    case unknown(String)
    case unavailable(KernelISA)

    public var description: String {
        let choices = KernelISA.available.map(\.rawValue).joined(separator: ", ")
        switch self {
        case .unknown(let name):
            let all = KernelISA.allCases.map(\.rawValue).joined(separator: ", ")
            return "TANDEM_ISA=\(name) is not an instruction set (\(all)); available here: \(choices)"
        case .unavailable(let isa):
            return "TANDEM_ISA=\(isa) cannot run on this CPU; available here: \(choices)"
        }
    }
}
