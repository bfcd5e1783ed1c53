// x86-64 GEMM for q8_0/q4_0 weights with AVX-VNNI (Alder Lake, Sapphire Rapids, Zen 5 and later).
//
// Why a separate kernel: on plain AVX2 an int8 multiply-add needs sign + maddubs + madd and one
// cvt + FMA per block and pair (see kernels_x86_avx2.c), which is slower than f32 FMA. `vpdpbusd`
// does 32 u8×s8 multiply-adds into int32 in one instruction, and with weights repacked so that one
// register holds 4 inputs × 8 outputs, no horizontal sums are needed either:
//   acc[n] += Σ_{t<4} xu[k+t] · w[n][k+t]     (xu = x + 128, unsigned)
// The +128 offset makes the activations unsigned (vpdpbusd multiplies unsigned by signed); it is
// removed exactly per block with 128·Σw, computed while packing. Integer sums are exact; one f32
// FMA per block, row and 8 outputs applies the scales. Chosen at run time only when cpuid reports
// AVX-VNNI; the plain AVX2 table is still used (and tested) with TANDEM_ISA=avx2.
#include "tk_x86.h"

#if defined(TK_HAVE_AVX2)
#include <immintrin.h>
#include <stdlib.h>

#define TK_VNNI __attribute__((target("avx2,fma,f16c,avxvnni")))
#define TK_VNNI_INLINE __attribute__((target("avx2,fma,f16c,avxvnni"), always_inline)) static inline

enum { VN_NR = 8, VN_MR = 4, VN_PANELS = 2 };  // tile: 4 activation rows × 2 panels of 8 outputs

/// One panel of 8 weight rows over all blocks: q[b][g][j][t] = w[row j][32b + 4g + t] (256 bytes a
/// block), the row scales d[b][j] and the offset corrections c[b][j] = 128·Σ_k w[row j][k in b].
typedef struct {
    int8_t *q;
    float *d;
    int32_t *c;
} vn_panel;

TK_VNNI static void vn_pack(const void *w, int64_t k, int64_t n, int64_t nr, int q4, vn_panel p) {
    const int64_t nb = k / TK_QK;
    const int64_t rb = tk_row_bytes(q4 ? TK_Q4_0 : TK_Q8_0, k);
    const char *rows[VN_NR];
    for (int64_t j = 0; j < VN_NR; j++) rows[j] = (const char *)w + (n + (j < nr ? j : 0)) * rb;
    const __m256i k128 = _mm256_set1_epi8((char)0x80);
    for (int64_t b = 0; b < nb; b++) {
        __m256i r[VN_NR], t[8];
        for (int64_t j = 0; j < VN_NR; j++) {
            float d = 0.0f;
            r[j] = j < nr ? tk_x86_block_values(rows[j], b, q4, &d) : _mm256_setzero_si256();
            p.d[b * VN_NR + j] = d;
        }
        tk_x86_transpose8i(r, t);
        // 128·Σw per row: vpdpbusd with 128 in every unsigned byte sums each lane's four weights.
        __m256i c = _mm256_setzero_si256();
        for (int g = 0; g < 8; g++) {
            _mm256_storeu_si256((__m256i *)(p.q + b * 256 + g * 32), t[g]);
            c = _mm256_dpbusd_avx_epi32(c, k128, t[g]);
        }
        _mm256_storeu_si256((__m256i *)(p.c + b * VN_NR), c);
    }
}

/// y[rows m0.., cols n..n+8·panels) for `mr` rows (1..4) and `np` panels (1..2); full tiles are
/// written straight to y, partial ones (nr < 16) through `tmp`.
TK_VNNI_INLINE void vn_tile(const uint8_t *xu, const float *dx, int64_t k, int64_t m0, int mr,
                            const vn_panel *pan, int np, float *out, int64_t ldo) {
    const int64_t nb = k / TK_QK;
    __m256 f[VN_MR][VN_PANELS];
    for (int i = 0; i < VN_MR; i++)
        for (int q = 0; q < VN_PANELS; q++) f[i][q] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i acc[VN_MR][VN_PANELS];
        for (int i = 0; i < VN_MR; i++)
            for (int q = 0; q < VN_PANELS; q++) acc[i][q] = _mm256_setzero_si256();
        for (int g = 0; g < 8; g++) {
            __m256i wv[VN_PANELS];
            for (int q = 0; q < np; q++) wv[q] = _mm256_loadu_si256((const __m256i *)(pan[q].q + b * 256 + g * 32));
            for (int i = 0; i < mr; i++) {
                int32_t four;
                memcpy(&four, xu + (m0 + i) * k + b * TK_QK + g * 4, 4);
                const __m256i xv = _mm256_set1_epi32(four);
                for (int q = 0; q < np; q++) acc[i][q] = _mm256_dpbusd_avx_epi32(acc[i][q], xv, wv[q]);
            }
        }
        for (int q = 0; q < np; q++) {
            const __m256i corr = _mm256_loadu_si256((const __m256i *)(pan[q].c + b * VN_NR));
            const __m256 dw = _mm256_loadu_ps(pan[q].d + b * VN_NR);
            for (int i = 0; i < mr; i++) {
                const __m256 s = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc[i][q], corr));
                f[i][q] = _mm256_fmadd_ps(s, _mm256_mul_ps(dw, _mm256_set1_ps(dx[(m0 + i) * nb + b])), f[i][q]);
            }
        }
    }
    for (int i = 0; i < mr; i++)
        for (int q = 0; q < np; q++) _mm256_storeu_ps(out + i * ldo + q * VN_NR, f[i][q]);
}

TK_VNNI static void vn_gemm(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k,
                            int64_t n0, int64_t n1, int q4) {
    const int64_t nb = k / TK_QK;
    const tk_block_q8_0 *xq = (const tk_block_q8_0 *)x;
    // Activations once per call: unsigned bytes (x + 128) and f32 scales.
    uint8_t *xu = malloc((size_t)(m * k));
    float *dx = malloc(sizeof(float) * (size_t)(m * nb));
    int8_t *pq = malloc((size_t)(VN_PANELS * nb * 256));
    float *pd = malloc(sizeof(float) * (size_t)(VN_PANELS * nb * VN_NR));
    int32_t *pc = malloc(sizeof(int32_t) * (size_t)(VN_PANELS * nb * VN_NR));
    if (!xu || !dx || !pq || !pd || !pc) abort();
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    for (int64_t i = 0; i < m; i++)
        for (int64_t b = 0; b < nb; b++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)xq[i * nb + b].qs);
            _mm256_storeu_si256((__m256i *)(xu + i * k + b * TK_QK), _mm256_xor_si256(v, flip));
            dx[i * nb + b] = tk_x86_half(xq[i * nb + b].d);
        }
    vn_panel pan[VN_PANELS];
    for (int q = 0; q < VN_PANELS; q++)
        pan[q] = (vn_panel){pq + q * nb * 256, pd + q * nb * VN_NR, pc + q * nb * VN_NR};
    float tmp[VN_MR * VN_NR * VN_PANELS];
    for (int64_t n = n0; n < n1; n += VN_NR * VN_PANELS) {
        const int64_t nr = tk_min64(VN_NR * VN_PANELS, n1 - n);
        const int np = (int)((nr + VN_NR - 1) / VN_NR);
        for (int q = 0; q < np; q++) vn_pack(w, k, n + q * VN_NR, tk_min64(VN_NR, nr - q * VN_NR), q4, pan[q]);
        for (int64_t i = 0; i < m; i += VN_MR) {
            const int mr = (int)tk_min64(VN_MR, m - i);
            if (nr == VN_NR * VN_PANELS && mr == VN_MR) {
                vn_tile(xu, dx, k, i, VN_MR, pan, VN_PANELS, y + i * ldy + n, ldy);
                continue;
            }
            vn_tile(xu, dx, k, i, mr, pan, np, tmp, VN_NR * VN_PANELS);
            for (int r = 0; r < mr; r++)
                for (int64_t c = 0; c < nr; c++) y[(i + r) * ldy + n + c] = tmp[r * VN_NR * VN_PANELS + c];
        }
    }
    free(xu); free(dx); free(pq); free(pd); free(pc);
}

// ---------------------------------------------------------------------------------------------
// q8_0 / q4_0 / q5_0 GEMV (decode) with vpdpbusd (`q4` below is the kind: 0 q8_0, 1 q4_0, 2 q5_0). The AVX2 kernel spends maddubs + madd (and for q4_0 a
// subtraction) per block; here one vpdpbusd gives the block's 8 lane sums in int32:
// * q4_0: the stored nibbles q = w + 8 are unsigned, which is what vpdpbusd multiplies, so
//   Σ w·x = Σ q·x − 8·Σ x. The accumulator starts at −8·Σx per lane, computed once per call
//   for each activation block (no saturation: |Σ| ≤ 4·15·127 per lane).
// * q5_0: the same with q = w + 16 (the fifth bits spread to bytes) and −16·Σx.
// * q8_0: the sign trick, vpdpbusd(|w|, sign(x, w)), so |w| is the unsigned factor.
// Two rows per pass share each activation block; the next row pair is prefetched (same reasons
// as the AVX2 kernel).
//
// Compiled twice, for the two encodings of the 256-bit vpdpbusd: VEX (AVX-VNNI; the avx2+vnni
// table) and EVEX (AVX512-VNNI with VL; the AVX-512 tables). Zen 4 and the Ice Lake and Cascade
// Lake Xeons have only the EVEX form, so the AVX-512 tables must not need AVX-VNNI.
// ---------------------------------------------------------------------------------------------
#define VN_DEFINE_GEMV(SUFFIX, TARGET, DPBUSD)                                                       \
    __attribute__((target(TARGET), always_inline)) static inline __m256i vn_gemv_block_##SUFFIX(    \
        const char *row, int64_t b, __m256i xv, __m256i init, int q4) {                              \
        if (q4 == 2) {                                                                               \
            /* q5_0: the values q = w + 16 are unsigned; the accumulator starts at −16·Σx. */        \
            return DPBUSD(init, tk_x86_q5_0_values((const tk_block_q5_0 *)row + b), xv);             \
        }                                                                                            \
        if (q4) {                                                                                    \
            const tk_block_q4_0 *blk = (const tk_block_q4_0 *)row + b;                               \
            /* Both halves of one 16-byte load; the high half shifted right by 4: low nibbles are   \
               elements 0…15, high nibbles 16…31 (the q4_0 order), as the activation block has. */  \
            const __m256i both = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)blk->qs)); \
            const __m256i q = _mm256_and_si256(_mm256_srlv_epi64(both, _mm256_set_epi64x(4, 4, 0, 0)), \
                                               _mm256_set1_epi8(0x0F));                              \
            return DPBUSD(init, q, xv);                                                              \
        }                                                                                            \
        const tk_block_q8_0 *blk = (const tk_block_q8_0 *)row + b;                                   \
        const __m256i w = _mm256_loadu_si256((const __m256i *)blk->qs);                              \
        return DPBUSD(_mm256_setzero_si256(), _mm256_sign_epi8(w, w), _mm256_sign_epi8(xv, w));      \
    }                                                                                                \
    /* Per activation block, for q4_0: the accumulator's start, −8·Σx per lane. */                   \
    __attribute__((target(TARGET), always_inline)) static inline __m256i vn_gemv_pre_##SUFFIX(      \
        __m256i xv, int q4) {                                                                        \
        return q4 ? _mm256_sub_epi32(_mm256_setzero_si256(),                                         \
                                     DPBUSD(_mm256_setzero_si256(), _mm256_set1_epi8(q4 == 2 ? 16 : 8), xv)) \
                  : _mm256_setzero_si256();                                                          \
    }                                                                                                \
    TK_X86_DEFINE_GEMV_QUANT(vn_gemv_##SUFFIX, __attribute__((target(TARGET), always_inline)) static inline, \
                             vn_gemv_pre_##SUFFIX, vn_gemv_block_##SUFFIX)                           \
    __attribute__((target(TARGET))) void tk_gemv_q8_0_##SUFFIX(const void *w, const void *x, float *y, \
                                                               int64_t k, int64_t r0, int64_t r1) { \
        vn_gemv_##SUFFIX(w, x, y, k, r0, r1, 0);                                                     \
    }                                                                                                \
    __attribute__((target(TARGET))) void tk_gemv_q4_0_##SUFFIX(const void *w, const void *x, float *y, \
                                                               int64_t k, int64_t r0, int64_t r1) { \
        vn_gemv_##SUFFIX(w, x, y, k, r0, r1, 1);                                                     \
    }                                                                                                \
    __attribute__((target(TARGET))) void tk_gemv_q5_0_##SUFFIX(const void *w, const void *x, float *y, \
                                                               int64_t k, int64_t r0, int64_t r1) { \
        vn_gemv_##SUFFIX(w, x, y, k, r0, r1, 2);                                                     \
    }

VN_DEFINE_GEMV(avxvnni, "avx2,fma,f16c,avxvnni", _mm256_dpbusd_avx_epi32)
VN_DEFINE_GEMV(avx512vnni, "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni", _mm256_dpbusd_epi32)

TK_VNNI void tk_gemm_q8_0_avxvnni(const void *w, const void *x, float *y, int64_t ldy, int64_t m,
                                  int64_t k, int64_t n0, int64_t n1) {
    vn_gemm(w, x, y, ldy, m, k, n0, n1, 0);
}

TK_VNNI void tk_gemm_q4_0_avxvnni(const void *w, const void *x, float *y, int64_t ldy, int64_t m,
                                  int64_t k, int64_t n0, int64_t n1) {
    vn_gemm(w, x, y, ldy, m, k, n0, n1, 1);
}

#endif // TK_HAVE_AVX2
