// Inline helpers shared by the x86-64 kernel files (AVX2, AVX-VNNI, AVX-512). Each is compiled for
// AVX2 + FMA + F16C, a subset of every x86 tier, so any of those files can inline it.
#ifndef TANDEM_KERNELS_X86_H
#define TANDEM_KERNELS_X86_H

#include "tk_internal.h"

#if defined(TK_HAVE_AVX2)
#include <immintrin.h>

#define TK_X86_INLINE __attribute__((target("avx2,fma,f16c"), always_inline)) static inline

/// Sum of the 8 lanes.
TK_X86_INLINE float tk_x86_hsum8(__m256 x) {
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

/// The lane sums of four vectors, [Σa0, Σa1, Σa2, Σa3]: pairwise adds within the 128-bit halves,
/// then the halves added. Four dot products reduced for about the price of one `tk_x86_hsum8`.
TK_X86_INLINE __m128 tk_x86_hsum4(__m256 a0, __m256 a1, __m256 a2, __m256 a3) {
    const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
    return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

/// One half -> float. Not plain `_cvtsh_ss`: clang lowers it to `vpinsrw` into whatever register
/// is at hand (often an accumulator, since only lane 0 is used), a false dependency that chained
/// every block's scale to the previous block's FMA and halved the q8_0 dot product's speed. The
/// `vmovd` in asm writes the whole register, so the chain is cut.
TK_X86_INLINE float tk_x86_half(uint16_t h) {
    __m128i v;
    __asm__("vmovd %1, %0" : "=x"(v) : "r"((uint32_t)h));
    return _mm_cvtss_f32(_mm_cvtph_ps(v));
}

/// 16 bytes of packed nibbles -> 32 bytes: elements 0..15 from the low nibbles, 16..31 from the
/// high ones (the q4_0 order), still offset by 8.
TK_X86_INLINE __m256i tk_x86_nibbles32(const uint8_t *p) {
    const __m128i tmp = _mm_loadu_si128((const __m128i *)p);
    const __m256i bytes = _mm256_insertf128_si256(_mm256_castsi128_si256(tmp), _mm_srli_epi16(tmp, 4), 1);
    return _mm256_and_si256(_mm256_set1_epi8(0x0F), bytes);
}

/// The 32 signed values of weight block `b` of a q8_0 or q4_0 row (q4_0 nibbles re-centred),
/// and its scale in *d.
TK_X86_INLINE __m256i tk_x86_block_values(const char *row, int64_t b, int q4, float *d) {
    if (q4) {
        const tk_block_q4_0 *blk = (const tk_block_q4_0 *)row + b;
        *d = tk_x86_half(blk->d);
        return _mm256_sub_epi8(tk_x86_nibbles32(blk->qs), _mm256_set1_epi8(8));
    }
    const tk_block_q8_0 *blk = (const tk_block_q8_0 *)row + b;
    *d = tk_x86_half(blk->d);
    return _mm256_loadu_si256((const __m256i *)blk->qs);
}

/// 8×8 transpose of 32-bit elements: out[c] = element c of rows 0…7 (unpack, shuffle, then
/// 128-bit lane swaps; 24 shuffles for 64 elements, where element-wise strided stores cost 64).
/// On int8 rows it transposes 4-byte groups: the panel layout the VNNI GEMMs broadcast against.
TK_X86_INLINE void tk_x86_transpose8(const __m256 r[8], __m256 out[8]) {
    __m256 a[8], t[8];
    for (int j = 0; j < 8; j += 2) {
        t[j] = _mm256_unpacklo_ps(r[j], r[j + 1]);      // r_j0 r_{j+1}0 r_j1 r_{j+1}1 | lanes 4,5
        t[j + 1] = _mm256_unpackhi_ps(r[j], r[j + 1]);  // lanes 2,3 | 6,7
    }
    for (int h = 0; h < 2; h++)
        for (int q = 0; q < 2; q++) {
            // Pairs of rows (0,1)+(2,3) and (4,5)+(6,7): 64-bit interleave puts four rows side by side.
            a[4 * q + 2 * h] = _mm256_shuffle_ps(t[4 * q + h], t[4 * q + 2 + h], _MM_SHUFFLE(1, 0, 1, 0));
            a[4 * q + 2 * h + 1] = _mm256_shuffle_ps(t[4 * q + h], t[4 * q + 2 + h], _MM_SHUFFLE(3, 2, 3, 2));
        }
    for (int g = 0; g < 4; g++) {
        // Rows 0…3 from a[g], rows 4…7 from a[4+g]; low halves are lanes 0…3, high halves 4…7.
        out[g] = _mm256_permute2f128_ps(a[g], a[4 + g], 0x20);
        out[g + 4] = _mm256_permute2f128_ps(a[g], a[4 + g], 0x31);
    }
}

/// `tk_x86_transpose8` on integer rows.
TK_X86_INLINE void tk_x86_transpose8i(const __m256i r[8], __m256i out[8]) {
    __m256 a[8], t[8];
    for (int j = 0; j < 8; j++) a[j] = _mm256_castsi256_ps(r[j]);
    tk_x86_transpose8(a, t);
    for (int j = 0; j < 8; j++) out[j] = _mm256_castps_si256(t[j]);
}

/// Every half as a float (256 KiB, filled once at load by kernels_x86_avx2.c). Why a table: the
/// GEMV's per-block scale is what bounds it once the weights stream fast enough, and converting a
/// lone half costs three vector uops (vmovd, vcvtph2ps's two) where the table costs one load, which
/// the broadcast that follows can take straight from memory.
extern float tk_x86_half_table[65536];

/// The weight blocks the shared GEMV driver reads: kind 0 q8_0, 1 q4_0, 2 q5_0.
TK_X86_INLINE int64_t tk_x86_gemv_block_bytes(int kind) {
    return kind == 1 ? (int64_t)sizeof(tk_block_q4_0) : kind == 2 ? (int64_t)sizeof(tk_block_q5_0) : (int64_t)sizeof(tk_block_q8_0);
}

/// The 32 values of a q5_0 block, unsigned (q in [0, 31], i.e. w + 16), in element order: the
/// q4_0 nibbles, and 0x10 in byte j where bit j of `qh` is set (the bits spread with a byte
/// shuffle — byte j looks at byte j / 8 of qh — and compared against each byte's own bit).
TK_X86_INLINE __m256i tk_x86_q5_0_values(const tk_block_q5_0 *blk) {
    uint32_t qh;
    memcpy(&qh, blk->qh, 4);
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32((int)qh),
        _mm256_setr_epi64x(0x0000000000000000LL, 0x0101010101010101LL, 0x0202020202020202LL, 0x0303030303030303LL));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    const __m256i high = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(0x10));
    return _mm256_or_si256(tk_x86_nibbles32(blk->qs), high);
}

/// The 8-lane factor of a weight block: its half scale (through the table) times the activation
/// block's scale, given as a vector of 8 copies: a vector multiply from memory is one uop, where
/// two scalars are multiplied and then broadcast through the shuffle port.
TK_X86_INLINE __m256 tk_x86_block_factor(const char *row, int64_t b, int kind, const __m256 *dxv) {
    // The half scale leads the q8_0, q4_0 and q5_0 blocks alike.
    uint16_t h;
    memcpy(&h, row + b * tk_x86_gemv_block_bytes(kind), 2);
    return _mm256_mul_ps(_mm256_broadcast_ss(&tk_x86_half_table[h]), *dxv);
}

enum { TK_X86_GEMV_CHUNK = 256 };  // activation blocks per pass: 8 KiB of per-block vectors + 8 KiB of scale vectors

/// The least look-ahead, in bytes, of the short-row GEMV's prefetch stream. Two row pairs ahead
/// was ~1 KiB for a 0.5B-class model's 896-column q4_0 rows and ~1.2 KiB for SmolLM2's 576-column
/// q8_0 rows: consumed in less than a DRAM access at 13+ GB/s a core, so lines arrived late.
/// 4 KiB (AMD EPYC Zen 4, 2 threads, decode, medians of 8 alternating runs): Qwen2.5-Coder-0.5B
/// Q4_0 +6 %, SmolLM2-135M q8_0 +9 %; 2, 6 and 8 KiB measured no better.
enum { TK_X86_GEMV_LOOKAHEAD = 4096 };

/// The q8_0 / q4_0 / q5_0 GEMV driver of every x86 tier, which differ only in the block's integer
/// dot product: `void NAME(w, x, y, k, r0, r1, kind)` over rows [r0, r1), kind 0 q8_0, 1 q4_0,
/// 2 q5_0 (`tk_x86_gemv_block_bytes`). Two weight rows per pass share
/// each activation block; what depends only on the activations is computed once per call: the
/// f32 activation scales and `PRE(xv, q4)`, a vector per activation block that `BLOCK(row, b, xv,
/// pre, kind)` uses to return the block's 8 int32 lane sums of w·x.
#define TK_X86_DEFINE_GEMV_QUANT(NAME, ATTR, PRE, BLOCK)                                                     \
ATTR void NAME(const void *w, const void *x, float *y, int64_t k, int64_t r0, int64_t r1, int kind) {          \
    const int64_t nb = k / TK_QK;                                                                            \
    const int64_t bs = tk_x86_gemv_block_bytes(kind);                                                          \
    const int64_t wrb = nb * bs;                                                                             \
    const tk_block_q8_0 *xq = (const tk_block_q8_0 *)x;                                                      \
    __m256i pre[TK_X86_GEMV_CHUNK];                                                                          \
    __m256 dx[TK_X86_GEMV_CHUNK];                                                                            \
    for (int64_t c0 = 0; c0 < nb; c0 += TK_X86_GEMV_CHUNK) {                                                 \
        const int64_t nc = tk_min64(TK_X86_GEMV_CHUNK, nb - c0);                                             \
        for (int64_t b = 0; b < nc; b++) {                                                                   \
            dx[b] = _mm256_set1_ps(tk_x86_half(xq[c0 + b].d));                                               \
            pre[b] = PRE(_mm256_loadu_si256((const __m256i *)xq[c0 + b].qs), kind);                            \
        }                                                                                                    \
        const int64_t bo = c0 * bs;                                                                          \
        /* Short rows (a pair under 9 KiB) are prefetched as one stream: bytes in address order, two  \
           lines per block pair, at least TK_X86_GEMV_LOOKAHEAD bytes (else two row pairs) ahead.      \
           The per-row prefetch below left a core at ~9 GB/s on Gemma 3's 262144 × 640 q8_0 head,    \
           this one ~21 (40960 × 4096 q8_0: 12.6 → 23 GB/s; q4_0 11.7 → 19); from 8192 columns it   \
           reaches past what L1 holds, and the per-row one is 5–15 % faster there. */                \
        const int linear = 2 * wrb < 9216;                                                           \
        const int64_t ahead = tk_max64(2 * wrb, TK_X86_GEMV_LOOKAHEAD);                               \
        int64_t r = r0;                                                                                      \
        for (; r + 2 <= r1; r += 2) {                                                                        \
            const char *w0 = (const char *)w + r * wrb + bo, *w1 = w0 + wrb;                                 \
            /* Two accumulators per row (even and odd blocks) hide the FMA latency. */                       \
            __m256 a0 = _mm256_setzero_ps(), b0 = _mm256_setzero_ps();                                       \
            __m256 a1 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();                                       \
            int64_t b = 0;                                                                                   \
            for (; b + 2 <= nc; b += 2) {                                                                    \
                /* Longer rows: the next row pair at the same offset. The hardware prefetcher               \
                   retrains at every row start, so without this a core                                       \
                   streamed 4096×4096 q8_0 / q4_0 from DRAM at ~6 / ~4 GB/s; with it ~10.5 / ~7.8            \
                   (AVX2; a fixed 1 KiB look-ahead within the row gave ~8 / ~4.6). */                        \
                if (linear) {                                                                                \
                    _mm_prefetch(w0 + ahead + 2 * b * bs, _MM_HINT_T0);                                      \
                    _mm_prefetch(w0 + ahead + 2 * b * bs + 64, _MM_HINT_T0);                                 \
                } else {                                                                                     \
                    _mm_prefetch(w0 + 2 * wrb + b * bs, _MM_HINT_T0);                                        \
                    _mm_prefetch(w1 + 2 * wrb + b * bs, _MM_HINT_T0);                                        \
                }                                                                                            \
                const __m256i x0 = _mm256_loadu_si256((const __m256i *)xq[c0 + b].qs);                       \
                const __m256i x1 = _mm256_loadu_si256((const __m256i *)xq[c0 + b + 1].qs);                   \
                const __m256i p00 = BLOCK(w0, b, x0, pre[b], kind);                                            \
                const __m256i p10 = BLOCK(w1, b, x0, pre[b], kind);                                            \
                const __m256i p01 = BLOCK(w0, b + 1, x1, pre[b + 1], kind);                                    \
                const __m256i p11 = BLOCK(w1, b + 1, x1, pre[b + 1], kind);                                    \
                a0 = _mm256_fmadd_ps(tk_x86_block_factor(w0, b, kind, &dx[b]), _mm256_cvtepi32_ps(p00), a0); \
                a1 = _mm256_fmadd_ps(tk_x86_block_factor(w1, b, kind, &dx[b]), _mm256_cvtepi32_ps(p10), a1); \
                b0 = _mm256_fmadd_ps(tk_x86_block_factor(w0, b + 1, kind, &dx[b + 1]), _mm256_cvtepi32_ps(p01), b0); \
                b1 = _mm256_fmadd_ps(tk_x86_block_factor(w1, b + 1, kind, &dx[b + 1]), _mm256_cvtepi32_ps(p11), b1); \
            }                                                                                                \
            for (; b < nc; b++) {                                                                            \
                const __m256i x0 = _mm256_loadu_si256((const __m256i *)xq[c0 + b].qs);                       \
                const __m256i p00 = BLOCK(w0, b, x0, pre[b], kind);                                            \
                const __m256i p10 = BLOCK(w1, b, x0, pre[b], kind);                                            \
                a0 = _mm256_fmadd_ps(tk_x86_block_factor(w0, b, kind, &dx[b]), _mm256_cvtepi32_ps(p00), a0); \
                a1 = _mm256_fmadd_ps(tk_x86_block_factor(w1, b, kind, &dx[b]), _mm256_cvtepi32_ps(p10), a1); \
            }                                                                                                \
            const float s0 = tk_x86_hsum8(_mm256_add_ps(a0, b0)), s1 = tk_x86_hsum8(_mm256_add_ps(a1, b1));  \
            y[r] = c0 ? y[r] + s0 : s0;                                                                      \
            y[r + 1] = c0 ? y[r + 1] + s1 : s1;                                                              \
        }                                                                                                    \
        if (r < r1) {                                                                                        \
            const char *w0 = (const char *)w + r * wrb + bo;                                                 \
            __m256 a0 = _mm256_setzero_ps();                                                                 \
            for (int64_t b = 0; b < nc; b++) {                                                               \
                const __m256i x0 = _mm256_loadu_si256((const __m256i *)xq[c0 + b].qs);                       \
                const __m256i p = BLOCK(w0, b, x0, pre[b], kind);                                              \
                a0 = _mm256_fmadd_ps(tk_x86_block_factor(w0, b, kind, &dx[b]), _mm256_cvtepi32_ps(p), a0); \
            }                                                                                                \
            const float s0 = tk_x86_hsum8(a0);                                                               \
            y[r] = c0 ? y[r] + s0 : s0;                                                                      \
        }                                                                                                    \
    }                                                                                                        \
}

#endif // TK_HAVE_AVX2
#endif
