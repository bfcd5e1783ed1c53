// The NEON GEMM tiles on the int8 matrix-multiply extension (`smmla`, FEAT_I8MM: Neoverse N2/V1/V2,
// Cortex-A510/A710/X2 and later, Apple M2 and later), chosen at run time like the `sdot` table
// (kernels_dispatch.c, tk_cpu_has_neon_i8mm). One `smmla` multiplies a 2 × 8 int8 matrix by the
// transpose of another into a 2 × 2 int32 tile: two weight rows against two activation rows, 32
// products in one instruction where `sdot` does 16 of one row pair. The tiles here pair the rows
// of kernels_arm_neon_int8.h's tiles two by two; the rows' 8-byte halves are interleaved (`zip1`,
// `zip2` on 64-bit lanes) into smmla's operand layout, each activation pair once for every weight
// pair.
//
// Bit for bit: the K-quant tiles keep each output's integers exact and its floats in the `sdot`
// table's vec_dot expression, so the table keeps those vec_dots. smmla yields a block's whole sum,
// not sdot's four lanes, so q8_0 and q4_0 get their own vec_dot here in the same order as the
// tiles — each block's integer sum times the two scales' product, added by one fused multiply-add
// (fmaf, vfmaq_f32: one rounding, whatever the compiler's contraction setting) — and GEMM = GEMV
// holds for this table too (the native test checks it under qemu's `max` CPU).
#include "tk_internal.h"

#if defined(TK_HAVE_NEON_I8MM)
#include <arm_neon.h>
#include <math.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("dotprod,i8mm"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("arch=armv8.2-a+dotprod+i8mm")
#endif

#include "kernels_arm_neon_blocks.h"

/// The first (`hi` = 0) or second 8-byte halves of rows a and b side by side: one 2 × 8 operand of
/// smmla, row a above row b.
static inline int8x16_t tk_row_pair(int8x16_t a, int8x16_t b, int hi) {
    const int64x2_t a64 = vreinterpretq_s64_s8(a), b64 = vreinterpretq_s64_s8(b);
    return vreinterpretq_s8_s64(hi ? vzip2q_s64(a64, b64) : vzip1q_s64(a64, b64));
}

/// acc + the products over 16 values of weight rows w0, w1 with activation rows x0, x1, in the
/// lanes w0·x0, w0·x1, w1·x0, w1·x1 (smmla's row-major 2 × 2 tile).
static inline int32x4_t tk_mmla16(int32x4_t acc, int8x16_t w0, int8x16_t w1, int8x16_t x0, int8x16_t x1) {
    acc = vmmlaq_s32(acc, tk_row_pair(w0, w1, 0), tk_row_pair(x0, x1, 0));
    return vmmlaq_s32(acc, tk_row_pair(w0, w1, 1), tk_row_pair(x0, x1, 1));
}

/// The 4 weight × 2 activation rows' sums of two smmla tiles (acc[p]: weight rows 2p, 2p + 1) as
/// sums[activation row][weight row].
static inline void tk_mmla_sums_4x2(const int32x4_t acc[2], int32_t sums[2][4]) {
    int32_t lanes[2][4];
    vst1q_s32(lanes[0], acc[0]);
    vst1q_s32(lanes[1], acc[1]);
    for (int c = 0; c < 4; c++)
        for (int r = 0; r < 2; r++) sums[r][c] = lanes[c >> 1][2 * (c & 1) + r];
}

/// Two int32 scales as a tile's lanes: a for w0's outputs, b for w1's.
static inline int32x4_t tk_pair_s32(int32_t a, int32_t b) { return vcombine_s32(vdup_n_s32(a), vdup_n_s32(b)); }

// ---- q8_0 and q4_0 -------------------------------------------------------------------------------

/// A q8_0 (`q4` = 0) or q4_0 weight row against a q8_0 activation row: each block's integer sum by
/// `sdot`, then sum = fma(sum, block sum, dw · dx) in block order, the tiles' arithmetic.
static inline float tk_dot_q8_i8mm(const void *w, const void *x, int64_t k, int q4) {
    const tk_block_q8_0 *b = (const tk_block_q8_0 *)x;
    const int64_t nb = k / TK_QK;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int8x16_t lo, hi;
        float dw;
        tk_neon_weight_block((const char *)w, i, q4, &lo, &hi, &dw);
        const int32x4_t s = vdotq_s32(vdotq_s32(vdupq_n_s32(0), lo, vld1q_s8(b[i].qs)), hi, vld1q_s8(b[i].qs + 16));
        sum = fmaf((float)vaddvq_s32(s), dw * tk_half(b[i].d), sum);
    }
    return sum;
}

float tk_vec_dot_q8_0_q8_0_neon_i8mm(const void *w, const void *x, int64_t k) { return tk_dot_q8_i8mm(w, x, k, 0); }

float tk_vec_dot_q4_0_q8_0_neon_i8mm(const void *w, const void *x, int64_t k) { return tk_dot_q8_i8mm(w, x, k, 1); }

/// Four weight rows × four activation rows per pass, as two × two smmla tiles: per block 16 smmla
/// where the `sdot` tile issues 32, each weight block decoded once for the four activation rows.
static inline void tk_i8mm_gemm_q8(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k,
                                   int64_t n0, int64_t n1, int q4) {
    const int64_t nb = k / TK_QK;
    const int64_t rb = tk_row_bytes(q4 ? TK_Q4_0 : TK_Q8_0, k);
    const int64_t xb = (int64_t)sizeof(tk_block_q8_0) * nb;
    const tk_vec_dot_fn dot = q4 ? tk_vec_dot_q4_0_q8_0_neon_i8mm : tk_vec_dot_q8_0_q8_0_neon_i8mm;
    const int32x4_t zero = vdupq_n_s32(0);
    const int64_t m4 = m & ~(int64_t)3;
    int64_t n = n0;
    for (; n + 4 <= n1; n += 4) {
        const char *wr = (const char *)w + n * rb;
        for (int64_t i = 0; i < m4; i += 4) {
            const tk_block_q8_0 *xr[4];
            for (int r = 0; r < 4; r++) xr[r] = (const tk_block_q8_0 *)((const char *)x + (i + r) * xb);
            float32x4_t acc[2][2];  // [weight pair][activation pair]
            for (int p = 0; p < 2; p++)
                for (int q = 0; q < 2; q++) acc[p][q] = vdupq_n_f32(0);
            for (int64_t b = 0; b < nb; b++) {
                int8x16_t xl[4], xh[4], wl[4], wh[4];
                float dx[4], dw[4];
                tk_q8_0_rows4(xr, b, xl, xh, dx);
                for (int c = 0; c < 4; c++) tk_neon_weight_block(wr + c * rb, b, q4, &wl[c], &wh[c], &dw[c]);
#pragma GCC unroll 2
                for (int p = 0; p < 2; p++) {
                    const float32x4_t dwp = vcombine_f32(vdup_n_f32(dw[2 * p]), vdup_n_f32(dw[2 * p + 1]));
#pragma GCC unroll 2
                    for (int q = 0; q < 2; q++) {
                        int32x4_t s = tk_mmla16(zero, wl[2 * p], wl[2 * p + 1], xl[2 * q], xl[2 * q + 1]);
                        s = tk_mmla16(s, wh[2 * p], wh[2 * p + 1], xh[2 * q], xh[2 * q + 1]);
                        const float32x4_t dxq = vcombine_f32(vld1_f32(dx + 2 * q), vld1_f32(dx + 2 * q));
                        acc[p][q] = vfmaq_f32(acc[p][q], vcvtq_f32_s32(s), vmulq_f32(dwp, dxq));
                    }
                }
            }
            for (int p = 0; p < 2; p++)
                for (int q = 0; q < 2; q++) {
                    float t[4];
                    vst1q_f32(t, acc[p][q]);
                    for (int l = 0; l < 4; l++) y[(i + 2 * q + (l & 1)) * ldy + n + 2 * p + (l >> 1)] = t[l];
                }
        }
    }
    tk_neon_gemm_rest(dot, w, rb, x, xb, y, ldy, m, k, n0, n, m4, n1);
}

void tk_gemm_q8_0_neon_i8mm(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0,
                            int64_t n1) {
    tk_i8mm_gemm_q8(w, x, y, ldy, m, k, n0, n1, 0);
}

void tk_gemm_q4_0_neon_i8mm(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0,
                            int64_t n1) {
    tk_i8mm_gemm_q8(w, x, y, ldy, m, k, n0, n1, 1);
}

// ---- The K-quants --------------------------------------------------------------------------------

/// q4_K and q5_K (`q5`), four weight rows × two activation rows per pass as two smmla tiles; the
/// unpacking, scales and float expression of kernels_arm_neon_int8.h's tk_neon_gemm_k4.
static inline void tk_i8mm_gemm_k4(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k,
                                   int64_t n0, int64_t n1, int q5) {
    const tk_dtype dt = q5 ? TK_Q5_K : TK_Q4_K;
    const int64_t nb = k / TK_QK_K;
    const int64_t rb = tk_row_bytes(dt, k);
    const int64_t xb = (int64_t)sizeof(tk_block_q8_K) * nb;
    const tk_vec_dot_fn dot = q5 ? tk_vec_dot_q5_K_q8_K_neon_dotprod : tk_vec_dot_q4_K_q8_K_neon_dotprod;
    const int32x4_t zero = vdupq_n_s32(0);
    const int64_t m2 = m & ~(int64_t)1;
    int64_t n = n0;
    for (; n + 4 <= n1; n += 4) {
        const char *wr = (const char *)w + n * rb;
        for (int64_t i = 0; i < m2; i += 2) {
            const tk_block_q8_K *xr[2] = {(const tk_block_q8_K *)((const char *)x + i * xb),
                                          (const tk_block_q8_K *)((const char *)x + (i + 1) * xb)};
            float sum[2][4] = {{0}};
            for (int64_t b = 0; b < nb; b++) {
                const int16x8_t sums32[2] = {tk_q8_K_sums32(&xr[0][b]), tk_q8_K_sums32(&xr[1][b])};
                int16_t scale[4][8];
                int32_t summ[2][4];
                uint8x16_t h0[4], h1[4];
                const uint8_t *qs[4];
                tk_k4_tile_block(wr, rb, b, q5, sums32, qs, h0, h1, scale, summ);
                int32x4_t acc[2] = {zero, zero};  // [weight pair], lanes w0·x0, w0·x1, w1·x0, w1·x1
                for (int jj = 0; jj < 4; jj++) {
                    int8x16_t xv[2][4], v[4][4];
                    for (int r = 0; r < 2; r++)
                        for (int t = 0; t < 4; t++) xv[r][t] = vld1q_s8(xr[r][b].qs + 64 * jj + 16 * t);
#pragma GCC unroll 4
                    for (int c = 0; c < 4; c++) tk_k4_values(qs[c], jj, q5, &h0[c], &h1[c], v[c]);
#pragma GCC unroll 2
                    for (int p = 0; p < 2; p++) {
                        const int c = 2 * p;
                        int32x4_t pl = tk_mmla16(zero, v[c][0], v[c + 1][0], xv[0][0], xv[1][0]);
                        pl = tk_mmla16(pl, v[c][1], v[c + 1][1], xv[0][1], xv[1][1]);
                        int32x4_t pu = tk_mmla16(zero, v[c][2], v[c + 1][2], xv[0][2], xv[1][2]);
                        pu = tk_mmla16(pu, v[c][3], v[c + 1][3], xv[0][3], xv[1][3]);
                        acc[p] = vmlaq_s32(acc[p], pl, tk_pair_s32(scale[c][2 * jj], scale[c + 1][2 * jj]));
                        acc[p] = vmlaq_s32(acc[p], pu, tk_pair_s32(scale[c][2 * jj + 1], scale[c + 1][2 * jj + 1]));
                    }
                }
                int32_t sumi[2][4];
                tk_mmla_sums_4x2(acc, sumi);
                tk_k4_tile_sum(wr, rb, b, q5, xr, sumi, summ, sum);
            }
            for (int r = 0; r < 2; r++)
                for (int c = 0; c < 4; c++) y[(i + r) * ldy + n + c] = sum[r][c];
        }
    }
    tk_neon_gemm_rest(dot, w, rb, x, xb, y, ldy, m, k, n0, n, m2, n1);
}

void tk_gemm_q4_K_neon_i8mm(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0,
                            int64_t n1) {
    tk_i8mm_gemm_k4(w, x, y, ldy, m, k, n0, n1, 0);
}

void tk_gemm_q5_K_neon_i8mm(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0,
                            int64_t n1) {
    tk_i8mm_gemm_k4(w, x, y, ldy, m, k, n0, n1, 1);
}

/// q6_K, four weight rows × two activation rows per pass as two smmla tiles, one weight pair's
/// values rebuilt at a time; integers exact, floats in tk_vec_dot_q6_K_q8_K's expression.
void tk_gemm_q6_K_neon_i8mm(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0,
                            int64_t n1) {
    const int64_t nb = k / TK_QK_K;
    const int64_t rb = tk_row_bytes(TK_Q6_K, k);
    const int64_t xb = (int64_t)sizeof(tk_block_q8_K) * nb;
    const int32x4_t zero = vdupq_n_s32(0);
    const int64_t m2 = m & ~(int64_t)1;
    int64_t n = n0;
    for (; n + 4 <= n1; n += 4) {
        const tk_block_q6_K *wr[4];
        for (int c = 0; c < 4; c++) wr[c] = (const tk_block_q6_K *)((const char *)w + (n + c) * rb);
        for (int64_t i = 0; i < m2; i += 2) {
            const tk_block_q8_K *xr[2] = {(const tk_block_q8_K *)((const char *)x + i * xb),
                                          (const tk_block_q8_K *)((const char *)x + (i + 1) * xb)};
            float sum[2][4] = {{0}};
            for (int64_t b = 0; b < nb; b++) {
                int32x4_t acc[2] = {zero, zero};  // [weight pair], lanes w0·x0, w0·x1, w1·x0, w1·x1
                for (int nn = 0; nn < 2; nn++) {
                    for (int half = 0; half < 2; half++) {
                        const int o = 16 * half;
                        int8x16_t xv[2][4];
                        for (int r = 0; r < 2; r++)
                            for (int t = 0; t < 4; t++) xv[r][t] = vld1q_s8(xr[r][b].qs + 128 * nn + 32 * t + o);
#pragma GCC unroll 2
                        for (int p = 0; p < 2; p++) {
                            const tk_block_q6_K *a0 = wr[2 * p] + b, *a1 = wr[2 * p + 1] + b;
                            int8x16_t v0[4], v1[4];
                            tk_q6_K_values(a0, nn, o, v0);
                            tk_q6_K_values(a1, nn, o, v1);
#pragma GCC unroll 4
                            for (int t = 0; t < 4; t++) {
                                const int g = (128 * nn + 32 * t + o) / 16;  // the 16 values' scale
                                const int32x4_t s = tk_mmla16(zero, v0[t], v1[t], xv[0][t], xv[1][t]);
                                acc[p] = vmlaq_s32(acc[p], s, tk_pair_s32(a0->scales[g], a1->scales[g]));
                            }
                        }
                    }
                }
                int32_t sumi[2][4];
                tk_mmla_sums_4x2(acc, sumi);
                for (int c = 0; c < 4; c++)
                    for (int r = 0; r < 2; r++) sum[r][c] += tk_half(wr[c][b].d) * xr[r][b].d * (float)sumi[r][c];
            }
            for (int r = 0; r < 2; r++)
                for (int c = 0; c < 4; c++) y[(i + r) * ldy + n + c] = sum[r][c];
        }
    }
    tk_neon_gemm_rest(tk_vec_dot_q6_K_q8_K_neon_dotprod, w, rb, x, xb, y, ldy, m, k, n0, n, m2, n1);
}

#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif

#endif // TK_HAVE_NEON_I8MM
