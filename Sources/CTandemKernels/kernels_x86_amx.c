// x86-64 GEMM for q8_0/q4_0 weights on AMX-BF16 tiles (Sapphire Rapids and later Xeons), for
// products of many activation rows: prompt encoding, where the T5 encoder spends its time.
//
// Why bf16 and not AMX-INT8: q8_0 and q4_0 carry one scale per 32 inputs, so an int8 tile
// product could span one block only, and its 256 int32 sums would have to be stored, converted
// and scaled block by block — measured no faster than AVX512-VNNI. In bf16 the scale goes into
// the weight, bf16(q·d), and one tile product accumulates in f32 over the whole input. The
// rounding is small next to what it replaces: a weight q·d (q has at most 7 significant bits, the
// half scale 11) and an activation each lose at most 2⁻⁹ of their own magnitude, where the q8_0
// activation blocks of the int8 path lose up to 2⁻⁸ of the block's largest value.
//
// Tiles (TDPBF16PS): C0…C3 = 32 rows × 32 outputs in f32 (2 × 2 tiles of 16 × 16), A0 and A1 =
// 16 activation rows × 32 inputs of bf16 each, B0 and B1 = 32 inputs × 16 outputs as 16 rows of
// 16 bf16 pairs (input 2r and 2r + 1 of output j at row r, column j). Every tile load feeds two
// products. Weights are rounded to bf16 on the fly into a macro panel of up to 128 outputs × 1024
// inputs (256 KiB, L2), converted once per call; each 32-row block of activations (64 KiB) then
// passes over its four 32-output panels. Measured one thread, m = 512, n = k = 1024 (best of 9):
// 1.37 ms with 512 inputs × 256 outputs, 1.22 ms with 1024 × 128 — each 32 × 32 block's tile
// stores (and the wait for its last products) come half as often — against 2.5 ms for the
// AVX512-VNNI kernel. The scalar definition the tests hold these kernels to: Σ bf16(x)·bf16(q·d)
// with `tk_f32_to_bf16` (kernels_generic.c), in test_kernels.c and in the Swift `Reference.gemm`.
//
// Around the GEMM, for a quantized model's prompt pass: epilogues that fold a residual addition
// or a ReLU into the stores; f32 matrices packed into panels once (attention's keys and values,
// multiplied once per block of queries); and attention's softmax written straight into the tiles
// of the product with the values.
#include "tk_x86.h"

#if defined(TK_HAVE_AVX2)
#include <immintrin.h>
#include <pthread.h>
#include <stdlib.h>

#define TK_AMX __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma,f16c")))
#define TK_AMX_INLINE __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma,f16c"), always_inline)) static inline

enum { AMX_MR = 32, AMX_NR = 32, AMX_KC = 1024, AMX_NC = 128 };

/// Each thread's scratch for the GEMM's macro panel and running sums, kept between calls and
/// freed when the thread ends. Why not malloc per call: with the panel (256 KiB) and the sums
/// (up to 16 KiB per 32 rows) both freed, glibc trimmed the heap on every free and each call
/// faulted its pages in again (one thread, 8 calls of 128 outputs each, m = 512, k = 4096:
/// 6.5 ms, against 4.9 ms with this).
typedef struct {
    void *data;
    size_t bytes;
} amx_scratch_buffer;

static pthread_key_t amx_scratch_key;
static pthread_once_t amx_scratch_once = PTHREAD_ONCE_INIT;

static void amx_scratch_free(void *p) {
    amx_scratch_buffer *b = p;
    free(b->data);
    free(b);
}

static void amx_scratch_make_key(void) {
    if (pthread_key_create(&amx_scratch_key, amx_scratch_free) != 0) abort();
}

/// At least `bytes` of this thread's scratch, 64-byte aligned; contents undefined.
static void *amx_scratch(size_t bytes) {
    bytes = bytes == 0 ? 64 : (bytes + 63) / 64 * 64;  // aligned_alloc wants a positive multiple of 64
    pthread_once(&amx_scratch_once, amx_scratch_make_key);
    amx_scratch_buffer *b = pthread_getspecific(amx_scratch_key);
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b || pthread_setspecific(amx_scratch_key, b) != 0) abort();
    }
    if (b->bytes < bytes) {
        free(b->data);
        b->data = aligned_alloc(64, bytes);
        if (!b->data) abort();
        b->bytes = bytes;
    }
    return b->data;
}

/// The 64-byte tile configuration (palette 1): every tile 16 rows of 64 bytes.
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} amx_config;

TK_AMX static void amx_configure(void) {
    amx_config c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int t = 0; t < 8; t++) {
        c.rows[t] = 16;
        c.colsb[t] = 64;
    }
    _tile_loadconfig(&c);
}

/// Inputs rounded up to whole tiles (32): quantized rows always are; f32 rows (attention's scores
/// and keys) are zero-padded.
static inline int64_t amx_kpad(int64_t k) { return (k + 31) / 32 * 32; }

int64_t tk_bf16_x_size_amx(int64_t m, int64_t k) {
    return (m + AMX_MR - 1) / AMX_MR * AMX_MR * amx_kpad(k) * 2;
}

/// The first `live` of 16 lanes (none for live ≤ 0, all for live ≥ 16).
static inline __mmask16 amx_lanes(int64_t live) {
    return live >= 16 ? (__mmask16)0xFFFF : live <= 0 ? (__mmask16)0 : (__mmask16)((1u << live) - 1);
}

/// 32 floats from p (the first `live` of them; zeros after), rounded to bf16.
TK_AMX_INLINE __m512i amx_round32(const float *p, int64_t live) {
    if (live >= 32) return (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(p + 16), _mm512_loadu_ps(p));
    return (__m512i)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(amx_lanes(live - 16), p + 16),
                                        _mm512_maskz_loadu_ps(amx_lanes(live), p));
}

/// Rows [r0, r1) of the bf16 activations (inputs padded to a multiple of 32), nearest even, laid out as whole A
/// tiles: for each group of 16 rows, each 32 inputs s are one contiguous 1 KiB tile (row r at
/// r·64 bytes). Why not row-major: a tile load then reads 16 lines `k·2` bytes apart, and with k a
/// multiple of 2048 all 16 fall into one or two L1 sets and evict each other (measured: the tile
/// loop ran at a third of its speed). Rows from m up to the next multiple of 32 are zeros.
TK_AMX void tk_bf16_x_amx(const float *x, int64_t ldx, int64_t m, int64_t k, void *dst, int64_t r0, int64_t r1) {
    uint16_t *out = (uint16_t *)dst;
    const int64_t kp = amx_kpad(k);
    for (int64_t r = r0; r < r1; r++) {
        uint16_t *o = out + (r / 16) * 16 * kp + (r % 16) * 32;
        if (r >= m) {
            for (int64_t c = 0; c < kp; c += 32) _mm512_storeu_si512((void *)(o + c * 16), _mm512_setzero_si512());
            continue;
        }
        const float *xr = x + r * ldx;
        for (int64_t c = 0; c < kp; c += 32) _mm512_storeu_si512((void *)(o + c * 16), amx_round32(xr + c, k - c));
    }
}

/// eˣ for x ≤ 0 to within 5·10⁻⁵ relative — a degree-4 polynomial in r after x = n·ln2 + r,
/// |r| ≤ ln2/2, and 2ⁿ by vscalefps — for weights that are rounded to bf16 next (2⁻⁹ relative):
/// about half the instructions of the Cephes form `tk_exp_shifted_avx512` keeps to f32 precision
/// (whose exponentials were 7 % of a t5-large encode). 0 below −87.34 (where expf underflows)
/// and at −∞, as there.
TK_AMX_INLINE __m512 amx_exp_nonpositive(__m512 x) {
    const __m512 lo = _mm512_set1_ps(-87.33654f);
    const __mmask16 under = _mm512_cmp_ps_mask(x, lo, _CMP_LT_OQ);
    x = _mm512_max_ps(x, lo);
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.0f / 24);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_maskz_mov_ps((__mmask16)~under, _mm512_scalef_ps(p, n));
}

/// Attention's score rows → weights, straight into the A tiles of the product with the values
/// (the layout of `tk_bf16_x_amx` for `rows` × n): row r's scores s[r·n + j] become
/// v = scale·s + bias[j − r] (bias: row 0's vector over the keys, NULL for none), the keys
/// j ≥ min(n, visible0 + r) are masked, and the weights softmax(v) are rounded to bf16. Three
/// passes over a row (scale and bias with the maximum; exponentials with their sum; normalizing
/// with the rounding) where the separate steps took six. `s` is overwritten.
TK_AMX void tk_softmax_bf16_x_amx(float *s, int64_t rows, int64_t n, float scale, const float *bias, int64_t visible0,
                                  void *dst) {
    uint16_t *out = (uint16_t *)dst;
    const int64_t kp = amx_kpad(n), padded = (rows + AMX_MR - 1) / AMX_MR * AMX_MR;
    for (int64_t r = 0; r < padded; r++) {
        uint16_t *o = out + (r / 16) * 16 * kp + (r % 16) * 32;
        const int64_t visible = r < rows ? tk_max64(0, tk_min64(n, visible0 + r)) : 0;
        float *row = s + r * n;
        __m512 mx = _mm512_set1_ps(-__builtin_inff());
        const __m512 sv = _mm512_set1_ps(scale);
        for (int64_t j = 0; j < visible; j += 16) {
            const __mmask16 live = amx_lanes(visible - j);
            __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(live, row + j), sv);
            if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(live, bias - r + j));
            _mm512_mask_storeu_ps(row + j, live, v);
            mx = _mm512_mask_max_ps(mx, live, mx, v);
        }
        const float m = _mm512_reduce_max_ps(mx);
        // No key left (or every score −∞): the row weighs nothing, as in `tk_softmax_avx512`.
        float inv = 0.0f;
        if (visible > 0 && m != -__builtin_inff()) {
            const __m512 mv = _mm512_set1_ps(m);
            __m512 sum = _mm512_setzero_ps();
            for (int64_t j = 0; j < visible; j += 16) {
                const __mmask16 live = amx_lanes(visible - j);
                const __m512 e = amx_exp_nonpositive(_mm512_sub_ps(_mm512_maskz_loadu_ps(live, row + j), mv));
                _mm512_mask_storeu_ps(row + j, live, e);
                sum = _mm512_mask_add_ps(sum, live, sum, e);
            }
            inv = 1.0f / _mm512_reduce_add_ps(sum);
        }
        const __m512 iv = _mm512_set1_ps(inv);
        for (int64_t c = 0; c < kp; c += 32) {
            const int64_t live = inv == 0.0f ? 0 : visible - c;
            const __m512 a = _mm512_mul_ps(_mm512_maskz_loadu_ps(amx_lanes(live), row + c), iv);
            const __m512 b = _mm512_mul_ps(_mm512_maskz_loadu_ps(amx_lanes(live - 16), row + c + 16), iv);
            _mm512_storeu_si512((void *)(o + c * 16), (__m512i)_mm512_cvtne2ps_pbh(b, a));
        }
    }
}

/// out[j] = in[*][j]: a 16 × 16 transpose of 32-bit elements (unpacks within 128-bit lanes, then
/// two rounds of lane shuffles; 64 shuffles for 256 elements).
TK_AMX_INLINE void amx_transpose16(__m512i r[16]) {
    __m512i t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    // u[4q + c], lane L: element 4L + c of rows 4q … 4q + 3.
    for (int q = 0; q < 4; q++) {
        u[4 * q] = _mm512_unpacklo_epi64(t[4 * q], t[4 * q + 2]);
        u[4 * q + 1] = _mm512_unpackhi_epi64(t[4 * q], t[4 * q + 2]);
        u[4 * q + 2] = _mm512_unpacklo_epi64(t[4 * q + 1], t[4 * q + 3]);
        u[4 * q + 3] = _mm512_unpackhi_epi64(t[4 * q + 1], t[4 * q + 3]);
    }
    for (int c = 0; c < 4; c++) {
        const __m512i lo01 = _mm512_shuffle_i32x4(u[c], u[4 + c], _MM_SHUFFLE(1, 0, 1, 0));
        const __m512i hi01 = _mm512_shuffle_i32x4(u[c], u[4 + c], _MM_SHUFFLE(3, 2, 3, 2));
        const __m512i lo23 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], _MM_SHUFFLE(1, 0, 1, 0));
        const __m512i hi23 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], _MM_SHUFFLE(3, 2, 3, 2));
        r[c] = _mm512_shuffle_i32x4(lo01, lo23, _MM_SHUFFLE(2, 0, 2, 0));
        r[4 + c] = _mm512_shuffle_i32x4(lo01, lo23, _MM_SHUFFLE(3, 1, 3, 1));
        r[8 + c] = _mm512_shuffle_i32x4(hi01, hi23, _MM_SHUFFLE(2, 0, 2, 0));
        r[12 + c] = _mm512_shuffle_i32x4(hi01, hi23, _MM_SHUFFLE(3, 1, 3, 1));
    }
}

/// B tiles for outputs [n, n + nr) (nr ≤ 32, zeros past it) × inputs [k0, k0 + kc): per 32 inputs
/// s, two 1 KiB tiles (outputs 0–15, then 16–31), row r = the bf16 pairs (2r, 2r + 1) of 16 outputs.
/// Weights of `dtype`: q8_0 or q4_0 (q·d), or f32 rows `ldw` floats apart (inputs past k are zeros).
TK_AMX static void amx_panel(const void *w, tk_dtype dtype, int64_t k, int64_t ldw, int64_t n, int64_t nr, int64_t k0,
                             int64_t kc, uint16_t *panel) {
    const int q4 = dtype == TK_Q4_0;
    const int64_t rb = dtype == TK_F32 ? ldw * 4 : tk_row_bytes(dtype, k);
    if (dtype == TK_F32) {
        for (int64_t s = 0; s < kc / 32; s++)
            for (int half = 0; half < 2; half++) {
                __m512i rows[16];
                for (int j = 0; j < 16; j++) {
                    const int64_t o = half * 16 + j, c = k0 + 32 * s;
                    rows[j] = o < nr ? amx_round32((const float *)((const char *)w + (n + o) * rb) + c, k - c)
                                     : _mm512_setzero_si512();
                }
                amx_transpose16(rows);
                uint16_t *tile = panel + (s * 2 + half) * 512;
                for (int r = 0; r < 16; r++) _mm512_store_si512((void *)(tile + r * 32), rows[r]);
            }
        return;
    }
    for (int64_t s = 0; s < kc / 32; s++) {
        const int64_t b = k0 / 32 + s;
        for (int half = 0; half < 2; half++) {
            __m512i rows[16];
            for (int j = 0; j < 16; j++) {
                const int64_t o = half * 16 + j;
                if (o >= nr) {
                    rows[j] = _mm512_setzero_si512();
                    continue;
                }
                const char *row = (const char *)w + (n + o) * rb;
                // 32 rows are read side by side, each from its own stream in memory: more than
                // the hardware prefetchers follow, so each row's block 8 ahead is fetched here.
                _mm_prefetch(row + (b + 8) * (rb / (k / 32)), _MM_HINT_T0);
                float d;
                const __m256i q = tk_x86_block_values(row, b, q4, &d);
                const __m512 dv = _mm512_set1_ps(d);
                const __m512 lo = _mm512_mul_ps(dv, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(q))));
                const __m512 hi = _mm512_mul_ps(dv, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(q, 1))));
                rows[j] = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
            }
            amx_transpose16(rows);
            uint16_t *tile = panel + (s * 2 + half) * 512;
            for (int r = 0; r < 16; r++) _mm512_store_si512((void *)(tile + r * 32), rows[r]);
        }
    }
}

/// C[32 × 32] = (cin, or zeros when NULL) + A rows [i, i + 32) × the panel over kc inputs from
/// k0, stored at cout; row strides ldin and ldout floats.
TK_AMX_INLINE void amx_block(const uint16_t *xb, int64_t k, int64_t i, int64_t k0, int64_t kc, const uint16_t *panel,
                             const float *cin, int64_t ldin, float *cout, int64_t ldout) {
    if (cin) {
        _tile_loadd(0, cin, ldin * 4);
        _tile_loadd(1, cin + 16, ldin * 4);
        _tile_loadd(2, cin + 16 * ldin, ldin * 4);
        _tile_loadd(3, cin + 16 * ldin + 16, ldin * 4);
    } else {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    }
    const uint16_t *a = xb + i * k + k0 * 16;  // rows i … i + 15 from input k0; the next 16 rows 16·k on
                                               // (k: the padded input count)
    for (int64_t s = 0; s < kc / 32; s++, a += 512, panel += 1024) {
        _tile_loadd(4, a, 64);
        _tile_loadd(6, panel, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_loadd(7, panel + 512, 64);
        _tile_dpbf16ps(1, 4, 7);
        _tile_loadd(5, a + 16 * k, 64);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, cout, ldout * 4);
    _tile_stored(1, cout + 16, ldout * 4);
    _tile_stored(2, cout + 16 * ldout, ldout * 4);
    _tile_stored(3, cout + 16 * ldout + 16, ldout * 4);
}

/// Where packed panels (`tk_bf16_pack_amx`) for `np` outputs × `kq` inputs keep the panel of
/// outputs [n, n + 32) over the inputs of the chunk from k0: chunks of `AMX_KC` inputs one after
/// the other, in each the 32-output panels one after the other, each its `kc` inputs' tiles.
static inline int64_t amx_packed_offset(int64_t np, int64_t kq, int64_t n, int64_t k0) {
    return k0 * amx_kpad(np) + n * tk_min64(AMX_KC, amx_kpad(kq) - k0);
}

/// max(0, ·) over `rows` rows of 32 floats, `ld` apart.
TK_AMX_INLINE void amx_relu_rows(float *c, int64_t ld, int64_t rows) {
    const __m512 zero = _mm512_setzero_ps();
    for (int64_t r = 0; r < rows; r++) {
        _mm512_storeu_ps(c + r * ld, _mm512_max_ps(_mm512_loadu_ps(c + r * ld), zero));
        _mm512_storeu_ps(c + r * ld + 16, _mm512_max_ps(_mm512_loadu_ps(c + r * ld + 16), zero));
    }
}

/// y = x·wᵀ over outputs [n0, n1), with w's B panels either rounded here from `w` (of `dtype`)
/// one macro panel at a time, or, when `packed` is set, read from panels packed once for all
/// calls (`np` × `kq` packed; this product uses the first k ≤ kq inputs); `epilogue`: the
/// `tk_epilogue` flags applied as each block is stored.
TK_AMX static void amx_gemm_panels(const void *w, tk_dtype dtype, const uint16_t *packed, int64_t np, int64_t kq,
                                   const uint16_t *xb, float *y, int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1,
                                   int epilogue) {
    const int64_t kp = amx_kpad(k);
    // More inputs than one chunk: each 32 × 32 block's sums wait between chunks in `acc`, 4 KiB
    // per block, not in y, whose rows (ldy floats apart, often a multiple of 1024) fall into one
    // L1 set and are fetched from L2 again on every reload (one thread, m = 512, n = 1024,
    // k = 4096 — t5-large's FFN output — in 8 calls: 5.3–5.4 → 4.9–5.0 ms).
    const int chunked = kp > AMX_KC;
    const size_t macro_bytes = packed ? 0 : (size_t)AMX_NC * AMX_KC * 2;
    const size_t acc_bytes = chunked ? (size_t)((m + AMX_MR - 1) / AMX_MR) * AMX_NC * AMX_MR * 4 : 0;
    char *scratch = amx_scratch(macro_bytes + acc_bytes);
    uint16_t *amx_macro = packed ? NULL : (uint16_t *)scratch;
    float *acc = chunked ? (float *)(scratch + macro_bytes) : NULL;
    float tmp[AMX_MR * AMX_NR] __attribute__((aligned(64)));
    amx_configure();
    for (int64_t nc = n0; nc < n1; nc += AMX_NC) {
        const int64_t ncr = tk_min64(AMX_NC, n1 - nc);
        const int64_t panels = (ncr + AMX_NR - 1) / AMX_NR;
        for (int64_t k0 = 0; k0 < kp; k0 += AMX_KC) {
            const int64_t kc = tk_min64(AMX_KC, kp - k0);
            const uint16_t *macro = packed ? packed + amx_packed_offset(np, kq, nc, k0) : amx_macro;
            const int64_t stride = packed ? tk_min64(AMX_KC, amx_kpad(kq) - k0) * AMX_NR : kc * AMX_NR;
            if (!packed)
                for (int64_t p = 0; p < panels; p++)
                    amx_panel(w, dtype, k, k, nc + p * AMX_NR, tk_min64(AMX_NR, ncr - p * AMX_NR), k0, kc, amx_macro + p * stride);
            for (int64_t i = 0; i < m; i += AMX_MR) {
                const int64_t mr = tk_min64(AMX_MR, m - i);
                for (int64_t p = 0; p < panels; p++) {
                    const int64_t n = nc + p * AMX_NR, nr = tk_min64(AMX_NR, ncr - p * AMX_NR);
                    const uint16_t *panel = macro + p * stride;
                    float *sums = chunked ? acc + ((i / AMX_MR) * (AMX_NC / AMX_NR) + p) * AMX_MR * AMX_NR : NULL;
                    const int full = mr == AMX_MR && nr == AMX_NR;
                    float *out = y + i * ldy + n;
                    // The sums start from zero, from the last chunk's, or (accumulating) from y.
                    const float *cin = k0 > 0 ? sums : NULL;
                    int64_t ldin = AMX_NR;
                    if (k0 == 0 && (epilogue & TK_EPILOGUE_ACCUMULATE)) {
                        if (full) {
                            cin = out;
                            ldin = ldy;
                        } else {
                            for (int64_t r = 0; r < mr; r++) memcpy(tmp + r * AMX_NR, out + r * ldy, (size_t)nr * 4);
                            cin = tmp;
                        }
                    }
                    if (k0 + kc < kp) {
                        amx_block(xb, kp, i, k0, kc, panel, cin, ldin, sums, AMX_NR);
                        continue;
                    }
                    if (full) {
                        amx_block(xb, kp, i, k0, kc, panel, cin, ldin, out, ldy);
                        if (epilogue & TK_EPILOGUE_RELU) amx_relu_rows(out, ldy, AMX_MR);
                        continue;
                    }
                    // A partial block goes through tmp; only its rows and outputs reach y.
                    amx_block(xb, kp, i, k0, kc, panel, cin, ldin, tmp, AMX_NR);
                    if (epilogue & TK_EPILOGUE_RELU) amx_relu_rows(tmp, AMX_NR, mr);
                    for (int64_t r = 0; r < mr; r++) memcpy(out + r * ldy, tmp + r * AMX_NR, (size_t)nr * 4);
                }
            }
        }
    }
    _tile_release();
}

TK_AMX static void amx_gemm(const void *w, tk_dtype dtype, const uint16_t *xb, float *y, int64_t ldy, int64_t m,
                            int64_t k, int64_t n0, int64_t n1) {
    amx_gemm_panels(w, dtype, NULL, 0, 0, xb, y, ldy, m, k, n0, n1, 0);
}

/// `gemm_bf16_x` for q8_0/q4_0 with an epilogue (`tk_epilogue`): y += the product (a residual
/// connection), or y = max(0, product) (T5's ReLU), applied to each 32 × 32 block as it is stored.
TK_AMX void tk_gemm_bf16x_epilogue_amx(tk_dtype dtype, const void *w, const void *xb, float *y, int64_t ldy, int64_t m,
                                       int64_t k, int64_t n0, int64_t n1, int epilogue) {
    amx_gemm_panels(w, dtype, NULL, 0, 0, (const uint16_t *)xb, y, ldy, m, k, n0, n1, epilogue);
}

int64_t tk_bf16_pack_size_amx(int64_t n, int64_t k) { return amx_kpad(n) * amx_kpad(k) * 2; }

/// Packs f32 weights w (output o, input i at w[o·os + i·is]) into B panels for every output in
/// [0, n) and input in [0, k), zeros past either. One of the strides must be 1: rows of inputs
/// (is = 1: a projection, attention's keys), each panel rounded and transposed as `amx_panel`
/// does; or rows of outputs (os = 1: attention's values, Vᵀ), where a tile row — inputs 2r and
/// 2r + 1 of 16 outputs — is two source rows interleaved, no transpose.
TK_AMX void tk_bf16_pack_amx(const float *w, int64_t os, int64_t is, int64_t n, int64_t k, void *dst) {
    uint16_t *out = (uint16_t *)dst;
    const int64_t kp = amx_kpad(k), np = amx_kpad(n);
    for (int64_t k0 = 0; k0 < kp; k0 += AMX_KC) {
        const int64_t kc = tk_min64(AMX_KC, kp - k0);
        for (int64_t p = 0; p < np; p += AMX_NR) {
            uint16_t *panel = out + amx_packed_offset(n, k, p, k0);
            if (is == 1) {
                amx_panel(w, TK_F32, k, os, p, tk_min64(AMX_NR, n - p), k0, kc, panel);
                continue;
            }
            for (int64_t s = 0; s < kc / 32; s++)
                for (int half = 0; half < 2; half++) {
                    const int64_t o0 = p + half * 16;
                    const __mmask16 lanes = amx_lanes(n - o0);
                    uint16_t *tile = panel + (s * 2 + half) * 512;
                    for (int r = 0; r < 16; r++) {
                        const int64_t i = k0 + s * 32 + 2 * r;
                        const __m512 even = i < k ? _mm512_maskz_loadu_ps(lanes, w + i * is + o0 * os) : _mm512_setzero_ps();
                        const __m512 odd = i + 1 < k ? _mm512_maskz_loadu_ps(lanes, w + (i + 1) * is + o0 * os) : _mm512_setzero_ps();
                        const __m512i lo = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(even));
                        const __m512i hi = _mm512_slli_epi32(_mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(odd)), 16);
                        _mm512_store_si512((void *)(tile + r * 32), _mm512_or_si512(lo, hi));
                    }
                }
        }
    }
}

/// y = x·wᵀ over outputs [n0, n1) from panels packed by `tk_bf16_pack_amx` for n × kq weights,
/// over the first k ≤ kq inputs (a causal block's keys); `xb` from `tk_bf16_x_amx` with k.
TK_AMX void tk_gemm_bf16_packed_amx(const void *packed, int64_t n, int64_t kq, const void *xb, float *y, int64_t ldy,
                                    int64_t m, int64_t k, int64_t n0, int64_t n1) {
    amx_gemm_panels(NULL, TK_F32, (const uint16_t *)packed, n, kq, (const uint16_t *)xb, y, ldy, m, k, n0, n1, 0);
}

TK_AMX void tk_gemm_q8_0_bf16x_amx(const void *w, const void *xb, float *y, int64_t ldy, int64_t m, int64_t k,
                                   int64_t n0, int64_t n1) {
    amx_gemm(w, TK_Q8_0, (const uint16_t *)xb, y, ldy, m, k, n0, n1);
}

TK_AMX void tk_gemm_q4_0_bf16x_amx(const void *w, const void *xb, float *y, int64_t ldy, int64_t m, int64_t k,
                                   int64_t n0, int64_t n1) {
    amx_gemm(w, TK_Q4_0, (const uint16_t *)xb, y, ldy, m, k, n0, n1);
}

/// f32 weights on the same tiles, any k: for products that may round to bf16 (`MatMul.gemm`'s
/// `allowBF16`: a quantized model's prompt attention), never for an f32 model's weights.
TK_AMX void tk_gemm_f32_bf16x_amx(const void *w, const void *xb, float *y, int64_t ldy, int64_t m, int64_t k,
                                  int64_t n0, int64_t n1) {
    amx_gemm(w, TK_F32, (const uint16_t *)xb, y, ldy, m, k, n0, n1);
}

/// The same from f32 activations (`gemm_f32act`, for callers that do not round them once for all
/// threads): each call rounds its own copy.
TK_AMX static void amx_gemm_f32(const void *w, tk_dtype dtype, const float *x, float *y, int64_t ldy, int64_t m,
                                int64_t k, int64_t n0, int64_t n1) {
    uint16_t *xb = aligned_alloc(64, (size_t)((tk_bf16_x_size_amx(m, k) + 63) / 64 * 64));
    if (!xb) abort();
    tk_bf16_x_amx(x, k, m, k, xb, 0, (m + AMX_MR - 1) / AMX_MR * AMX_MR);
    amx_gemm(w, dtype, xb, y, ldy, m, k, n0, n1);
    free(xb);
}

TK_AMX void tk_gemm_q8_0_f32_amx(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k,
                                 int64_t n0, int64_t n1) {
    amx_gemm_f32(w, TK_Q8_0, (const float *)x, y, ldy, m, k, n0, n1);
}

TK_AMX void tk_gemm_q4_0_f32_amx(const void *w, const void *x, float *y, int64_t ldy, int64_t m, int64_t k,
                                 int64_t n0, int64_t n1) {
    amx_gemm_f32(w, TK_Q4_0, (const float *)x, y, ldy, m, k, n0, n1);
}
#endif
