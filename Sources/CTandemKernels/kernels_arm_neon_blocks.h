// Block layouts in NEON registers, shared by the NEON int8 kernels (kernels_arm_neon_int8.h, in both
// of its copies) and the i8mm tiles (kernels_arm_neon_i8mm.c): unpacking only, no dot-product
// instruction, so every includer gets the same values whatever extension it is compiled for.
// tk_half is tk_internal.h's; the includer has included <arm_neon.h>.
#ifndef TK_KERNELS_ARM_NEON_BLOCKS_H
#define TK_KERNELS_ARM_NEON_BLOCKS_H

/// The 16 fifth bits of a q5_0 half block (`bits`: two bytes of qh) as 0x10 where set, 0 elsewhere.
static inline uint8x16_t tk_q5_high(uint16_t bits) {
    static const uint8_t lane_bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t b = vcombine_u8(vdup_n_u8((uint8_t)bits), vdup_n_u8((uint8_t)(bits >> 8)));
    return vandq_u8(vtstq_u8(b, vld1q_u8(lane_bit)), vdupq_n_u8(0x10));
}

/// Block `blk` of a q5_0 row as two int8 halves (values 0–15 and 16–31) and its scale.
static inline void tk_neon_q5_0_block(const char *row, int64_t blk, int8x16_t *lo, int8x16_t *hi, float *d) {
    const tk_block_q5_0 *a = (const tk_block_q5_0 *)row + blk;
    uint32_t qh;
    memcpy(&qh, a->qh, 4);
    const uint8x16_t q = vld1q_u8(a->qs), mask = vdupq_n_u8(0x0F);
    const int8x16_t off = vdupq_n_s8(16);
    *lo = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q, mask), tk_q5_high((uint16_t)qh))), off);
    *hi = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q, 4), tk_q5_high((uint16_t)(qh >> 16)))), off);
    *d = tk_half(a->d);
}

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tk_scales_mins_k4 reads the packed scales as little-endian words"
#endif
/// The eight 6-bit scales and mins of a q4_K/q5_K super-block from its 12 packed bytes (sub-blocks
/// 0–3: the low 6 bits of bytes 0–3 and 4–7; sub-blocks 4–7: the nibbles of bytes 8–11 with the
/// top two bits of bytes 0–3 and 4–7 above them; tk_scale_min_k4 one at a time), four bytes per
/// 32-bit word at once.
static inline void tk_scales_mins_k4(const uint8_t *packed, int16x8_t *scales, int16x8_t *mins) {
    uint32_t w[3];
    memcpy(w, packed, 12);
    const uint32_t six = 0x3F3F3F3Fu, four = 0x0F0F0F0Fu, two = 0x03030303u;
    const uint32_t sc_lo = w[0] & six, m_lo = w[1] & six;
    const uint32_t sc_hi = (w[2] & four) | (((w[0] >> 6) & two) << 4);
    const uint32_t m_hi = ((w[2] >> 4) & four) | (((w[1] >> 6) & two) << 4);
    *scales = vreinterpretq_s16_u16(vmovl_u8(vcreate_u8((uint64_t)sc_lo | (uint64_t)sc_hi << 32)));
    *mins = vreinterpretq_s16_u16(vmovl_u8(vcreate_u8((uint64_t)m_lo | (uint64_t)m_hi << 32)));
}

/// A q4_K/q5_K super-block (`q5`) at `blk`: its value bytes, and q5_K's fifth bits (qh's two
/// halves; zero for q4_K), ready for tk_k4_values.
static inline const uint8_t *tk_k4_bits(const char *blk, int q5, uint8x16_t *h0, uint8x16_t *h1) {
    const tk_block_q5_K *a5 = (const tk_block_q5_K *)blk;
    *h0 = q5 ? vld1q_u8(a5->qh) : vdupq_n_u8(0);
    *h1 = q5 ? vld1q_u8(a5->qh + 16) : vdupq_n_u8(0);
    return q5 ? a5->qs : ((const tk_block_q4_K *)blk)->qs;
}

/// Values 64·jj … 64·jj + 63 of a q4_K/q5_K super-block: v[0], v[1] are sub-block 2·jj (the low
/// nibbles of qs[32·jj …]), v[2], v[3] sub-block 2·jj + 1 (the high nibbles), with q5_K's fifth
/// bits from bits 0 and 1 of *h0, *h1 — which are then shifted right by 2 for the next jj (bit j
/// of qh[l] is sub-block j's), so the four calls go in order.
static inline void tk_k4_values(const uint8_t *qs, int jj, int q5, uint8x16_t *h0, uint8x16_t *h1, int8x16_t v[4]) {
    const uint8x16_t low4 = vdupq_n_u8(0x0F), one = vdupq_n_u8(1), two = vdupq_n_u8(2);
    const uint8x16_t q0 = vld1q_u8(qs + 32 * jj), q1 = vld1q_u8(qs + 32 * jj + 16);
    uint8x16_t l0 = vandq_u8(q0, low4), l1 = vandq_u8(q1, low4);
    uint8x16_t u0 = vshrq_n_u8(q0, 4), u1 = vshrq_n_u8(q1, 4);
    if (q5) {
        l0 = vorrq_u8(l0, vshlq_n_u8(vandq_u8(*h0, one), 4));
        l1 = vorrq_u8(l1, vshlq_n_u8(vandq_u8(*h1, one), 4));
        u0 = vorrq_u8(u0, vshlq_n_u8(vandq_u8(*h0, two), 3));
        u1 = vorrq_u8(u1, vshlq_n_u8(vandq_u8(*h1, two), 3));
        *h0 = vshrq_n_u8(*h0, 2);
        *h1 = vshrq_n_u8(*h1, 2);
    }
    v[0] = vreinterpretq_s8_u8(l0);
    v[1] = vreinterpretq_s8_u8(l1);
    v[2] = vreinterpretq_s8_u8(u0);
    v[3] = vreinterpretq_s8_u8(u1);
}

/// A q8_K block's 32-value sums (pairs of its 16-value bsums): what a q4_K/q5_K sub-block's min
/// multiplies.
static inline int16x8_t tk_q8_K_sums32(const tk_block_q8_K *x) {
    return vpaddq_s16(vld1q_s16(x->bsums), vld1q_s16(x->bsums + 8));
}

/// Σ over the eight sub-blocks of min · 32-value sum, in one widening product (exact).
static inline int32_t tk_k4_mins_dot(int16x8_t sums32, int16x8_t mins) {
    return vaddvq_s32(vaddq_s32(vmull_s16(vget_low_s16(sums32), vget_low_s16(mins)),
                                vmull_s16(vget_high_s16(sums32), vget_high_s16(mins))));
}

/// Super-block b of four q4_K/q5_K weight rows (`wr`, rows `rb` bytes apart) in a tile with two
/// activation rows (`sums32`: their 32-value sums): each weight row's value bytes and fifth bits
/// for tk_k4_values, its eight sub-block scales, and its mins against each activation row.
static inline void tk_k4_tile_block(const char *wr, int64_t rb, int64_t b, int q5, const int16x8_t sums32[2],
                                    const uint8_t *qs[4], uint8x16_t h0[4], uint8x16_t h1[4], int16_t scale[4][8],
                                    int32_t summ[2][4]) {
    const int64_t bytes = q5 ? (int64_t)sizeof(tk_block_q5_K) : (int64_t)sizeof(tk_block_q4_K);
    for (int c = 0; c < 4; c++) {
        const char *blk = wr + c * rb + b * bytes;
        qs[c] = tk_k4_bits(blk, q5, &h0[c], &h1[c]);
        int16x8_t sc, mn;
        tk_scales_mins_k4(((const tk_block_q4_K *)blk)->scales, &sc, &mn);
        vst1q_s16(scale[c], sc);
        for (int r = 0; r < 2; r++) summ[r][c] = tk_k4_mins_dot(sums32[r], mn);
    }
}

/// The tile's float step for super-block b, tk_dot_k4_neon's expression for every output:
/// sum[r][c] += d · dx · sumi − dmin · dx · summ (so GEMM = GEMV bit for bit).
static inline void tk_k4_tile_sum(const char *wr, int64_t rb, int64_t b, int q5, const tk_block_q8_K *const xr[2],
                                  const int32_t sumi[2][4], const int32_t summ[2][4], float sum[2][4]) {
    const int64_t bytes = q5 ? (int64_t)sizeof(tk_block_q5_K) : (int64_t)sizeof(tk_block_q4_K);
    for (int c = 0; c < 4; c++) {
        const tk_block_q4_K *a4 = (const tk_block_q4_K *)(wr + c * rb + b * bytes);  // d, dmin lead both types
        for (int r = 0; r < 2; r++)
            sum[r][c] += tk_half(a4->d) * xr[r][b].d * (float)sumi[r][c] - tk_half(a4->dmin) * xr[r][b].d * (float)summ[r][c];
    }
}

/// Values 128n + 32t + o … + 15 (t = 0…3) of a q6_K super-block, minus 32: the low (t = 0, 1) or
/// high (t = 2, 3) nibbles of ql[64n + o …] and ql[64n + 32 + o …], bits 2t, 2t + 1 of
/// qh[32n + o …] on top.
static inline void tk_q6_K_values(const tk_block_q6_K *a, int n, int o, int8x16_t q[4]) {
    const uint8x16_t low4 = vdupq_n_u8(0x0F), three = vdupq_n_u8(3);
    const int8x16_t m32 = vdupq_n_s8(32);
    const uint8x16_t ql0 = vld1q_u8(a->ql + 64 * n + o), ql1 = vld1q_u8(a->ql + 64 * n + 32 + o);
    const uint8x16_t qh = vld1q_u8(a->qh + 32 * n + o);
    const uint8x16_t v[4] = {
        vorrq_u8(vandq_u8(ql0, low4), vshlq_n_u8(vandq_u8(qh, three), 4)),
        vorrq_u8(vandq_u8(ql1, low4), vshlq_n_u8(vandq_u8(vshrq_n_u8(qh, 2), three), 4)),
        vorrq_u8(vshrq_n_u8(ql0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(qh, 4), three), 4)),
        vorrq_u8(vshrq_n_u8(ql1, 4), vshlq_n_u8(vshrq_n_u8(qh, 6), 4)),
    };
    for (int t = 0; t < 4; t++) q[t] = vsubq_s8(vreinterpretq_s8_u8(v[t]), m32);
}

/// The outputs a GEMM tile leaves, by vec_dot itself: activation rows [m_tiled, m) of weight rows
/// [n0, n_tiled), and every activation row of weight rows [n_tiled, n1).
static inline void tk_neon_gemm_rest(tk_vec_dot_fn dot, const void *w, int64_t rb,
                                     const void *x, int64_t xb, float *y, int64_t ldy, int64_t m, int64_t k,
                                     int64_t n0, int64_t n_tiled, int64_t m_tiled, int64_t n1) {
    for (int64_t n = n0; n < n1; n++)
        for (int64_t i = n < n_tiled ? m_tiled : 0; i < m; i++)
            y[i * ldy + n] = dot((const char *)w + n * rb, (const char *)x + i * xb, k);
}

/// Weight block `blk` of a q8_0 (`q4` = 0) or q4_0 (`q4` = 1) row as two int8 halves (values 0–15
/// and 16–31, the order of the activation block's halves) and its scale.
static inline void tk_neon_weight_block(const char *row, int64_t blk, int q4, int8x16_t *lo, int8x16_t *hi, float *d) {
    if (q4) {
        const tk_block_q4_0 *a = (const tk_block_q4_0 *)row + blk;
        const uint8x16_t q = vld1q_u8(a->qs);
        *lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0F))), vdupq_n_s8(8));
        *hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), vdupq_n_s8(8));
        *d = tk_half(a->d);
    } else {
        const tk_block_q8_0 *a = (const tk_block_q8_0 *)row + blk;
        *lo = vld1q_s8(a->qs);
        *hi = vld1q_s8(a->qs + 16);
        *d = tk_half(a->d);
    }
}

/// Block b of four q8_0 activation rows (`xr`) as two int8 halves each and their scales: what a
/// 4 × 4 tile multiplies every weight block of its four weight rows by.
static inline void tk_q8_0_rows4(const tk_block_q8_0 *const xr[4], int64_t b, int8x16_t xl[4], int8x16_t xh[4],
                                 float dx[4]) {
    for (int r = 0; r < 4; r++) {
        xl[r] = vld1q_s8(xr[r][b].qs);
        xh[r] = vld1q_s8(xr[r][b].qs + 16);
        dx[r] = tk_half(xr[r][b].d);
    }
}

#endif // TK_KERNELS_ARM_NEON_BLOCKS_H
