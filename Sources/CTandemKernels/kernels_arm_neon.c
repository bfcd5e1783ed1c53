// AArch64 kernels for Advanced SIMD (NEON), after ggml's `arch/arm/quants.c`.
//
// NEON is part of every AArch64 CPU, so nothing is checked at run time. The int8 dot product uses
// `sdot` (four int8 products summed into each int32 lane, one instruction) when the compiler
// targets a CPU with the dot-product extension (`__ARM_FEATURE_DOTPROD`, e.g.
// -march=armv8.2-a+dotprod: Cortex-A55/A76 and later); otherwise a widening multiply
// (`vmull_s8`) and pairwise add, which gives the same integers on Cortex-A53/A72 boards.
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

static inline float tk_half(uint16_t h) {
    __fp16 v;
    memcpy(&v, &h, 2);
    return (float)v;
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

float tk_vec_dot_q8_0_q8_0_neon(const void *w, const void *x, int64_t k) {
    const tk_block_q8_0 *a = (const tk_block_q8_0 *)w, *b = (const tk_block_q8_0 *)x;
    const int64_t nb = k / TK_QK;
    float32x4_t acc = vdupq_n_f32(0);
    for (int64_t i = 0; i < nb; i++) {
        int32x4_t s = vdupq_n_s32(0);
        s = tk_vdotq_s32(s, vld1q_s8(a[i].qs), vld1q_s8(b[i].qs));
        s = tk_vdotq_s32(s, vld1q_s8(a[i].qs + 16), vld1q_s8(b[i].qs + 16));
        acc = vmlaq_n_f32(acc, vcvtq_f32_s32(s), tk_half(a[i].d) * tk_half(b[i].d));
    }
    return vaddvq_f32(acc);
}

float tk_vec_dot_q4_0_q8_0_neon(const void *w, const void *x, int64_t k) {
    const tk_block_q4_0 *a = (const tk_block_q4_0 *)w;
    const tk_block_q8_0 *b = (const tk_block_q8_0 *)x;
    const int64_t nb = k / TK_QK;
    const uint8x16_t mask = vdupq_n_u8(0x0F);
    const int8x16_t off = vdupq_n_s8(8);
    float32x4_t acc = vdupq_n_f32(0);
    for (int64_t i = 0; i < nb; i++) {
        const uint8x16_t q = vld1q_u8(a[i].qs);
        const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, mask)), off);
        const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), off);
        int32x4_t s = vdupq_n_s32(0);
        s = tk_vdotq_s32(s, lo, vld1q_s8(b[i].qs));
        s = tk_vdotq_s32(s, hi, vld1q_s8(b[i].qs + 16));
        acc = vmlaq_n_f32(acc, vcvtq_f32_s32(s), tk_half(a[i].d) * tk_half(b[i].d));
    }
    return vaddvq_f32(acc);
}

/// The 16 fifth bits of a q5_0 half block (`bits`: two bytes of qh) as 0x10 where set, 0 elsewhere.
static inline uint8x16_t tk_q5_high(uint16_t bits) {
    static const uint8_t lane_bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t b = vcombine_u8(vdup_n_u8((uint8_t)bits), vdup_n_u8((uint8_t)(bits >> 8)));
    return vandq_u8(vtstq_u8(b, vld1q_u8(lane_bit)), vdupq_n_u8(0x10));
}

/// Each block's integer sum in NEON, scaled and summed in the generic kernel's order: the same
/// float as tk_vec_dot_q5_0_q8_0_generic.
float tk_vec_dot_q5_0_q8_0_neon(const void *w, const void *x, int64_t k) {
    const tk_block_q5_0 *a = (const tk_block_q5_0 *)w;
    const tk_block_q8_0 *b = (const tk_block_q8_0 *)x;
    const int64_t nb = k / TK_QK;
    const uint8x16_t mask = vdupq_n_u8(0x0F);
    const int8x16_t off = vdupq_n_s8(16);
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        uint32_t qh;
        memcpy(&qh, a[i].qh, 4);
        const uint8x16_t q = vld1q_u8(a[i].qs);
        const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q, mask), tk_q5_high((uint16_t)qh))), off);
        const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q, 4), tk_q5_high((uint16_t)(qh >> 16)))), off);
        int32x4_t s = vdupq_n_s32(0);
        s = tk_vdotq_s32(s, lo, vld1q_s8(b[i].qs));
        s = tk_vdotq_s32(s, hi, vld1q_s8(b[i].qs + 16));
        sum += (float)vaddvq_s32(s) * (tk_half(a[i].d) * tk_half(b[i].d));
    }
    return sum;
}

/// Σ of 32 products of unsigned values below 64 (`v`, two vectors) with int8 activations.
static inline int32_t tk_dot32(uint8x16_t v0, uint8x16_t v1, const int8_t *q8) {
    int32x4_t s = tk_vdotq_s32(vdupq_n_s32(0), vreinterpretq_s8_u8(v0), vld1q_s8(q8));
    s = tk_vdotq_s32(s, vreinterpretq_s8_u8(v1), vld1q_s8(q8 + 16));
    return vaddvq_s32(s);
}

// The K-quants: the integer sums of each super-block (exact, in any order) in NEON, then the
// generic kernels' float expression, so the same floats as tk_vec_dot_q*_K_q8_K_generic.

/// q4_K and q5_K (`q5`): sub-block j's values are the low (j even) or high (j odd) nibbles of
/// qs[32·(j/2) …], with bit j of qh[l] as q5_K's fifth bit.
static inline float tk_dot_k4_neon(const void *w, const void *x, int64_t k, int q5) {
    const size_t bytes = q5 ? sizeof(tk_block_q5_K) : sizeof(tk_block_q4_K);
    const tk_block_q8_K *b = (const tk_block_q8_K *)x;
    const int64_t nb = k / TK_QK_K;
    const uint8x16_t low4 = vdupq_n_u8(0x0F), one = vdupq_n_u8(1);
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const char *blk = (const char *)w + i * bytes;
        const tk_block_q5_K *a5 = (const tk_block_q5_K *)blk;
        const tk_block_q4_K *a4 = (const tk_block_q4_K *)blk;  // d, dmin and scales lead both types
        const uint8_t *qs = q5 ? a5->qs : a4->qs;
        const uint8x16_t h0 = q5 ? vld1q_u8(a5->qh) : vdupq_n_u8(0), h1 = q5 ? vld1q_u8(a5->qh + 16) : vdupq_n_u8(0);
        int32_t sumi = 0, summ = 0;
        for (int jj = 0; jj < 4; jj++) {
            const uint8x16_t q0 = vld1q_u8(qs + 32 * jj), q1 = vld1q_u8(qs + 32 * jj + 16);
            uint8x16_t l0 = vandq_u8(q0, low4), l1 = vandq_u8(q1, low4);
            uint8x16_t u0 = vshrq_n_u8(q0, 4), u1 = vshrq_n_u8(q1, 4);
            if (q5) {
                const int8x16_t down = vdupq_n_s8((int8_t)(-2 * jj)), down1 = vdupq_n_s8((int8_t)(-2 * jj - 1));
                l0 = vorrq_u8(l0, vshlq_n_u8(vandq_u8(vshlq_u8(h0, down), one), 4));
                l1 = vorrq_u8(l1, vshlq_n_u8(vandq_u8(vshlq_u8(h1, down), one), 4));
                u0 = vorrq_u8(u0, vshlq_n_u8(vandq_u8(vshlq_u8(h0, down1), one), 4));
                u1 = vorrq_u8(u1, vshlq_n_u8(vandq_u8(vshlq_u8(h1, down1), one), 4));
            }
            uint8_t sc0, m0, sc1, m1;
            tk_scale_min_k4(2 * jj, a4->scales, &sc0, &m0);
            tk_scale_min_k4(2 * jj + 1, a4->scales, &sc1, &m1);
            sumi += sc0 * tk_dot32(l0, l1, b[i].qs + 64 * jj) + sc1 * tk_dot32(u0, u1, b[i].qs + 64 * jj + 32);
            summ += m0 * (b[i].bsums[4 * jj] + b[i].bsums[4 * jj + 1]) + m1 * (b[i].bsums[4 * jj + 2] + b[i].bsums[4 * jj + 3]);
        }
        sum += tk_half(a4->d) * b[i].d * (float)sumi - tk_half(a4->dmin) * b[i].d * (float)summ;
    }
    return sum;
}

float tk_vec_dot_q4_K_q8_K_neon(const void *w, const void *x, int64_t k) { return tk_dot_k4_neon(w, x, k, 0); }

float tk_vec_dot_q5_K_q8_K_neon(const void *w, const void *x, int64_t k) { return tk_dot_k4_neon(w, x, k, 1); }

/// q6_K: values 128n + 32t + l (t = 0…3) are the low nibbles of ql[64n + l] (t = 0),
/// ql[64n + 32 + l] (1), their high nibbles (2, 3), with bits 2t, 2t + 1 of qh[32n + l] on top,
/// minus 32; each 16 of them share one int8 scale.
float tk_vec_dot_q6_K_q8_K_neon(const void *w, const void *x, int64_t k) {
    const tk_block_q6_K *a = (const tk_block_q6_K *)w;
    const tk_block_q8_K *b = (const tk_block_q8_K *)x;
    const int64_t nb = k / TK_QK_K;
    const uint8x16_t low4 = vdupq_n_u8(0x0F), three = vdupq_n_u8(3);
    const int8x16_t m32 = vdupq_n_s8(32);
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int32_t sumi = 0;
        for (int n = 0; n < 2; n++) {
            for (int half = 0; half < 2; half++) {  // l in [16·half, 16·half + 16)
                const int o = 16 * half;
                const uint8x16_t ql0 = vld1q_u8(a[i].ql + 64 * n + o), ql1 = vld1q_u8(a[i].ql + 64 * n + 32 + o);
                const uint8x16_t qh = vld1q_u8(a[i].qh + 32 * n + o);
                const uint8x16_t v[4] = {
                    vorrq_u8(vandq_u8(ql0, low4), vshlq_n_u8(vandq_u8(qh, three), 4)),
                    vorrq_u8(vandq_u8(ql1, low4), vshlq_n_u8(vandq_u8(vshrq_n_u8(qh, 2), three), 4)),
                    vorrq_u8(vshrq_n_u8(ql0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(qh, 4), three), 4)),
                    vorrq_u8(vshrq_n_u8(ql1, 4), vshlq_n_u8(vshrq_n_u8(qh, 6), 4)),
                };
                for (int t = 0; t < 4; t++) {
                    const int e = 128 * n + 32 * t + o;  // 16 values of group e / 16
                    const int8x16_t q = vsubq_s8(vreinterpretq_s8_u8(v[t]), m32);
                    sumi += a[i].scales[e / 16] * vaddvq_s32(tk_vdotq_s32(vdupq_n_s32(0), q, vld1q_s8(b[i].qs + e)));
                }
            }
        }
        sum += tk_half(a[i].d) * b[i].d * (float)sumi;
    }
    return sum;
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
