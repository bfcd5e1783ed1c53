// x86-64 kernels for AVX2 + FMA + F16C (Haswell and later, Zen and later).
//
// Every function carries `__attribute__((target(...)))` instead of a package-wide -mavx2, so the
// binary still starts on any x86-64 CPU; `tk_kernels_for(TK_ISA_AVX2)` hands these out only after
// cpuid said yes. The int8 dot products follow ggml's `arch/x86/quants.c`: without VNNI there is no
// signed×signed byte multiply, so the "sign trick" moves the weight's sign onto the activation
// (`sign(y, w)`) and multiplies |w| (unsigned) by it with `maddubs`, then `madd` by ones widens the
// 16-bit pair sums to int32. Products stay in range because activations are in [-127, 127].
//
// SwiftPM builds this file at -O2 with no -march, so the loops are written with explicit
// intrinsics and explicit register tiles rather than relying on the auto-vectorizer.
#include "tk_x86.h"

#if defined(TK_HAVE_AVX2)
#include <immintrin.h>
#include <stdlib.h>

#define TK_AVX2 __attribute__((target("avx2,fma,f16c")))
#define TK_AVX2_INLINE __attribute__((target("avx2,fma,f16c"), always_inline)) static inline

float tk_x86_half_table[65536];

/// Fills tk_x86_half_table when the library loads (≈ 0.1 ms, portable C so that it runs on any
/// x86 CPU; the tables that read it are chosen only on AVX2 machines).
__attribute__((constructor)) static void tk_x86_fill_half_table(void) {
    for (uint32_t h = 0; h < 65536; h++) tk_x86_half_table[h] = tk_half_to_float((uint16_t)h);
}

/// Sum over pairs of w[i]*x[i] for 32 int8 lanes, as 8 floats (sign trick, see file header).
TK_AVX2_INLINE __m256 mul_sum_i8_pairs_float(__m256i w, __m256i x) {
    const __m256i aw = _mm256_sign_epi8(w, w);
    const __m256i sx = _mm256_sign_epi8(x, w);
    const __m256i dot = _mm256_maddubs_epi16(aw, sx);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_set1_epi16(1), dot));
}

TK_AVX2 void tk_quantize_row_q8_0_avx2(const float *x, tk_block_q8_0 *y, int64_t k) {
    const int64_t nb = k / TK_QK;
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < nb; i++, x += TK_QK) {
        __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
        __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
        __m256 amax = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign_bit, v0), _mm256_andnot_ps(sign_bit, v1)),
                                    _mm256_max_ps(_mm256_andnot_ps(sign_bit, v2), _mm256_andnot_ps(sign_bit, v3)));
        __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(amax, 1), _mm256_castps256_ps128(amax));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float max_scalar = _mm_cvtss_f32(m4);
        const float d = max_scalar / 127.0f;
        y[i].d = tk_float_to_half(d);
        const __m256 mul = _mm256_set1_ps(max_scalar != 0.0f ? 127.0f / max_scalar : 0.0f);
        // Round to nearest (even); the reference's roundf differs only on exact ties.
        v0 = _mm256_round_ps(_mm256_mul_ps(v0, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        v1 = _mm256_round_ps(_mm256_mul_ps(v1, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        v2 = _mm256_round_ps(_mm256_mul_ps(v2, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        v3 = _mm256_round_ps(_mm256_mul_ps(v3, mul), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m256i i0 = _mm256_packs_epi32(_mm256_cvtps_epi32(v0), _mm256_cvtps_epi32(v1));
        __m256i i2 = _mm256_packs_epi32(_mm256_cvtps_epi32(v2), _mm256_cvtps_epi32(v3));
        i0 = _mm256_packs_epi16(i0, i2);
        // The packs work within 128-bit lanes; this permutation restores element order.
        i0 = _mm256_permutevar8x32_epi32(i0, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)y[i].qs, i0);
    }
}

/// quantize_row_q8_K_generic's bytes, scales and sums exactly: the same value of largest
/// magnitude (the first, as its strict comparison keeps), the same product iscale·x rounded
/// to nearest even (vroundps as nearbyintf), capped at 127.
TK_AVX2 void tk_quantize_row_q8_K_avx2(const float *x, tk_block_q8_K *y, int64_t k) {
    const int64_t nb = k / TK_QK_K;
    const __m256 sign_bit = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < nb; i++, x += TK_QK_K) {
        __m256 amax = _mm256_setzero_ps();
        for (int j = 0; j < TK_QK_K; j += 8) amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign_bit, _mm256_loadu_ps(x + j)));
        __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(amax, 1), _mm256_castps256_ps128(amax));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float top = _mm_cvtss_f32(m4);
        if (!(top > 0.0f)) {  // all zeros (or NaN, which the reference also leaves at zero)
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float max = 0.0f;
        for (int j = 0; j < TK_QK_K; j++)
            if (__builtin_fabsf(x[j]) == top) { max = x[j]; break; }
        const float iscale = -127.0f / max;
        const __m256 mul = _mm256_set1_ps(iscale), cap = _mm256_set1_ps(127.0f);
        for (int j = 0; j < TK_QK_K; j += 32) {
            __m256i q[4];
            for (int t = 0; t < 4; t++) {
                const __m256 v = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + j + 8 * t), mul),
                                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                q[t] = _mm256_cvtps_epi32(_mm256_min_ps(v, cap));
            }
            const __m256i q16 = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
            const __m256i bytes = _mm256_permutevar8x32_epi32(q16, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256((__m256i *)(y[i].qs + j), bytes);
            // Sums of each 16: pairs (maddubs by 1), fours (madd by 1), then two horizontal adds.
            const __m256i fours = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), bytes), _mm256_set1_epi16(1));
            const __m256i h = _mm256_hadd_epi32(fours, fours);
            const __m256i sixteen = _mm256_hadd_epi32(h, h);
            y[i].bsums[j / 16] = (int16_t)_mm256_extract_epi32(sixteen, 0);
            y[i].bsums[j / 16 + 1] = (int16_t)_mm256_extract_epi32(sixteen, 4);
        }
        y[i].d = 1.0f / iscale;
    }
}

TK_AVX2 float tk_vec_dot_f32_avx2(const void *w, const void *x, int64_t k) {
    const float *a = (const float *)w, *b = (const float *)x;
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= k; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= k; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = tk_x86_hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < k; i++) s += a[i] * b[i];
    return s;
}

TK_AVX2 float tk_vec_dot_f16_avx2(const void *w, const void *x, int64_t k) {
    const uint16_t *a = (const uint16_t *)w;
    const float *b = (const float *)x;
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
#define TK_LOAD_H(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
    int64_t i = 0;
    for (; i + 32 <= k; i += 32) {
        s0 = _mm256_fmadd_ps(TK_LOAD_H(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(TK_LOAD_H(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(TK_LOAD_H(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(TK_LOAD_H(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= k; i += 8) s0 = _mm256_fmadd_ps(TK_LOAD_H(a + i), _mm256_loadu_ps(b + i), s0);
#undef TK_LOAD_H
    float s = tk_x86_hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < k; i++) s += tk_x86_half(a[i]) * b[i];
    return s;
}

TK_AVX2 float tk_vec_dot_q8_0_q8_0_avx2(const void *w, const void *x, int64_t k) {
    const tk_block_q8_0 *a = (const tk_block_q8_0 *)w, *b = (const tk_block_q8_0 *)x;
    const int64_t nb = k / TK_QK;
    // Two accumulators: the FMA latency of one block hides behind the next one's integer work.
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        const __m256 d0 = _mm256_set1_ps(tk_x86_half(a[i].d) * tk_x86_half(b[i].d));
        const __m256 d1 = _mm256_set1_ps(tk_x86_half(a[i + 1].d) * tk_x86_half(b[i + 1].d));
        const __m256 q0 = mul_sum_i8_pairs_float(_mm256_loadu_si256((const __m256i *)a[i].qs),
                                                 _mm256_loadu_si256((const __m256i *)b[i].qs));
        const __m256 q1 = mul_sum_i8_pairs_float(_mm256_loadu_si256((const __m256i *)a[i + 1].qs),
                                                 _mm256_loadu_si256((const __m256i *)b[i + 1].qs));
        acc0 = _mm256_fmadd_ps(d0, q0, acc0);
        acc1 = _mm256_fmadd_ps(d1, q1, acc1);
    }
    for (; i < nb; i++) {
        const __m256 d0 = _mm256_set1_ps(tk_x86_half(a[i].d) * tk_x86_half(b[i].d));
        const __m256 q0 = mul_sum_i8_pairs_float(_mm256_loadu_si256((const __m256i *)a[i].qs),
                                                 _mm256_loadu_si256((const __m256i *)b[i].qs));
        acc0 = _mm256_fmadd_ps(d0, q0, acc0);
    }
    return tk_x86_hsum8(_mm256_add_ps(acc0, acc1));
}

/// The half scale at `p` (memcpy: blocks of 18 or 22 bytes).
TK_AVX2_INLINE uint16_t tk_x86_u16(const char *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return h;
}

/// Block i's 32 signed values of a q4_0 row (nibbles − 8) or a q5_0 row (`q5`: 5-bit − 16).
TK_AVX2_INLINE __m256i q4q5_values(const void *w, int64_t i, int q5) {
    return q5 ? _mm256_sub_epi8(tk_x86_q5_0_values((const tk_block_q5_0 *)w + i), _mm256_set1_epi8(16))
              : _mm256_sub_epi8(tk_x86_nibbles32(((const tk_block_q4_0 *)w + i)->qs), _mm256_set1_epi8(8));
}

/// q4_0 and q5_0 against q8_0 (`q5` a constant after inlining; both blocks lead with the scale).
TK_AVX2_INLINE float dot_q4q5(const void *w, const void *x, int64_t k, int q5) {
    const tk_block_q8_0 *b = (const tk_block_q8_0 *)x;
    const int64_t nb = k / TK_QK, bytes = q5 ? (int64_t)sizeof(tk_block_q5_0) : (int64_t)sizeof(tk_block_q4_0);
    const char *row = (const char *)w;
#define TK_WD(i) tk_x86_half(tk_x86_u16(row + (i) * bytes))
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        const __m256 d0 = _mm256_set1_ps(TK_WD(i) * tk_x86_half(b[i].d));
        const __m256 d1 = _mm256_set1_ps(TK_WD(i + 1) * tk_x86_half(b[i + 1].d));
        const __m256i w0 = q4q5_values(w, i, q5), w1 = q4q5_values(w, i + 1, q5);
        acc0 = _mm256_fmadd_ps(d0, mul_sum_i8_pairs_float(w0, _mm256_loadu_si256((const __m256i *)b[i].qs)), acc0);
        acc1 = _mm256_fmadd_ps(d1, mul_sum_i8_pairs_float(w1, _mm256_loadu_si256((const __m256i *)b[i + 1].qs)), acc1);
    }
    for (; i < nb; i++) {
        const __m256 d0 = _mm256_set1_ps(TK_WD(i) * tk_x86_half(b[i].d));
        acc0 = _mm256_fmadd_ps(d0, mul_sum_i8_pairs_float(q4q5_values(w, i, q5), _mm256_loadu_si256((const __m256i *)b[i].qs)), acc0);
    }
#undef TK_WD
    return tk_x86_hsum8(_mm256_add_ps(acc0, acc1));
}

TK_AVX2 float tk_vec_dot_q4_0_q8_0_avx2(const void *w, const void *x, int64_t k) { return dot_q4q5(w, x, k, 0); }

TK_AVX2 float tk_vec_dot_q5_0_q8_0_avx2(const void *w, const void *x, int64_t k) { return dot_q4q5(w, x, k, 1); }

// K-quants against q8_K: the weights' values are unsigned (q4: [0, 15], q5: [0, 31], q6: [0, 63]),
// so `maddubs` takes them as they are, with no sign trick and no saturation (63·127·2 < 2¹⁵);
// a `madd` by the sub-block's scale widens to int32. The mins (q4_K, q5_K) and q6_K's offset of
// 32 are Σ scale·(sum of 16 activations), from q8_K's bsums, in scalar code.

/// A q4_K/q5_K block's 12 packed bytes (see tk_scale_min_k4) as two vectors of 8 int16: the
/// scales and the mins of sub-blocks 0…7, unpacked with 32-bit word arithmetic instead of 16 byte
/// lookups: with words w0, w1, w2, scale j < 4 is byte j of w0 & 0x3f…, min j < 4 byte j of
/// w1 & 0x3f…, scale 4 + j byte j of (w2 & 0x0f…) | ((w0 >> 6) & 0x03…) << 4, min 4 + j byte j of
/// ((w2 >> 4) & 0x0f…) | ((w1 >> 6) & 0x03…) << 4.
TK_AVX2_INLINE void k4_unpack_scales(const uint8_t *packed, __m128i *scales, __m128i *mins) {
    uint32_t w[3];
    memcpy(w, packed, 12);
    const uint32_t k6 = 0x3f3f3f3fu, k4 = 0x0f0f0f0fu, k2 = 0x03030303u;
    const uint64_t sc = (uint64_t)(w[0] & k6) | (uint64_t)((w[2] & k4) | (((w[0] >> 6) & k2) << 4)) << 32;
    const uint64_t mn = (uint64_t)(w[1] & k6) | (uint64_t)(((w[2] >> 4) & k4) | (((w[1] >> 6) & k2) << 4)) << 32;
    *scales = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc));
    *mins = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)mn));
}

/// Shuffle masks that spread int16 lane j of a 128-bit vector (broadcast to both halves) over
/// all 16 lanes: the scale of sub-block j for `madd`.
static const int8_t k4_spread[8][32] = {
#define K4_ROW(j) {2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1, \
                   2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1, \
                   2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1}
    K4_ROW(0), K4_ROW(1), K4_ROW(2), K4_ROW(3), K4_ROW(4), K4_ROW(5), K4_ROW(6), K4_ROW(7),
#undef K4_ROW
};

/// q4_K and q5_K (`q5`, a constant after inlining): q5_K's fifth bits come from `qh`, bit 2j
/// of qh[l] for sub-block 2j and 2j + 1 for 2j + 1 (16-bit shifts: only each byte's own bit
/// survives the mask). The mins go through q8_K's bsums: Σ_j m_j · (bsums[2j] + bsums[2j+1]) is
/// one madd of the mins with the pair sums of the bsums.
TK_AVX2_INLINE float dot_k4(const void *w, const void *x, int64_t k, int q5) {
    const size_t bytes = q5 ? sizeof(tk_block_q5_K) : sizeof(tk_block_q4_K);
    const tk_block_q8_K *b = (const tk_block_q8_K *)x;
    const int64_t nb = k / TK_QK_K;
    const __m256i low4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    float mins = 0.0f;
    for (int64_t i = 0; i < nb; i++) {
        const char *blk = (const char *)w + i * bytes;
        const tk_block_q5_K *a5 = (const tk_block_q5_K *)blk;
        const tk_block_q4_K *a4 = (const tk_block_q4_K *)blk;  // d, dmin and scales lead both types
        const uint8_t *qs = q5 ? a5->qs : a4->qs;
        __m128i sc128, mn16;
        k4_unpack_scales(a4->scales, &sc128, &mn16);
        const __m128i pairs = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)b[i].bsums),
                                             _mm_loadu_si128((const __m128i *)(b[i].bsums + 8)));
        const float dy = b[i].d;
        // The integer Σ m·bsums, then one scalar multiply-add: the float order of the scalar
        // dot product before the vector unpacking, which the llama.cpp parity was measured on.
        __m128i summ = _mm_madd_epi16(mn16, pairs);
        summ = _mm_add_epi32(summ, _mm_shuffle_epi32(summ, 0x4E));
        summ = _mm_add_epi32(summ, _mm_shuffle_epi32(summ, 0xB1));
        mins += tk_x86_half(a4->dmin) * dy * (float)_mm_cvtsi128_si32(summ);
        const __m256i scales = _mm256_broadcastsi128_si256(sc128);
        const __m256i qh = q5 ? _mm256_loadu_si256((const __m256i *)a5->qh) : _mm256_setzero_si256();
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            const __m256i q4 = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
            __m256i lo = _mm256_and_si256(q4, low4), hi = _mm256_and_si256(_mm256_srli_epi16(q4, 4), low4);
            if (q5) {
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * j), one), 4));
                hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * j + 1), one), 4));
            }
            const __m256i p0 = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(b[i].qs + 64 * j)));
            const __m256i p1 = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(b[i].qs + 64 * j + 32)));
            const __m256i s0 = _mm256_shuffle_epi8(scales, _mm256_loadu_si256((const __m256i *)k4_spread[2 * j]));
            const __m256i s1 = _mm256_shuffle_epi8(scales, _mm256_loadu_si256((const __m256i *)k4_spread[2 * j + 1]));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(_mm256_madd_epi16(p0, s0), _mm256_madd_epi16(p1, s1)));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(tk_x86_half(a4->d) * dy), _mm256_cvtepi32_ps(sumi), acc);
    }
    return tk_x86_hsum8(acc) - mins;
}

TK_AVX2 float tk_vec_dot_q4_K_q8_K_avx2(const void *w, const void *x, int64_t k) { return dot_k4(w, x, k, 0); }

TK_AVX2 float tk_vec_dot_q5_K_q8_K_avx2(const void *w, const void *x, int64_t k) { return dot_k4(w, x, k, 1); }

/// Byte shuffles that make 8 copies of scale g then 8 of scale g + 1 (g = 0, 2, …, 14): q6_K's
/// scales for 32 values, widened to int16 for `madd`.
static const int8_t k6_pair[8][16] = {
#define K6_ROW(g) {g, g, g, g, g, g, g, g, g + 1, g + 1, g + 1, g + 1, g + 1, g + 1, g + 1, g + 1}
    K6_ROW(0), K6_ROW(2), K6_ROW(4), K6_ROW(6), K6_ROW(8), K6_ROW(10), K6_ROW(12), K6_ROW(14),
#undef K6_ROW
};

TK_AVX2 float tk_vec_dot_q6_K_q8_K_avx2(const void *w, const void *x, int64_t k) {
    const tk_block_q6_K *a = (const tk_block_q6_K *)w;
    const tk_block_q8_K *b = (const tk_block_q8_K *)x;
    const int64_t nb = k / TK_QK_K;
    const __m256i low4 = _mm256_set1_epi8(0x0F), two = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m128i sc8 = _mm_loadu_si128((const __m128i *)a[i].scales);
        // The −32 of every value: 32 · Σ_g scale_g · (sum of its 16 activations), summed to one
        // integer and taken off lane 0, as the scalar loop before it did (the same floats).
        const __m256i prods = _mm256_madd_epi16(_mm256_cvtepi8_epi16(sc8), _mm256_loadu_si256((const __m256i *)b[i].bsums));
        __m128i o = _mm_add_epi32(_mm256_castsi256_si128(prods), _mm256_extracti128_si256(prods, 1));
        o = _mm_add_epi32(o, _mm_shuffle_epi32(o, 0x4E));
        o = _mm_add_epi32(o, _mm_shuffle_epi32(o, 0xB1));
        __m256i sumi = _mm256_setr_epi32(-32 * _mm_cvtsi128_si32(o), 0, 0, 0, 0, 0, 0, 0);
        for (int n = 0; n < 2; n++) {
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)(a[i].ql + 64 * n));
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(a[i].ql + 64 * n + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(a[i].qh + 32 * n));
            const __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(l0, low4), _mm256_slli_epi16(_mm256_and_si256(qh, two), 4)),
                _mm256_or_si256(_mm256_and_si256(l1, low4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), two), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), two), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), two), 4)),
            };
            for (int t = 0; t < 4; t++) {
                // Values 128n + 32t …: scales 8n + 2t and 8n + 2t + 1.
                const __m256i p = _mm256_maddubs_epi16(q[t], _mm256_loadu_si256((const __m256i *)(b[i].qs + 128 * n + 32 * t)));
                const __m256i scale = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8, _mm_loadu_si128((const __m128i *)k6_pair[4 * n + t])));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, scale));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(tk_x86_half(a[i].d) * b[i].d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return tk_x86_hsum8(acc);
}

// ---------------------------------------------------------------------------------------------
// K-quant GEMM (prompt passes): the dot products above decode every weight block's packed scales
// and bits again for every activation row. Here a group of up to 32 weight rows is unpacked
// once into one layout shared by q4_K, q5_K and q6_K — the unsigned values, each pair of
// 16-element groups' scales spread for `madd`, the integer mins and the two super-block scales —
// and every activation row then runs over it: value = d·s_g·u − dm·mi_g, so
//   dot = Σ_blocks dx · (d · Σ_g s_g Σ u·x − dm · Σ_g mi_g · bsum_g)
// with mi_g = m (q4_K, q5_K: d·sc·q − dmin·m) or 32·sc_g (q6_K: d·sc·(q − 32)). The sums are the
// dot products' integer sums, so the floats differ from them only in the order of additions.
// ---------------------------------------------------------------------------------------------
typedef struct {
    uint8_t u[TK_QK_K];     // unsigned values: q4 [0, 15], q5 [0, 31], q6 [0, 63]
    int16_t sx[8][16];      // for the 32 values v: 8 × the scale of group 2v, 8 × that of 2v + 1
    int16_t mi[16];         // the integer min of each 16-value group
    float d, dm;            // super-block scales of the values and of the mins
} kq_unpacked;

/// Rows of weight blocks unpacked at a time: 32 rows of a 4864-input FFN output (Qwen2.5-0.5B)
/// take 355 KiB, which stays in L2 while all the activation rows pass.
#define KQ_ROWS 32

static void kq_unpack_block(tk_dtype dt, const void *blk, kq_unpacked *out) {
    int16_t s[16];
    tk_kq_unpack(dt, blk, out->u, s, out->mi, &out->d, &out->dm);
    for (int v = 0; v < 8; v++)
        for (int i = 0; i < 16; i++) out->sx[v][i] = s[2 * v + i / 8];
}

/// y[r] for `nr` ≤ 4 unpacked rows (`nb` blocks each, `stride` apart) against one q8_K row.
TK_AVX2_INLINE void kq_rows(const kq_unpacked *w, int64_t stride, int nr, const tk_block_q8_K *x, int64_t nb, float *y) {
    __m256 f[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t b = 0; b < nb; b++) {
        __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
        for (int v = 0; v < 8; v++) {
            const __m256i xv = _mm256_loadu_si256((const __m256i *)(x[b].qs + 32 * v));
            for (int r = 0; r < nr; r++) {
                const kq_unpacked *wb = w + r * stride + b;
                const __m256i p = _mm256_maddubs_epi16(_mm256_loadu_si256((const __m256i *)(wb->u + 32 * v)), xv);
                acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(p, _mm256_loadu_si256((const __m256i *)wb->sx[v])));
            }
        }
        const __m256i bsums = _mm256_loadu_si256((const __m256i *)x[b].bsums);
        for (int r = 0; r < nr; r++) {
            const kq_unpacked *wb = w + r * stride + b;
            const __m256i mins = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)wb->mi), bsums);
            f[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[r]), _mm256_set1_ps(wb->d * x[b].d), f[r]);
            f[r] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mins), _mm256_set1_ps(wb->dm * x[b].d), f[r]);
        }
    }
    for (int r = 0; r < nr; r++) y[r] = tk_x86_hsum8(f[r]);
}

/// y[a · ldy + r] for 4 q8_K activation rows (`ldx` blocks apart) against 2 unpacked weight
/// rows: each weight vector loaded from the panel serves four activation rows, so the panel —
/// read once per activation row by `kq_rows`, from L2 at about 2 bytes per multiply-add — is
/// read a quarter as often. Per (activation, weight) pair the operations and their order are
/// `kq_rows`'s, so the sums are the same floats.
TK_AVX2_INLINE void kq_rows_x4(const kq_unpacked *w, int64_t stride, const tk_block_q8_K *x, int64_t ldx, int64_t nb,
                               float *y, int64_t ldy) {
    __m256 f[4][2];
    for (int a = 0; a < 4; a++) f[a][0] = f[a][1] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i acc[4][2];
        for (int a = 0; a < 4; a++) acc[a][0] = acc[a][1] = _mm256_setzero_si256();
        const kq_unpacked *w0 = w + b, *w1 = w + stride + b;
        for (int v = 0; v < 8; v++) {
            __m256i xv[4];
            for (int a = 0; a < 4; a++) xv[a] = _mm256_loadu_si256((const __m256i *)(x[a * ldx + b].qs + 32 * v));
            const __m256i u0 = _mm256_loadu_si256((const __m256i *)(w0->u + 32 * v)), s0 = _mm256_loadu_si256((const __m256i *)w0->sx[v]);
            for (int a = 0; a < 4; a++) acc[a][0] = _mm256_add_epi32(acc[a][0], _mm256_madd_epi16(_mm256_maddubs_epi16(u0, xv[a]), s0));
            const __m256i u1 = _mm256_loadu_si256((const __m256i *)(w1->u + 32 * v)), s1 = _mm256_loadu_si256((const __m256i *)w1->sx[v]);
            for (int a = 0; a < 4; a++) acc[a][1] = _mm256_add_epi32(acc[a][1], _mm256_madd_epi16(_mm256_maddubs_epi16(u1, xv[a]), s1));
        }
        const __m256i mi0 = _mm256_loadu_si256((const __m256i *)w0->mi), mi1 = _mm256_loadu_si256((const __m256i *)w1->mi);
        for (int a = 0; a < 4; a++) {
            const tk_block_q8_K *xa = x + a * ldx + b;
            const __m256i bsums = _mm256_loadu_si256((const __m256i *)xa->bsums);
            const __m256i m0 = _mm256_madd_epi16(mi0, bsums), m1 = _mm256_madd_epi16(mi1, bsums);
            f[a][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[a][0]), _mm256_set1_ps(w0->d * xa->d), f[a][0]);
            f[a][0] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(m0), _mm256_set1_ps(w0->dm * xa->d), f[a][0]);
            f[a][1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[a][1]), _mm256_set1_ps(w1->d * xa->d), f[a][1]);
            f[a][1] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(m1), _mm256_set1_ps(w1->dm * xa->d), f[a][1]);
        }
    }
    for (int a = 0; a < 4; a++) {
        y[a * ldy] = tk_x86_hsum8(f[a][0]);
        y[a * ldy + 1] = tk_x86_hsum8(f[a][1]);
    }
}

TK_AVX2 static void kq_gemm(tk_dtype dt, const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k,
                    int64_t n0, int64_t n1) {
    const int64_t nb = k / TK_QK_K, rb = tk_row_bytes(dt, k), bb = rb / nb;
    kq_unpacked *panel = malloc(sizeof(kq_unpacked) * (size_t)(KQ_ROWS * nb));
    if (!panel) abort();
    const tk_block_q8_K *xq = (const tk_block_q8_K *)x;
    for (int64_t r0 = n0; r0 < n1; r0 += KQ_ROWS) {
        const int64_t rows = tk_min64(KQ_ROWS, n1 - r0);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t b = 0; b < nb; b++) kq_unpack_block(dt, (const char *)w + (r0 + r) * rb + b * bb, panel + r * nb + b);
        int64_t i = 0;
        for (; i + 4 <= m; i += 4) {
            int64_t r = 0;
            for (; r + 2 <= rows; r += 2) kq_rows_x4(panel + r * nb, nb, xq + i * nb, nb, nb, y + i * ldy + r0 + r, ldy);
            for (int a = 0; a < 4 && r < rows; a++) kq_rows(panel + r * nb, nb, 1, xq + (i + a) * nb, nb, y + (i + a) * ldy + r0 + r);
        }
        for (; i < m; i++) {
            float *yi = y + i * ldy + r0;
            int64_t r = 0;
            for (; r + 4 <= rows; r += 4) kq_rows(panel + r * nb, nb, 4, xq + i * nb, nb, yi + r);
            if (r < rows) kq_rows(panel + r * nb, nb, (int)(rows - r), xq + i * nb, nb, yi + r);
        }
    }
    free(panel);
}

TK_AVX2 void tk_gemm_q4_K_avx2(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1) {
    kq_gemm(TK_Q4_K, w, x, y, ldy, m, k, n0, n1);
}
TK_AVX2 void tk_gemm_q5_K_avx2(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1) {
    kq_gemm(TK_Q5_K, w, x, y, ldy, m, k, n0, n1);
}
TK_AVX2 void tk_gemm_q6_K_avx2(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1) {
    kq_gemm(TK_Q6_K, w, x, y, ldy, m, k, n0, n1);
}

// ---------------------------------------------------------------------------------------------
// q8_0 / q4_0 / q5_0 GEMV: two weight rows per pass share each activation block, and what
// depends only on the activations is computed once per call instead of once per row: the f32
// activation scales, and for q4_0 (q5_0) the pair sums 8·(x[2i] + x[2i+1]) (16·…). The latter
// lets q4_0 and q5_0 skip the sign trick: the stored values q = w + 8 (w + 16) are already
// unsigned, so maddubs(q, x) − maddubs(8, x) = Σ w·x per pair (|values| ≤ 2·31·127, no saturation).
// ---------------------------------------------------------------------------------------------
/// Pair products (int16, see above), summed to 8 int32 lanes; kind 0 q8_0, 1 q4_0, 2 q5_0.
TK_AVX2_INLINE __m256i gemv_block(const char *row, int64_t b, __m256i xv, __m256i corr, int kind) {
    __m256i products;
    if (kind == 1) {
        const tk_block_q4_0 *blk = (const tk_block_q4_0 *)row + b;
        products = _mm256_sub_epi16(_mm256_maddubs_epi16(tk_x86_nibbles32(blk->qs), xv), corr);
    } else if (kind == 2) {
        const tk_block_q5_0 *blk = (const tk_block_q5_0 *)row + b;
        products = _mm256_sub_epi16(_mm256_maddubs_epi16(tk_x86_q5_0_values(blk), xv), corr);
    } else {
        const tk_block_q8_0 *blk = (const tk_block_q8_0 *)row + b;
        const __m256i w = _mm256_loadu_si256((const __m256i *)blk->qs);
        products = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(xv, w));
    }
    return _mm256_madd_epi16(_mm256_set1_epi16(1), products);
}

/// Per activation block, for q4_0 (q5_0): the pair sums 8·(x[2i] + x[2i+1]) (16·…).
TK_AVX2_INLINE __m256i gemv_pre(__m256i xv, int kind) {
    return kind ? _mm256_maddubs_epi16(_mm256_set1_epi8(kind == 2 ? 16 : 8), xv) : _mm256_setzero_si256();
}

TK_X86_DEFINE_GEMV_QUANT(gemv_quant, TK_AVX2_INLINE, gemv_pre, gemv_block)

TK_AVX2 void tk_gemv_q8_0_avx2(const void *w, const void *x, float *y, int64_t k, int64_t r0, int64_t r1) {
    gemv_quant(w, x, y, k, r0, r1, 0);
}

TK_AVX2 void tk_gemv_q4_0_avx2(const void *w, const void *x, float *y, int64_t k, int64_t r0, int64_t r1) {
    gemv_quant(w, x, y, k, r0, r1, 1);
}

TK_AVX2 void tk_gemv_q5_0_avx2(const void *w, const void *x, float *y, int64_t k, int64_t r0, int64_t r1) {
    gemv_quant(w, x, y, k, r0, r1, 2);
}

/// f32 / f16 GEMV: the `vec_dot` loops, each 32 elements also prefetching the same offset of the
/// next row (same reason as above: row starts are where the hardware prefetcher loses its stream).
TK_AVX2_INLINE void gemv_float(const void *w, const float *x, float *y, int64_t k, int64_t r0,
                               int64_t r1, int f16) {
    const int64_t rb = f16 ? 2 * k : 4 * k;
    for (int64_t r = r0; r < r1; r++) {
        const char *row = (const char *)w + r * rb;
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
        __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
        int64_t i = 0;
        for (; i + 32 <= k; i += 32) {
            __m256 w0, w1, w2, w3;
            if (f16) {
                const uint16_t *h = (const uint16_t *)row + i;
                _mm_prefetch((const char *)h + rb, _MM_HINT_T0);
                w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
                w1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + 8)));
                w2 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + 16)));
                w3 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + 24)));
            } else {
                const float *f = (const float *)row + i;
                _mm_prefetch((const char *)f + rb, _MM_HINT_T0);
                _mm_prefetch((const char *)f + rb + 64, _MM_HINT_T0);
                w0 = _mm256_loadu_ps(f);
                w1 = _mm256_loadu_ps(f + 8);
                w2 = _mm256_loadu_ps(f + 16);
                w3 = _mm256_loadu_ps(f + 24);
            }
            s0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), s0);
            s1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + i + 8), s1);
            s2 = _mm256_fmadd_ps(w2, _mm256_loadu_ps(x + i + 16), s2);
            s3 = _mm256_fmadd_ps(w3, _mm256_loadu_ps(x + i + 24), s3);
        }
        float s = tk_x86_hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
        // The tail (k mod 32) goes through the plain dot product on the remaining elements.
        if (i < k) {
            s += f16 ? tk_vec_dot_f16_avx2((const uint16_t *)row + i, x + i, k - i)
                     : tk_vec_dot_f32_avx2((const float *)row + i, x + i, k - i);
        }
        y[r] = s;
    }
}

/// Eight floats of a f32 or f16 row from element i.
TK_AVX2_INLINE __m256 load8_float(const char *row, int64_t i, int f16) {
    if (f16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i)));
    return _mm256_loadu_ps((const float *)row + i);
}

/// Short rows (k ≤ 256: attention heads, whose keys or values are the "weights"): four rows per
/// pass share each activation load, and their four sums are reduced together with three
/// horizontal adds instead of one full horizontal sum per row, which for k = 64 was as much work
/// as the row's multiply-adds. A T5 decoder step at batch 8 spent 17 % in these GEMVs.
TK_AVX2_INLINE void gemv_float_short(const void *w, const float *x, float *y, int64_t k, int64_t r0,
                                     int64_t r1, int f16) {
    const int64_t rb = f16 ? 2 * k : 4 * k, k8 = k & ~(int64_t)7;
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
        const char *w0 = (const char *)w + r * rb;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        for (int64_t i = 0; i < k8; i += 8) {
            const __m256 xv = _mm256_loadu_ps(x + i);
            a0 = _mm256_fmadd_ps(load8_float(w0, i, f16), xv, a0);
            a1 = _mm256_fmadd_ps(load8_float(w0 + rb, i, f16), xv, a1);
            a2 = _mm256_fmadd_ps(load8_float(w0 + 2 * rb, i, f16), xv, a2);
            a3 = _mm256_fmadd_ps(load8_float(w0 + 3 * rb, i, f16), xv, a3);
        }
        __m128 sums = tk_x86_hsum4(a0, a1, a2, a3);
        if (k8 < k) {
            float tail[4];
            for (int j = 0; j < 4; j++) {
                const char *row = w0 + j * rb;
                tail[j] = f16 ? tk_vec_dot_f16_avx2((const uint16_t *)row + k8, x + k8, k - k8)
                              : tk_vec_dot_f32_avx2((const float *)row + k8, x + k8, k - k8);
            }
            sums = _mm_add_ps(sums, _mm_loadu_ps(tail));
        }
        _mm_storeu_ps(y + r, sums);
    }
    if (r < r1) gemv_float(w, x, y, k, r, r1, f16);
}

TK_AVX2 void tk_gemv_f32_avx2(const void *w, const void *x, float *y, int64_t k, int64_t r0, int64_t r1) {
    if (k <= 256) gemv_float_short(w, (const float *)x, y, k, r0, r1, 0);
    else gemv_float(w, (const float *)x, y, k, r0, r1, 0);
}

TK_AVX2 void tk_gemv_f16_avx2(const void *w, const void *x, float *y, int64_t k, int64_t r0, int64_t r1) {
    if (k <= 256) gemv_float_short(w, (const float *)x, y, k, r0, r1, 1);
    else gemv_float(w, (const float *)x, y, k, r0, r1, 1);
}

// ---------------------------------------------------------------------------------------------
// f32 / f16 GEMM: the BLIS/GotoBLAS scheme. A panel of 16 weight rows × KC inputs is packed so
// that the 16 outputs of one input are adjacent (two YMM loads); a 6×16 register tile then does
// 12 FMAs per input with 6 broadcast activations. The panel (16 KiB) stays in L1 while every
// group of 6 activation rows passes over it, so each weight is read from memory once per call.
// f16 weights are widened while packing, so they share the f32 micro-kernel.
// ---------------------------------------------------------------------------------------------
enum { TK_MR = 6, TK_NR = 16, TK_KC = 256 };

TK_AVX2 static void kernel_6x16(const float *x, int64_t ldx, const float *panel, int64_t kc,
                                float *c, int64_t ldc, int accumulate) {
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps();
    __m256 c11 = _mm256_setzero_ps(), c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps(), c40 = _mm256_setzero_ps();
    __m256 c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    const float *x0 = x, *x1 = x + ldx, *x2 = x + 2 * ldx;
    const float *x3 = x + 3 * ldx, *x4 = x + 4 * ldx, *x5 = x + 5 * ldx;
    for (int64_t p = 0; p < kc; p++, panel += TK_NR) {
        const __m256 b0 = _mm256_load_ps(panel), b1 = _mm256_load_ps(panel + 8);
        __m256 a;
        a = _mm256_broadcast_ss(x0 + p); c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
        a = _mm256_broadcast_ss(x1 + p); c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
        a = _mm256_broadcast_ss(x2 + p); c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
        a = _mm256_broadcast_ss(x3 + p); c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
        a = _mm256_broadcast_ss(x4 + p); c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);
        a = _mm256_broadcast_ss(x5 + p); c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
    }
#define TK_STORE_ROW(i, lo, hi)                                                                   \
    do {                                                                                          \
        float *r = c + (i) * ldc;                                                                 \
        if (accumulate) {                                                                         \
            lo = _mm256_add_ps(lo, _mm256_loadu_ps(r));                                           \
            hi = _mm256_add_ps(hi, _mm256_loadu_ps(r + 8));                                       \
        }                                                                                         \
        _mm256_storeu_ps(r, lo);                                                                  \
        _mm256_storeu_ps(r + 8, hi);                                                              \
    } while (0)
    TK_STORE_ROW(0, c00, c01); TK_STORE_ROW(1, c10, c11); TK_STORE_ROW(2, c20, c21);
    TK_STORE_ROW(3, c30, c31); TK_STORE_ROW(4, c40, c41); TK_STORE_ROW(5, c50, c51);
#undef TK_STORE_ROW
}

/// Packs weight rows [nb, nb + nr) × inputs [k0, k0 + kc) as panel[p * 16 + j]; rows past nr are 0.
typedef void (*tk_pack_fn)(const void *w, int64_t k, int64_t nb, int64_t nr, int64_t k0,
                           int64_t kc, float *panel);

/// Eight rows × eight inputs at a time through an 8×8 transpose: element by element, packing was
/// 12 % of a 512×4096×1024 product on one thread (AMD Zen 4, held to AVX2).
TK_AVX2 static void pack_f32(const void *w, int64_t k, int64_t nb, int64_t nr, int64_t k0,
                             int64_t kc, float *panel) {
    for (int64_t g = 0; g < TK_NR; g += 8) {
        if (g + 8 > nr) {
            for (int64_t j = g; j < g + 8; j++) {
                const float *src = (const float *)w + (nb + j) * k + k0;
                for (int64_t p = 0; p < kc; p++) panel[p * TK_NR + j] = j < nr ? src[p] : 0.0f;
            }
            continue;
        }
        const float *src[8];
        for (int j = 0; j < 8; j++) src[j] = (const float *)w + (nb + g + j) * k + k0;
        int64_t p = 0;
        for (; p + 8 <= kc; p += 8) {
            __m256 a[8], t[8];
            for (int j = 0; j < 8; j++) a[j] = _mm256_loadu_ps(src[j] + p);
            tk_x86_transpose8(a, t);
            for (int q = 0; q < 8; q++) _mm256_store_ps(panel + (p + q) * TK_NR + g, t[q]);
        }
        for (; p < kc; p++)
            for (int j = 0; j < 8; j++) panel[p * TK_NR + g + j] = src[j][p];
    }
}

TK_AVX2 static void pack_f16(const void *w, int64_t k, int64_t nb, int64_t nr, int64_t k0,
                             int64_t kc, float *panel) {
    float tmp[8];
    for (int64_t j = 0; j < TK_NR; j++) {
        if (j < nr) {
            const uint16_t *src = (const uint16_t *)w + (nb + j) * k + k0;
            int64_t p = 0;
            for (; p + 8 <= kc; p += 8) {
                _mm256_storeu_ps(tmp, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + p))));
                for (int q = 0; q < 8; q++) panel[(p + q) * TK_NR + j] = tmp[q];
            }
            for (; p < kc; p++) panel[p * TK_NR + j] = tk_x86_half(src[p]);
        } else {
            for (int64_t p = 0; p < kc; p++) panel[p * TK_NR + j] = 0.0f;
        }
    }
}

TK_AVX2 static void gemm_packed(tk_pack_fn pack, const void *w, const float *x, float *y,
                                int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1) {
    float panel[TK_KC * TK_NR] __attribute__((aligned(32)));
    float xpad[TK_MR * TK_KC];   // a partial group of activation rows, zero padded
    float ctile[TK_MR * TK_NR];  // the result of a partial tile before it is copied out
    for (int64_t k0 = 0; k0 < k; k0 += TK_KC) {
        const int64_t kc = tk_min64(TK_KC, k - k0);
        for (int64_t nb = n0; nb < n1; nb += TK_NR) {
            const int64_t nr = tk_min64(TK_NR, n1 - nb);
            pack(w, k, nb, nr, k0, kc, panel);
            for (int64_t mb = 0; mb < m; mb += TK_MR) {
                const int64_t mr = tk_min64(TK_MR, m - mb);
                if (mr == TK_MR && nr == TK_NR) {
                    kernel_6x16(x + mb * k + k0, k, panel, kc, y + mb * ldy + nb, ldy, k0 > 0);
                    continue;
                }
                const float *xs = x + mb * k + k0;
                int64_t ldx = k;
                if (mr < TK_MR) {
                    memset(xpad, 0, sizeof xpad);
                    for (int64_t i = 0; i < mr; i++) memcpy(xpad + i * kc, x + (mb + i) * k + k0, (size_t)kc * 4);
                    xs = xpad;
                    ldx = kc;
                }
                kernel_6x16(xs, ldx, panel, kc, ctile, TK_NR, 0);
                for (int64_t i = 0; i < mr; i++) {
                    float *yr = y + (mb + i) * ldy + nb;
                    for (int64_t j = 0; j < nr; j++) yr[j] = (k0 > 0 ? yr[j] : 0.0f) + ctile[i * TK_NR + j];
                }
            }
        }
    }
}

TK_AVX2 void tk_gemm_f32_avx2(const void *w, const void *x, float *y, int64_t ldy, int64_t m,
                              int64_t k, int64_t n0, int64_t n1) {
    gemm_packed(pack_f32, w, (const float *)x, y, ldy, m, k, n0, n1);
}

TK_AVX2 void tk_gemm_f16_avx2(const void *w, const void *x, float *y, int64_t ldy, int64_t m,
                              int64_t k, int64_t n0, int64_t n1) {
    gemm_packed(pack_f16, w, (const float *)x, y, ldy, m, k, n0, n1);
}

// ---------------------------------------------------------------------------------------------
// q8_0 / q4_0 GEMM (after llamafile's tinyBLAS_Q0_AVX): a tile of RN weight rows × RM activation
// rows walks the blocks together. Each weight block is unpacked (and |w| formed) once and used for
// RM activation rows; each activation block is used for RN weight rows. RN weight rows (a few KiB)
// stay in L1 while all activation rows pass, so weights stream from memory once per call.
// ---------------------------------------------------------------------------------------------
enum { TK_QRM = 4, TK_QRN = 2 };

TK_AVX2_INLINE void qtile(const char *w, int64_t wrb, const tk_block_q8_0 *x, int64_t nb, int q4,
                          float out[TK_QRM][TK_QRN]) {
    __m256 acc[TK_QRM][TK_QRN];
    for (int i = 0; i < TK_QRM; i++)
        for (int j = 0; j < TK_QRN; j++) acc[i][j] = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < nb; b++) {
        __m256i wq[TK_QRN], aw[TK_QRN];
        float dw[TK_QRN];
        for (int j = 0; j < TK_QRN; j++) {
            if (q4) {
                const tk_block_q4_0 *blk = (const tk_block_q4_0 *)(w + j * wrb) + b;
                wq[j] = _mm256_sub_epi8(tk_x86_nibbles32(blk->qs), _mm256_set1_epi8(8));
                dw[j] = tk_x86_half(blk->d);
            } else {
                const tk_block_q8_0 *blk = (const tk_block_q8_0 *)(w + j * wrb) + b;
                wq[j] = _mm256_loadu_si256((const __m256i *)blk->qs);
                dw[j] = tk_x86_half(blk->d);
            }
            aw[j] = _mm256_sign_epi8(wq[j], wq[j]);
        }
        for (int i = 0; i < TK_QRM; i++) {
            const tk_block_q8_0 *xb = x + i * nb + b;
            const __m256i xv = _mm256_loadu_si256((const __m256i *)xb->qs);
            const float dx = tk_x86_half(xb->d);
            for (int j = 0; j < TK_QRN; j++) {
                const __m256i dot = _mm256_maddubs_epi16(aw[j], _mm256_sign_epi8(xv, wq[j]));
                const __m256 s = _mm256_cvtepi32_ps(_mm256_madd_epi16(ones, dot));
                acc[i][j] = _mm256_fmadd_ps(_mm256_set1_ps(dx * dw[j]), s, acc[i][j]);
            }
        }
    }
    for (int i = 0; i < TK_QRM; i++)
        for (int j = 0; j < TK_QRN; j++) out[i][j] = tk_x86_hsum8(acc[i][j]);
}

TK_AVX2_INLINE void gemm_quant(const void *w, const void *x, float *y, int64_t ldy, int64_t m,
                               int64_t k, int64_t n0, int64_t n1, int q4) {
    const int64_t nb = k / TK_QK;
    const int64_t wrb = tk_row_bytes(q4 ? TK_Q4_0 : TK_Q8_0, k);
    const tk_block_q8_0 *xq = (const tk_block_q8_0 *)x;
    const tk_vec_dot_fn dot = q4 ? tk_vec_dot_q4_0_q8_0_avx2 : tk_vec_dot_q8_0_q8_0_avx2;
    float out[TK_QRM][TK_QRN];
    int64_t n = n0;
    for (; n + TK_QRN <= n1; n += TK_QRN) {
        const char *wr = (const char *)w + n * wrb;
        int64_t i = 0;
        for (; i + TK_QRM <= m; i += TK_QRM) {
            qtile(wr, wrb, xq + i * nb, nb, q4, out);
            for (int ii = 0; ii < TK_QRM; ii++)
                for (int jj = 0; jj < TK_QRN; jj++) y[(i + ii) * ldy + n + jj] = out[ii][jj];
        }
        for (; i < m; i++)
            for (int jj = 0; jj < TK_QRN; jj++) y[i * ldy + n + jj] = dot(wr + jj * wrb, xq + i * nb, k);
    }
    for (; n < n1; n++)
        for (int64_t i = 0; i < m; i++) y[i * ldy + n] = dot((const char *)w + n * wrb, xq + i * nb, k);
}


// ---------------------------------------------------------------------------------------------
// q8_0 / q4_0 GEMM of many rows with 16-bit multiply-adds (plain AVX2, no VNNI). The int8 forms
// above spend sign + maddubs + madd + cvt + FMA per block, pair and 8 lanes; `vpmaddwd` on 16-bit
// values needs no sign trick (|w·x + w'·x'| ≤ 2·127² fits 32 bits) and, with the weights widened
// and paired while packing, no horizontal sums: one register holds 8 outputs × 2 inputs,
//   acc[n] += w[n][k]·x[k] + w[n][k+1]·x[k+1]      (x broadcast as one 32-bit pair),
// i.e. one madd and one add per 16 multiply-adds, where f32 FMA does 8 per instruction. The block
// sums are exact integers, scaled once per block as the VNNI kernels scale theirs (so the same
// floats as kernels_x86_avxvnni.c). Tile: 3 activation rows × 16 outputs (12 accumulators, 2
// weight registers, 1 broadcast of the 16 AVX2 registers).
// ---------------------------------------------------------------------------------------------
enum { I16_NR = 16, I16_MR = 3 };

/// One panel of 16 weight rows: per block b and input pair p, 16 outputs × (w[2p], w[2p+1]) as
/// int16 (outputs 0–7, then 8–15: 64 bytes), 1 KiB a block; and the 16 scales of each block.
TK_AVX2 static void i16_pack(const void *w, int64_t k, int64_t n, int64_t nr, int q4, int16_t *q, float *d) {
    const int64_t nb = k / TK_QK, rb = tk_row_bytes(q4 ? TK_Q4_0 : TK_Q8_0, k);
    for (int64_t b = 0; b < nb; b++) {
        // Row j widened: units (32-bit pairs) 0–7 in lo[j], 8–15 in hi[j].
        __m256 lo[I16_NR], hi[I16_NR];
        for (int64_t j = 0; j < I16_NR; j++) {
            float dj = 0.0f;
            __m256i v = _mm256_setzero_si256();
            if (j < nr) v = tk_x86_block_values((const char *)w + (n + j) * rb, b, q4, &dj);
            d[b * I16_NR + j] = dj;
            lo[j] = _mm256_castsi256_ps(_mm256_cvtepi8_epi16(_mm256_castsi256_si128(v)));
            hi[j] = _mm256_castsi256_ps(_mm256_cvtepi8_epi16(_mm256_extracti128_si256(v, 1)));
        }
        __m256 t[8];
        int16_t *blk = q + b * 512;
        // Pair p of outputs 0–7 at blk + p·32, of outputs 8–15 at blk + p·32 + 16.
        for (int half = 0; half < 2; half++) {
            tk_x86_transpose8(lo + 8 * half, t);
            for (int p = 0; p < 8; p++) _mm256_storeu_ps((float *)(blk + p * 32 + half * 16), t[p]);
            tk_x86_transpose8(hi + 8 * half, t);
            for (int p = 0; p < 8; p++) _mm256_storeu_ps((float *)(blk + (8 + p) * 32 + half * 16), t[p]);
        }
    }
}

/// out[i][0..16) for activation rows m0 … m0 + mr − 1 (mr ≤ 3) against one panel.
TK_AVX2_INLINE void i16_tile(const int16_t *xi, const float *dx, int64_t k, int64_t m0, int mr, const int16_t *q,
                             const float *d, float *out, int64_t ldo) {
    const int64_t nb = k / TK_QK;
    __m256 f[I16_MR][2];
    for (int i = 0; i < I16_MR; i++) f[i][0] = f[i][1] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i acc[I16_MR][2];
        for (int i = 0; i < I16_MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_si256();
        const int16_t *blk = q + b * 512;
        for (int p = 0; p < 16; p++) {
            const __m256i w0 = _mm256_loadu_si256((const __m256i *)(blk + p * 32));
            const __m256i w1 = _mm256_loadu_si256((const __m256i *)(blk + p * 32 + 16));
            for (int i = 0; i < mr; i++) {
                int32_t pair;
                memcpy(&pair, xi + (m0 + i) * k + b * TK_QK + 2 * p, 4);
                const __m256i xv = _mm256_set1_epi32(pair);
                acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_madd_epi16(xv, w0));
                acc[i][1] = _mm256_add_epi32(acc[i][1], _mm256_madd_epi16(xv, w1));
            }
        }
        const __m256 d0 = _mm256_loadu_ps(d + b * I16_NR), d1 = _mm256_loadu_ps(d + b * I16_NR + 8);
        for (int i = 0; i < mr; i++) {
            const __m256 dxi = _mm256_set1_ps(dx[(m0 + i) * nb + b]);
            f[i][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[i][0]), _mm256_mul_ps(d0, dxi), f[i][0]);
            f[i][1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[i][1]), _mm256_mul_ps(d1, dxi), f[i][1]);
        }
    }
    for (int i = 0; i < mr; i++) {
        _mm256_storeu_ps(out + i * ldo, f[i][0]);
        _mm256_storeu_ps(out + i * ldo + 8, f[i][1]);
    }
}

TK_AVX2 static void i16_gemm(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0,
                             int64_t n1, int q4) {
    const int64_t nb = k / TK_QK;
    const tk_block_q8_0 *xq = (const tk_block_q8_0 *)x;
    // Activations once per call: 16-bit values and f32 scales.
    int16_t *xi = malloc(sizeof(int16_t) * (size_t)(m * k));
    float *dx = malloc(sizeof(float) * (size_t)(m * nb));
    int16_t *q = malloc(sizeof(int16_t) * (size_t)(nb * 512));
    float *d = malloc(sizeof(float) * (size_t)(nb * I16_NR));
    if (!xi || !dx || !q || !d) abort();
    for (int64_t i = 0; i < m * nb; i++) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)xq[i].qs);
        _mm256_storeu_si256((__m256i *)(xi + i * TK_QK), _mm256_cvtepi8_epi16(_mm256_castsi256_si128(v)));
        _mm256_storeu_si256((__m256i *)(xi + i * TK_QK + 16), _mm256_cvtepi8_epi16(_mm256_extracti128_si256(v, 1)));
        dx[i] = tk_x86_half(xq[i].d);
    }
    float tmp[I16_MR * I16_NR];
    for (int64_t n = n0; n < n1; n += I16_NR) {
        const int64_t nr = tk_min64(I16_NR, n1 - n);
        i16_pack(w, k, n, nr, q4, q, d);
        for (int64_t i = 0; i < m; i += I16_MR) {
            const int mr = (int)tk_min64(I16_MR, m - i);
            if (nr == I16_NR && mr == I16_MR) {
                i16_tile(xi, dx, k, i, I16_MR, q, d, y + i * ldy + n, ldy);
                continue;
            }
            i16_tile(xi, dx, k, i, mr, q, d, tmp, I16_NR);
            for (int r = 0; r < mr; r++)
                for (int64_t c = 0; c < nr; c++) y[(i + r) * ldy + n + c] = tmp[r * I16_NR + c];
        }
    }
    free(xi); free(dx); free(q); free(d);
}

/// Below this many activation rows the int8 tiles win: packing a 16-bit panel is only repaid over
/// several rows. One thread, n = k = 1024: rows 2 / 4 / 8 / 16 / 64 / 512 took 0.12 / 0.16 / 0.32 /
/// 0.65 / 2.7 / 23.1 ms as int8 tiles, 0.20 / 0.22 / 0.31 / 0.45 / 1.36 / 10.9 ms in 16 bits (and
/// 2.2 / 17.1 ms at 64 / 512 rows for the weights widened to f32, the path this replaced).
enum { I16_MIN_ROWS = 8 };

TK_AVX2 void tk_gemm_q8_0_avx2(const void *w, const void *x, float *y, int64_t ldy, int64_t m,
                               int64_t k, int64_t n0, int64_t n1) {
    if (m >= I16_MIN_ROWS) i16_gemm(w, x, y, ldy, m, k, n0, n1, 0);
    else gemm_quant(w, x, y, ldy, m, k, n0, n1, 0);
}

TK_AVX2 void tk_gemm_q4_0_avx2(const void *w, const void *x, float *y, int64_t ldy, int64_t m,
                               int64_t k, int64_t n0, int64_t n1) {
    if (m >= I16_MIN_ROWS) i16_gemm(w, x, y, ldy, m, k, n0, n1, 1);
    else gemm_quant(w, x, y, ldy, m, k, n0, n1, 1);
}

// ---------------------------------------------------------------------------------------------
// Machine-limit probes for `tandem bench kernels`.
// ---------------------------------------------------------------------------------------------
TK_AVX2 double tk_sum_f32_avx2(const float *x, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_add_ps(s0, _mm256_loadu_ps(x + i));
        s1 = _mm256_add_ps(s1, _mm256_loadu_ps(x + i + 8));
        s2 = _mm256_add_ps(s2, _mm256_loadu_ps(x + i + 16));
        s3 = _mm256_add_ps(s3, _mm256_loadu_ps(x + i + 24));
    }
    double s = tk_x86_hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) s += x[i];
    return s;
}

TK_AVX2 double tk_fma_loop_avx2(int64_t iters, float *sink) {
    // 12 independent chains cover FMA latency (4 cycles) × 2 ports with room to spare.
    __m256 a0 = _mm256_set1_ps(0.1f), a1 = _mm256_set1_ps(0.2f), a2 = _mm256_set1_ps(0.3f);
    __m256 a3 = _mm256_set1_ps(0.4f), a4 = _mm256_set1_ps(0.5f), a5 = _mm256_set1_ps(0.6f);
    __m256 a6 = _mm256_set1_ps(0.7f), a7 = _mm256_set1_ps(0.8f), a8 = _mm256_set1_ps(0.9f);
    __m256 a9 = _mm256_set1_ps(1.0f), a10 = _mm256_set1_ps(1.1f), a11 = _mm256_set1_ps(1.2f);
    const __m256 m = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(1e-4f);
    for (int64_t i = 0; i < iters; i++) {
        a0 = _mm256_fmadd_ps(a0, m, c); a1 = _mm256_fmadd_ps(a1, m, c); a2 = _mm256_fmadd_ps(a2, m, c);
        a3 = _mm256_fmadd_ps(a3, m, c); a4 = _mm256_fmadd_ps(a4, m, c); a5 = _mm256_fmadd_ps(a5, m, c);
        a6 = _mm256_fmadd_ps(a6, m, c); a7 = _mm256_fmadd_ps(a7, m, c); a8 = _mm256_fmadd_ps(a8, m, c);
        a9 = _mm256_fmadd_ps(a9, m, c); a10 = _mm256_fmadd_ps(a10, m, c); a11 = _mm256_fmadd_ps(a11, m, c);
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    *sink = tk_x86_hsum8(s);
    return (double)iters * 12.0 * 8.0 * 2.0;
}

/// F16C conversion, 8 at a time; the tail through the exact scalar routine (same rounding).
TK_AVX2 void tk_f32_to_f16_avx2(const float *x, uint16_t *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) y[i] = tk_float_to_half(x[i]);
}

#endif // TK_HAVE_AVX2
