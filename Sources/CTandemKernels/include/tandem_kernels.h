// CTandemKernels — the hot loops of Tandem in C with intrinsics.
//
// Why C: Swift SIMD code reaches about 95 % of intrinsics for f32 but about half for int8/int4
// (LLVM does not form `vpmaddubsw` from Swift integer SIMD code), so the dot products live here.
//
// Layout follows ggml (`ggml-common.h`, `ggml-cpu/quants.c` + `arch/<isa>/quants.c`): one generic
// file and one file per instruction set, with the same function names and an ISA suffix
// (kernels_generic.c, kernels_x86_avx2.c, kernels_x86_avxvnni.c, kernels_x86_avx512.c,
// kernels_x86_amx.c, kernels_arm_neon.c);
// kernels_dispatch.c asks the CPU and hands out one traits table per instruction set. No
// compiler flags are needed: every x86 variant carries `__attribute__((target(...)))` and is only
// called after `tk_isa_available()` said yes, so one binary runs on every x86-64 CPU.
//
// A weight matrix is row-major [rows = outputs, cols = inputs]; each row is a run of blocks along
// the input dimension (cols a multiple of 32 for the quantized types).
#ifndef TANDEM_KERNELS_H
#define TANDEM_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Elements per quantized block (q8_0, q4_0).
#define TK_QK 32

/// ggml's block_q8_0: an IEEE half scale `d` then 32 int8; value = d * qs[i]. 34 bytes.
typedef struct {
    uint16_t d;
    int8_t qs[TK_QK];
} tk_block_q8_0;

/// ggml's block_q4_0: an IEEE half scale `d` then 16 bytes; byte j holds element j in its low
/// nibble and element j + 16 in its high nibble, each stored as q + 8 in [0, 15]. 18 bytes.
typedef struct {
    uint16_t d;
    uint8_t qs[TK_QK / 2];
} tk_block_q4_0;

/// ggml's block_q5_0: an IEEE half scale `d`, then `qh` (bit j: the fifth bit of element j), then
/// 16 bytes of nibbles in q4_0's order; value = d · (q − 16), q in [0, 31]. 22 bytes.
typedef struct {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[TK_QK / 2];
} tk_block_q5_0;

/// Elements per K-quant super-block (q4_K, q5_K, q6_K and their activation type q8_K).
#define TK_QK_K 256

/// ggml's block_q4_K: half scales `d` and `dmin`, 8 sub-blocks of 32 with a 6-bit scale and a 6-bit
/// min each (packed in `scales`, see `tk_scale_min_k4`), then 128 bytes of nibbles: byte 32·j + l
/// holds element 64·j + l (low nibble) and 64·j + 32 + l (high nibble). value = d·sc·q − dmin·m.
/// 144 bytes per 256 weights (4.5 bits/weight).
typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[12];
    uint8_t qs[TK_QK_K / 2];
} tk_block_q4_K;

/// ggml's block_q5_K: q4_K plus `qh`: bit j of qh[l] is the fifth bit of element 32·j + l.
/// 176 bytes per 256 weights (5.5 bits/weight).
typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[12];
    uint8_t qh[TK_QK_K / 8];
    uint8_t qs[TK_QK_K / 2];
} tk_block_q5_K;

/// ggml's block_q6_K: 6-bit values q in [0, 63] (low 4 bits in `ql`, high 2 in `qh`), one int8
/// scale per 16 elements, a half super-scale `d` last; value = d · scales[e / 16] · (q − 32).
/// Element e = 128·n + 32·s + l (s < 4, l < 32) has its low bits in ql[64·n + 32·(s & 1) + l]
/// (s < 2: low nibble, else high) and its high bits at bit 2·s of qh[32·n + l]. 210 bytes.
typedef struct {
    uint8_t ql[TK_QK_K / 2];
    uint8_t qh[TK_QK_K / 4];
    int8_t scales[TK_QK_K / 16];
    uint16_t d;
} tk_block_q6_K;

/// ggml's block_q8_K, the activations K-quant weights pair with: an f32 scale, 256 int8 in
/// [−127, 127] and the sums of each 16 of them (for the weights' mins and offsets). 292 bytes.
typedef struct {
    float d;
    int8_t qs[TK_QK_K];
    int16_t bsums[TK_QK_K / 16];
} tk_block_q8_K;

/// Instruction sets, in the order of the Swift `KernelISA` enum.
typedef enum {
    TK_ISA_GENERIC = 0,
    TK_ISA_AVX2 = 1,
    TK_ISA_NEON = 2,
    /// AVX2 plus AVX-VNNI (`vpdpbusd`): the AVX2 kernels with an int8 GEMM that needs no sign trick.
    TK_ISA_AVX2_VNNI = 3,
    /// AVX-512 (F, BW, VL) plus AVX512-VNNI: 512-bit GEMM kernels, the AVX2 + VNNI ones otherwise.
    TK_ISA_AVX512 = 4,
    /// AVX-512 plus AMX-BF16 tiles for the GEMM of quantized weights over many activation rows
    /// (prompt encoding), weights and activations rounded to bf16 (kernels_x86_amx.c).
    TK_ISA_AMX = 5,
} tk_isa;

/// Weight element types handled by the matrix products (numbering is Tandem's, not the file's).
typedef enum {
    TK_F32 = 0,
    TK_F16 = 1,
    TK_Q8_0 = 2,
    TK_Q4_0 = 3,
    TK_Q5_0 = 4,
    TK_Q4_K = 5,
    TK_Q5_K = 6,
    TK_Q6_K = 7,
    TK_DTYPE_COUNT = 8,
} tk_dtype;

/// Dot product of one weight row with one activation row over `k` elements. For f32/f16 the
/// activation `x` is f32; for q8_0/q4_0/q5_0 it is the row quantized to q8_0 blocks, for the
/// K-quants (q4_K, q5_K, q6_K) to q8_K blocks (`tk_act_kind`).
typedef float (*tk_vec_dot_fn)(const void *w, const void *x, int64_t k);

/// y[r] = dot(w row r, x) for r0 <= r < r1; `x` as in `tk_vec_dot_fn`.
typedef void (*tk_gemv_fn)(const void *w, const void *x, float *y, int64_t k, int64_t r0, int64_t r1);

/// y[m][n] = dot(w row n, x row m) for all m < `m` and n0 <= n < n1. `y` has row stride `ldy`.
/// `x` rows are f32 (stride k) for f32/f16 weights, else q8_0 or q8_K blocks (`tk_act_row_bytes`).
typedef void (*tk_gemm_fn)(const void *w, const void *x, float *y, int64_t ldy,
                           int64_t m, int64_t k, int64_t n0, int64_t n1);

/// What a GEMM with an epilogue does to each output as it stores it: adds the product to y (a
/// residual connection: y += W·x) and/or clamps it at zero (ReLU). Saves a pass over the outputs.
typedef enum {
    TK_EPILOGUE_ACCUMULATE = 1,
    TK_EPILOGUE_RELU = 2,
} tk_epilogue;

/// The compute traits of one instruction set (ggml's `type_traits_cpu[]`, per ISA).
typedef struct {
    const char *name;
    /// Quantize `k` floats (a multiple of 32) to q8_0 blocks, as ggml's quantize_row_q8_0.
    void (*quantize_row_q8_0)(const float *x, tk_block_q8_0 *y, int64_t k);
    /// Quantize `k` floats (a multiple of 256) to q8_K blocks, as ggml's quantize_row_q8_K_ref.
    void (*quantize_row_q8_K)(const float *x, tk_block_q8_K *y, int64_t k);
    /// y[i] ← x[i] rounded to half precision (nearest even), for i < n.
    void (*f32_to_f16)(const float *x, uint16_t *y, int64_t n);
    tk_vec_dot_fn vec_dot[TK_DTYPE_COUNT];
    /// A GEMV over rows [r0, r1) that beats a loop of `vec_dot`; NULL means "loop `vec_dot`".
    tk_gemv_fn gemv[TK_DTYPE_COUNT];
    /// A cache-blocked product; NULL means "use `tk_gemm_blocked` over `vec_dot`".
    tk_gemm_fn gemm[TK_DTYPE_COUNT];
    /// GEMM of quantized weights against f32 activations (AMX: weights rounded to bf16 while
    /// packing); NULL where the ISA has none. Faster than `gemm` once there are enough activation
    /// rows to amortize the conversion (see `tk_gemm_prefers_f32`).
    tk_gemm_fn gemm_f32act[TK_DTYPE_COUNT];
    /// From how many activation rows `gemm_f32act` is used (`tk_gemm_prefers_f32`), and whether it
    /// rounds weights (q·d) and activations to bf16 (1) or keeps them f32 (0).
    int64_t f32act_min_rows;
    int f32act_bf16;
    /// `gemm_f32act`'s activations rounded to bf16 once per product (NULL where the ISA has
    /// none): `bf16_x_size` bytes for m×k, `bf16_x` fills rows [r0, r1) (row i at x + i·ldx; rows
    /// up to the next multiple of `bf16_x_rows` past m are zeros; ranges start on such a multiple), then
    /// `gemm_bf16_x[dtype]` takes the rounded rows as `x`. Why: every thread taking a range of
    /// outputs would otherwise round the same activations again. The f32 entry (any k, padded
    /// with zeros) rounds f32 weights too: only for products allowed to (a quantized model's
    /// prompt attention), never an f32 model's weights.
    int64_t bf16_x_rows;
    int64_t (*bf16_x_size)(int64_t m, int64_t k);
    void (*bf16_x)(const float *x, int64_t ldx, int64_t m, int64_t k, void *dst, int64_t r0, int64_t r1);
    tk_gemm_fn gemm_bf16_x[TK_DTYPE_COUNT];
    /// `gemm_bf16_x` for q8_0/q4_0 with `tk_epilogue` flags (NULL where the ISA has none).
    void (*gemm_bf16_x_epilogue)(tk_dtype dtype, const void *w, const void *xb, float *y, int64_t ldy, int64_t m,
                                 int64_t k, int64_t n0, int64_t n1, int epilogue);
    /// f32 weights rounded to bf16 once into the tile GEMM's panels (NULL where the ISA has
    /// none), for a matrix many products share: attention's keys and values, one product per
    /// block of queries, which otherwise rounded and transposed them again in each. `bf16_pack`
    /// takes output o, input i at w[o·os + i·is] with os or is 1 (rows of inputs, or rows of
    /// outputs: Vᵀ read from V); `gemm_bf16_packed` reads the panels of an n × kq packing over
    /// outputs [n0, n1) and the first k ≤ kq inputs, with `xb` from `bf16_x` for m × k. Same sums
    /// as `gemm_bf16_x[TK_F32]`. The packing's address must be a multiple of 64.
    /// Attention's score rows turned into softmax weights and rounded straight into `bf16_x`'s
    /// layout for the product with the values (NULL where the ISA has no tiles): row r of the
    /// rows × n scores is scale·s + bias[j − r] (bias NULL for none) over its first
    /// min(n, visible0 + r) keys, the rest masked. Overwrites the scores.
    void (*softmax_bf16_x)(float *s, int64_t rows, int64_t n, float scale, const float *bias, int64_t visible0,
                           void *dst);
    int64_t (*bf16_pack_size)(int64_t n, int64_t k);
    void (*bf16_pack)(const float *w, int64_t os, int64_t is, int64_t n, int64_t k, void *dst);
    void (*gemm_bf16_packed)(const void *packed, int64_t n, int64_t kq, const void *xb, float *y, int64_t ldy,
                             int64_t m, int64_t k, int64_t n0, int64_t n1);
    /// Prepacked weights (NULL where the ISA has none): a quantized matrix copied once into the
    /// layout the GEMM tile reads, so products with few activation rows (batched decoding) do
    /// not repack every weight on every call. `pack_size` gives the bytes for an n×k matrix (0 for
    /// dtypes without one), `pack` fills panels [p0, p1) of `pack_rows` rows each;
    /// `gemm_q8_packed_x` (below) reads them, over outputs [n0, n1) with n0 a multiple of `pack_rows`.
    int64_t pack_rows;
    int64_t (*pack_size)(tk_dtype dtype, int64_t n, int64_t k);
    void (*pack)(tk_dtype dtype, const void *w, int64_t n, int64_t k, void *packed, int64_t p0, int64_t p1);
    /// f32/f16 GEMM over activations packed once per product (NULL where the ISA has none):
    /// `pack_x_size` bytes for m×k, `pack_x` fills row groups [g0, g1) of `pack_x_rows` rows,
    /// then `gemm_packed_x[dtype]` (f32 and f16 only) takes the packed buffer as `x`. Why: with
    /// several threads each taking a range of outputs, every thread would otherwise pack the
    /// same activations again.
    int64_t pack_x_rows;
    int64_t (*pack_x_size)(int64_t m, int64_t k);
    void (*pack_x)(const float *x, int64_t m, int64_t k, float *dst, int64_t g0, int64_t g1);
    tk_gemm_fn gemm_packed_x[TK_DTYPE_COUNT];
    /// The same for q8_0/q4_0 weights (NULL where the ISA has none): q8_0 activation blocks laid
    /// out once per product in the int8 GEMM's row groups of `pack_q8_x_rows` — for prepacked
    /// panels with `offset` the panels' weight offset (128 for q8_0, 8 for q4_0), else 0 — then
    /// `gemm_q8_packed_x` over outputs [n0, n1), from `prepacked` panels (`pack`) or, when that
    /// is NULL, packing `w` on the fly.
    int64_t pack_q8_x_rows;
    int64_t (*pack_q8_x_size)(int64_t m, int64_t k, int offset);
    void (*pack_q8_x)(const void *x, int64_t m, int64_t k, int offset, void *dst, int64_t g0, int64_t g1);
    void (*gemm_q8_packed_x)(tk_dtype dtype, const void *w, const void *prepacked, const void *xpacked, float *y,
                             int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1);
    /// Sum of `n` floats, streaming (the bandwidth probe).
    double (*sum_f32)(const float *x, int64_t n);
    /// `iters` rounds of independent FMAs; returns the flop count done (the peak probe).
    double (*fma_loop)(int64_t iters, float *sink);
    /// x[i] ← exp(x[i] − shift) for i < n; returns Σ x[i] (the softmax core). Exactly 0 where
    /// x[i] − shift < −87.34, so −∞ entries stay weightless.
    float (*exp_shifted)(float *x, int64_t n, float shift);
    /// x ← softmax(x) in place, stable (x − max); −∞ entries become 0, an all −∞ row all zeros.
    void (*softmax)(float *x, int64_t n);
    /// gate[i] ← silu(gate[i]) · up[i] (SwiGLU), or silu(gate[i]) when `up` is NULL.
    void (*silu_mul)(float *gate, const float *up, int64_t n);
    /// gate[i] ← gelu_tanh(gate[i]) · up[i] (gated GELU), or gelu_tanh(gate[i]) when `up` is NULL.
    void (*gelu_tanh_mul)(float *gate, const float *up, int64_t n);
    /// s[j] ← q · k[j·ldk …] over `d` floats, for j < n (attention scores of one query head).
    void (*attn_scores)(const float *q, const float *k, int64_t ldk, int64_t n, int64_t d, float *s);
    /// out[c] ← Σ_{j<n} p[j] · v[j·ldv + c] for c < d, skipping keys with p[j] = 0 (their values
    /// are never read, so masked cache rows may hold anything).
    void (*attn_values)(const float *p, const float *v, int64_t ldv, int64_t n, int64_t d, float *out);
    /// attn_scores over n contiguous int8 rows of d with one scale per row (tk_quantize_rows_i8),
    /// the query rounded the same way (q8, scale sq): s[j] ← (float)(q8 · k[j]) · (sq · ks[j]), an
    /// exact integer dot product, so the same floats on every table.
    void (*attn_scores_i8)(const float *q, const int8_t *k, const float *ks, int64_t n, int64_t d, float *s);
    /// attn_values over int8 rows: out[c] ← Σ_{j<n} p[j] · vs[j] · v[j·d + c], skipping p[j]·vs[j] = 0.
    void (*attn_values_i8)(const float *p, const int8_t *v, const float *vs, int64_t n, int64_t d, float *out);
    /// `tk_quantize_rows_i8` (the same bytes and scales) where the ISA has a faster one; NULL: that.
    void (*quantize_rows_i8)(const float *x, int64_t rows, int64_t d, int64_t ldx, int8_t *q, float *scale);
} tk_kernels;

/// Whether this CPU (and OS, for the AVX state) can run the given instruction set.
int tk_isa_available(tk_isa isa);

/// Rows of `d` floats (`ldx` apart) to int8 with one scale per row, amax/127, rounded to nearest
/// (halves away from zero):
/// q[r·d + c] = round(x[r·ldx + c] / scale[r]). The layout attn_scores_i8 / attn_values_i8 read.
void tk_quantize_rows_i8(const float *x, int64_t rows, int64_t d, int64_t ldx, int8_t *q, float *scale);

/// The traits table of an instruction set, or NULL when it was not compiled in or the CPU lacks it.
const tk_kernels *tk_kernels_for(tk_isa isa);

/// GEMV over output rows [r0, r1): y[r] = dot(w row r, x). `x` as in `tk_vec_dot_fn`.
void tk_gemv(const tk_kernels *kt, tk_dtype dtype, const void *w, const void *x, float *y,
             int64_t k, int64_t r0, int64_t r1);

/// GEMM over output columns [n0, n1) using the ISA's blocked kernel when it has one, else
/// `tk_gemm_blocked`. For quantized weights `x` must be q8_0 blocks unless
/// `tk_gemm_prefers_f32` said yes, in which case it is f32.
void tk_gemm(const tk_kernels *kt, tk_dtype dtype, const void *w, const void *x, float *y,
             int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1);

/// Whether `kt` multiplies `dtype` weights with activations rounded to bf16 by `bf16_x`.
int tk_gemm_rounds_bf16_x(const tk_kernels *kt, tk_dtype dtype);

/// `gemm_bf16_x[dtype]` over outputs [n0, n1); `xb` from `bf16_x` over all rows.
void tk_gemm_bf16_x(const tk_kernels *kt, tk_dtype dtype, const void *w, const void *xb, float *y,
                    int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1);

/// f32 → bf16, nearest even (NaN stays NaN), and back: the rounding of the AMX kernels, for
/// the references that check them.
uint16_t tk_f32_to_bf16(float f);
float tk_bf16_to_f32(uint16_t h);

/// Whether `kt` multiplies `dtype` weights with activations packed by `pack_x`.
int tk_gemm_packs_x(const tk_kernels *kt, tk_dtype dtype);

/// Whether `kt` has the q8_0/q4_0 GEMM over activations laid out once per product
/// (`pack_q8_x_size`, `pack_q8_x` and `gemm_q8_packed_x` all present).
int tk_gemm_lays_q8_x(const tk_kernels *kt);

/// `gemm_packed_x[dtype]` over outputs [n0, n1); `xpacked` from `pack_x` over all row groups.
void tk_gemm_packed_x(const tk_kernels *kt, tk_dtype dtype, const void *w, const float *xpacked, float *y,
                      int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1);

/// Whether a GEMM of `m` rows with `dtype` weights should take f32 activations (`gemm_f32act`)
/// rather than q8_0 blocks. Always true for f32/f16 weights.
int tk_gemm_prefers_f32(const tk_kernels *kt, tk_dtype dtype, int64_t m);

/// The portable cache-blocked driver: a tile of weight rows that fits in L1 is kept hot while
/// every activation row passes over it, so each weight byte comes from DRAM once per call.
void tk_gemm_blocked(tk_vec_dot_fn dot, tk_dtype dtype, const void *w, const void *x, float *y,
                     int64_t ldy, int64_t m, int64_t k, int64_t n0, int64_t n1);

/// Rows [r0, r1) of a q5_0 matrix of `k` columns as q8_0 blocks at the same rows of `dst`: the same
/// values exactly (d unchanged, q − 16 in [−16, 15] as int8), so a q5_0 product can run on the
/// q8_0 GEMMs with the same q8_0 activations.
void tk_q5_0_to_q8_0(const void *w, void *dst, int64_t k, int64_t r0, int64_t r1);

/// Rows [r0, r1) of a q4_K or q5_K matrix of `k` columns as q8_0 blocks at the same rows of `dst`,
/// one per 32-value sub-block: its unsigned values u (q4_K: [0, 15], q5_K: [0, 31]) exactly, with
/// the scale d·sc rounded to half; and `mins[r · k/32 + j]` = dmin·m of sub-block j, in float.
/// value = d·sc·u − dmin·m, so a product is the q8_0 product less Σ_j mins[r, j] · (Σ of the
/// activations over sub-block j): the K-quant prompt pass on the q8_0 GEMMs.
void tk_kq_to_q8_0(tk_dtype dtype, const void *w, void *dst, float *mins, int64_t k, int64_t r0, int64_t r1);

/// Bytes of one row of `k` elements of `dtype`.
int64_t tk_row_bytes(tk_dtype dtype, int64_t k);

/// What the activations of a product with `dtype` weights are: 0 for f32 rows (f32/f16 weights),
/// 1 for q8_0 blocks (q8_0, q4_0, q5_0), 2 for q8_K blocks (the K-quants).
int tk_act_kind(tk_dtype dtype);

/// Bytes of one activation row of `k` elements as the kernels read it for `dtype` weights.
int64_t tk_act_row_bytes(tk_dtype dtype, int64_t k);

/// The 6-bit scale and min of sub-block `j` (< 8) of a q4_K/q5_K block's 12 packed bytes:
/// j < 4 in the low 6 bits of bytes j and j + 4; otherwise the low 4 bits from byte j + 4's
/// nibbles and the high 2 from the top bits of bytes j − 4 and j.
static inline void tk_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/// A spin-wait hint for the thread pool (`pause` on x86, `yield` on AArch64): lets the sibling
/// hyper-thread run and saves power while a worker waits for the next job.
static inline void tk_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/// IEEE half <-> float, exact and portable (round to nearest even).
float tk_fp16_to_fp32(uint16_t h);
uint16_t tk_fp32_to_fp16(float f);

#ifdef __cplusplus
}
#endif

#endif // TANDEM_KERNELS_H
