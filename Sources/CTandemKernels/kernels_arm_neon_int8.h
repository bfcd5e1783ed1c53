// The int8 dot products of the NEON tables, included twice: by kernels_arm_neon.c (names *_neon,
// `tk_vdotq_s32` the widening multiply, or `sdot` when the whole build targets the dot-product
// extension) and by kernels_arm_neon_dotprod.c (names *_neon_dotprod, always `sdot`, compiled for
// the extension and chosen at run time when the CPU reports it). The includer defines
// TK_NEON_NAME(base) and tk_vdotq_s32 first (tk_half is tk_internal.h's). Each block's integers
// are exact either way, so both copies give the same floats.

#include "kernels_arm_neon_blocks.h"

/// q8_0 (`q4` = 0) or q4_0 weight rows against a q8_0 activation row: each block's two dot-product
/// steps, its four lanes scaled by the product of the two scales, one horizontal sum at the end.
static inline float tk_dot_q8_neon(const void *w, const void *x, int64_t k, int q4) {
    const tk_block_q8_0 *b = (const tk_block_q8_0 *)x;
    const int64_t nb = k / TK_QK;
    float32x4_t acc = vdupq_n_f32(0);
    for (int64_t i = 0; i < nb; i++) {
        int8x16_t lo, hi;
        float dw;
        tk_neon_weight_block((const char *)w, i, q4, &lo, &hi, &dw);
        int32x4_t s = vdupq_n_s32(0);
        s = tk_vdotq_s32(s, lo, vld1q_s8(b[i].qs));
        s = tk_vdotq_s32(s, hi, vld1q_s8(b[i].qs + 16));
        acc = vmlaq_n_f32(acc, vcvtq_f32_s32(s), dw * tk_half(b[i].d));
    }
    return vaddvq_f32(acc);
}

float TK_NEON_NAME(tk_vec_dot_q8_0_q8_0)(const void *w, const void *x, int64_t k) { return tk_dot_q8_neon(w, x, k, 0); }

float TK_NEON_NAME(tk_vec_dot_q4_0_q8_0)(const void *w, const void *x, int64_t k) { return tk_dot_q8_neon(w, x, k, 1); }

/// Each block's integer sum in NEON, scaled and summed in the generic kernel's order: the same
/// float as tk_vec_dot_q5_0_q8_0_generic.
float TK_NEON_NAME(tk_vec_dot_q5_0_q8_0)(const void *w, const void *x, int64_t k) {
    const tk_block_q8_0 *b = (const tk_block_q8_0 *)x;
    const int64_t nb = k / TK_QK;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int8x16_t lo, hi;
        float dw;
        tk_neon_q5_0_block((const char *)w, i, &lo, &hi, &dw);
        int32x4_t s = vdupq_n_s32(0);
        s = tk_vdotq_s32(s, lo, vld1q_s8(b[i].qs));
        s = tk_vdotq_s32(s, hi, vld1q_s8(b[i].qs + 16));
        sum += (float)vaddvq_s32(s) * (dw * tk_half(b[i].d));
    }
    return sum;
}

// The K-quants: the integer sums of each super-block (exact, in any order) in NEON, then the
// generic kernels' float expression, so the same floats as tk_vec_dot_q*_K_q8_K_generic.

/// q4_K and q5_K (`q5`): sub-block j's values are the low (j even) or high (j odd) nibbles of
/// qs[32·(j/2) …], with bit j of qh[l] as q5_K's fifth bit. Each sub-block's four-lane dot product
/// is scaled in the vector (two accumulators, one horizontal sum a super-block); the mins meet
/// the activations' 32-value sums (pairs of bsums) in one widening product.
static inline float tk_dot_k4_neon(const void *w, const void *x, int64_t k, int q5) {
    const size_t bytes = q5 ? sizeof(tk_block_q5_K) : sizeof(tk_block_q4_K);
    const tk_block_q8_K *b = (const tk_block_q8_K *)x;
    const int64_t nb = k / TK_QK_K;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const char *blk = (const char *)w + i * bytes;
        const tk_block_q4_K *a4 = (const tk_block_q4_K *)blk;  // d, dmin and scales lead both types
        uint8x16_t h0, h1;
        const uint8_t *qs = tk_k4_bits(blk, q5, &h0, &h1);
        int16x8_t sc, mn;
        tk_scales_mins_k4(a4->scales, &sc, &mn);
        const int32_t summ = tk_k4_mins_dot(tk_q8_K_sums32(&b[i]), mn);
        int16_t scale[8];
        vst1q_s16(scale, sc);
        int32x4_t even = vdupq_n_s32(0), odd = vdupq_n_s32(0);
        const int32x4_t zero = vdupq_n_s32(0);
#pragma GCC unroll 4
        for (int jj = 0; jj < 4; jj++) {
            int8x16_t v[4];
            tk_k4_values(qs, jj, q5, &h0, &h1, v);
            const int8_t *q8 = b[i].qs + 64 * jj;
            const int32x4_t pl = tk_vdotq_s32(tk_vdotq_s32(zero, v[0], vld1q_s8(q8)), v[1], vld1q_s8(q8 + 16));
            const int32x4_t pu = tk_vdotq_s32(tk_vdotq_s32(zero, v[2], vld1q_s8(q8 + 32)), v[3], vld1q_s8(q8 + 48));
            even = vmlaq_n_s32(even, pl, scale[2 * jj]);
            odd = vmlaq_n_s32(odd, pu, scale[2 * jj + 1]);
        }
        const int32_t sumi = vaddvq_s32(vaddq_s32(even, odd));
        sum += tk_half(a4->d) * b[i].d * (float)sumi - tk_half(a4->dmin) * b[i].d * (float)summ;
    }
    return sum;
}

float TK_NEON_NAME(tk_vec_dot_q4_K_q8_K)(const void *w, const void *x, int64_t k) { return tk_dot_k4_neon(w, x, k, 0); }

float TK_NEON_NAME(tk_vec_dot_q5_K_q8_K)(const void *w, const void *x, int64_t k) { return tk_dot_k4_neon(w, x, k, 1); }

/// q6_K: values 128n + 32t + l (t = 0…3) are the low nibbles of ql[64n + l] (t = 0),
/// ql[64n + 32 + l] (1), their high nibbles (2, 3), with bits 2t, 2t + 1 of qh[32n + l] on top,
/// minus 32; each 16 of them share one int8 scale.
float TK_NEON_NAME(tk_vec_dot_q6_K_q8_K)(const void *w, const void *x, int64_t k) {
    const tk_block_q6_K *a = (const tk_block_q6_K *)w;
    const tk_block_q8_K *b = (const tk_block_q8_K *)x;
    const int64_t nb = k / TK_QK_K;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int32x4_t acc[2] = {vdupq_n_s32(0), vdupq_n_s32(0)};  // two chains of multiply-adds
#pragma GCC unroll 2
        for (int n = 0; n < 2; n++) {
#pragma GCC unroll 2
            for (int half = 0; half < 2; half++) {  // l in [16·half, 16·half + 16)
                const int o = 16 * half;
                int8x16_t q6[4];
                tk_q6_K_values(&a[i], n, o, q6);
#pragma GCC unroll 4
                for (int t = 0; t < 4; t++) {
                    const int e = 128 * n + 32 * t + o;  // 16 values of group e / 16
                    const int8x16_t q = q6[t];
                    // Scaled in the vector; one horizontal sum a super-block.
                    acc[t & 1] = vmlaq_n_s32(acc[t & 1], tk_vdotq_s32(vdupq_n_s32(0), q, vld1q_s8(b[i].qs + e)), a[i].scales[e / 16]);
                }
            }
        }
        sum += tk_half(a[i].d) * b[i].d * (float)vaddvq_s32(vaddq_s32(acc[0], acc[1]));
    }
    return sum;
}

// ---- GEMM: q8_0 and q4_0 weight rows against q8_0 activation rows ----------------------------

/// Four weight rows × four activation rows per pass: each activation block is loaded once for
/// four weight rows and each weight block decoded once for four activation rows, where a loop of
/// dot products loads both for every output (16 outputs: 16 block loads instead of 64, the q4_0
/// nibbles split 4 times instead of 16). Every output keeps vec_dot's arithmetic — the same two
/// dot-product steps per block, its four float lanes scaled by the same product of the two
/// scales, one horizontal sum at the end — so the GEMM gives tk_gemv's floats bit for bit (the
/// native test checks it), and a prompt read at once equals one read a token at a time. Rows
/// past the last whole group of four go through vec_dot itself.
static inline void tk_neon_gemm_q8(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k,
                                   int64_t n0, int64_t n1, int q4) {
    const int64_t nb = k / TK_QK;
    const int64_t rb = tk_row_bytes(q4 ? TK_Q4_0 : TK_Q8_0, k);
    const int64_t xb = (int64_t)sizeof(tk_block_q8_0) * nb;
    const tk_vec_dot_fn dot =
        q4 ? TK_NEON_NAME(tk_vec_dot_q4_0_q8_0) : TK_NEON_NAME(tk_vec_dot_q8_0_q8_0);
    const int64_t m4 = m & ~(int64_t)3;
    int64_t n = n0;
    for (; n + 4 <= n1; n += 4) {
        const char *wr = (const char *)w + n * rb;
        for (int64_t i = 0; i < m4; i += 4) {
            const tk_block_q8_0 *xr[4];
            for (int r = 0; r < 4; r++) xr[r] = (const tk_block_q8_0 *)((const char *)x + (i + r) * xb);
            float32x4_t acc[4][4];
            for (int r = 0; r < 4; r++)
                for (int c = 0; c < 4; c++) acc[r][c] = vdupq_n_f32(0);
            for (int64_t b = 0; b < nb; b++) {
                int8x16_t xl[4], xh[4];
                float dx[4];
                tk_q8_0_rows4(xr, b, xl, xh, dx);
                const float32x4_t dxv = vld1q_f32(dx);
#pragma GCC unroll 4
                for (int c = 0; c < 4; c++) {
                    int8x16_t lo, hi;
                    float dw;
                    tk_neon_weight_block(wr + c * rb, b, q4, &lo, &hi, &dw);
                    const float32x4_t scale = vmulq_n_f32(dxv, dw);  // lane r: dw · dx[r], vec_dot's product
#pragma GCC unroll 4
                    for (int r = 0; r < 4; r++) {
                        const int32x4_t s = tk_vdotq_s32(tk_vdotq_s32(vdupq_n_s32(0), lo, xl[r]), hi, xh[r]);
                        switch (r) {  // the lane index must be a constant
                        case 0: acc[r][c] = vmlaq_laneq_f32(acc[r][c], vcvtq_f32_s32(s), scale, 0); break;
                        case 1: acc[r][c] = vmlaq_laneq_f32(acc[r][c], vcvtq_f32_s32(s), scale, 1); break;
                        case 2: acc[r][c] = vmlaq_laneq_f32(acc[r][c], vcvtq_f32_s32(s), scale, 2); break;
                        default: acc[r][c] = vmlaq_laneq_f32(acc[r][c], vcvtq_f32_s32(s), scale, 3); break;
                        }
                    }
                }
            }
            for (int r = 0; r < 4; r++)
                for (int c = 0; c < 4; c++) y[(i + r) * ldy + n + c] = vaddvq_f32(acc[r][c]);
        }
    }
    tk_neon_gemm_rest(dot, w, rb, x, xb, y, ldy, m, k, n0, n, m4, n1);
}

/// The tables' GEMM entry points (tk_gemm_fn), each one call of its tile.
#define TK_NEON_GEMM(name, call) \
    void TK_NEON_NAME(name)(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, \
                            int64_t n1) { call; }

TK_NEON_GEMM(tk_gemm_q8_0, tk_neon_gemm_q8(w, x, y, ldy, m, k, n0, n1, 0))

TK_NEON_GEMM(tk_gemm_q4_0, tk_neon_gemm_q8(w, x, y, ldy, m, k, n0, n1, 1))

/// q5_0 weight rows against q8_0 activation rows, four by four per pass like tk_neon_gemm_q8.
/// vec_dot sums each block horizontally and follows the generic kernel's scalar float expression;
/// so does each output here (the four activation rows' block sums reduced together by pairwise
/// adds, exact, then the same scalar step), and GEMM = GEMV bit for bit whatever the compiler
/// contracts, since it contracts both alike.
static inline void tk_neon_gemm_q5_0(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k,
                                     int64_t n0, int64_t n1) {
    const int64_t nb = k / TK_QK;
    const int64_t rb = tk_row_bytes(TK_Q5_0, k);
    const int64_t xb = (int64_t)sizeof(tk_block_q8_0) * nb;
    const int32x4_t zero = vdupq_n_s32(0);
    const int64_t m4 = m & ~(int64_t)3;
    int64_t n = n0;
    for (; n + 4 <= n1; n += 4) {
        const char *wr = (const char *)w + n * rb;
        for (int64_t i = 0; i < m4; i += 4) {
            const tk_block_q8_0 *xr[4];
            for (int r = 0; r < 4; r++) xr[r] = (const tk_block_q8_0 *)((const char *)x + (i + r) * xb);
            float sum[4][4] = {{0}};  // [activation row][weight row]
            for (int64_t b = 0; b < nb; b++) {
                int8x16_t xl[4], xh[4];
                float dx[4];
                tk_q8_0_rows4(xr, b, xl, xh, dx);
#pragma GCC unroll 4
                for (int c = 0; c < 4; c++) {
                    int8x16_t lo, hi;
                    float dw;
                    tk_neon_q5_0_block(wr + c * rb, b, &lo, &hi, &dw);
                    int32x4_t s[4];
                    for (int r = 0; r < 4; r++) s[r] = tk_vdotq_s32(tk_vdotq_s32(zero, lo, xl[r]), hi, xh[r]);
                    int32_t t[4];  // lane r: activation row r's block sum
                    vst1q_s32(t, vpaddq_s32(vpaddq_s32(s[0], s[1]), vpaddq_s32(s[2], s[3])));
                    for (int r = 0; r < 4; r++) sum[r][c] += (float)t[r] * (dw * dx[r]);
                }
            }
            for (int r = 0; r < 4; r++)
                for (int c = 0; c < 4; c++) y[(i + r) * ldy + n + c] = sum[r][c];
        }
    }
    tk_neon_gemm_rest(TK_NEON_NAME(tk_vec_dot_q5_0_q8_0), w, rb, x, xb, y, ldy, m, k, n0, n, m4, n1);
}

TK_NEON_GEMM(tk_gemm_q5_0, tk_neon_gemm_q5_0(w, x, y, ldy, m, k, n0, n1))

/// q4_K and q5_K (`q5`) weight rows against q8_K activation rows, four weight rows by two
/// activation rows per pass: each weight super-block's scales, mins and nibbles are unpacked once
/// for two activation rows, each activation super-block loaded once for four weight rows. Every
/// output's integers are exact and its floats are tk_dot_k4_neon's expression, so the GEMM gives
/// vec_dot's floats bit for bit; rows past the whole groups go through vec_dot itself.
static inline void tk_neon_gemm_k4(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k,
                                   int64_t n0, int64_t n1, int q5) {
    const tk_dtype dt = q5 ? TK_Q5_K : TK_Q4_K;
    const int64_t nb = k / TK_QK_K;
    const int64_t rb = tk_row_bytes(dt, k);
    const int64_t xb = (int64_t)sizeof(tk_block_q8_K) * nb;
    const tk_vec_dot_fn dot =
        q5 ? TK_NEON_NAME(tk_vec_dot_q5_K_q8_K) : TK_NEON_NAME(tk_vec_dot_q4_K_q8_K);
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
                int32x4_t acc[2][4];
                for (int r = 0; r < 2; r++)
                    for (int c = 0; c < 4; c++) acc[r][c] = zero;
                for (int jj = 0; jj < 4; jj++) {
                    int8x16_t xv[2][4];
                    for (int r = 0; r < 2; r++)
                        for (int v = 0; v < 4; v++) xv[r][v] = vld1q_s8(xr[r][b].qs + 64 * jj + 16 * v);
#pragma GCC unroll 4
                    for (int c = 0; c < 4; c++) {
                        int8x16_t v[4];
                        tk_k4_values(qs[c], jj, q5, &h0[c], &h1[c], v);
                        for (int r = 0; r < 2; r++) {
                            const int32x4_t pl = tk_vdotq_s32(tk_vdotq_s32(zero, v[0], xv[r][0]), v[1], xv[r][1]);
                            const int32x4_t pu = tk_vdotq_s32(tk_vdotq_s32(zero, v[2], xv[r][2]), v[3], xv[r][3]);
                            acc[r][c] = vmlaq_n_s32(vmlaq_n_s32(acc[r][c], pl, scale[c][2 * jj]), pu, scale[c][2 * jj + 1]);
                        }
                    }
                }
                int32_t sumi[2][4];
                for (int r = 0; r < 2; r++)
                    for (int c = 0; c < 4; c++) sumi[r][c] = vaddvq_s32(acc[r][c]);
                tk_k4_tile_sum(wr, rb, b, q5, xr, sumi, summ, sum);
            }
            for (int r = 0; r < 2; r++)
                for (int c = 0; c < 4; c++) y[(i + r) * ldy + n + c] = sum[r][c];
        }
    }
    tk_neon_gemm_rest(dot, w, rb, x, xb, y, ldy, m, k, n0, n, m2, n1);
}

TK_NEON_GEMM(tk_gemm_q4_K, tk_neon_gemm_k4(w, x, y, ldy, m, k, n0, n1, 0))

TK_NEON_GEMM(tk_gemm_q5_K, tk_neon_gemm_k4(w, x, y, ldy, m, k, n0, n1, 1))

/// q6_K weight rows against q8_K activation rows, four weight rows by two activation rows per
/// pass (each weight super-block's 6-bit values rebuilt once for two activation rows); integers
/// exact, floats in tk_vec_dot_q6_K_q8_K's expression: vec_dot's floats bit for bit.
static inline void tk_neon_gemm_q6_K(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k,
                                     int64_t n0, int64_t n1) {
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
                int32x4_t acc[2][4];
                for (int r = 0; r < 2; r++)
                    for (int c = 0; c < 4; c++) acc[r][c] = zero;
                for (int nn = 0; nn < 2; nn++) {
                    for (int half = 0; half < 2; half++) {
                        const int o = 16 * half;
                        int8x16_t xv[2][4];
                        for (int r = 0; r < 2; r++)
                            for (int t = 0; t < 4; t++) xv[r][t] = vld1q_s8(xr[r][b].qs + 128 * nn + 32 * t + o);
#pragma GCC unroll 4
                        for (int c = 0; c < 4; c++) {
                            const tk_block_q6_K *a = wr[c] + b;
                            int8x16_t q6[4];
                            tk_q6_K_values(a, nn, o, q6);
#pragma GCC unroll 4
                            for (int t = 0; t < 4; t++) {
                                const int8x16_t q = q6[t];
                                const int32_t s = a->scales[(128 * nn + 32 * t + o) / 16];
                                for (int r = 0; r < 2; r++) acc[r][c] = vmlaq_n_s32(acc[r][c], tk_vdotq_s32(zero, q, xv[r][t]), s);
                            }
                        }
                    }
                }
                for (int c = 0; c < 4; c++)
                    for (int r = 0; r < 2; r++)
                        sum[r][c] += tk_half(wr[c][b].d) * xr[r][b].d * (float)vaddvq_s32(acc[r][c]);
            }
            for (int r = 0; r < 2; r++)
                for (int c = 0; c < 4; c++) y[(i + r) * ldy + n + c] = sum[r][c];
        }
    }
    tk_neon_gemm_rest(TK_NEON_NAME(tk_vec_dot_q6_K_q8_K), w, rb, x, xb, y, ldy, m, k, n0, n, m2, n1);
}

TK_NEON_GEMM(tk_gemm_q6_K, tk_neon_gemm_q6_K(w, x, y, ldy, m, k, n0, n1))
