// The two halves of attention over a KV cache for one query head: scores (a dot product with every
// cached key) and the probability-weighted sum of cached values.
//
// Why C: these run once per head, layer and decoded token over the whole cache (SmolLM2 at 640
// cached positions: 30 layers × 9 heads × 640 keys per token), and were a Swift loop that called
// the f32 dot kernel through a function pointer per key and accumulated values 4 lanes wide (Swift
// compiles for baseline SSE2); that was a third of SmolLM2's decode time. The generic copy is the
// plain loop (the reference each fast copy is tested against, via Attention's tests); the AVX2
// copy does four keys per pass so four FMA chains hide each other's latency and one horizontal
// reduction serves four scores, and keeps a 64-float slice of the output in registers across keys.
//
// The int8 copies read keys and values quantized per row (one f32 scale per cached position and
// head): T5's cross-attention cache of a quantized model, computed once per input and then
// streamed by every decoder step. At batch 8 and 400 input tokens that stream was 39 MB a step in
// f16 for t5-small — as many bytes as its weights — so int8 halves it. Values fold each row's
// scale into its probability. Scores round the query to int8 too, as the keys are (one scale for
// the head, tk_quantize_rows_i8): each score is then an exact integer dot product times the two
// scales, the same on every instruction set, and with AVX512-VNNI one instruction does 64 of its
// products (the float form took three instructions per 8 and was half a batch-8 T5 step's
// cross-attention time).
#include "tk_internal.h"
#include <math.h>
#include <stdlib.h>

void tk_quantize_rows_i8(const float *x, int64_t rows, int64_t d, int64_t ldx, int8_t *q, float *scale) {
    // Not in the dispatch table: it runs once per input (12 rows of keys and values per position
    // in t5-small), a few hundredths of the encoder's time even as plain C.
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * ldx;
        float amax = 0.0f;
        // A comparison, not fmaxf, so that it vectorizes (fmaxf's NaN rule blocks that); a NaN
        // is skipped either way.
        for (int64_t c = 0; c < d; c++) {
            const float a = fabsf(xr[c]);
            amax = a > amax ? a : amax;
        }
        const float s = amax / 127.0f, inv = amax > 0.0f ? 127.0f / amax : 0.0f;
        scale[r] = s;
        // Half away from zero, written so the compiler vectorizes it (lrintf is a call per value).
        for (int64_t c = 0; c < d; c++) {
            const float v = xr[c] * inv;
            q[r * d + c] = (int8_t)(int32_t)(v + (v < 0.0f ? -0.5f : 0.5f));
        }
    }
}

/// The query of attn_scores_i8 in int8 (`q8`, d values) and its scale. `q8` is the caller's
/// buffer of TK_ATTN_Q8_MAX bytes when d fits, else allocated (the caller frees it if it differs).
enum { TK_ATTN_Q8_MAX = 512 };
static int8_t *tk_attn_query_i8(const float *q, int64_t d, int8_t *buffer, float *scale) {
    int8_t *q8 = d <= TK_ATTN_Q8_MAX ? buffer : malloc((size_t)d);
    if (!q8) abort();
    tk_quantize_rows_i8(q, 1, d, d, q8, scale);
    return q8;
}

void tk_attn_scores_i8_generic(const float *q, const int8_t *k, const float *ks, int64_t n, int64_t d, float *s) {
    int8_t buffer[TK_ATTN_Q8_MAX];
    float sq;
    int8_t *q8 = tk_attn_query_i8(q, d, buffer, &sq);
    for (int64_t j = 0; j < n; j++) {
        const int8_t *kj = k + j * d;
        int32_t dot = 0;
        for (int64_t c = 0; c < d; c++) dot += q8[c] * kj[c];
        s[j] = (float)dot * (sq * ks[j]);
    }
    if (q8 != buffer) free(q8);
}

void tk_attn_values_i8_generic(const float *p, const int8_t *v, const float *vs, int64_t n, int64_t d, float *out) {
    for (int64_t c = 0; c < d; c++) out[c] = 0.0f;
    for (int64_t j = 0; j < n; j++) {
        const float pj = p[j] * vs[j];
        if (pj == 0.0f) continue;
        const int8_t *vj = v + j * d;
        for (int64_t c = 0; c < d; c++) out[c] += pj * (float)vj[c];
    }
}

void tk_attn_scores_f32_generic(const float *q, const float *k, int64_t ldk, int64_t n, int64_t d, float *s) {
    for (int64_t j = 0; j < n; j++) {
        const float *kj = k + j * ldk;
        float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int64_t c = 0;
        for (; c + 8 <= d; c += 8)
            for (int t = 0; t < 8; t++) acc[t] += q[c + t] * kj[c + t];
        float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        for (; c < d; c++) sum += q[c] * kj[c];
        s[j] = sum;
    }
}

void tk_attn_values_f32_generic(const float *p, const float *v, int64_t ldv, int64_t n, int64_t d, float *out) {
    for (int64_t c = 0; c < d; c++) out[c] = 0.0f;
    for (int64_t j = 0; j < n; j++) {
        const float pj = p[j];
        if (pj == 0.0f) continue;  // masked keys: their cached values may be anything
        const float *vj = v + j * ldv;
        for (int64_t c = 0; c < d; c++) out[c] += pj * vj[c];
    }
}

#if defined(TK_HAVE_AVX2)
#include "tk_x86.h"

#define TK_ATTN_AVX2 __attribute__((target("avx2,fma,f16c")))

TK_ATTN_AVX2 void tk_attn_scores_f32_avx2(const float *q, const float *k, int64_t ldk, int64_t n, int64_t d, float *s) {
    const int64_t d8 = d & ~(int64_t)7;
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
        const float *k0 = k + j * ldk, *k1 = k0 + ldk, *k2 = k1 + ldk, *k3 = k2 + ldk;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        for (int64_t c = 0; c < d8; c += 8) {
            const __m256 qv = _mm256_loadu_ps(q + c);
            a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + c), a0);
            a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k1 + c), a1);
            a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k2 + c), a2);
            a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k3 + c), a3);
        }
        __m128 r = tk_x86_hsum4(a0, a1, a2, a3);
        if (d8 < d) {
            float tail[4] = {0, 0, 0, 0};
            for (int64_t c = d8; c < d; c++) {
                tail[0] += q[c] * k0[c];
                tail[1] += q[c] * k1[c];
                tail[2] += q[c] * k2[c];
                tail[3] += q[c] * k3[c];
            }
            r = _mm_add_ps(r, _mm_loadu_ps(tail));
        }
        _mm_storeu_ps(s + j, r);
    }
    if (j < n) tk_attn_scores_f32_generic(q, k + j * ldk, ldk, n - j, d, s + j);
}

TK_ATTN_AVX2 void tk_attn_values_f32_avx2(const float *p, const float *v, int64_t ldv, int64_t n, int64_t d, float *out) {
    int64_t c0 = 0;
    for (; c0 + 64 <= d; c0 += 64) {
        __m256 acc[8];
        for (int i = 0; i < 8; i++) acc[i] = _mm256_setzero_ps();
        for (int64_t j = 0; j < n; j++) {
            if (p[j] == 0.0f) continue;
            const __m256 pj = _mm256_set1_ps(p[j]);
            const float *vj = v + j * ldv + c0;
            for (int i = 0; i < 8; i++) acc[i] = _mm256_fmadd_ps(pj, _mm256_loadu_ps(vj + 8 * i), acc[i]);
        }
        for (int i = 0; i < 8; i++) _mm256_storeu_ps(out + c0 + 8 * i, acc[i]);
    }
    for (; c0 + 8 <= d; c0 += 8) {
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();  // even and odd keys
        int64_t j = 0;
        for (; j + 2 <= n; j += 2) {
            if (p[j] != 0.0f) a0 = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), _mm256_loadu_ps(v + j * ldv + c0), a0);
            if (p[j + 1] != 0.0f) a1 = _mm256_fmadd_ps(_mm256_set1_ps(p[j + 1]), _mm256_loadu_ps(v + (j + 1) * ldv + c0), a1);
        }
        if (j < n && p[j] != 0.0f) a0 = _mm256_fmadd_ps(_mm256_set1_ps(p[j]), _mm256_loadu_ps(v + j * ldv + c0), a0);
        _mm256_storeu_ps(out + c0, _mm256_add_ps(a0, a1));
    }
    if (c0 < d) tk_attn_values_f32_generic(p, v + c0, ldv, n, d - c0, out + c0);
}

/// How far ahead (bytes) the int8 kernels prefetch. At batch 8 a step's cross-attention cache
/// (t5-small, 400 inputs: 20 MB) comes from DRAM, and one sequential stream per core left most of
/// the bandwidth unused: 2048 took the batch-8 step's cross-attention from 2.06–2.27 ms to
/// 1.19–1.57 (4096 measured the same within noise).
enum { TK_ATTN_AHEAD = 2048 };

/// Eight int8 values widened to floats.
TK_ATTN_AVX2 static inline __m256 i8x8(const int8_t *v) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)v)));
}

/// The generic copy's integer dot products in float lanes: products of two int8 values and their
/// sums stay integers below 2^24 (d ≤ 1040), so every float operation is exact.
TK_ATTN_AVX2 void tk_attn_scores_i8_avx2(const float *qf, const int8_t *k, const float *ks, int64_t n, int64_t d, float *s) {
    const int64_t d8 = d & ~(int64_t)7;
    if (d8 != d || d > TK_ATTN_Q8_MAX) {
        tk_attn_scores_i8_generic(qf, k, ks, n, d, s);
        return;
    }
    int8_t q8[TK_ATTN_Q8_MAX];
    float q[TK_ATTN_Q8_MAX], sq;
    tk_attn_query_i8(qf, d, q8, &sq);
    for (int64_t c = 0; c < d; c++) q[c] = (float)q8[c];
    const __m128 vsq = _mm_set1_ps(sq);
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
        const int8_t *k0 = k + j * d, *k1 = k0 + d, *k2 = k1 + d, *k3 = k2 + d;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
        __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        for (int64_t c = 0; c < 4 * d; c += 64) _mm_prefetch((const char *)k0 + TK_ATTN_AHEAD + c, _MM_HINT_T0);
        for (int64_t c = 0; c < d; c += 8) {
            const __m256 qv = _mm256_loadu_ps(q + c);
            a0 = _mm256_fmadd_ps(qv, i8x8(k0 + c), a0);
            a1 = _mm256_fmadd_ps(qv, i8x8(k1 + c), a1);
            a2 = _mm256_fmadd_ps(qv, i8x8(k2 + c), a2);
            a3 = _mm256_fmadd_ps(qv, i8x8(k3 + c), a3);
        }
        _mm_storeu_ps(s + j, _mm_mul_ps(tk_x86_hsum4(a0, a1, a2, a3), _mm_mul_ps(vsq, _mm_loadu_ps(ks + j))));
    }
    if (j < n) tk_attn_scores_i8_generic(qf, k + j * d, ks + j, n - j, d, s + j);
}

TK_ATTN_AVX2 void tk_attn_values_i8_avx2(const float *p, const int8_t *v, const float *vs, int64_t n, int64_t d, float *out) {
    if (d % 64 != 0) {
        tk_attn_values_i8_generic(p, v, vs, n, d, out);
        return;
    }
    for (int64_t c0 = 0; c0 < d; c0 += 64) {
        __m256 acc[8];
        for (int i = 0; i < 8; i++) acc[i] = _mm256_setzero_ps();
        for (int64_t j = 0; j < n; j++) {
            const float w = p[j] * vs[j];
            if (w == 0.0f) continue;
            const __m256 pj = _mm256_set1_ps(w);
            const int8_t *vj = v + j * d + c0;
            _mm_prefetch((const char *)vj + TK_ATTN_AHEAD, _MM_HINT_T0);
            for (int i = 0; i < 8; i++) acc[i] = _mm256_fmadd_ps(pj, i8x8(vj + 8 * i), acc[i]);
        }
        for (int i = 0; i < 8; i++) _mm256_storeu_ps(out + c0 + 8 * i, acc[i]);
    }
}

#define TK_ATTN_512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

/// Lane j of the result = the sum of a[j]'s 16 lanes: pairs of vectors, then pairs of those, then
/// 128-bit lanes (42 instructions for 16 sums).
TK_ATTN_512 static inline __m512i tk_hsum16_epi32(const __m512i a[16]) {
    __m512i b[8], c[4];
    for (int i = 0; i < 8; i++)  // per 128-bit lane: [a0+a2, b0+b2, a1+a3, b1+b3] of a[2i], a[2i+1]
        b[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(a[2 * i], a[2 * i + 1]), _mm512_unpackhi_epi32(a[2 * i], a[2 * i + 1]));
    for (int i = 0; i < 4; i++)  // per 128-bit lane: the lane's sums of a[4i] … a[4i + 3]
        c[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(b[2 * i], b[2 * i + 1]), _mm512_unpackhi_epi64(b[2 * i], b[2 * i + 1]));
    const __m512i s01 = _mm512_add_epi32(_mm512_shuffle_i32x4(c[0], c[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                         _mm512_shuffle_i32x4(c[0], c[1], _MM_SHUFFLE(3, 1, 3, 1)));
    const __m512i s23 = _mm512_add_epi32(_mm512_shuffle_i32x4(c[2], c[3], _MM_SHUFFLE(2, 0, 2, 0)),
                                         _mm512_shuffle_i32x4(c[2], c[3], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_add_epi32(_mm512_shuffle_i32x4(s01, s23, _MM_SHUFFLE(2, 0, 2, 0)),
                            _mm512_shuffle_i32x4(s01, s23, _MM_SHUFFLE(3, 1, 3, 1)));
}

/// tk_attn_scores_f32_avx2 16 lanes wide (four keys a pass, each key's 16 partial sums folded to
/// 8 and then reduced with the AVX2 helper).
TK_ATTN_512 void tk_attn_scores_f32_avx512(const float *q, const float *k, int64_t ldk, int64_t n, int64_t d, float *s) {
    if (d % 16 != 0) {
        tk_attn_scores_f32_avx2(q, k, ldk, n, d, s);
        return;
    }
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
        const float *k0 = k + j * ldk, *k1 = k0 + ldk, *k2 = k1 + ldk, *k3 = k2 + ldk;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
        __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
        for (int64_t c = 0; c < d; c += 16) {
            const __m512 qv = _mm512_loadu_ps(q + c);
            a0 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(k0 + c), a0);
            a1 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(k1 + c), a1);
            a2 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(k2 + c), a2);
            a3 = _mm512_fmadd_ps(qv, _mm512_loadu_ps(k3 + c), a3);
        }
#define TK_FOLD(a) _mm256_add_ps(_mm512_castps512_ps256(a), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1)))
        _mm_storeu_ps(s + j, tk_x86_hsum4(TK_FOLD(a0), TK_FOLD(a1), TK_FOLD(a2), TK_FOLD(a3)));
#undef TK_FOLD
    }
    if (j < n) tk_attn_scores_f32_generic(q, k + j * ldk, ldk, n - j, d, s + j);
}

/// tk_attn_values_f32_avx2 16 lanes wide for heads of a multiple of 64: the same sums in the same
/// order per output, so the same floats.
TK_ATTN_512 void tk_attn_values_f32_avx512(const float *p, const float *v, int64_t ldv, int64_t n, int64_t d, float *out) {
    if (d % 64 != 0) {
        tk_attn_values_f32_avx2(p, v, ldv, n, d, out);
        return;
    }
    for (int64_t c0 = 0; c0 < d; c0 += 64) {
        __m512 acc[4];
        for (int i = 0; i < 4; i++) acc[i] = _mm512_setzero_ps();
        for (int64_t j = 0; j < n; j++) {
            if (p[j] == 0.0f) continue;
            const __m512 pj = _mm512_set1_ps(p[j]);
            const float *vj = v + j * ldv + c0;
            for (int i = 0; i < 4; i++) acc[i] = _mm512_fmadd_ps(pj, _mm512_loadu_ps(vj + 16 * i), acc[i]);
        }
        for (int i = 0; i < 4; i++) _mm512_storeu_ps(out + c0 + 16 * i, acc[i]);
    }
}

/// One key's 16 lane sums of (k + 128)·q8 over `chunks` × 64 values (the keys flipped to unsigned).
TK_ATTN_512 static inline __m512i tk_key_dot_vnni(const int8_t *key, const int8_t *q8, int64_t chunks, __m512i flip) {
    __m512i acc = _mm512_setzero_si512();
    for (int64_t c = 0; c < chunks; c++)
        acc = _mm512_dpbusd_epi32(acc, _mm512_xor_si512(_mm512_loadu_si512((const void *)(key + 64 * c)), flip),
                                  _mm512_loadu_si512((const void *)(q8 + 64 * c)));
    return acc;
}

/// VNNI: one vpdpbusd per 64 values of a key, 16 keys at a time. The keys go in as the unsigned
/// operand, flipped to k + 128, so each dot product comes out 128·Σq8 high (subtracted: exact).
TK_ATTN_512 void tk_attn_scores_i8_avx512(const float *q, const int8_t *k, const float *ks, int64_t n, int64_t d, float *s) {
    if (d % 64 != 0 || d > TK_ATTN_Q8_MAX) {
        tk_attn_scores_i8_avx2(q, k, ks, n, d, s);
        return;
    }
    int8_t q8[TK_ATTN_Q8_MAX];
    float sq;
    tk_attn_query_i8(q, d, q8, &sq);
    int32_t qsum = 0;
    for (int64_t c = 0; c < d; c++) qsum += q8[c];
    const __m512i flip = _mm512_set1_epi8((char)0x80), high = _mm512_set1_epi32(128 * qsum);
    const __m512 vsq = _mm512_set1_ps(sq);
    const int64_t chunks = d / 64;
    int64_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __m512i a[16];
        for (int t = 0; t < 16; t++) {
            const int8_t *kt = k + (j + t) * d;
            _mm_prefetch((const char *)kt + TK_ATTN_AHEAD, _MM_HINT_T0);
            a[t] = tk_key_dot_vnni(kt, q8, chunks, flip);
        }
        const __m512i dots = _mm512_sub_epi32(tk_hsum16_epi32(a), high);
        _mm512_storeu_ps(s + j, _mm512_mul_ps(_mm512_cvtepi32_ps(dots), _mm512_mul_ps(vsq, _mm512_loadu_ps(ks + j))));
    }
    for (; j < n; j++)
        s[j] = (float)(_mm512_reduce_add_epi32(tk_key_dot_vnni(k + j * d, q8, chunks, flip)) - 128 * qsum) * (sq * ks[j]);
}

/// tk_attn_values_i8_avx2 16 lanes wide: the same sums in the same order, so the same floats.
TK_ATTN_512 void tk_attn_values_i8_avx512(const float *p, const int8_t *v, const float *vs, int64_t n, int64_t d, float *out) {
    if (d % 64 != 0) {
        tk_attn_values_i8_avx2(p, v, vs, n, d, out);
        return;
    }
    for (int64_t c0 = 0; c0 < d; c0 += 64) {
        __m512 acc[4];
        for (int i = 0; i < 4; i++) acc[i] = _mm512_setzero_ps();
        for (int64_t j = 0; j < n; j++) {
            const float w = p[j] * vs[j];
            if (w == 0.0f) continue;
            const __m512 pj = _mm512_set1_ps(w);
            const int8_t *vj = v + j * d + c0;
            _mm_prefetch((const char *)vj + TK_ATTN_AHEAD, _MM_HINT_T0);
            for (int i = 0; i < 4; i++)
                acc[i] = _mm512_fmadd_ps(pj, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(vj + 16 * i)))), acc[i]);
        }
        for (int i = 0; i < 4; i++) _mm512_storeu_ps(out + c0 + 16 * i, acc[i]);
    }
}

/// tk_quantize_rows_i8 16 lanes at a time: the same largest magnitude (vmaxps keeps the running
/// maximum where a lane is NaN, as the generic comparison does), the same product, ±0.5 and
/// truncation, so the same bytes and scales. The cross-attention cache of a 512-token t5-base
/// input is 9.4 M floats; as plain C this was ~4 % of the encode.
TK_ATTN_512 void tk_quantize_rows_i8_avx512(const float *x, int64_t rows, int64_t d, int64_t ldx, int8_t *q, float *scale) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * ldx;
        __m512 amax = _mm512_setzero_ps();
        for (int64_t c = 0; c < d; c += 16) {
            const __mmask16 live = d - c >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (d - c)) - 1);
            amax = _mm512_max_ps(_mm512_abs_ps(_mm512_maskz_loadu_ps(live, xr + c)), amax);
        }
        const float a = _mm512_reduce_max_ps(amax);
        const float inv = a > 0.0f ? 127.0f / a : 0.0f;
        scale[r] = a / 127.0f;
        const __m512 vinv = _mm512_set1_ps(inv), half = _mm512_set1_ps(0.5f), zero = _mm512_setzero_ps();
        for (int64_t c = 0; c < d; c += 16) {
            const __mmask16 live = d - c >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (d - c)) - 1);
            const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(live, xr + c), vinv);
            const __mmask16 negative = _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ);
            const __m512 rounded = _mm512_mask_sub_ps(_mm512_add_ps(v, half), negative, v, half);
            _mm_mask_storeu_epi8(q + r * d + c, live, _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(rounded)));
        }
    }
}
#endif
