// x86-64 GEMM with AVX-512 (F, BW, VL) and AVX512-VNNI: Ice Lake / Sapphire Rapids servers,
// Zen 4 and later. Everything else in this table is the AVX2 code, with the int8 GEMV of
// kernels_x86_avxvnni.c compiled for the EVEX vpdpbusd (no AVX-VNNI needed).
//
// Why: each instruction here does twice the work of its 256-bit form, and there are 32 vector
// registers, so a micro-tile can hold 12×32 f32 results (AVX2: 6×16). Encoding (all prompt
// tokens at once) is GEMM-bound, so this is where a 512-token T5 or SmolLM2 prompt spends its
// time. Chosen at run time only when cpuid and the OS (XCR0 opmask/ZMM state) allow it;
// `TANDEM_ISA=avx2vnni` or `avx2` runs the narrower kernels on the same machine.
//
// * f32/f16: BLIS-style. Per 256-input slab, the activation rows are packed 12 at a time as
//   [p][12] (one pointer, broadcasts at fixed offsets), each 32-output weight panel as [p][32]
//   (f16 widened while packing), then a 12×32 register tile runs over the slab.
// * q8_0/q4_0: the AVX-VNNI scheme of kernels_x86_avxvnni.c, 16 outputs per register:
//   acc[n] += Σ_{t<4} xu[k+t]·w[n][k+t] with xu = x + 128 (vpdpbusd multiplies unsigned by
//   signed); the accumulator starts each block at −128·Σw (computed while packing), so the block
//   sum is exact, then one convert and one FMA per block apply the two scales. Panels prepacked
//   for batched decoding swap the roles (unsigned weights w + 128, signed activations, a start of
//   −128·Σx per activation row), so they carry no sums: see v5_panel.
#include "tk_x86.h"

#if defined(TK_HAVE_AVX2)
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#define TK_512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define TK_512_INLINE __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c"), always_inline)) static inline

enum { K5_MR = 12, K5_NR = 32, K5_KC = 256, K5_CBUF = 512 * 1024 };

/// C[12×32] (+)= Apack[kc][12] · Bpanel[kc][32].
TK_512_INLINE void k5_kernel(const float *a, const float *b, int64_t kc, float *c, int64_t ldc, int accumulate) {
    __m512 acc[K5_MR][2];
    for (int i = 0; i < K5_MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int64_t p = 0; p < kc; p++, a += K5_MR, b += K5_NR) {
        const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
        for (int i = 0; i < K5_MR; i++) {
            const __m512 ai = _mm512_set1_ps(a[i]);
            acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
        }
    }
    for (int i = 0; i < K5_MR; i++) {
        float *r = c + i * ldc;
        if (accumulate) {
            acc[i][0] = _mm512_add_ps(acc[i][0], _mm512_loadu_ps(r));
            acc[i][1] = _mm512_add_ps(acc[i][1], _mm512_loadu_ps(r + 16));
        }
        _mm512_storeu_ps(r, acc[i][0]);
        _mm512_storeu_ps(r + 16, acc[i][1]);
    }
}

/// Eight floats of weight row `row` from input p (f16 rows widened).
TK_512_INLINE __m256 k5_load8(const void *w, int64_t k, int64_t row, int64_t p, int f16) {
    if (f16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + row * k + p)));
    return _mm256_loadu_ps((const float *)w + row * k + p);
}

/// Weight rows [nb, nb + nr) × inputs [k0, k0 + kc) as panel[p·32 + j], zero past nr, through
/// 8×8 transposes so that both the reads (along rows) and the writes (along the panel) are whole
/// vectors.
TK_512 static void k5_pack_panel(const void *w, int64_t k, int64_t nb, int64_t nr, int64_t k0, int64_t kc,
                                 int f16, float *panel) {
    const int64_t kc8 = kc & ~(int64_t)7;
    for (int64_t j0 = 0; j0 < K5_NR; j0 += 8) {
        for (int64_t p = 0; p < kc8; p += 8) {
            __m256 r[8], t[8];
            for (int64_t j = 0; j < 8; j++)
                r[j] = j0 + j < nr ? k5_load8(w, k, nb + j0 + j, k0 + p, f16) : _mm256_setzero_ps();
            tk_x86_transpose8(r, t);
            for (int c = 0; c < 8; c++) _mm256_store_ps(panel + (p + c) * K5_NR + j0, t[c]);
        }
        for (int64_t p = kc8; p < kc; p++)
            for (int64_t j = j0; j < j0 + 8; j++) {
                float v = 0.0f;
                if (j < nr) v = f16 ? tk_x86_half(((const uint16_t *)w)[(nb + j) * k + k0 + p]) : ((const float *)w)[(nb + j) * k + k0 + p];
                panel[p * K5_NR + j] = v;
            }
    }
}

/// Activation rows [r0, r0 + 12) × inputs [k0, k0 + kc) as dst[p·12 + i], zero rows at and past m.
TK_512 static void k5_pack_rows(const float *x, int64_t k, int64_t m, int64_t r0, int64_t k0, int64_t kc, float *dst) {
    const int64_t kc8 = kc & ~(int64_t)7;
    for (int64_t p = 0; p < kc8; p += 8) {
        __m256 r[8], t[8];
        for (int64_t i = 0; i < 8; i++)
            r[i] = r0 + i < m ? _mm256_loadu_ps(x + (r0 + i) * k + k0 + p) : _mm256_setzero_ps();
        tk_x86_transpose8(r, t);
        for (int c = 0; c < 8; c++) _mm256_storeu_ps(dst + (p + c) * K5_MR, t[c]);
        for (int64_t i = 8; i < K5_MR; i++) {
            float v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            if (r0 + i < m) memcpy(v, x + (r0 + i) * k + k0 + p, sizeof v);
            for (int c = 0; c < 8; c++) dst[(p + c) * K5_MR + i] = v[c];
        }
    }
    for (int64_t p = kc8; p < kc; p++)
        for (int64_t i = 0; i < K5_MR; i++) dst[p * K5_MR + i] = r0 + i < m ? x[(r0 + i) * k + k0 + p] : 0.0f;
}

/// Bytes of the packed activations for m rows of k inputs (`tk_pack_x_avx512`).
TK_512 int64_t tk_pack_x_size_avx512(int64_t m, int64_t k) {
    return (m + K5_MR - 1) / K5_MR * K5_MR * k * (int64_t)sizeof(float);
}

/// Row groups [g0, g1) (12 rows each) of x [m][k], every input slab: slab k0 starts at
/// dst + mp·k0 (mp = m rounded up to 12) and holds group g at + 12·g·kc as [p][12], zero rows
/// past m. Packed once per product and shared by every thread's output range.
TK_512 void tk_pack_x_avx512(const float *x, int64_t m, int64_t k, float *dst, int64_t g0, int64_t g1) {
    const int64_t mp = (m + K5_MR - 1) / K5_MR * K5_MR;
    for (int64_t k0 = 0; k0 < k; k0 += K5_KC) {
        const int64_t kc = tk_min64(K5_KC, k - k0);
        for (int64_t g = g0; g < g1; g++) k5_pack_rows(x, k, m, g * K5_MR, k0, kc, dst + mp * k0 + g * K5_MR * kc);
    }
}

/// Outputs [n0, n1) from packed activations, in blocks of `nc` outputs: per block, every input
/// slab accumulates into a contiguous C buffer (mp rows × nc, so every tile is whole), copied
/// out to y once at the end. Why not accumulate in y: y's rows are often a power of two apart
/// (ldy = 4096 floats is 16 KiB), so a 12-row tile column falls into one L1 set and a few L2
/// sets, and every slab after the first re-read C from DRAM (11 % of the time at 512×4096×1024);
/// the contiguous buffer stays in L2.
TK_512 static void k5_gemm_float(const void *w, const float *apack, float *y, int64_t ldy, int64_t m, int64_t k,
                                 int64_t n0, int64_t n1, int f16) {
    const int64_t groups = (m + K5_MR - 1) / K5_MR, mp = groups * K5_MR;
    // C block ≤ K5_CBUF bytes, a whole number of panels, at least one.
    int64_t nc = (K5_CBUF / (int64_t)sizeof(float) / mp) / K5_NR * K5_NR;
    nc = tk_min64(tk_max64(nc, K5_NR), (n1 - n0 + K5_NR - 1) / K5_NR * K5_NR);
    float *panel = aligned_alloc(64, sizeof(float) * K5_KC * K5_NR);
    float *cbuf = aligned_alloc(64, sizeof(float) * (size_t)(mp * nc));
    if (!panel || !cbuf) abort();
    // With one slab (k ≤ 256: attention's query·key products over a head) nothing is re-read,
    // so whole tiles go straight to y and only the edges pass through the buffer (the copy-out
    // was ~2 % of a t5-large encoder pass).
    const int direct = k <= K5_KC;
    const int64_t whole_rows = direct ? m / K5_MR * K5_MR : 0;
    for (int64_t nb0 = n0; nb0 < n1; nb0 += nc) {
        const int64_t ncb = tk_min64(nc, n1 - nb0);
        const int64_t whole_cols = direct ? ncb / K5_NR * K5_NR : 0;
        for (int64_t k0 = 0; k0 < k; k0 += K5_KC) {
            const int64_t kc = tk_min64(K5_KC, k - k0);
            const float *slab = apack + mp * k0;
            for (int64_t j = 0; j < ncb; j += K5_NR) {
                k5_pack_panel(w, k, nb0 + j, tk_min64(K5_NR, ncb - j), k0, kc, f16, panel);
                for (int64_t g = 0; g < groups; g++) {
                    if (g * K5_MR < whole_rows && j < whole_cols)
                        k5_kernel(slab + g * K5_MR * kc, panel, kc, y + g * K5_MR * ldy + nb0 + j, ldy, 0);
                    else
                        k5_kernel(slab + g * K5_MR * kc, panel, kc, cbuf + g * K5_MR * nc + j, nc, k0 > 0);
                }
            }
        }
        for (int64_t i = 0; i < m; i++) {
            const int64_t c0 = i < whole_rows ? whole_cols : 0;  // the columns the buffer holds
            if (c0 < ncb) memcpy(y + i * ldy + nb0 + c0, cbuf + i * nc + c0, sizeof(float) * (size_t)(ncb - c0));
        }
    }
    free(panel);
    free(cbuf);
}

/// Packs x itself (a caller with several threads packs once with `tk_pack_x_avx512` and calls
/// the `_packed_x` entries instead).
TK_512 static void k5_gemm_unpacked(const void *w, const float *x, float *y, int64_t ldy, int64_t m, int64_t k,
                                    int64_t n0, int64_t n1, int f16) {
    float *apack = aligned_alloc(64, (size_t)tk_pack_x_size_avx512(m, k));
    if (!apack) abort();
    tk_pack_x_avx512(x, m, k, apack, 0, (m + K5_MR - 1) / K5_MR);
    k5_gemm_float(w, apack, y, ldy, m, k, n0, n1, f16);
    free(apack);
}

TK_512 void tk_gemm_f32_avx512(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k,
                               int64_t n0, int64_t n1) {
    k5_gemm_unpacked(w, (const float *)x, y, ldy, m, k, n0, n1, 0);
}

TK_512 void tk_gemm_f16_avx512(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k,
                               int64_t n0, int64_t n1) {
    k5_gemm_unpacked(w, (const float *)x, y, ldy, m, k, n0, n1, 1);
}

TK_512 void tk_gemm_f32_packed_x_avx512(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k,
                                        int64_t n0, int64_t n1) {
    k5_gemm_float(w, (const float *)x, y, ldy, m, k, n0, n1, 0);
}

TK_512 void tk_gemm_f16_packed_x_avx512(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k,
                                        int64_t n0, int64_t n1) {
    k5_gemm_float(w, (const float *)x, y, ldy, m, k, n0, n1, 1);
}

// ---- q8_0 / q4_0 with AVX512-VNNI ----------------------------------------------------------

enum { V5_NR = 16, V5_MR = 6, V5_PANELS = 2 };  // tile: 6 activation rows × 2 panels of 16 outputs
enum { V5_XBLOCK = 8 * V5_MR * 4 };  // packed activation bytes per block and group of 6 rows

/// One panel of 16 weight rows: q[b][g][j][t] = w[row j][32b + 4g + t] (512 bytes a block), the
/// row scales d[b][j] and the starting sums s[b][j] = −128·Σ_k w[row j][k in block b].
///
/// Prepacked panels (batched decoding, which streams them from memory every step) have no sums,
/// s = NULL: the weights are stored offset to unsigned, w + 128 (q8_0), or as nibbles, 256 bytes a
/// block: byte [b][h][j][t] = (w[j][32b + 4h + t] + 8) | (w[j][32b + 4(h+4) + t] + 8) << 4 (q4_0,
/// half the bytes of int8). vpdpbusd then takes the weights as its unsigned operand and the
/// activations as they are, and the offset's share, −128Σx or −8Σx, is per activation row and
/// block (v5_tile, v5_tile_q4). The sums were 64 of a q8_0 panel's 640 bytes a block.
///
/// The scales stay in half precision, as the blocks have them (exact; one conversion per panel and
/// block in the tile): a prepacked q8_0 panel then takes 34 bytes per 32 weights, as the model
/// file does, and a q4_0 one 18.
typedef struct {
    int8_t *q;
    uint16_t *d;
    int32_t *s;
} v5_panel;

TK_512 static void v5_pack(const void *w, int64_t k, int64_t n, int64_t nr, int q4, v5_panel p) {
    const int64_t nb = k / TK_QK;
    const int64_t rb = tk_row_bytes(q4 ? TK_Q4_0 : TK_Q8_0, k);
    const char *rows[V5_NR];
    for (int64_t j = 0; j < V5_NR; j++) rows[j] = (const char *)w + (n + (j < nr ? j : 0)) * rb;
    const int64_t bs = q4 ? (int64_t)sizeof(tk_block_q4_0) : (int64_t)sizeof(tk_block_q8_0);
    const __m512i k128 = _mm512_set1_epi8((char)0x80);
    for (int64_t b = 0; b < nb; b++) {
        __m256i r[V5_NR], lo[8], hi[8];
        for (int64_t j = 0; j < V5_NR; j++) {
            // 16 rows are 16 streams through memory (when packing on the fly, the weights come
            // from DRAM once per product), more than the hardware prefetcher follows well: a
            // t5-large encoder spent ~8 % of its time here, mostly waiting. Eight blocks ahead.
            _mm_prefetch(rows[j] + (b + 8) * bs, _MM_HINT_T0);
            float unused;
            r[j] = j < nr ? tk_x86_block_values(rows[j], b, q4, &unused) : _mm256_setzero_si256();
            // The block's own half scale, copied as it is.
            p.d[b * V5_NR + j] = j >= nr ? 0 : q4 ? ((const tk_block_q4_0 *)rows[j])[b].d : ((const tk_block_q8_0 *)rows[j])[b].d;
        }
        tk_x86_transpose8i(r, lo);
        tk_x86_transpose8i(r + 8, hi);
        __m512i v[8];
        for (int g = 0; g < 8; g++) v[g] = _mm512_inserti64x4(_mm512_castsi256_si512(lo[g]), hi[g], 1);
        if (p.s == NULL && !q4) {
            for (int g = 0; g < 8; g++) _mm512_storeu_si512((void *)(p.q + b * 512 + g * 64), _mm512_xor_si512(v[g], k128));
            continue;
        }
        if (p.s == NULL) {
            // q4_0 kept as nibbles (v5_tile_q4): vector h holds steps h (low) and h + 4 (high),
            // stored as w + 8, 0…15.
            const __m512i eight = _mm512_set1_epi8(8);
            for (int h = 0; h < 4; h++) {
                const __m512i a = _mm512_add_epi8(v[h], eight), c = _mm512_add_epi8(v[h + 4], eight);
                _mm512_storeu_si512((void *)(p.q + b * 256 + h * 64), _mm512_or_si512(a, _mm512_slli_epi16(c, 4)));
            }
            continue;
        }
        __m512i s = _mm512_setzero_si512();
        for (int g = 0; g < 8; g++) {
            _mm512_storeu_si512((void *)(p.q + b * 512 + g * 64), v[g]);
            s = _mm512_dpbusd_epi32(s, k128, v[g]);
        }
        _mm512_storeu_si512((void *)(p.s + b * V5_NR), _mm512_sub_epi32(_mm512_setzero_si512(), s));
    }
}

/// f[i][q] += acc[i][q] · (weight scales of block b · activation scale dg[i]): the float step that
/// ends each block of both tiles below.
TK_512_INLINE void v5_scale_block(__m512 f[V5_MR][V5_PANELS], __m512i acc[V5_MR][V5_PANELS], const v5_panel *pan,
                                  int np, int rows, int64_t b, const float *dg) {
    for (int q = 0; q < np; q++) {
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(pan[q].d + b * V5_NR)));
        for (int i = 0; i < rows; i++)
            f[i][q] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[i][q]), _mm512_mul_ps(dw, _mm512_set1_ps(dg[i])), f[i][q]);
    }
}

TK_512_INLINE void v5_store(__m512 f[V5_MR][V5_PANELS], int mr, int np, float *out, int64_t ldo) {
    for (int i = 0; i < mr; i++)
        for (int q = 0; q < np; q++) _mm512_storeu_ps(out + i * ldo + q * V5_NR, f[i][q]);
}

/// The first `rows` (≤ 6) activation rows of a group × np (≤ 2) panels of 16 outputs into out
/// (row stride ldo), `mr` ≤ rows of them stored. `rows` and `np` must be constants where the tile
/// is inlined, so the accumulators live in registers and a group's unused rows cost nothing (at
/// batch 8 the second group has 2 rows: a 6-row tile there was a third of the work, wasted).
/// `xg` is the group's packed activations: per block, per 4-input step g, the 6 rows' 4 bytes
/// side by side (xg[b][g][i][t], 192 bytes a block), so every broadcast is at a fixed offset from
/// one pointer; `dg` the group's block scales dg[b][i].
///
/// `starts` (a constant where inlined) is set for prepacked q8_0 panels, whose weights are offset
/// to unsigned (w + 128): vpdpbusd then takes them as its unsigned operand and the activations as
/// they are (signed), so Σ(w + 128)·x = Σw·x + 128Σx, and each block starts at the activation
/// row's −128Σx (`cg`, cg[b][i]) instead of the panel's −128Σw.
TK_512_INLINE void v5_tile(const uint8_t *xg, const float *dg, const int32_t *cg, int starts, int64_t nb, int rows, int mr,
                           const v5_panel *pan, int np, float *out, int64_t ldo) {
    __m512 f[V5_MR][V5_PANELS];
    for (int i = 0; i < rows; i++)
        for (int q = 0; q < V5_PANELS; q++) f[i][q] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++, xg += V5_XBLOCK, dg += V5_MR) {
        __m512i acc[V5_MR][V5_PANELS];
        for (int q = 0; q < np; q++) {
            const __m512i start = starts ? _mm512_setzero_si512() : _mm512_loadu_si512((const void *)(pan[q].s + b * V5_NR));
            for (int i = 0; i < rows; i++) acc[i][q] = starts ? _mm512_set1_epi32(cg[b * V5_MR + i]) : start;
        }
#pragma clang loop unroll(full)
        for (int g = 0; g < 8; g++) {
            __m512i wv[V5_PANELS];
            for (int q = 0; q < np; q++) {
                wv[q] = _mm512_loadu_si512((const void *)(pan[q].q + b * 512 + g * 64));
                // The panels stream from memory when they were prepacked (batched decoding): a
                // line of the block after next per step, so each block's first load does not stall.
                _mm_prefetch((const char *)(pan[q].q + (b + 2) * 512 + g * 64), _MM_HINT_T0);
            }
            for (int i = 0; i < rows; i++) {
                int32_t four;
                memcpy(&four, xg + g * (V5_MR * 4) + i * 4, 4);
                const __m512i xv = _mm512_set1_epi32(four);
                for (int q = 0; q < np; q++)
                    acc[i][q] = starts ? _mm512_dpbusd_epi32(acc[i][q], wv[q], xv) : _mm512_dpbusd_epi32(acc[i][q], xv, wv[q]);
            }
        }
        v5_scale_block(f, acc, pan, np, rows, b, dg);
    }
    v5_store(f, mr, np, out, ldo);
}

/// v5_tile for prepacked q4_0 panels, kept as nibbles w + 8: vpdpbusd takes them as its unsigned
/// operand and the activations as they are (signed), so Σ(w + 8)·x = Σw·x + 8Σx, and the start
/// −8Σx is per activation row and block (`cg`), broadcast rather than loaded per output.
TK_512_INLINE void v5_tile_q4(const uint8_t *xg, const float *dg, const int32_t *cg, int64_t nb, int rows, int mr,
                              const v5_panel *pan, int np, float *out, int64_t ldo) {
    const __m512i low = _mm512_set1_epi8(0x0F);
    __m512 f[V5_MR][V5_PANELS];
    for (int i = 0; i < rows; i++)
        for (int q = 0; q < V5_PANELS; q++) f[i][q] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++, xg += V5_XBLOCK, dg += V5_MR, cg += V5_MR) {
        __m512i acc[V5_MR][V5_PANELS];
        for (int i = 0; i < rows; i++)
            for (int q = 0; q < np; q++) acc[i][q] = _mm512_set1_epi32(cg[i]);
#pragma clang loop unroll(full)
        for (int h = 0; h < 4; h++) {
            __m512i wl[V5_PANELS], wh[V5_PANELS];
            for (int q = 0; q < np; q++) {
                const __m512i v = _mm512_loadu_si512((const void *)(pan[q].q + b * 256 + h * 64));
                _mm_prefetch((const char *)(pan[q].q + (b + 2) * 256 + h * 64), _MM_HINT_T0);
                wl[q] = _mm512_and_si512(v, low);
                wh[q] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
            }
            for (int i = 0; i < rows; i++) {
                int32_t a, c;
                memcpy(&a, xg + h * (V5_MR * 4) + i * 4, 4);
                memcpy(&c, xg + (h + 4) * (V5_MR * 4) + i * 4, 4);
                const __m512i xa = _mm512_set1_epi32(a), xc = _mm512_set1_epi32(c);
                for (int q = 0; q < np; q++) {
                    acc[i][q] = _mm512_dpbusd_epi32(acc[i][q], wl[q], xa);
                    acc[i][q] = _mm512_dpbusd_epi32(acc[i][q], wh[q], xc);
                }
            }
        }
        v5_scale_block(f, acc, pan, np, rows, b, dg);
    }
    v5_store(f, mr, np, out, ldo);
}

/// The tile for the panels: with starts (`cg`: prepacked panels) v5_tile_q4 or v5_tile's offset
/// form, else v5_tile as it is.
TK_512_INLINE void v5_tile_any(const uint8_t *xg, const float *dg, const int32_t *cg, int64_t nb, int rows, int mr,
                               const v5_panel *pan, int np, int q4, float *out, int64_t ldo) {
    if (!cg) v5_tile(xg, dg, NULL, 0, nb, rows, mr, pan, np, out, ldo);
    else if (q4) v5_tile_q4(xg, dg, cg, nb, rows, mr, pan, np, out, ldo);
    else v5_tile(xg, dg, cg, 1, nb, rows, mr, pan, np, out, ldo);
}

/// A whole 32-output tile of a group's first `mr` rows, straight into y: a 6-row tile, or for a
/// last group of fewer rows the tile of exactly that many (each case a constant, see v5_tile).
TK_512 static void v5_tile_whole(const uint8_t *xg, const float *dg, const int32_t *cg, int64_t nb, int mr,
                                 const v5_panel *pan, int q4, float *out, int64_t ldo) {
    switch (mr) {
    case 1: v5_tile_any(xg, dg, cg, nb, 1, 1, pan, V5_PANELS, q4, out, ldo); break;
    case 2: v5_tile_any(xg, dg, cg, nb, 2, 2, pan, V5_PANELS, q4, out, ldo); break;
    case 3: v5_tile_any(xg, dg, cg, nb, 3, 3, pan, V5_PANELS, q4, out, ldo); break;
    case 4: v5_tile_any(xg, dg, cg, nb, 4, 4, pan, V5_PANELS, q4, out, ldo); break;
    case 5: v5_tile_any(xg, dg, cg, nb, 5, 5, pan, V5_PANELS, q4, out, ldo); break;
    default: v5_tile_any(xg, dg, cg, nb, V5_MR, V5_MR, pan, V5_PANELS, q4, out, ldo); break;
    }
}

/// Bytes of one prepacked panel of 16 rows: per block 512 bytes of values (q4_0: 256 of nibbles)
/// and 16 half-precision scales.
static inline int64_t v5_panel_bytes(int64_t nb, int q4) { return nb * ((q4 ? 256 : 512) + V5_NR * 2); }

static inline v5_panel v5_panel_at(const void *packed, int64_t index, int64_t nb, int q4) {
    int8_t *base = (int8_t *)packed + index * v5_panel_bytes(nb, q4);
    return (v5_panel){base, (uint16_t *)(base + nb * (q4 ? 256 : 512)), NULL};
}

/// Bytes of the activations in v5_tile's group layout (`tk_pack_q8_x_avx512`): per group of 6
/// rows and block, 192 bytes of values, 6 scales and, for prepacked panels (`offset` ≠ 0), 6 starts.
int64_t tk_pack_q8_x_size_avx512(int64_t m, int64_t k, int offset) {
    const int64_t slots = (m + V5_MR - 1) / V5_MR * (k / TK_QK);
    return slots * (V5_XBLOCK + V5_MR * 4 + (offset ? V5_MR * 4 : 0));
}

/// The layout's three parts: values, scales, starts (NULL unless `offset`).
static inline void v5_x_parts(void *packed, int64_t m, int64_t k, int offset, uint8_t **xu, float **dx, int32_t **cx) {
    const int64_t slots = (m + V5_MR - 1) / V5_MR * (k / TK_QK);
    *xu = (uint8_t *)packed;
    *dx = (float *)(*xu + slots * V5_XBLOCK);
    *cx = offset ? (int32_t *)(*dx + slots * V5_MR) : NULL;
}

/// q8_0 activation rows into v5_tile's group layout, groups [g0, g1): values + 128 (unsigned for
/// vpdpbusd) when `offset` is 0; for prepacked panels, whose weights are offset by `offset` (128
/// for q8_0, 8 for q4_0 nibbles), the values as they are, signed, with their −offset·Σx starts.
/// Rows past m are zero with a zero scale. Done once per product and shared by every thread's
/// output range (each range relaid them all before: ~30 % of a 512-row product cut into 16 ranges).
TK_512 void tk_pack_q8_x_avx512(const void *x, int64_t m, int64_t k, int offset, void *packed, int64_t g0, int64_t g1) {
    const int64_t nb = k / TK_QK;
    const tk_block_q8_0 *xq = (const tk_block_q8_0 *)x;
    uint8_t *xu;
    float *dx;
    int32_t *cx;
    v5_x_parts(packed, m, k, offset, &xu, &dx, &cx);
    const __m256i flip = offset ? _mm256_setzero_si256() : _mm256_set1_epi8((char)0x80);
    for (int64_t g = g0; g < g1; g++) {
        const int64_t at = g * nb;  // the group's first block
        if ((g + 1) * V5_MR > m) {  // the last group: rows past m stay zero
            memset(xu + at * V5_XBLOCK, 0, (size_t)(nb * V5_XBLOCK));
            memset(dx + at * V5_MR, 0, sizeof(float) * (size_t)(nb * V5_MR));
            if (offset) memset(cx + at * V5_MR, 0, sizeof(int32_t) * (size_t)(nb * V5_MR));
        }
        for (int64_t i = g * V5_MR; i < m && i < (g + 1) * V5_MR; i++) {
            const int64_t lane = i % V5_MR;
            for (int64_t b = 0; b < nb; b++) {
                const tk_block_q8_0 *blk = &xq[i * nb + b];
                uint32_t v[8];
                _mm256_storeu_si256((__m256i *)v, _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)blk->qs), flip));
                for (int t = 0; t < 8; t++) memcpy(xu + (at + b) * V5_XBLOCK + t * V5_MR * 4 + lane * 4, &v[t], 4);
                dx[(at + b) * V5_MR + lane] = tk_x86_half(blk->d);
                if (offset) {
                    int32_t sum = 0;
                    for (int t = 0; t < TK_QK; t++) sum += blk->qs[t];
                    cx[(at + b) * V5_MR + lane] = -offset * sum;
                }
            }
        }
    }
}

/// Outputs [n0, n1) from activations in the group layout. `prepacked` (from `tk_pack_avx512`) or
/// NULL to pack each 16-row panel of `w` on the fly; with it, n0 must be a multiple of 16 (MatMul
/// splits rows at multiples of 32), and the activations laid out with starts (offset 128 for q8_0,
/// 8 for q4_0); without it, with none.
TK_512 static void v5_gemm_laid(const void *w, const void *prepacked, const void *xpacked, float *y, int64_t ldy,
                                int64_t m, int64_t k, int64_t n0, int64_t n1, int q4) {
    const int64_t nb = k / TK_QK;
    const int starts = prepacked != NULL;
    uint8_t *xu;
    float *dx;
    int32_t *cx;
    v5_x_parts((void *)xpacked, m, k, starts, &xu, &dx, &cx);
    int8_t *pq = NULL;
    uint16_t *pd = NULL;
    int32_t *ps = NULL;
    v5_panel pan[V5_PANELS];
    if (!prepacked) {
        pq = aligned_alloc(64, (size_t)(V5_PANELS * nb * 512));
        pd = malloc(sizeof(uint16_t) * (size_t)(V5_PANELS * nb * V5_NR));
        ps = malloc(sizeof(int32_t) * (size_t)(V5_PANELS * nb * V5_NR));
        if (!pq || !pd || !ps) abort();
        for (int q = 0; q < V5_PANELS; q++)
            pan[q] = (v5_panel){pq + q * nb * 512, pd + q * nb * V5_NR, ps + q * nb * V5_NR};
    }
    float tmp[V5_MR * V5_NR * V5_PANELS];
    for (int64_t n = n0; n < n1; n += V5_NR * V5_PANELS) {
        const int64_t nr = tk_min64(V5_NR * V5_PANELS, n1 - n);
        const int np = (int)((nr + V5_NR - 1) / V5_NR);
        for (int q = 0; q < np; q++) {
            if (prepacked) pan[q] = v5_panel_at(prepacked, n / V5_NR + q, nb, q4);
            else v5_pack(w, k, n + q * V5_NR, tk_min64(V5_NR, nr - q * V5_NR), q4, pan[q]);
        }
        for (int64_t i = 0; i < m; i += V5_MR) {
            const int mr = (int)tk_min64(V5_MR, m - i);
            const int64_t at = (i / V5_MR) * nb;  // the group's first block
            const uint8_t *xg = xu + at * V5_XBLOCK;
            const float *dg = dx + at * V5_MR;
            const int32_t *cg = starts ? cx + at * V5_MR : NULL;
            // Whole 32-output tiles go straight to y, with the panel count a constant (so the
            // accumulators stay in registers); a partial one (nr < 32) goes through tmp.
            if (nr == V5_NR * V5_PANELS) {
                v5_tile_whole(xg, dg, cg, nb, mr, pan, q4, y + i * ldy + n, ldy);
                continue;
            }
            v5_tile_any(xg, dg, cg, nb, V5_MR, mr, pan, np, q4, tmp, V5_NR * V5_PANELS);
            for (int r = 0; r < mr; r++)
                for (int64_t c = 0; c < nr; c++) y[(i + r) * ldy + n + c] = tmp[r * V5_NR * V5_PANELS + c];
        }
    }
    free(pq); free(pd); free(ps);
}

/// The table's plain `gemm` entries (weights packed on the fly): lay the activations out for this
/// range alone, then v5_gemm_laid. MatMul lays them out once per product instead.
TK_512 static void v5_gemm(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0,
                           int64_t n1, int q4) {
    void *packed = aligned_alloc(64, (size_t)((tk_pack_q8_x_size_avx512(m, k, 0) + 63) / 64 * 64));
    if (!packed) abort();
    tk_pack_q8_x_avx512(x, m, k, 0, packed, 0, (m + V5_MR - 1) / V5_MR);
    v5_gemm_laid(w, NULL, packed, y, ldy, m, k, n0, n1, q4);
    free(packed);
}

TK_512 void tk_gemm_q8_packed_x_avx512(tk_dtype dtype, const void *w, const void *prepacked, const void *xpacked,
                                       float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1) {
    v5_gemm_laid(w, prepacked, xpacked, y, ldy, m, k, n0, n1, dtype == TK_Q4_0);
}

int64_t tk_pack_size_avx512(tk_dtype dtype, int64_t n, int64_t k) {
    if (dtype != TK_Q8_0 && dtype != TK_Q4_0) return 0;
    return (n + V5_NR - 1) / V5_NR * v5_panel_bytes(k / TK_QK, dtype == TK_Q4_0);
}

TK_512 void tk_pack_avx512(tk_dtype dtype, const void *w, int64_t n, int64_t k, void *packed, int64_t p0, int64_t p1) {
    const int64_t nb = k / TK_QK;
    for (int64_t p = p0; p < p1; p++)
        v5_pack(w, k, p * V5_NR, tk_min64(V5_NR, n - p * V5_NR), dtype == TK_Q4_0, v5_panel_at(packed, p, nb, dtype == TK_Q4_0));
}

TK_512 void tk_gemm_q8_0_avx512(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k,
                                int64_t n0, int64_t n1) {
    v5_gemm(w, x, y, ldy, m, k, n0, n1, 0);
}

TK_512 void tk_gemm_q4_0_avx512(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k,
                                int64_t n0, int64_t n1) {
    v5_gemm(w, x, y, ldy, m, k, n0, n1, 1);
}

// ---------------------------------------------------------------------------------------------
// K-quant GEMM with VNNI (prompt passes). The AVX2 GEMM multiplies by each 16-value group's scale
// in int16 (maddubs, then madd with the scales): three instructions per 32 products. Here the
// weight rows and the activation rows are laid out so that one 512-bit lane holds 4 values of one
// group — vector t, lane g: values 16g + 4t … 16g + 4t + 3 — and four vpdpbusd leave in lane g the
// integer sum of group g's 16 products. The scales are then applied in float, once per block:
//   y += Σ_g sum_g · (d·s_g · dx) − (dm·mi_g) · (dx·bsum_g)
// (value = d·s_g·u − dm·mi_g, as tk_kq_unpack gives it), eight instructions per 256 products and
// (weight row, activation row) pair. Blocks of 4 activation rows × 4 weight rows keep 16 float
// accumulators in registers and read each weight vector once per 4 activation rows.
// ---------------------------------------------------------------------------------------------
typedef struct {
    uint8_t u[4][64];    // lane-per-group layout (above): unsigned values
    float ds[16];        // d · s_g
    float dmi[16];       // dm · mi_g
} kq5_weights;           // 384 bytes per 256 values

typedef struct {
    int8_t x[4][64];     // the same layout: the q8_K values
    float xb[16];        // dx · bsum_g
    float d;             // dx
    float pad[15];
} kq5_acts;

/// 256 values in natural order (4 vectors of 16 words of 4 values) → the lane-per-group layout:
/// vector t, lane g = natural word 4g + t, i.e. lanes 4p … 4p + 3 come from words t, 4 + t,
/// 8 + t, 12 + t of natural vector p.
TK_512_INLINE void kq5_interleave(const __m512i n[4], void *out) {
    for (int t = 0; t < 4; t++) {
        const __m512i idx = _mm512_setr_epi32(t, 4 + t, 8 + t, 12 + t, 16 + t, 20 + t, 24 + t, 28 + t, 0, 0, 0, 0, 0, 0, 0, 0);
        const __m512i a = _mm512_permutex2var_epi32(n[0], idx, n[1]), b = _mm512_permutex2var_epi32(n[2], idx, n[3]);
        _mm512_storeu_si512((char *)out + 64 * t, _mm512_shuffle_i64x2(a, b, _MM_SHUFFLE(1, 0, 1, 0)));
    }
}

TK_512_INLINE void kq5_unpack(tk_dtype dt, const void *blk, kq5_weights *out) {
    uint8_t u[TK_QK_K];
    int16_t s[16], mi[16];
    float d, dm;
    __m512i n[4];
    if (dt == TK_Q4_K) {
        // Pair p of sub-blocks shares 32 bytes of nibbles: the low ones are values 64p … 64p + 31,
        // the high ones the next 32.
        const tk_block_q4_K *b = (const tk_block_q4_K *)blk;
        const __m256i low = _mm256_set1_epi8(0x0F);
        for (int p = 0; p < 4; p++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * p));
            n[p] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(q, low)),
                                      _mm256_and_si256(_mm256_srli_epi16(q, 4), low), 1);
        }
        tk_kq_scales(dt, blk, s, mi, &d, &dm);
    } else if (dt == TK_Q6_K) {
        // Half h of the block (values 128h …): ql bytes 64h + l and 64h + 32 + l hold values
        // 128h + l and 128h + 32 + l in their low nibbles, 128h + 64 + l and 128h + 96 + l in
        // their high ones; bits 2p, 2p + 1 of qh byte 32h + l are the top two of value 128h + 32p + l.
        const tk_block_q6_K *b = (const tk_block_q6_K *)blk;
        const __m256i low = _mm256_set1_epi8(0x0F), two = _mm256_set1_epi8(0x03);
        for (int h = 0; h < 2; h++) {
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h));
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
            __m256i v[4];
            v[0] = _mm256_or_si256(_mm256_and_si256(l0, low), _mm256_slli_epi16(_mm256_and_si256(qh, two), 4));
            v[1] = _mm256_or_si256(_mm256_and_si256(l1, low), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), two), 4));
            v[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), two), 4));
            v[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), two), 4));
            n[2 * h] = _mm512_inserti64x4(_mm512_castsi256_si512(v[0]), v[1], 1);
            n[2 * h + 1] = _mm512_inserti64x4(_mm512_castsi256_si512(v[2]), v[3], 1);
        }
        tk_kq_scales(dt, blk, s, mi, &d, &dm);
    } else {
        tk_kq_unpack(dt, blk, u, s, mi, &d, &dm);
        for (int p = 0; p < 4; p++) n[p] = _mm512_loadu_si512(u + 64 * p);
    }
    kq5_interleave(n, out->u);
    for (int g = 0; g < 16; g++) {
        out->ds[g] = d * (float)s[g];
        out->dmi[g] = dm * (float)mi[g];
    }
}

TK_512_INLINE void kq5_acts_from(const tk_block_q8_K *x, kq5_acts *out) {
    __m512i n[4];
    for (int p = 0; p < 4; p++) n[p] = _mm512_loadu_si512(x->qs + 64 * p);
    kq5_interleave(n, out->x);
    for (int g = 0; g < 16; g++) out->xb[g] = x->d * (float)x->bsums[g];
    out->d = x->d;
}

/// y[a · ldy + r] for `na` ≤ 4 activation rows and `nr` ≤ 4 weight rows (`nb` blocks each).
TK_512_INLINE void kq5_tile(const kq5_weights *w, const kq5_acts *x, int64_t nb, int na, int nr, float *y, int64_t ldy) {
    __m512 f[4][4];
    for (int a = 0; a < 4; a++)
        for (int r = 0; r < 4; r++) f[a][r] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        for (int a = 0; a < na; a++) {
            const kq5_acts *xa = x + a * nb + b;
            const __m512i x0 = _mm512_loadu_si512(xa->x[0]), x1 = _mm512_loadu_si512(xa->x[1]);
            const __m512i x2 = _mm512_loadu_si512(xa->x[2]), x3 = _mm512_loadu_si512(xa->x[3]);
            const __m512 dx = _mm512_set1_ps(xa->d), xb = _mm512_loadu_ps(xa->xb);
            for (int r = 0; r < nr; r++) {
                const kq5_weights *wr = w + r * nb + b;
                __m512i sum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_loadu_si512(wr->u[0]), x0);
                sum = _mm512_dpbusd_epi32(sum, _mm512_loadu_si512(wr->u[1]), x1);
                sum = _mm512_dpbusd_epi32(sum, _mm512_loadu_si512(wr->u[2]), x2);
                sum = _mm512_dpbusd_epi32(sum, _mm512_loadu_si512(wr->u[3]), x3);
                f[a][r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(_mm512_loadu_ps(wr->ds), dx), f[a][r]);
                f[a][r] = _mm512_fnmadd_ps(_mm512_loadu_ps(wr->dmi), xb, f[a][r]);
            }
        }
    }
    for (int a = 0; a < na; a++)
        for (int r = 0; r < nr; r++) y[a * ldy + r] = _mm512_reduce_add_ps(f[a][r]);
}

/// Weight rows unpacked at a time: 32 rows of 4864 inputs take 228 KiB, held in L2 while the
/// activation rows pass.
#define KQ5_ROWS 32

TK_512 static void kq5_gemm(tk_dtype dt, const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k,
                            int64_t n0, int64_t n1) {
    const int64_t nb = k / TK_QK_K, rb = tk_row_bytes(dt, k), bb = rb / nb;
    kq5_weights *panel = aligned_alloc(64, sizeof(kq5_weights) * (size_t)(KQ5_ROWS * nb));
    kq5_acts *acts = aligned_alloc(64, sizeof(kq5_acts) * (size_t)(m * nb));
    if (!panel || !acts) abort();
    const tk_block_q8_K *xq = (const tk_block_q8_K *)x;
    for (int64_t i = 0; i < m * nb; i++) kq5_acts_from(xq + i, acts + i);
    for (int64_t r0 = n0; r0 < n1; r0 += KQ5_ROWS) {
        const int64_t rows = tk_min64(KQ5_ROWS, n1 - r0);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t b = 0; b < nb; b++) kq5_unpack(dt, (const char *)w + (r0 + r) * rb + b * bb, panel + r * nb + b);
        for (int64_t i = 0; i < m; i += 4)
            for (int64_t r = 0; r < rows; r += 4)
                kq5_tile(panel + r * nb, acts + i * nb, nb, (int)tk_min64(4, m - i), (int)tk_min64(4, rows - r),
                         y + i * ldy + r0 + r, ldy);
    }
    free(acts);
    free(panel);
}

TK_512 void tk_gemm_q4_K_avx512(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1) {
    kq5_gemm(TK_Q4_K, w, x, y, ldy, m, k, n0, n1);
}
TK_512 void tk_gemm_q5_K_avx512(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1) {
    kq5_gemm(TK_Q5_K, w, x, y, ldy, m, k, n0, n1);
}
TK_512 void tk_gemm_q6_K_avx512(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1) {
    kq5_gemm(TK_Q6_K, w, x, y, ldy, m, k, n0, n1);
}

/// The FMA peak probe at 512 bits: 12 independent chains, as in the AVX2 probe.
TK_512 double tk_fma_loop_avx512(int64_t iters, float *sink) {
    __m512 a[12];
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps(0.1f * (float)(i + 1));
    const __m512 m = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(1e-4f);
    for (int64_t it = 0; it < iters; it++)
        for (int i = 0; i < 12; i++) a[i] = _mm512_fmadd_ps(a[i], m, c);
    __m512 s = a[0];
    for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, a[i]);
    *sink = _mm512_reduce_add_ps(s);
    return (double)iters * 12.0 * 16.0 * 2.0;
}

#endif // TK_HAVE_AVX2
