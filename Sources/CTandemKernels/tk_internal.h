// Internal helpers shared by the per-ISA files: exact half-precision conversion and the
// declarations of every ISA's functions (same names, ISA suffix; ggml's arch split).
#ifndef TANDEM_KERNELS_INTERNAL_H
#define TANDEM_KERNELS_INTERNAL_H

#include "tandem_kernels.h"
#include <string.h>

_Static_assert(sizeof(tk_block_q8_0) == 34, "q8_0 block must be 34 bytes (ggml layout)");
_Static_assert(sizeof(tk_block_q4_0) == 18, "q4_0 block must be 18 bytes (ggml layout)");
_Static_assert(sizeof(tk_block_q5_0) == 22, "q5_0 block must be 22 bytes (ggml layout)");
_Static_assert(sizeof(tk_block_q4_K) == 144, "q4_K block must be 144 bytes (ggml layout)");
_Static_assert(sizeof(tk_block_q5_K) == 176, "q5_K block must be 176 bytes (ggml layout)");
_Static_assert(sizeof(tk_block_q6_K) == 210, "q6_K block must be 210 bytes (ggml layout)");
_Static_assert(sizeof(tk_block_q8_K) == 292, "q8_K block must be 292 bytes (ggml layout)");

static inline float tk_bits_to_f32(uint32_t w) { float f; memcpy(&f, &w, 4); return f; }
static inline uint32_t tk_f32_to_bits(float f) { uint32_t w; memcpy(&w, &f, 4); return w; }

/// Half -> float without hardware support (ggml's `ggml_compute_fp16_to_fp32`, after
/// Maratos' FP16 library): exact for normals, subnormals, infinities and NaN.
static inline float tk_half_to_float(uint16_t h) {
    const uint32_t w = (uint32_t)h << 16;
    const uint32_t sign = w & 0x80000000u;
    const uint32_t two_w = w + w;
    const uint32_t exp_offset = 0xE0u << 23;
    const float normalized = tk_bits_to_f32((two_w >> 4) + exp_offset) * 0x1.0p-112f;
    const float denormalized = tk_bits_to_f32((two_w >> 17) | (126u << 23)) - 0.5f;
    const uint32_t result = sign | (two_w < (1u << 27) ? tk_f32_to_bits(denormalized)
                                                       : tk_f32_to_bits(normalized));
    return tk_bits_to_f32(result);
}

/// Float -> half, round to nearest even (ggml's `ggml_compute_fp32_to_fp16`).
static inline uint16_t tk_float_to_half(float f) {
    float base = (__builtin_fabsf(f) * 0x1.0p+112f) * 0x1.0p-110f;
    const uint32_t w = tk_f32_to_bits(f);
    const uint32_t shl1_w = w + w;
    const uint32_t sign = w & 0x80000000u;
    uint32_t bias = shl1_w & 0xFF000000u;
    if (bias < 0x71000000u) bias = 0x71000000u;
    base = tk_bits_to_f32((bias >> 1) + 0x07800000u) + base;
    const uint32_t bits = tk_f32_to_bits(base);
    const uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
    const uint32_t mantissa_bits = bits & 0x00000FFFu;
    const uint32_t nonsign = exp_bits + mantissa_bits;
    return (uint16_t)((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

static inline int64_t tk_min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t tk_max64(int64_t a, int64_t b) { return a > b ? a : b; }

// ---- generic (kernels_generic.c): always compiled ----
void tk_quantize_row_q8_0_generic(const float *x, tk_block_q8_0 *y, int64_t k);
void tk_f32_to_f16_generic(const float *x, uint16_t *y, int64_t n);
float tk_vec_dot_f32_generic(const void *w, const void *x, int64_t k);
float tk_vec_dot_f16_generic(const void *w, const void *x, int64_t k);
float tk_vec_dot_q8_0_q8_0_generic(const void *w, const void *x, int64_t k);
float tk_vec_dot_q4_0_q8_0_generic(const void *w, const void *x, int64_t k);
void tk_quantize_row_q8_K_generic(const float *x, tk_block_q8_K *y, int64_t k);
float tk_vec_dot_q5_0_q8_0_generic(const void *w, const void *x, int64_t k);
float tk_vec_dot_q4_K_q8_K_generic(const void *w, const void *x, int64_t k);
float tk_vec_dot_q5_K_q8_K_generic(const void *w, const void *x, int64_t k);
float tk_vec_dot_q6_K_q8_K_generic(const void *w, const void *x, int64_t k);
double tk_sum_f32_generic(const float *x, int64_t n);
double tk_fma_loop_generic(int64_t iters, float *sink);
float tk_exp_shifted_generic(float *x, int64_t n, float shift);
void tk_softmax_generic(float *x, int64_t n);
void tk_silu_mul_generic(float *gate, const float *up, int64_t n);
void tk_attn_scores_f32_generic(const float *q, const float *k, int64_t ldk, int64_t n, int64_t d, float *s);
void tk_attn_values_f32_generic(const float *p, const float *v, int64_t ldv, int64_t n, int64_t d, float *out);
void tk_attn_scores_i8_generic(const float *q, const int8_t *k, const float *ks, int64_t n, int64_t d, float *s);
void tk_attn_values_i8_generic(const float *p, const int8_t *v, const float *vs, int64_t n, int64_t d, float *out);
void tk_gelu_tanh_mul_generic(float *gate, const float *up, int64_t n);

// ---- x86 AVX2 + FMA + F16C (kernels_x86_avx2.c) ----
#if defined(__x86_64__) || defined(_M_X64)
#define TK_HAVE_AVX2 1
void tk_quantize_row_q8_0_avx2(const float *x, tk_block_q8_0 *y, int64_t k);
float tk_vec_dot_f32_avx2(const void *w, const void *x, int64_t k);
float tk_vec_dot_f16_avx2(const void *w, const void *x, int64_t k);
float tk_vec_dot_q8_0_q8_0_avx2(const void *w, const void *x, int64_t k);
float tk_vec_dot_q4_0_q8_0_avx2(const void *w, const void *x, int64_t k);
float tk_vec_dot_q5_0_q8_0_avx2(const void *w, const void *x, int64_t k);
void tk_quantize_row_q8_K_avx2(const float *x, tk_block_q8_K *y, int64_t k);
float tk_vec_dot_q4_K_q8_K_avx2(const void *w, const void *x, int64_t k);
float tk_vec_dot_q5_K_q8_K_avx2(const void *w, const void *x, int64_t k);
float tk_vec_dot_q6_K_q8_K_avx2(const void *w, const void *x, int64_t k);
/// A q4_K / q5_K / q6_K block as unsigned values with integer scales and mins per 16 values:
/// value e = d·s[e/16]·u[e] − dm·mi[e/16] (q4_K, q5_K: d·sc·q − dmin·m; q6_K: d·sc·(q − 32), so
/// mi = 32·sc and dm = d). The x86 K-quant GEMMs unpack each weight row through it once per call;
/// tk_kq_scales gives the scales, mins and super-block scales alone.
void tk_kq_scales(tk_dtype dt, const void *blk, int16_t s[16], int16_t mi[16], float *d, float *dm);
void tk_kq_unpack(tk_dtype dt, const void *blk, uint8_t u[TK_QK_K], int16_t s[16], int16_t mi[16], float *d, float *dm);
void tk_gemm_q4_K_avx512(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1);
void tk_gemm_q5_K_avx512(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1);
void tk_gemm_q6_K_avx512(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1);
void tk_gemm_q4_K_avx2(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1);
void tk_gemm_q5_K_avx2(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1);
void tk_gemm_q6_K_avx2(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1);
void tk_gemm_f32_avx2(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k,
                      int64_t n0, int64_t n1);
void tk_gemm_f16_avx2(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k,
                      int64_t n0, int64_t n1);
void tk_gemm_q8_0_avx2(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k,
                       int64_t n0, int64_t n1);
void tk_gemm_q4_0_avx2(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k,
                       int64_t n0, int64_t n1);
void tk_f32_to_f16_avx2(const float *x, uint16_t *y, int64_t n);
void tk_gemv_f32_avx2(const void *w, const void *x, float *y, int64_t k, int64_t r0, int64_t r1);
void tk_gemv_f16_avx2(const void *w, const void *x, float *y, int64_t k, int64_t r0, int64_t r1);
void tk_gemv_q8_0_avx2(const void *w, const void *x, float *y, int64_t k, int64_t r0, int64_t r1);
void tk_gemv_q4_0_avx2(const void *w, const void *x, float *y, int64_t k, int64_t r0, int64_t r1);
void tk_gemv_q5_0_avx2(const void *w, const void *x, float *y, int64_t k, int64_t r0, int64_t r1);
double tk_fma_loop_avx512(int64_t iters, float *sink);
int64_t tk_pack_size_avx512(tk_dtype dtype, int64_t n, int64_t k);
void tk_pack_avx512(tk_dtype dtype, const void *w, int64_t n, int64_t k, void *packed, int64_t p0, int64_t p1);
void tk_gemm_f32_avx512(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1);
void tk_gemm_f16_avx512(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1);
int64_t tk_pack_x_size_avx512(int64_t m, int64_t k);
void tk_pack_x_avx512(const float *x, int64_t m, int64_t k, float *dst, int64_t g0, int64_t g1);
void tk_gemm_f32_packed_x_avx512(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1);
int64_t tk_pack_q8_x_size_avx512(int64_t m, int64_t k, int offset);
void tk_pack_q8_x_avx512(const void *x, int64_t m, int64_t k, int offset, void *packed, int64_t g0, int64_t g1);
void tk_gemm_q8_packed_x_avx512(tk_dtype dtype, const void *w, const void *prepacked, const void *xpacked, float *y,
                                int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1);
void tk_gemm_f16_packed_x_avx512(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1);
void tk_gemm_q8_0_avx512(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1);
void tk_gemm_q4_0_avx512(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1);
void tk_attn_scores_f32_avx512(const float *q, const float *k, int64_t ldk, int64_t n, int64_t d, float *s);
void tk_attn_values_f32_avx512(const float *p, const float *v, int64_t ldv, int64_t n, int64_t d, float *out);
void tk_attn_scores_i8_avx512(const float *q, const int8_t *k, const float *ks, int64_t n, int64_t d, float *s);
void tk_attn_values_i8_avx512(const float *p, const int8_t *v, const float *vs, int64_t n, int64_t d, float *out);
void tk_quantize_rows_i8_avx512(const float *x, int64_t rows, int64_t d, int64_t ldx, int8_t *q, float *scale);
int64_t tk_bf16_x_size_amx(int64_t m, int64_t k);
void tk_bf16_x_amx(const float *x, int64_t ldx, int64_t m, int64_t k, void *dst, int64_t r0, int64_t r1);
void tk_gemm_q8_0_bf16x_amx(const void *w, const void *xb, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1);
void tk_gemm_q4_0_bf16x_amx(const void *w, const void *xb, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1);
void tk_gemm_f32_bf16x_amx(const void *w, const void *xb, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1);
void tk_softmax_bf16_x_amx(float *s, int64_t rows, int64_t n, float scale, const float *bias, int64_t visible0, void *dst);
void tk_gemm_bf16x_epilogue_amx(tk_dtype dtype, const void *w, const void *xb, float *y, int64_t ldy, int64_t m,
                                int64_t k, int64_t n0, int64_t n1, int epilogue);
int64_t tk_bf16_pack_size_amx(int64_t n, int64_t k);
void tk_bf16_pack_amx(const float *w, int64_t os, int64_t is, int64_t n, int64_t k, void *dst);
void tk_gemm_bf16_packed_amx(const void *packed, int64_t n, int64_t kq, const void *xb, float *y, int64_t ldy,
                             int64_t m, int64_t k, int64_t n0, int64_t n1);
void tk_gemm_q8_0_f32_amx(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1);
void tk_gemm_q4_0_f32_amx(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1);
void tk_gemv_q8_0_avxvnni(const void *w, const void *x, float *y, int64_t k, int64_t r0, int64_t r1);
void tk_gemv_q4_0_avxvnni(const void *w, const void *x, float *y, int64_t k, int64_t r0, int64_t r1);
void tk_gemv_q5_0_avxvnni(const void *w, const void *x, float *y, int64_t k, int64_t r0, int64_t r1);
void tk_gemv_q8_0_avx512vnni(const void *w, const void *x, float *y, int64_t k, int64_t r0, int64_t r1);
void tk_gemv_q4_0_avx512vnni(const void *w, const void *x, float *y, int64_t k, int64_t r0, int64_t r1);
void tk_gemv_q5_0_avx512vnni(const void *w, const void *x, float *y, int64_t k, int64_t r0, int64_t r1);
void tk_gemm_q8_0_avxvnni(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k,
                          int64_t n0, int64_t n1);
void tk_gemm_q4_0_avxvnni(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k,
                          int64_t n0, int64_t n1);
double tk_sum_f32_avx2(const float *x, int64_t n);
double tk_fma_loop_avx2(int64_t iters, float *sink);
float tk_exp_shifted_avx2(float *x, int64_t n, float shift);
float tk_exp_shifted_avx512(float *x, int64_t n, float shift);
void tk_softmax_avx512(float *x, int64_t n);
void tk_silu_mul_avx512(float *gate, const float *up, int64_t n);
void tk_gelu_tanh_mul_avx512(float *gate, const float *up, int64_t n);
void tk_softmax_avx2(float *x, int64_t n);
void tk_silu_mul_avx2(float *gate, const float *up, int64_t n);
void tk_attn_scores_f32_avx2(const float *q, const float *k, int64_t ldk, int64_t n, int64_t d, float *s);
void tk_attn_values_f32_avx2(const float *p, const float *v, int64_t ldv, int64_t n, int64_t d, float *out);
void tk_attn_scores_i8_avx2(const float *q, const int8_t *k, const float *ks, int64_t n, int64_t d, float *s);
void tk_attn_values_i8_avx2(const float *p, const int8_t *v, const float *vs, int64_t n, int64_t d, float *out);
void tk_gelu_tanh_mul_avx2(float *gate, const float *up, int64_t n);
#endif

// ---- AArch64 NEON (kernels_arm_neon.c) ----
#if defined(__aarch64__)
#define TK_HAVE_NEON 1
/// IEEE half to float by the hardware (`fcvt`), the same value as tk_half_to_float; shared by
/// kernels_arm_neon.c and kernels_arm_neon_dotprod.c.
static inline float tk_half(uint16_t h) {
    __fp16 v;
    memcpy(&v, &h, 2);
    return (float)v;
}
void tk_quantize_row_q8_0_neon(const float *x, tk_block_q8_0 *y, int64_t k);
float tk_vec_dot_f32_neon(const void *w, const void *x, int64_t k);
float tk_vec_dot_f16_neon(const void *w, const void *x, int64_t k);
float tk_vec_dot_q8_0_q8_0_neon(const void *w, const void *x, int64_t k);
float tk_vec_dot_q4_0_q8_0_neon(const void *w, const void *x, int64_t k);
float tk_vec_dot_q5_0_q8_0_neon(const void *w, const void *x, int64_t k);
float tk_vec_dot_q4_K_q8_K_neon(const void *w, const void *x, int64_t k);
float tk_vec_dot_q5_K_q8_K_neon(const void *w, const void *x, int64_t k);
float tk_vec_dot_q6_K_q8_K_neon(const void *w, const void *x, int64_t k);
void tk_gemm_f32_neon(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1);
void tk_gemm_f16_neon(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1);
void tk_gemm_q8_0_neon(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1);
void tk_gemm_q5_0_neon(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1);
void tk_gemm_q4_0_neon(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1);
void tk_gemm_q4_K_neon(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1);
void tk_gemm_q5_K_neon(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1);
void tk_gemm_q6_K_neon(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1);
// kernels_arm_neon_dotprod.c: the int8 dot products above compiled for `sdot`, chosen at run time.
// It needs a compiler whose arm_neon.h offers vdotq_s32 to one function (GCC, clang 16 and later,
// every Swift toolchain's clang); an older clang gets it only for a build that targets the extension.
#if defined(__ARM_FEATURE_DOTPROD) || !defined(__clang__) || __clang_major__ >= 16
#define TK_HAVE_NEON_DOTPROD 1
#endif
float tk_vec_dot_q8_0_q8_0_neon_dotprod(const void *w, const void *x, int64_t k);
float tk_vec_dot_q4_0_q8_0_neon_dotprod(const void *w, const void *x, int64_t k);
float tk_vec_dot_q5_0_q8_0_neon_dotprod(const void *w, const void *x, int64_t k);
float tk_vec_dot_q4_K_q8_K_neon_dotprod(const void *w, const void *x, int64_t k);
float tk_vec_dot_q5_K_q8_K_neon_dotprod(const void *w, const void *x, int64_t k);
float tk_vec_dot_q6_K_q8_K_neon_dotprod(const void *w, const void *x, int64_t k);
void tk_gemm_q8_0_neon_dotprod(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0,
                               int64_t n1);
void tk_gemm_q4_0_neon_dotprod(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0,
                               int64_t n1);
void tk_gemm_q5_0_neon_dotprod(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0,
                               int64_t n1);
void tk_gemm_q4_K_neon_dotprod(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0,
                               int64_t n1);
void tk_gemm_q5_K_neon_dotprod(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0,
                               int64_t n1);
void tk_gemm_q6_K_neon_dotprod(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0,
                               int64_t n1);
/// Whether the CPU has the dot-product extension (Linux: HWCAP_ASIMDDP in the auxiliary vector).
int tk_cpu_has_neon_dotprod(void);
// kernels_arm_neon_i8mm.c: GEMM tiles on `smmla` (FEAT_I8MM), chosen at run time, with the `sdot`
// table's K-quant dot products and q8_0/q4_0 dot products in the tiles' order. It needs the
// dot-product copies and a compiler that offers vmmlaq_s32 to one function (GCC 10, clang 16).
#if defined(TK_HAVE_NEON_DOTPROD) && \
    (defined(__ARM_FEATURE_MATMUL_INT8) || (defined(__clang__) && __clang_major__ >= 16) || \
     (!defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 10))
#define TK_HAVE_NEON_I8MM 1
#endif
float tk_vec_dot_q8_0_q8_0_neon_i8mm(const void *w, const void *x, int64_t k);
float tk_vec_dot_q4_0_q8_0_neon_i8mm(const void *w, const void *x, int64_t k);
void tk_gemm_q8_0_neon_i8mm(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0,
                            int64_t n1);
void tk_gemm_q4_0_neon_i8mm(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0,
                            int64_t n1);
void tk_gemm_q4_K_neon_i8mm(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0,
                            int64_t n1);
void tk_gemm_q5_K_neon_i8mm(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0,
                            int64_t n1);
void tk_gemm_q6_K_neon_i8mm(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0,
                            int64_t n1);
/// Whether the CPU has the int8 matrix-multiply extension and the dot product (Linux: HWCAP2_I8MM
/// and HWCAP_ASIMDDP).
int tk_cpu_has_neon_i8mm(void);
double tk_sum_f32_neon(const float *x, int64_t n);
double tk_fma_loop_neon(int64_t iters, float *sink);
#endif

#endif // TANDEM_KERNELS_INTERNAL_H
