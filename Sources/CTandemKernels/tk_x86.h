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

#endif // TK_HAVE_AVX2
#endif
