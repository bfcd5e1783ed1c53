// Run-time choice of instruction set (after CTranslate2's cpu_isa.cc): the CPU is asked once
// through cpuid/xgetbv, and each ISA's traits table names its functions. Also the drivers that
// are the same for every ISA: GEMV over a row range and the portable cache-blocked GEMM.
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE  // syscall(2) under -std=c11 (the AMX permission request)
#endif
#include "tk_internal.h"

#if defined(TK_HAVE_AVX2)
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

/// AVX2, FMA and F16C in the CPU, and the OS saving the YMM state (XCR0 bits 1 and 2).
static int tk_cpu_has_avx2_fma_f16c(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, f16c = (c >> 29) & 1, avx = (c >> 28) & 1;
    if (!(osxsave && fma && f16c && avx)) return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0x6) != 0x6) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b >> 5) & 1;
}

/// AVX-VNNI (VEX-encoded vpdpbusd): cpuid leaf 7 sub-leaf 1, EAX bit 4.
static int tk_cpu_has_avx_vnni(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return 0;
    return (a >> 4) & 1;
}

/// AVX-512 F, BW, VL and VNNI (cpuid leaf 7: EBX bits 16, 30, 31; ECX bit 11), and the OS saving
/// the opmask and ZMM state (XCR0 bits 5–7) as well as the YMM state.
static int tk_cpu_has_avx512_vnni(void) {
    if (!tk_cpu_has_avx2_fma_f16c()) return 0;
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    const int f = (b >> 16) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1, vnni = (c >> 11) & 1;
    if (!(f && bw && vl && vnni)) return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & 0xE6) == 0xE6;
}

/// AMX-TILE and AMX-BF16 (cpuid leaf 7: EDX bits 24 and 22) and AVX512-BF16 (leaf 7 sub-leaf 1:
/// EAX bit 5, for rounding to bf16), the OS managing the tile state (XCR0 bits 17 and 18), and,
/// on Linux, this process granted it: the kernel hands the 8 KiB tile data state out only on
/// request (arch_prctl ARCH_REQ_XCOMP_PERM, Linux 5.16), process-wide, so the request is made
/// here, once, before any thread touches a tile. Elsewhere: no.
static int tk_cpu_has_amx_bf16(void) {
#if defined(__linux__)
    if (!tk_cpu_has_avx512_vnni()) return 0;
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    if (!((d >> 24) & 1) || !((d >> 22) & 1)) return 0;
    if (!__get_cpuid_count(7, 1, &a, &b, &c, &d) || !((a >> 5) & 1)) return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 0x60000) != 0x60000) return 0;
    enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
#else
    return 0;
#endif
}
#endif

#if defined(TK_HAVE_NEON)
#if defined(__linux__)
#include <sys/auxv.h>
#elif defined(__APPLE__)
#include <sys/sysctl.h>
#endif

/// The dot-product extension (`sdot`): certain when the build targets it; on Linux the kernel's
/// HWCAP_ASIMDDP bit (bit 20 of AT_HWCAP; tk_neon_table asks once);
/// every arm64 Apple core has it (A11, M1 and later); elsewhere assumed absent.
int tk_cpu_has_neon_dotprod(void) {
#if defined(__ARM_FEATURE_DOTPROD) || defined(__APPLE__)
    return 1;
#elif defined(__linux__)
    return (int)((getauxval(AT_HWCAP) >> 20) & 1);
#else
    return 0;
#endif
}

/// The int8 matrix-multiply extension (`smmla`), with the dot product it is used beside: certain
/// when the build targets both; on Linux HWCAP2_I8MM (bit 13 of AT_HWCAP2); on Apple the
/// FEAT_I8MM sysctl (M2 and later); elsewhere assumed absent.
int tk_cpu_has_neon_i8mm(void) {
    if (!tk_cpu_has_neon_dotprod()) return 0;
#if defined(__ARM_FEATURE_MATMUL_INT8)
    return 1;
#elif defined(__APPLE__)
    int v = 0;
    size_t len = sizeof v;
    return sysctlbyname("hw.optional.arm.FEAT_I8MM", &v, &len, NULL, 0) == 0 && v == 1;
#elif defined(__linux__)
    return (int)((getauxval(AT_HWCAP2) >> 13) & 1);
#else
    return 0;
#endif
}
#endif

static int tk_isa_probe(tk_isa isa);

/// cpuid traps to the hypervisor on a virtual machine (microseconds), and every matrix product
/// looks up its kernels, so each answer is computed once and kept. Racing first calls compute
/// the same value; relaxed atomics make that benign.
int tk_isa_available(tk_isa isa) {
    static int known[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
    if ((unsigned)isa >= 8) return 0;
    int answer = __atomic_load_n(&known[isa], __ATOMIC_RELAXED);
    if (answer < 0) {
        answer = tk_isa_probe(isa);
        __atomic_store_n(&known[isa], answer, __ATOMIC_RELAXED);
    }
    return answer;
}

static int tk_isa_probe(tk_isa isa) {
    switch (isa) {
    case TK_ISA_GENERIC: return 1;
    case TK_ISA_AVX2:
#if defined(TK_HAVE_AVX2)
        return tk_cpu_has_avx2_fma_f16c();
#else
        return 0;
#endif
    case TK_ISA_AVX2_VNNI:
#if defined(TK_HAVE_AVX2)
        return tk_cpu_has_avx2_fma_f16c() && tk_cpu_has_avx_vnni();
#else
        return 0;
#endif
    case TK_ISA_AVX512:
#if defined(TK_HAVE_AVX2)
        // Not AVX-VNNI: the table's 256-bit vpdpbusd is the EVEX form (Zen 4, Ice Lake and
        // Cascade Lake have AVX512-VNNI without AVX-VNNI).
        return tk_cpu_has_avx512_vnni();
#else
        return 0;
#endif
    case TK_ISA_AMX:
#if defined(TK_HAVE_AVX2)
        return tk_isa_available(TK_ISA_AVX512) && tk_cpu_has_amx_bf16();
#else
        return 0;
#endif
    case TK_ISA_NEON:
#if defined(TK_HAVE_NEON)
        return 1; // Advanced SIMD is part of every AArch64 CPU.
#else
        return 0;
#endif
    }
    return 0;
}

static const tk_kernels tk_generic = {
    .name = "generic",
    .quantize_row_q8_0 = tk_quantize_row_q8_0_generic,
    .quantize_row_q8_K = tk_quantize_row_q8_K_generic,
    .f32_to_f16 = tk_f32_to_f16_generic,
    .vec_dot = {tk_vec_dot_f32_generic, tk_vec_dot_f16_generic, tk_vec_dot_q8_0_q8_0_generic,
                tk_vec_dot_q4_0_q8_0_generic, tk_vec_dot_q5_0_q8_0_generic, tk_vec_dot_q4_K_q8_K_generic,
                tk_vec_dot_q5_K_q8_K_generic, tk_vec_dot_q6_K_q8_K_generic},
    .gemm = {NULL, NULL, NULL, NULL},
    .sum_f32 = tk_sum_f32_generic,
    .fma_loop = tk_fma_loop_generic,
    .exp_shifted = tk_exp_shifted_generic,
    .softmax = tk_softmax_generic,
    .silu_mul = tk_silu_mul_generic,
    .gelu_tanh_mul = tk_gelu_tanh_mul_generic,
    .attn_scores = tk_attn_scores_f32_generic,
    .attn_values = tk_attn_values_f32_generic,
    .attn_scores_i8 = tk_attn_scores_i8_generic,
    .attn_values_i8 = tk_attn_values_i8_generic,
};

#if defined(TK_HAVE_AVX2)
/// What every x86 table shares: the AVX2 quantizer and dot products. The tables below differ in
/// their matrix products, element-wise and attention kernels and peak probe.
#define TK_X86_COMMON                                                                             \
    .quantize_row_q8_0 = tk_quantize_row_q8_0_avx2,                                               \
    .quantize_row_q8_K = tk_quantize_row_q8_K_avx2,                                               \
    .f32_to_f16 = tk_f32_to_f16_avx2,                                                             \
    .vec_dot = {tk_vec_dot_f32_avx2, tk_vec_dot_f16_avx2, tk_vec_dot_q8_0_q8_0_avx2,              \
                tk_vec_dot_q4_0_q8_0_avx2, tk_vec_dot_q5_0_q8_0_avx2, tk_vec_dot_q4_K_q8_K_avx2,  \
                tk_vec_dot_q5_K_q8_K_avx2, tk_vec_dot_q6_K_q8_K_avx2},                            \
    .sum_f32 = tk_sum_f32_avx2

/// The element-wise kernels (exp, softmax, SiLU, GELU) of one width.
#define TK_X86_ELEMENTWISE(SUFFIX)                                                                \
    .exp_shifted = tk_exp_shifted_##SUFFIX, .softmax = tk_softmax_##SUFFIX,                       \
    .silu_mul = tk_silu_mul_##SUFFIX, .gelu_tanh_mul = tk_gelu_tanh_mul_##SUFFIX

static const tk_kernels tk_avx2 = {
    .name = "avx2",
    TK_X86_COMMON,
    .gemv = {tk_gemv_f32_avx2, tk_gemv_f16_avx2, tk_gemv_q8_0_avx2, tk_gemv_q4_0_avx2, tk_gemv_q5_0_avx2},
    .gemm = {tk_gemm_f32_avx2, tk_gemm_f16_avx2, tk_gemm_q8_0_avx2, tk_gemm_q4_0_avx2, NULL,
             tk_gemm_q4_K_avx2, tk_gemm_q5_K_avx2, tk_gemm_q6_K_avx2},
    .gemm_f32act = {NULL, NULL, NULL, NULL},
    .attn_scores_i8 = tk_attn_scores_i8_avx2,
    .attn_values_i8 = tk_attn_values_i8_avx2,
    .attn_scores = tk_attn_scores_f32_avx2,
    .attn_values = tk_attn_values_f32_avx2,
    TK_X86_ELEMENTWISE(avx2),
    .fma_loop = tk_fma_loop_avx2,
};

/// The AVX2 table with the VNNI int8 GEMV and GEMM (the same floats as the AVX2 GEMM of 8 or
/// more rows, in a third of the instructions).
static const tk_kernels tk_avx2_vnni = {
    .name = "avx2+vnni",
    TK_X86_COMMON,
    .gemv = {tk_gemv_f32_avx2, tk_gemv_f16_avx2, tk_gemv_q8_0_avxvnni, tk_gemv_q4_0_avxvnni,
             tk_gemv_q5_0_avxvnni},
    .gemm = {tk_gemm_f32_avx2, tk_gemm_f16_avx2, tk_gemm_q8_0_avxvnni, tk_gemm_q4_0_avxvnni, NULL,
             tk_gemm_q4_K_avx2, tk_gemm_q5_K_avx2, tk_gemm_q6_K_avx2},
    .gemm_f32act = {NULL, NULL, NULL, NULL},
    .attn_scores_i8 = tk_attn_scores_i8_avx2,
    .attn_values_i8 = tk_attn_values_i8_avx2,
    .attn_scores = tk_attn_scores_f32_avx2,
    .attn_values = tk_attn_values_f32_avx2,
    TK_X86_ELEMENTWISE(avx2),
    .fma_loop = tk_fma_loop_avx2,
};

/// What the AVX-512 tables share: 512-bit GEMMs (the GEMV stays 256-bit: it is bound by memory,
/// or by per-block scale work that wider registers do not shorten), the prepacked batch GEMM, and
/// 16-lane element-wise and attention kernels (VNNI int8 attention scores).
#define TK_X86_AVX512_COMMON                                                                      \
    TK_X86_COMMON,                                                                                \
    .gemv = {tk_gemv_f32_avx2, tk_gemv_f16_avx2, tk_gemv_q8_0_avx512vnni, tk_gemv_q4_0_avx512vnni, \
             tk_gemv_q5_0_avx512vnni},                                                            \
    .gemm = {tk_gemm_f32_avx512, tk_gemm_f16_avx512, tk_gemm_q8_0_avx512, tk_gemm_q4_0_avx512,    \
             NULL, tk_gemm_q4_K_avx512, tk_gemm_q5_K_avx512, tk_gemm_q6_K_avx512},                \
    .attn_scores_i8 = tk_attn_scores_i8_avx512,                                                   \
    .attn_values_i8 = tk_attn_values_i8_avx512,                                                   \
    .quantize_rows_i8 = tk_quantize_rows_i8_avx512,                                               \
    .attn_scores = tk_attn_scores_f32_avx512,                                                     \
    .attn_values = tk_attn_values_f32_avx512,                                                     \
    TK_X86_ELEMENTWISE(avx512),                                                                   \
    .fma_loop = tk_fma_loop_avx512,                                                               \
    .pack_rows = 16,                                                                              \
    .pack_size = tk_pack_size_avx512,                                                             \
    .pack = tk_pack_avx512,                                                                       \
    .pack_x_rows = 12,                                                                            \
    .pack_x_size = tk_pack_x_size_avx512,                                                         \
    .pack_x = tk_pack_x_avx512,                                                                   \
    .gemm_packed_x = {tk_gemm_f32_packed_x_avx512, tk_gemm_f16_packed_x_avx512, NULL, NULL},      \
    .pack_q8_x_rows = 6,                                                                          \
    .pack_q8_x_size = tk_pack_q8_x_size_avx512,                                                   \
    .pack_q8_x = tk_pack_q8_x_avx512,                                                             \
    .gemm_q8_packed_x = tk_gemm_q8_packed_x_avx512

/// The AVX2 + VNNI table with 512-bit kernels (TK_X86_AVX512_COMMON).
static const tk_kernels tk_avx512 = {
    .name = "avx512",
    TK_X86_AVX512_COMMON,
    .gemm_f32act = {NULL, NULL, NULL, NULL},
};

/// The AVX-512 table with the product of quantized weights and 32 or more activation rows on
/// AMX-BF16 tiles (kernels_x86_amx.c): weights and activations rounded to bf16, f32 sums over
/// the whole input. Fewer rows (batched decoding, short prompts) stay on vpdpbusd.
static const tk_kernels tk_amx = {
    .name = "avx512+amx",
    TK_X86_AVX512_COMMON,
    .gemm_f32act = {NULL, NULL, tk_gemm_q8_0_f32_amx, tk_gemm_q4_0_f32_amx},
    .f32act_min_rows = 32,
    .f32act_bf16 = 1,
    .bf16_x_rows = 32,
    .bf16_x_size = tk_bf16_x_size_amx,
    .bf16_x = tk_bf16_x_amx,
    .gemm_bf16_x = {tk_gemm_f32_bf16x_amx, NULL, tk_gemm_q8_0_bf16x_amx, tk_gemm_q4_0_bf16x_amx},
    .gemm_bf16_x_epilogue = tk_gemm_bf16x_epilogue_amx,
    .softmax_bf16_x = tk_softmax_bf16_x_amx,
    .bf16_pack_size = tk_bf16_pack_size_amx,
    .bf16_pack = tk_bf16_pack_amx,
    .gemm_bf16_packed = tk_gemm_bf16_packed_amx,
};
#endif

#if defined(TK_HAVE_NEON)
/// The NEON table's entries besides the int8 dot products, shared by both tables below.
#define TK_NEON_COMMON \
    .quantize_row_q8_0 = tk_quantize_row_q8_0_neon, \
    .quantize_row_q8_K = tk_quantize_row_q8_K_generic, \
    .f32_to_f16 = tk_f32_to_f16_generic, \
    .sum_f32 = tk_sum_f32_neon, \
    .fma_loop = tk_fma_loop_neon, \
    /* Advanced SIMD is the AArch64 baseline: the generic copies compile to NEON there. */ \
    .exp_shifted = tk_exp_shifted_generic, \
    .softmax = tk_softmax_generic, \
    .silu_mul = tk_silu_mul_generic, \
    .gelu_tanh_mul = tk_gelu_tanh_mul_generic, \
    .attn_scores = tk_attn_scores_f32_generic, \
    .attn_values = tk_attn_values_f32_generic, \
    .attn_scores_i8 = tk_attn_scores_i8_generic, \
    .attn_values_i8 = tk_attn_values_i8_generic

/// Every AArch64 core: widening int8 products (or `sdot` when the build targets it).
static const tk_kernels tk_neon = {
#if defined(__ARM_FEATURE_DOTPROD)
    .name = "neon+dotprod",
#else
    .name = "neon",
#endif
    TK_NEON_COMMON,
    // q5_0 and the K-quants: NEON integer sums, then the generic kernels' float order.
    .vec_dot = {tk_vec_dot_f32_neon, tk_vec_dot_f16_neon, tk_vec_dot_q8_0_q8_0_neon,
                tk_vec_dot_q4_0_q8_0_neon, tk_vec_dot_q5_0_q8_0_neon, tk_vec_dot_q4_K_q8_K_neon,
                tk_vec_dot_q5_K_q8_K_neon, tk_vec_dot_q6_K_q8_K_neon},
    // Prompt passes: register tiles (4 × 4 for q8_0/q4_0/q5_0, 4 weight × 2 activation rows for
    // f16 and the K-quants, 2 × 2 for f32) with vec_dot's floats (kernels_arm_neon_int8.h,
    // kernels_arm_neon.c).
    .gemm = {tk_gemm_f32_neon, tk_gemm_f16_neon, tk_gemm_q8_0_neon, tk_gemm_q4_0_neon, tk_gemm_q5_0_neon,
             tk_gemm_q4_K_neon, tk_gemm_q5_K_neon, tk_gemm_q6_K_neon},
};

#if defined(TK_HAVE_NEON_DOTPROD)
/// A core that reports the dot-product extension at run time: the int8 products on `sdot`.
static const tk_kernels tk_neon_dotprod = {
    .name = "neon+dotprod",
    TK_NEON_COMMON,
    .vec_dot = {tk_vec_dot_f32_neon, tk_vec_dot_f16_neon, tk_vec_dot_q8_0_q8_0_neon_dotprod,
                tk_vec_dot_q4_0_q8_0_neon_dotprod, tk_vec_dot_q5_0_q8_0_neon_dotprod, tk_vec_dot_q4_K_q8_K_neon_dotprod,
                tk_vec_dot_q5_K_q8_K_neon_dotprod, tk_vec_dot_q6_K_q8_K_neon_dotprod},
    .gemm = {tk_gemm_f32_neon, tk_gemm_f16_neon, tk_gemm_q8_0_neon_dotprod, tk_gemm_q4_0_neon_dotprod,
             tk_gemm_q5_0_neon_dotprod, tk_gemm_q4_K_neon_dotprod, tk_gemm_q5_K_neon_dotprod, tk_gemm_q6_K_neon_dotprod},
};
#endif

#if defined(TK_HAVE_NEON_I8MM)
/// A core that reports the int8 matrix multiply too: prompt passes on `smmla` tiles, the K-quant
/// dot products of the `sdot` table, q8_0/q4_0 dot products in the tiles' order.
static const tk_kernels tk_neon_i8mm = {
    .name = "neon+i8mm",
    TK_NEON_COMMON,
    .vec_dot = {tk_vec_dot_f32_neon, tk_vec_dot_f16_neon, tk_vec_dot_q8_0_q8_0_neon_i8mm,
                tk_vec_dot_q4_0_q8_0_neon_i8mm, tk_vec_dot_q5_0_q8_0_neon_dotprod, tk_vec_dot_q4_K_q8_K_neon_dotprod,
                tk_vec_dot_q5_K_q8_K_neon_dotprod, tk_vec_dot_q6_K_q8_K_neon_dotprod},
    .gemm = {tk_gemm_f32_neon, tk_gemm_f16_neon, tk_gemm_q8_0_neon_i8mm, tk_gemm_q4_0_neon_i8mm,
             tk_gemm_q5_0_neon_dotprod, tk_gemm_q4_K_neon_i8mm, tk_gemm_q5_K_neon_i8mm, tk_gemm_q6_K_neon_i8mm},
};
#endif
#endif

#if defined(TK_HAVE_NEON)
/// The NEON table of this CPU, the richest whose extensions it reports. Every matrix product looks
/// up its kernels, so the choice (one or two getauxval reads) is made once and kept; racing first
/// calls make the same choice, so relaxed atomics are enough.
static const tk_kernels *tk_neon_table(void) {
    static const tk_kernels *chosen;
    const tk_kernels *t = __atomic_load_n(&chosen, __ATOMIC_RELAXED);
    if (t == NULL) {
        t = &tk_neon;
#if defined(TK_HAVE_NEON_DOTPROD)
        if (tk_cpu_has_neon_dotprod()) t = &tk_neon_dotprod;
#endif
#if defined(TK_HAVE_NEON_I8MM)
        if (tk_cpu_has_neon_i8mm()) t = &tk_neon_i8mm;
#endif
        __atomic_store_n(&chosen, t, __ATOMIC_RELAXED);
    }
    return t;
}
#endif

const tk_kernels *tk_kernels_for(tk_isa isa) {
    if (!tk_isa_available(isa)) return NULL;
    switch (isa) {
    case TK_ISA_GENERIC: return &tk_generic;
#if defined(TK_HAVE_AVX2)
    case TK_ISA_AVX2: return &tk_avx2;
    case TK_ISA_AVX2_VNNI: return &tk_avx2_vnni;
    case TK_ISA_AVX512: return &tk_avx512;
    case TK_ISA_AMX: return &tk_amx;
#endif
#if defined(TK_HAVE_NEON)
    case TK_ISA_NEON: return tk_neon_table();
#endif
    default: return NULL;
    }
}

int64_t tk_row_bytes(tk_dtype dtype, int64_t k) {
    switch (dtype) {
    case TK_F32: return k * 4;
    case TK_F16: return k * 2;
    case TK_Q8_0: return k / TK_QK * (int64_t)sizeof(tk_block_q8_0);
    case TK_Q4_0: return k / TK_QK * (int64_t)sizeof(tk_block_q4_0);
    case TK_Q5_0: return k / TK_QK * (int64_t)sizeof(tk_block_q5_0);
    case TK_Q4_K: return k / TK_QK_K * (int64_t)sizeof(tk_block_q4_K);
    case TK_Q5_K: return k / TK_QK_K * (int64_t)sizeof(tk_block_q5_K);
    case TK_Q6_K: return k / TK_QK_K * (int64_t)sizeof(tk_block_q6_K);
    default: return 0;
    }
}

int tk_act_kind(tk_dtype dtype) {
    switch (dtype) {
    case TK_F32: case TK_F16: return 0;
    case TK_Q4_K: case TK_Q5_K: case TK_Q6_K: return 2;
    default: return 1;
    }
}

int64_t tk_act_row_bytes(tk_dtype dtype, int64_t k) {
    switch (tk_act_kind(dtype)) {
    case 0: return k * 4;
    case 2: return k / TK_QK_K * (int64_t)sizeof(tk_block_q8_K);
    default: return tk_row_bytes(TK_Q8_0, k);
    }
}

void tk_gemv(const tk_kernels *kt, tk_dtype dtype, const void *w, const void *x, float *y,
             int64_t k, int64_t r0, int64_t r1) {
    if (kt->gemv[dtype]) {
        kt->gemv[dtype](w, x, y, k, r0, r1);
        return;
    }
    const tk_vec_dot_fn dot = kt->vec_dot[dtype];
    const int64_t rb = tk_row_bytes(dtype, k);
    const char *row = (const char *)w + r0 * rb;
    for (int64_t r = r0; r < r1; r++, row += rb) y[r] = dot(row, x, k);
}

void tk_gemm_blocked(tk_vec_dot_fn dot, tk_dtype dtype, const void *w, const void *x, float *y,
                     int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1) {
    const int64_t rb = tk_row_bytes(dtype, k);
    const int64_t xb = tk_act_row_bytes(dtype, k);
    // As many weight rows as fit in ~24 KiB of L1 stay hot while all activation rows pass.
    int64_t tile = rb > 0 ? (24 * 1024) / rb : 1;
    if (tile < 1) tile = 1;
    if (tile > 64) tile = 64;
    for (int64_t nb = n0; nb < n1; nb += tile) {
        const int64_t ne = tk_min64(nb + tile, n1);
        for (int64_t i = 0; i < m; i++) {
            const char *xr = (const char *)x + i * xb;
            float *yr = y + i * ldy;
            const char *wr = (const char *)w + nb * rb;
            for (int64_t n = nb; n < ne; n++, wr += rb) yr[n] = dot(wr, xr, k);
        }
    }
}

/// Below `f32act_min_rows` activation rows the int8 path wins: converting a weight panel is only
/// repaid over many rows.
int tk_gemm_prefers_f32(const tk_kernels *kt, tk_dtype dtype, int64_t m) {
    if (dtype == TK_F32 || dtype == TK_F16) return 1;
    return kt->gemm_f32act[dtype] != NULL && m >= kt->f32act_min_rows;
}

int tk_gemm_rounds_bf16_x(const tk_kernels *kt, tk_dtype dtype) {
    return kt->f32act_bf16 && kt->bf16_x_size != NULL && kt->bf16_x != NULL && kt->gemm_bf16_x[dtype] != NULL;
}

void tk_gemm_bf16_x(const tk_kernels *kt, tk_dtype dtype, const void *w, const void *xb, float *y,
                    int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1) {
    kt->gemm_bf16_x[dtype](w, xb, y, ldy, m, k, n0, n1);
}

void tk_gemm(const tk_kernels *kt, tk_dtype dtype, const void *w, const void *x, float *y,
             int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1) {
    if (dtype != TK_F32 && dtype != TK_F16 && tk_gemm_prefers_f32(kt, dtype, m)) {
        kt->gemm_f32act[dtype](w, x, y, ldy, m, k, n0, n1);
    } else if (kt->gemm[dtype]) {
        kt->gemm[dtype](w, x, y, ldy, m, k, n0, n1);
    } else {
        tk_gemm_blocked(kt->vec_dot[dtype], dtype, w, x, y, ldy, m, k, n0, n1);
    }
}

float tk_fp16_to_fp32(uint16_t h) { return tk_half_to_float(h); }
uint16_t tk_fp32_to_fp16(float f) { return tk_float_to_half(f); }

int tk_gemm_lays_q8_x(const tk_kernels *kt) {
    return kt->pack_q8_x_size != NULL && kt->pack_q8_x != NULL && kt->gemm_q8_packed_x != NULL;
}

int tk_gemm_packs_x(const tk_kernels *kt, tk_dtype dtype) {
    return kt->pack_x != NULL && kt->pack_x_size != NULL && kt->gemm_packed_x[dtype] != NULL;
}

void tk_gemm_packed_x(const tk_kernels *kt, tk_dtype dtype, const void *w, const float *xpacked, float *y,
                      int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1) {
    kt->gemm_packed_x[dtype](w, xpacked, y, ldy, m, k, n0, n1);
}
