// Portable kernels: plain C that any compiler vectorizes as it can. They define the arithmetic
// every ISA variant must reproduce (ggml's `quants.c` reference functions), and they are what
// runs under TANDEM_ISA=generic or on a CPU with none of the compiled-in instruction sets.
#include "tk_internal.h"
#include <math.h>

void tk_quantize_row_q8_0_generic(const float *x, tk_block_q8_0 *y, int64_t k) {
    // ggml's quantize_row_q8_0_ref: d = max|x| / 127, q = round(x / d) (ties away from zero).
    const int64_t nb = k / TK_QK;
    for (int64_t i = 0; i < nb; i++) {
        float amax = 0.0f;
        for (int j = 0; j < TK_QK; j++) {
            const float v = fabsf(x[i * TK_QK + j]);
            if (v > amax) amax = v;
        }
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = tk_float_to_half(d);
        for (int j = 0; j < TK_QK; j++) {
            y[i].qs[j] = (int8_t)roundf(x[i * TK_QK + j] * id);
        }
    }
}

float tk_vec_dot_f32_generic(const void *w, const void *x, int64_t k) {
    const float *a = (const float *)w;
    const float *b = (const float *)x;
    // Four partial sums let the compiler vectorize without reassociating on its own.
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= k; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < k; i++) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

float tk_vec_dot_f16_generic(const void *w, const void *x, int64_t k) {
    const uint16_t *a = (const uint16_t *)w;
    const float *b = (const float *)x;
    float s0 = 0, s1 = 0;
    int64_t i = 0;
    for (; i + 2 <= k; i += 2) {
        s0 += tk_half_to_float(a[i]) * b[i];
        s1 += tk_half_to_float(a[i + 1]) * b[i + 1];
    }
    for (; i < k; i++) s0 += tk_half_to_float(a[i]) * b[i];
    return s0 + s1;
}

float tk_vec_dot_q8_0_q8_0_generic(const void *w, const void *x, int64_t k) {
    const tk_block_q8_0 *a = (const tk_block_q8_0 *)w;
    const tk_block_q8_0 *b = (const tk_block_q8_0 *)x;
    const int64_t nb = k / TK_QK;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        // Integer products inside the block, one float multiply per block.
        int32_t sumi = 0;
        for (int j = 0; j < TK_QK; j++) sumi += (int32_t)a[i].qs[j] * (int32_t)b[i].qs[j];
        sum += (float)sumi * (tk_half_to_float(a[i].d) * tk_half_to_float(b[i].d));
    }
    return sum;
}

float tk_vec_dot_q4_0_q8_0_generic(const void *w, const void *x, int64_t k) {
    const tk_block_q4_0 *a = (const tk_block_q4_0 *)w;
    const tk_block_q8_0 *b = (const tk_block_q8_0 *)x;
    const int64_t nb = k / TK_QK;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int32_t sumi = 0;
        for (int j = 0; j < TK_QK / 2; j++) {
            const int v0 = (a[i].qs[j] & 0x0F) - 8;
            const int v1 = (a[i].qs[j] >> 4) - 8;
            sumi += v0 * b[i].qs[j] + v1 * b[i].qs[j + TK_QK / 2];
        }
        sum += (float)sumi * (tk_half_to_float(a[i].d) * tk_half_to_float(b[i].d));
    }
    return sum;
}

float tk_vec_dot_q5_0_q8_0_generic(const void *w, const void *x, int64_t k) {
    const tk_block_q5_0 *a = (const tk_block_q5_0 *)w;
    const tk_block_q8_0 *b = (const tk_block_q8_0 *)x;
    const int64_t nb = k / TK_QK;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        uint32_t qh;
        memcpy(&qh, a[i].qh, 4);
        int32_t sumi = 0;
        for (int j = 0; j < TK_QK / 2; j++) {
            const int v0 = ((a[i].qs[j] & 0x0F) | (int)(((qh >> j) & 1) << 4)) - 16;
            const int v1 = ((a[i].qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1) << 4)) - 16;
            sumi += v0 * b[i].qs[j] + v1 * b[i].qs[j + TK_QK / 2];
        }
        sum += (float)sumi * (tk_half_to_float(a[i].d) * tk_half_to_float(b[i].d));
    }
    return sum;
}

void tk_q5_0_to_q8_0(const void *w, void *dst, int64_t k, int64_t r0, int64_t r1) {
    const int64_t nb = k / TK_QK;
    const tk_block_q5_0 *src = (const tk_block_q5_0 *)w + r0 * nb;
    tk_block_q8_0 *out = (tk_block_q8_0 *)dst + r0 * nb;
    for (int64_t i = 0; i < (r1 - r0) * nb; i++) {
        uint32_t qh;
        memcpy(&qh, src[i].qh, 4);
        out[i].d = src[i].d;
        for (int j = 0; j < TK_QK / 2; j++) {
            out[i].qs[j] = (int8_t)(((src[i].qs[j] & 0x0F) | (((qh >> j) & 1) << 4)) - 16);
            out[i].qs[j + 16] = (int8_t)(((src[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16);
        }
    }
}

void tk_kq_to_q8_0(tk_dtype dtype, const void *w, void *dst, float *mins, int64_t k, int64_t r0, int64_t r1) {
    const int q5 = dtype == TK_Q5_K;
    const int64_t nb = k / TK_QK_K, rb = tk_row_bytes(dtype, k), bb = rb / nb, subs = k / TK_QK;
    for (int64_t r = r0; r < r1; r++) {
        tk_block_q8_0 *out = (tk_block_q8_0 *)dst + r * subs;
        float *m = mins + r * subs;
        for (int64_t b = 0; b < nb; b++, out += 8, m += 8) {
            const tk_block_q4_K *blk = (const tk_block_q4_K *)((const char *)w + r * rb + b * bb);  // q5_K leads alike
            const uint8_t *qs = q5 ? ((const tk_block_q5_K *)blk)->qs : blk->qs;
            const uint8_t *qh = q5 ? ((const tk_block_q5_K *)blk)->qh : NULL;
            const float d = tk_half_to_float(blk->d), dmin = tk_half_to_float(blk->dmin);
            for (int j = 0; j < 8; j++) {
                uint8_t sc, mn;
                tk_scale_min_k4(j, blk->scales, &sc, &mn);
                out[j].d = tk_float_to_half(d * (float)sc);
                m[j] = dmin * (float)mn;
                const uint8_t *q = qs + 32 * (j / 2);
                const int shift = 4 * (j & 1);
                for (int l = 0; l < TK_QK; l++) out[j].qs[l] = (int8_t)((q[l] >> shift) & 0x0F);
                if (q5)
                    for (int l = 0; l < TK_QK; l++) out[j].qs[l] |= (int8_t)(((qh[l] >> j) & 1) << 4);
            }
        }
    }
}

void tk_quantize_row_q8_K_generic(const float *x, tk_block_q8_K *y, int64_t k) {
    // ggml's quantize_row_q8_K_ref: the value of largest magnitude maps to ∓127 (scale
    // −127/max), the rest rounded to nearest (ties to even, as its `nearest_int`), capped at 127.
    const int64_t nb = k / TK_QK_K;
    for (int64_t i = 0; i < nb; i++, x += TK_QK_K) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < TK_QK_K; j++) {
            const float v = fabsf(x[j]);
            if (v > amax) { amax = v; max = x[j]; }
        }
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < TK_QK_K; j++) {
            const float v = nearbyintf(iscale * x[j]);
            y[i].qs[j] = (int8_t)(v > 127.0f ? 127.0f : v);
        }
        for (int g = 0; g < TK_QK_K / 16; g++) {
            int sum = 0;
            for (int j = 0; j < 16; j++) sum += y[i].qs[16 * g + j];
            y[i].bsums[g] = (int16_t)sum;
        }
        y[i].d = 1.0f / iscale;
    }
}

// The K-quant dot products: integer sums per sub-block times its integer scale, one float
// multiply-add per super-block for the scales and one for the mins (through q8_K's bsums).

/// q4_K and q5_K (`q5`): the same blocks up to q5_K's fifth bits in `qh` before the nibbles.
static float dot_k4(const void *w, const void *x, int64_t k, int q5) {
    const size_t bytes = q5 ? sizeof(tk_block_q5_K) : sizeof(tk_block_q4_K);
    const tk_block_q8_K *b = (const tk_block_q8_K *)x;
    const int64_t nb = k / TK_QK_K;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const char *blk = (const char *)w + i * bytes;
        const tk_block_q5_K *a5 = (const tk_block_q5_K *)blk;
        const tk_block_q4_K *a4 = (const tk_block_q4_K *)blk;
        const uint8_t *qs = q5 ? a5->qs : a4->qs;
        int32_t sumi = 0, summ = 0;
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            tk_scale_min_k4(j, a4->scales, &sc, &m);  // d, dmin and scales lead both types
            const uint8_t *q = qs + 32 * (j / 2);
            const int8_t *q8 = b[i].qs + 32 * j;
            const int shift = (j & 1) * 4;
            int32_t s = 0;
            for (int l = 0; l < 32; l++) {
                const int hi = q5 ? ((a5->qh[l] >> j) & 1) << 4 : 0;
                s += (((q[l] >> shift) & 0x0F) | hi) * q8[l];
            }
            sumi += sc * s;
            summ += m * (b[i].bsums[2 * j] + b[i].bsums[2 * j + 1]);
        }
        sum += tk_half_to_float(a4->d) * b[i].d * (float)sumi - tk_half_to_float(a4->dmin) * b[i].d * (float)summ;
    }
    return sum;
}

float tk_vec_dot_q4_K_q8_K_generic(const void *w, const void *x, int64_t k) { return dot_k4(w, x, k, 0); }

float tk_vec_dot_q5_K_q8_K_generic(const void *w, const void *x, int64_t k) { return dot_k4(w, x, k, 1); }

float tk_vec_dot_q6_K_q8_K_generic(const void *w, const void *x, int64_t k) {
    const tk_block_q6_K *a = (const tk_block_q6_K *)w;
    const tk_block_q8_K *b = (const tk_block_q8_K *)x;
    const int64_t nb = k / TK_QK_K;
    float sum = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        int32_t sumi = 0;
        for (int g = 0; g < TK_QK_K / 16; g++) {
            int32_t s = 0;
            for (int e = 16 * g; e < 16 * g + 16; e++) {
                const int n = e / 128, part = (e % 128) / 32, l = e % 32;
                const uint8_t lo = a[i].ql[64 * n + 32 * (part & 1) + l];
                const int q = ((part < 2 ? lo : lo >> 4) & 0x0F) | (((a[i].qh[32 * n + l] >> (2 * part)) & 3) << 4);
                s += (q - 32) * b[i].qs[e];
            }
            sumi += a[i].scales[g] * s;
        }
        sum += tk_half_to_float(a[i].d) * b[i].d * (float)sumi;
    }
    return sum;
}

double tk_sum_f32_generic(const float *x, int64_t n) {
    float s[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int j = 0; j < 8; j++) s[j] += x[i + j];
    }
    double total = 0;
    for (; i < n; i++) total += x[i];
    for (int j = 0; j < 8; j++) total += s[j];
    return total;
}

double tk_fma_loop_generic(int64_t iters, float *sink) {
    float acc[16];
    for (int j = 0; j < 16; j++) acc[j] = (float)j * 1e-3f;
    const float a = 0.999f, b = 1e-4f;
    for (int64_t i = 0; i < iters; i++) {
        for (int j = 0; j < 16; j++) acc[j] = acc[j] * a + b;  // mul+add (no FMA in the baseline ISA)
    }
    float s = 0;
    for (int j = 0; j < 16; j++) s += acc[j];
    *sink = s;
    return (double)iters * 16.0 * 2.0;
}

void tk_f32_to_f16_generic(const float *x, uint16_t *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = tk_float_to_half(x[i]);
}

uint16_t tk_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x40);  // NaN stays quiet NaN
    u += 0x7FFFu + ((u >> 16) & 1);  // nearest, ties to even
    return (uint16_t)(u >> 16);
}

float tk_bf16_to_f32(uint16_t h) {
    const uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

void tk_kq_scales(tk_dtype dt, const void *blk, int16_t s[16], int16_t mi[16], float *d, float *dm) {
    if (dt == TK_Q6_K) {
        const tk_block_q6_K *b = (const tk_block_q6_K *)blk;
        for (int g = 0; g < 16; g++) {
            s[g] = b->scales[g];
            mi[g] = (int16_t)(32 * b->scales[g]);
        }
        *d = *dm = tk_half_to_float(b->d);
        return;
    }
    const tk_block_q4_K *b = (const tk_block_q4_K *)blk;  // d, dmin and scales lead q5_K too
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        tk_scale_min_k4(j, b->scales, &sc, &m);
        s[2 * j] = s[2 * j + 1] = sc;
        mi[2 * j] = mi[2 * j + 1] = m;
    }
    *d = tk_half_to_float(b->d);
    *dm = tk_half_to_float(b->dmin);
}

void tk_kq_unpack(tk_dtype dt, const void *blk, uint8_t u[TK_QK_K], int16_t s[16], int16_t mi[16], float *d, float *dm) {
    tk_kq_scales(dt, blk, s, mi, d, dm);
    if (dt == TK_Q6_K) {
        const tk_block_q6_K *b = (const tk_block_q6_K *)blk;
        for (int e = 0; e < TK_QK_K; e++) {
            const int n = e / 128, part = (e % 128) / 32, l = e % 32;
            const uint8_t lo = b->ql[64 * n + 32 * (part & 1) + l];
            u[e] = (uint8_t)(((part < 2 ? lo : lo >> 4) & 0x0F) | (((b->qh[32 * n + l] >> (2 * part)) & 3) << 4));
        }
        return;
    }
    const int q5 = dt == TK_Q5_K;
    const uint8_t *qs = q5 ? ((const tk_block_q5_K *)blk)->qs : ((const tk_block_q4_K *)blk)->qs;
    for (int j = 0; j < 8; j++)
        for (int l = 0; l < 32; l++) {
            uint8_t v = (qs[32 * (j / 2) + l] >> (4 * (j & 1))) & 0x0F;
            if (q5) v |= (uint8_t)(((((const tk_block_q5_K *)blk)->qh[l] >> j) & 1) << 4);
            u[32 * j + l] = v;
        }
}
