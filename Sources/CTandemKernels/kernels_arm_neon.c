// AArch64 kernels for Advanced SIMD (NEON), after ggml's `arch/arm/quants.c`.
//
// NEON is part of every AArch64 CPU. The int8 dot products (kernels_arm_neon_int8.h) here use a
// widening multiply (`vmull_s8`) and pairwise add, which every AArch64 core has (Cortex-A53/A72
// boards), or `sdot` (four int8 products summed into each int32 lane, one instruction) when the
// whole build targets the dot-product extension (`__ARM_FEATURE_DOTPROD`, e.g.
// -march=armv8.2-a+dotprod). A plain build gets `sdot` too, from kernels_arm_neon_dotprod.c,
// when the CPU reports the extension at run time (Cortex-A55/A76 and later, Neoverse, Apple).
// Built and tested on x86 with Debian's cross compiler under qemu (scripts/test-neon.sh).
#include "tk_internal.h"

#if defined(TK_HAVE_NEON)
#include <arm_neon.h>
#include <math.h>

/// acc + the four-way int8 dot products of a and b in each int32 lane.
static inline int32x4_t tk_vdotq_s32(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, a, b);
#else
    const int16x8_t p0 = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    const int16x8_t p1 = vmull_s8(vget_high_s8(a), vget_high_s8(b));
    return vaddq_s32(acc, vaddq_s32(vpaddlq_s16(p0), vpaddlq_s16(p1)));
#endif
}

void tk_quantize_row_q8_0_neon(const float *x, tk_block_q8_0 *y, int64_t k) {
    const int64_t nb = k / TK_QK;
    for (int64_t i = 0; i < nb; i++, x += TK_QK) {
        float32x4_t v[8], a[8];
        for (int j = 0; j < 8; j++) v[j] = vld1q_f32(x + 4 * j);
        for (int j = 0; j < 8; j++) a[j] = vabsq_f32(v[j]);
        for (int j = 0; j < 4; j++) a[2 * j] = vmaxq_f32(a[2 * j], a[2 * j + 1]);
        for (int j = 0; j < 2; j++) a[4 * j] = vmaxq_f32(a[4 * j], a[4 * j + 2]);
        const float amax = vmaxvq_f32(vmaxq_f32(a[0], a[4]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = tk_float_to_half(d);
        for (int j = 0; j < 8; j++) {
            // vcvtaq rounds to nearest with ties away from zero, exactly like the reference roundf.
            const int32x4_t q = vcvtaq_s32_f32(vmulq_n_f32(v[j], id));
            y[i].qs[4 * j + 0] = (int8_t)vgetq_lane_s32(q, 0);
            y[i].qs[4 * j + 1] = (int8_t)vgetq_lane_s32(q, 1);
            y[i].qs[4 * j + 2] = (int8_t)vgetq_lane_s32(q, 2);
            y[i].qs[4 * j + 3] = (int8_t)vgetq_lane_s32(q, 3);
        }
    }
}

float tk_vec_dot_f32_neon(const void *w, const void *x, int64_t k) {
    const float *a = (const float *)w, *b = (const float *)x;
    float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0), s2 = vdupq_n_f32(0), s3 = vdupq_n_f32(0);
    int64_t i = 0;
    for (; i + 16 <= k; i += 16) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        s2 = vfmaq_f32(s2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
        s3 = vfmaq_f32(s3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
    }
    for (; i + 4 <= k; i += 4) s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < k; i++) s += a[i] * b[i];
    return s;
}

float tk_vec_dot_f16_neon(const void *w, const void *x, int64_t k) {
    const uint16_t *a = (const uint16_t *)w;
    const float *b = (const float *)x;
    float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0);
    int64_t i = 0;
    for (; i + 8 <= k; i += 8) {
        const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(a + i));
        s0 = vfmaq_f32(s0, vcvt_f32_f16(vget_low_f16(h)), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vcvt_f32_f16(vget_high_f16(h)), vld1q_f32(b + i + 4));
    }
    float s = vaddvq_f32(vaddq_f32(s0, s1));
    for (; i < k; i++) s += tk_half(a[i]) * b[i];
    return s;
}

#define TK_NEON_NAME(base) base##_neon
#include "kernels_arm_neon_int8.h"
#undef TK_NEON_NAME

// ---- GEMM: f32 and f16 weight rows against f32 activation rows (every NEON table) -------------

/// Two weight rows × two activation rows per pass, each output with tk_vec_dot_f32_neon's four
/// accumulators over 16-float chunks, its 4-float tail, its reduction and its scalar tail, so the
/// GEMM gives vec_dot's floats bit for bit; each chunk's loads serve two outputs, not one
/// (16 accumulators, 4 loaded vectors live). Rows past the pairs go through vec_dot itself.
void tk_gemm_f32_neon(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0,
                      int64_t n1) {
    const int64_t rb = 4 * k, xb = 4 * k;
    const int64_t m2 = m & ~(int64_t)1;
    int64_t n = n0;
    for (; n + 2 <= n1; n += 2) {
        const float *a[2] = {(const float *)w + n * k, (const float *)w + (n + 1) * k};
        for (int64_t i = 0; i < m2; i += 2) {
            const float *b[2] = {(const float *)x + i * k, (const float *)x + (i + 1) * k};
            float32x4_t s[2][2][4];  // [weight row][activation row][accumulator]
            for (int c = 0; c < 2; c++)
                for (int r = 0; r < 2; r++)
                    for (int q = 0; q < 4; q++) s[c][r][q] = vdupq_n_f32(0);
            int64_t j = 0;
            for (; j + 16 <= k; j += 16) {
#pragma GCC unroll 4
                for (int q = 0; q < 4; q++) {
                    const float32x4_t a0 = vld1q_f32(a[0] + j + 4 * q), a1 = vld1q_f32(a[1] + j + 4 * q);
                    const float32x4_t b0 = vld1q_f32(b[0] + j + 4 * q), b1 = vld1q_f32(b[1] + j + 4 * q);
                    s[0][0][q] = vfmaq_f32(s[0][0][q], a0, b0);
                    s[0][1][q] = vfmaq_f32(s[0][1][q], a0, b1);
                    s[1][0][q] = vfmaq_f32(s[1][0][q], a1, b0);
                    s[1][1][q] = vfmaq_f32(s[1][1][q], a1, b1);
                }
            }
            for (; j + 4 <= k; j += 4)
                for (int c = 0; c < 2; c++)
                    for (int r = 0; r < 2; r++) s[c][r][0] = vfmaq_f32(s[c][r][0], vld1q_f32(a[c] + j), vld1q_f32(b[r] + j));
            for (int c = 0; c < 2; c++)
                for (int r = 0; r < 2; r++) {
                    float t = vaddvq_f32(vaddq_f32(vaddq_f32(s[c][r][0], s[c][r][1]), vaddq_f32(s[c][r][2], s[c][r][3])));
                    for (int64_t l = j; l < k; l++) t += a[c][l] * b[r][l];
                    y[(i + r) * ldy + n + c] = t;
                }
        }
    }
    tk_neon_gemm_rest(tk_vec_dot_f32_neon, w, rb, x, xb, y, ldy, m, k, n0, n, m2, n1);
}

/// Four f16 weight rows × two activation rows per pass, each output with tk_vec_dot_f16_neon's
/// two accumulators over 8-value chunks, its reduction and its scalar tail (vec_dot's floats bit
/// for bit); each weight chunk is converted to f32 once for both activation rows.
void tk_gemm_f16_neon(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0,
                      int64_t n1) {
    const int64_t rb = 2 * k, xb = 4 * k;
    const int64_t m2 = m & ~(int64_t)1;
    int64_t n = n0;
    for (; n + 4 <= n1; n += 4) {
        const uint16_t *a[4];
        for (int c = 0; c < 4; c++) a[c] = (const uint16_t *)w + (n + c) * k;
        for (int64_t i = 0; i < m2; i += 2) {
            const float *b[2] = {(const float *)x + i * k, (const float *)x + (i + 1) * k};
            float32x4_t s[4][2][2];  // [weight row][activation row][accumulator]
            for (int c = 0; c < 4; c++)
                for (int r = 0; r < 2; r++) s[c][r][0] = s[c][r][1] = vdupq_n_f32(0);
            int64_t j = 0;
            for (; j + 8 <= k; j += 8) {
                const float32x4_t b00 = vld1q_f32(b[0] + j), b01 = vld1q_f32(b[0] + j + 4);
                const float32x4_t b10 = vld1q_f32(b[1] + j), b11 = vld1q_f32(b[1] + j + 4);
#pragma GCC unroll 4
                for (int c = 0; c < 4; c++) {
                    const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(a[c] + j));
                    const float32x4_t lo = vcvt_f32_f16(vget_low_f16(h)), hi = vcvt_f32_f16(vget_high_f16(h));
                    s[c][0][0] = vfmaq_f32(s[c][0][0], lo, b00);
                    s[c][0][1] = vfmaq_f32(s[c][0][1], hi, b01);
                    s[c][1][0] = vfmaq_f32(s[c][1][0], lo, b10);
                    s[c][1][1] = vfmaq_f32(s[c][1][1], hi, b11);
                }
            }
            for (int c = 0; c < 4; c++)
                for (int r = 0; r < 2; r++) {
                    float t = vaddvq_f32(vaddq_f32(s[c][r][0], s[c][r][1]));
                    for (int64_t l = j; l < k; l++) t += tk_half(a[c][l]) * b[r][l];
                    y[(i + r) * ldy + n + c] = t;
                }
        }
    }
    tk_neon_gemm_rest(tk_vec_dot_f16_neon, w, rb, x, xb, y, ldy, m, k, n0, n, m2, n1);
}

double tk_sum_f32_neon(const float *x, int64_t n) {
    float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0), s2 = vdupq_n_f32(0), s3 = vdupq_n_f32(0);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = vaddq_f32(s0, vld1q_f32(x + i));
        s1 = vaddq_f32(s1, vld1q_f32(x + i + 4));
        s2 = vaddq_f32(s2, vld1q_f32(x + i + 8));
        s3 = vaddq_f32(s3, vld1q_f32(x + i + 12));
    }
    double s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++) s += x[i];
    return s;
}

double tk_fma_loop_neon(int64_t iters, float *sink) {
    float32x4_t a[8];
    for (int j = 0; j < 8; j++) a[j] = vdupq_n_f32(0.1f * (float)(j + 1));
    const float32x4_t m = vdupq_n_f32(0.999f), c = vdupq_n_f32(1e-4f);
    for (int64_t i = 0; i < iters; i++) {
        for (int j = 0; j < 8; j++) a[j] = vfmaq_f32(c, a[j], m);
    }
    float32x4_t s = vdupq_n_f32(0);
    for (int j = 0; j < 8; j++) s = vaddq_f32(s, a[j]);
    *sink = vaddvq_f32(s);
    return (double)iters * 8.0 * 4.0 * 2.0;
}

#endif // TK_HAVE_NEON
