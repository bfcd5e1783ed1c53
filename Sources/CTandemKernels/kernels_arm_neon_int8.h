// The int8 dot products of the NEON tables, included twice: by kernels_arm_neon.c (names *_neon,
// `tk_vdotq_s32` the widening multiply, or `sdot` when the whole build targets the dot-product
// extension) and by kernels_arm_neon_dotprod.c (names *_neon_dotprod, always `sdot`, compiled for
// the extension and chosen at run time when the CPU reports it). The includer defines
// TK_NEON_NAME(base), tk_vdotq_s32 and tk_half first. Each block's integers are exact either way,
// so both copies give the same floats.

float TK_NEON_NAME(tk_vec_dot_q8_0_q8_0)(const void *w, const void *x, int64_t k) {
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

float TK_NEON_NAME(tk_vec_dot_q4_0_q8_0)(const void *w, const void *x, int64_t k) {
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
float TK_NEON_NAME(tk_vec_dot_q5_0_q8_0)(const void *w, const void *x, int64_t k) {
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

float TK_NEON_NAME(tk_vec_dot_q4_K_q8_K)(const void *w, const void *x, int64_t k) { return tk_dot_k4_neon(w, x, k, 0); }

float TK_NEON_NAME(tk_vec_dot_q5_K_q8_K)(const void *w, const void *x, int64_t k) { return tk_dot_k4_neon(w, x, k, 1); }

/// q6_K: values 128n + 32t + l (t = 0…3) are the low nibbles of ql[64n + l] (t = 0),
/// ql[64n + 32 + l] (1), their high nibbles (2, 3), with bits 2t, 2t + 1 of qh[32n + l] on top,
/// minus 32; each 16 of them share one int8 scale.
float TK_NEON_NAME(tk_vec_dot_q6_K_q8_K)(const void *w, const void *x, int64_t k) {
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
