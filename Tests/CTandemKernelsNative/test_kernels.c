// Native test of CTandemKernels without Swift: every instruction set compiled in and available
// (generic always; AVX2 on x86; NEON on AArch64, run under qemu by scripts/test-neon.sh) against a
// double-precision scalar reference, over awkward shapes. Prints one line per failure and closes
// with "N passed, M failed"; exits non-zero on any failure.
#include "tandem_kernels.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed = 0, failed = 0;
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static float frand(void) {  // xorshift64*, uniform in [-1, 1)
    rng_state ^= rng_state >> 12; rng_state ^= rng_state << 25; rng_state ^= rng_state >> 27;
    return (float)((rng_state * 0x2545F4914F6CDD1Dull) >> 40) / (float)(1 << 23) - 1.0f;
}

static void check(int ok, const char *what, const char *isa, long m, long n, long k, double err) {
    if (ok) { passed++; return; }
    failed++;
    printf("FAIL %s [%s] m=%ld n=%ld k=%ld err=%g\n", what, isa, m, n, k, err);
}

/// ggml's quantize_row_q4_0_ref.
static void quantize_q4_0(const float *x, tk_block_q4_0 *y, long k) {
    for (long i = 0; i < k / TK_QK; i++) {
        float amax = 0, max = 0;
        for (int j = 0; j < TK_QK; j++) {
            const float v = x[i * TK_QK + j];
            if (fabsf(v) > amax) { amax = fabsf(v); max = v; }
        }
        const float d = max / -8, id = d != 0 ? 1.0f / d : 0;
        y[i].d = tk_fp32_to_fp16(d);
        for (int j = 0; j < TK_QK / 2; j++) {
            const float x0 = x[i * TK_QK + j] * id, x1 = x[i * TK_QK + TK_QK / 2 + j] * id;
            uint8_t a = (uint8_t)(x0 + 8.5f), b = (uint8_t)(x1 + 8.5f);
            if (a > 15) a = 15;
            if (b > 15) b = 15;
            y[i].qs[j] = (uint8_t)(a | (b << 4));
        }
    }
}

/// Weight row r dequantized to double, the reference's view of every dtype.
static double weight_at(tk_dtype dt, const void *w, long k, long r, long c) {
    const char *row = (const char *)w + r * tk_row_bytes(dt, k);
    switch (dt) {
    case TK_F32: return ((const float *)row)[c];
    case TK_F16: return tk_fp16_to_fp32(((const uint16_t *)row)[c]);
    case TK_Q8_0: {
        const tk_block_q8_0 *b = (const tk_block_q8_0 *)row + c / TK_QK;
        return (double)tk_fp16_to_fp32(b->d) * b->qs[c % TK_QK];
    }
    case TK_Q4_0: {
        const tk_block_q4_0 *b = (const tk_block_q4_0 *)row + c / TK_QK;
        const int j = (int)(c % TK_QK);
        const int q = j < 16 ? (b->qs[j] & 0xF) : (b->qs[j - 16] >> 4);
        return (double)tk_fp16_to_fp32(b->d) * (q - 8);
    }
    case TK_Q5_0: {
        const tk_block_q5_0 *b = (const tk_block_q5_0 *)row + c / TK_QK;
        const int j = (int)(c % TK_QK);
        const uint32_t qh = (uint32_t)b->qh[0] | (uint32_t)b->qh[1] << 8 | (uint32_t)b->qh[2] << 16 | (uint32_t)b->qh[3] << 24;
        const int q = (j < 16 ? (b->qs[j] & 0xF) : (b->qs[j - 16] >> 4)) | (int)((qh >> j) & 1) << 4;
        return (double)tk_fp16_to_fp32(b->d) * (q - 16);
    }
    case TK_Q4_K: case TK_Q5_K: {
        // Both start d, dmin, scales; q5_K has qh before its nibbles.
        const int q5 = dt == TK_Q5_K;
        const uint8_t *blk = (const uint8_t *)row + (c / TK_QK_K) * (q5 ? 176 : 144);
        const int e = (int)(c % TK_QK_K), j = e / 32, l = e % 32;
        uint16_t d, dmin;
        memcpy(&d, blk, 2);
        memcpy(&dmin, blk + 2, 2);
        uint8_t sc, m;
        tk_scale_min_k4(j, blk + 4, &sc, &m);
        const uint8_t *qs = blk + (q5 ? 48 : 16);
        int q = (qs[32 * (j / 2) + l] >> (4 * (j & 1))) & 0xF;
        if (q5) q |= ((blk[16 + l] >> j) & 1) << 4;
        return (double)tk_fp16_to_fp32(d) * sc * q - (double)tk_fp16_to_fp32(dmin) * m;
    }
    case TK_Q6_K: {
        const tk_block_q6_K *b = (const tk_block_q6_K *)row + c / TK_QK_K;
        const int e = (int)(c % TK_QK_K), n = e / 128, part = (e % 128) / 32, l = e % 32;
        const uint8_t lo = b->ql[64 * n + 32 * (part % 2) + l];
        const int q = ((part < 2 ? lo : lo >> 4) & 0xF) | ((b->qh[32 * n + l] >> (2 * part)) & 3) << 4;
        return (double)tk_fp16_to_fp32(b->d) * b->scales[e / 16] * (q - 32);
    }
    default: return 0;
    }
}

/// `v` rounded to bf16 when `on` (the AMX tile GEMM's view of weights and activations).
static double bf16_if(int on, double v) { return on ? tk_bf16_to_f32(tk_f32_to_bf16((float)v)) : v; }

static double act_at(int f32act, const void *x, long k, long r, long c) {
    if (f32act == 2) {  // q8_K
        const tk_block_q8_K *b = (const tk_block_q8_K *)x + r * (k / TK_QK_K) + c / TK_QK_K;
        return (double)b->d * b->qs[c % TK_QK_K];
    }
    if (f32act) return ((const float *)x)[r * k + c];
    const tk_block_q8_0 *b = (const tk_block_q8_0 *)x + r * (k / TK_QK) + c / TK_QK;
    return (double)tk_fp16_to_fp32(b->d) * b->qs[c % TK_QK];
}

static void *make_weights(tk_dtype dt, long n, long k, float scale) {
    float *f = malloc(sizeof(float) * n * k);
    for (long i = 0; i < n * k; i++) f[i] = frand() * scale;
    if (scale == 0) memset(f, 0, sizeof(float) * n * k);
    void *w = malloc((size_t)(tk_row_bytes(dt, k) * n) + 64);
    for (long r = 0; r < n; r++) {
        char *row = (char *)w + r * tk_row_bytes(dt, k);
        const float *src = f + r * k;
        switch (dt) {
        case TK_F32: memcpy(row, src, sizeof(float) * k); break;
        case TK_F16: for (long c = 0; c < k; c++) ((uint16_t *)row)[c] = tk_fp32_to_fp16(src[c]); break;
        case TK_Q8_0: tk_kernels_for(TK_ISA_GENERIC)->quantize_row_q8_0(src, (tk_block_q8_0 *)row, k); break;
        case TK_Q4_0: quantize_q4_0(src, (tk_block_q4_0 *)row, k); break;
        default: {
            // q5_0 and the K-quants: random bits (any pattern is a valid block) under half scales
            // of about `scale` / 32, which the row's floats only size.
            const long bytes = tk_row_bytes(dt, k);
            for (long b = 0; b < bytes; b++) row[b] = (char)(rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull, rng_state >> 56);
            const long block = dt == TK_Q5_0 ? 22 : dt == TK_Q4_K ? 144 : dt == TK_Q5_K ? 176 : 210;
            for (long b = 0; b < bytes / block; b++) {
                const uint16_t d = tk_fp32_to_fp16(scale == 0 ? 0 : frand() * scale / 32), dmin = tk_fp32_to_fp16(frand() * scale / 32);
                char *blk = row + b * block;
                if (dt == TK_Q6_K) memcpy(blk + 208, &d, 2);
                else memcpy(blk, &d, 2);
                if (dt == TK_Q4_K || dt == TK_Q5_K) memcpy(blk + 2, &dmin, 2);
            }
            break;
        }
        }
    }
    free(f);
    return w;
}

static const char *dtype_name[] = {"f32", "f16", "q8_0", "q4_0", "q5_0", "q4_K", "q5_K", "q6_K"};

/// Elements per block of `dt`.
static long block_size(tk_dtype dt) { return dt <= TK_F16 ? 1 : dt <= TK_Q5_0 ? TK_QK : TK_QK_K; }

/// `gemm_bf16_x` as the threads run it: the activations rounded in two row ranges, the outputs
/// computed in two ranges split at a multiple of 32.
static void bf16_product_in_halves(const tk_kernels *kt, tk_dtype dt, const void *w, const float *x, float *y,
                                   long m, long n, long k) {
    void *xb = malloc((size_t)kt->bf16_x_size(m, k));
    const long rows = (m + kt->bf16_x_rows - 1) / kt->bf16_x_rows * kt->bf16_x_rows;
    const long half = rows / kt->bf16_x_rows / 2 * kt->bf16_x_rows;
    kt->bf16_x(x, k, m, k, xb, 0, half);
    kt->bf16_x(x, k, m, k, xb, half, rows);
    const long split = n / 64 * 32;
    tk_gemm_bf16_x(kt, dt, w, xb, y, n, m, k, 0, split);
    tk_gemm_bf16_x(kt, dt, w, xb, y, n, m, k, split, n);
    free(xb);
}

/// x (m rows of k floats, `ldx` apart) rounded by `bf16_x` over every row in one range; free() it.
static void *rounded_rows(const tk_kernels *kt, const float *x, long ldx, long m, long k) {
    void *xb = malloc((size_t)kt->bf16_x_size(m, k));
    kt->bf16_x(x, ldx, m, k, xb, 0, (m + kt->bf16_x_rows - 1) / kt->bf16_x_rows * kt->bf16_x_rows);
    return xb;
}

/// Where the tests that compute n outputs in two ranges split them: a multiple of 32 past the
/// middle, or all of them in the first range when n ≤ 32.
static long output_split(long n) { return n > 32 ? n / 64 * 32 + 32 : n; }

/// GEMM (m rows) through tk_gemm and, for m == 1, GEMV through tk_gemv, against the reference.
static void test_product(const tk_kernels *kt, tk_dtype dt, long m, long n, long k, float scale) {
    if (k % block_size(dt) != 0) return;
    void *w = make_weights(dt, n, k, 1.0f);
    float *xf = malloc(sizeof(float) * m * k);
    for (long i = 0; i < m * k; i++) xf[i] = frand() * scale;
    void *x = xf;
    void *xq = NULL;
    if (tk_act_kind(dt) == 2) {
        // K-quants: q8_K activations (same blocks for reference and kernel).
        xq = malloc(sizeof(tk_block_q8_K) * m * (k / TK_QK_K));
        for (long i = 0; i < m; i++)
            tk_kernels_for(TK_ISA_GENERIC)->quantize_row_q8_K(xf + i * k, (tk_block_q8_K *)xq + i * (k / TK_QK_K), k);
        float *y = malloc(sizeof(float) * m * n);
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 1 && m != 1) continue;
            for (long i = 0; i < m * n; i++) y[i] = NAN;
            if (pass == 0) tk_gemm(kt, dt, w, xq, y, n, m, k, 0, n);
            else tk_gemv(kt, dt, w, xq, y, k, 0, n);
            double num = 0, den = 0;
            for (long i = 0; i < m; i++)
                for (long j = 0; j < n; j++) {
                    double ref = 0;
                    for (long c = 0; c < k; c++) ref += weight_at(dt, w, k, j, c) * act_at(2, xq, k, i, c);
                    const double d = y[i * n + j] - ref;
                    num += isnan(d) ? 1e300 : d * d;
                    den += ref * ref;
                }
            char what[64];
            snprintf(what, sizeof what, "%s %s", pass == 0 ? "gemm" : "gemv", dtype_name[dt]);
            check((den > 0 ? num / den : num) < 1e-9, what, kt->name, m, n, k, den > 0 ? num / den : num);
        }
        free(w); free(xf); free(xq); free(y);
        return;
    }
    const int f32act = tk_gemm_prefers_f32(kt, dt, m);
    // Quantized weights against f32 activations on AMX: both rounded to bf16 (q·d in f32 first).
    const int bf16 = f32act && kt->f32act_bf16 && (dt == TK_Q8_0 || dt == TK_Q4_0);
    if (!f32act) {
        // Same activation blocks for reference and kernel (the quantizers are tested apart).
        xq = malloc(sizeof(tk_block_q8_0) * m * (k / TK_QK));
        for (long i = 0; i < m; i++)
            tk_kernels_for(TK_ISA_GENERIC)->quantize_row_q8_0(xf + i * k, (tk_block_q8_0 *)xq + i * (k / TK_QK), k);
        x = xq;
    }
    float *y = malloc(sizeof(float) * m * n);
    // Pass 0: tk_gemm; 1: tk_gemv (m = 1); 2: activations packed once, outputs in two ranges
    // split at a multiple of 32 (as the thread pool splits them).
    for (int pass = 0; pass < 3; pass++) {
        if (pass == 1 && (m != 1 || f32act != (dt == TK_F32 || dt == TK_F16))) continue;
        if (pass == 2 && !tk_gemm_packs_x(kt, dt) && !(bf16 && tk_gemm_rounds_bf16_x(kt, dt))) continue;
        for (long i = 0; i < m * n; i++) y[i] = NAN;
        if (pass == 0) tk_gemm(kt, dt, w, x, y, n, m, k, 0, n);
        else if (pass == 1) tk_gemv(kt, dt, w, x, y, k, 0, n);
        else if (bf16) bf16_product_in_halves(kt, dt, w, xf, y, m, n, k);
        else {
            float *xp = malloc((size_t)kt->pack_x_size(m, k));
            const long groups = (m + kt->pack_x_rows - 1) / kt->pack_x_rows;
            kt->pack_x(xf, m, k, xp, 0, groups / 2);
            kt->pack_x(xf, m, k, xp, groups / 2, groups);
            const long split = n / 64 * 32;
            tk_gemm_packed_x(kt, dt, w, xp, y, n, m, k, 0, split);
            tk_gemm_packed_x(kt, dt, w, xp, y, n, m, k, split, n);
            free(xp);
        }
        double num = 0, den = 0;
        for (long i = 0; i < m; i++)
            for (long j = 0; j < n; j++) {
                double ref = 0;
                for (long c = 0; c < k; c++)
                    ref += bf16_if(bf16, (float)weight_at(dt, w, k, j, c)) * bf16_if(bf16, act_at(f32act, x, k, i, c));
                const double d = y[i * n + j] - ref;
                num += isnan(d) ? 1e300 : d * d;
                den += ref * ref;
            }
        const double nmse = den > 0 ? num / den : num;
        char what[64];
        snprintf(what, sizeof what, "%s %s", pass == 0 ? "gemm" : pass == 1 ? "gemv" : bf16 ? "gemm bf16 x" : "gemm packed x",
                 dtype_name[dt]);
        check(nmse < 1e-9, what, kt->name, m, n, k, nmse);
    }
    free(w); free(xf); free(xq); free(y);
}

static void test_quantize(const tk_kernels *kt, long k, float scale) {
    float *x = malloc(sizeof(float) * k);
    for (long i = 0; i < k; i++) x[i] = frand() * scale;
    tk_block_q8_0 *a = malloc(sizeof(tk_block_q8_0) * (k / TK_QK)), *b = malloc(sizeof(tk_block_q8_0) * (k / TK_QK));
    tk_kernels_for(TK_ISA_GENERIC)->quantize_row_q8_0(x, a, k);
    kt->quantize_row_q8_0(x, b, k);
    int ok = 1;
    for (long i = 0; i < k / TK_QK; i++) {
        if (a[i].d != b[i].d) ok = 0;
        for (int j = 0; j < TK_QK; j++) if (abs(a[i].qs[j] - b[i].qs[j]) > 1 || b[i].qs[j] == -128) ok = 0;
    }
    check(ok, "quantize_row_q8_0", kt->name, 1, 1, k, 0);
    free(x); free(a); free(b);
}

/// quantize_row_q8_K against its definition: per 256, the value of largest magnitude at ∓127
/// exactly, every value within half a step, |q| ≤ 127, bsums the sums of 16; zeros stay zeros.
static void test_quantize_q8_K(const tk_kernels *kt, long k, float scale) {
    float *x = malloc(sizeof(float) * k);
    for (long i = 0; i < k; i++) x[i] = frand() * scale;
    tk_block_q8_K *q = malloc(sizeof(tk_block_q8_K) * (k / TK_QK_K));
    kt->quantize_row_q8_K(x, q, k);
    int ok = 1;
    for (long b = 0; b < k / TK_QK_K; b++) {
        const float *xb = x + b * TK_QK_K;
        float amax = 0;
        long at = 0;
        for (int j = 0; j < TK_QK_K; j++) if (fabsf(xb[j]) > amax) { amax = fabsf(xb[j]); at = j; }
        if (amax == 0) {
            if (q[b].d != 0) ok = 0;
        } else if (abs(q[b].qs[at]) != 127 || fabs((double)q[b].d * q[b].qs[at] - xb[at]) > 1e-6 * amax) {
            ok = 0;
        }
        for (int j = 0; j < TK_QK_K; j++) {
            if (q[b].qs[j] < -127 || fabs((double)q[b].d * q[b].qs[j] - xb[j]) > fabs(q[b].d) * 0.5001) ok = 0;
        }
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int j = 0; j < 16; j++) sum += q[b].qs[16 * g + j];
            if (sum != q[b].bsums[g]) ok = 0;
        }
    }
    // Every table's quantizer makes the generic one's bytes exactly (the parity with ggml rests on it).
    tk_block_q8_K *g = malloc(sizeof(tk_block_q8_K) * (k / TK_QK_K));
    tk_kernels_for(TK_ISA_GENERIC)->quantize_row_q8_K(x, g, k);
    if (memcmp(g, q, sizeof(tk_block_q8_K) * (size_t)(k / TK_QK_K)) != 0) ok = 0;
    free(g);
    check(ok, "quantize_row_q8_K", kt->name, 1, 1, k, 0);
    free(x); free(q);
}

/// tk_q5_0_to_q8_0 gives the same values exactly, in two row ranges.
static void test_q5_0_widening(long n, long k) {
    void *w = make_weights(TK_Q5_0, n, k, 1.0f);
    void *w8 = malloc((size_t)(tk_row_bytes(TK_Q8_0, k) * n));
    tk_q5_0_to_q8_0(w, w8, k, 0, n / 2);
    tk_q5_0_to_q8_0(w, w8, k, n / 2, n);
    long differ = 0;
    for (long r = 0; r < n; r++)
        for (long c = 0; c < k; c++) differ += weight_at(TK_Q5_0, w, k, r, c) != weight_at(TK_Q8_0, w8, k, r, c);
    check(differ == 0, "q5_0 widened to q8_0", "generic", 1, n, k, (double)differ);
    free(w); free(w8);
}

/// exp_shifted, silu_mul and gelu_tanh_mul against libm in double precision, over the finite
/// range of exp, with and without the `up` factor, at lengths that leave vector tails.
static void test_elementwise(const tk_kernels *kt) {
    for (long n = 1; n <= 1000; n = n * 3 + 1) {
        float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n), *up = malloc(sizeof(float) * n);
        for (long i = 0; i < n; i++) { x[i] = frand() * 80.0f; up[i] = frand(); }
        memcpy(y, x, sizeof(float) * n);
        const float shift = 3.0f;
        const float sum = kt->exp_shifted(y, n, shift);
        double worst = 0, ref_sum = 0;
        for (long i = 0; i < n; i++) {
            const double ref = exp((double)(x[i] - shift));  // the kernel subtracts in f32
            ref_sum += ref;
            worst = fmax(worst, fabs(y[i] - ref) / ref);
        }
        check(worst < 5e-7 && fabs(sum - ref_sum) <= 1e-5 * ref_sum, "exp_shifted", kt->name, 1, n, 1, worst);
        for (int gated = 0; gated < 2; gated++) {
            for (int op = 0; op < 2; op++) {
                memcpy(y, x, sizeof(float) * n);
                if (op == 0) kt->silu_mul(y, gated ? up : NULL, n); else kt->gelu_tanh_mul(y, gated ? up : NULL, n);
                double err = 0;
                for (long i = 0; i < n; i++) {
                    const double v = x[i];
                    double ref = op == 0 ? v / (1 + exp(-v)) : 0.5 * v * (1 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
                    if (gated) ref *= up[i];
                    err = fmax(err, fabs(y[i] - ref) / fmax(1.0, fabs(ref)));
                }
                check(err < 2e-6, op == 0 ? "silu_mul" : "gelu_tanh_mul", kt->name, gated, n, 1, err);
            }
        }
        free(x); free(y); free(up);
    }
    float edges[] = {-INFINITY, -1000.0f, -87.5f, 0.0f, 88.8f, INFINITY};
    kt->exp_shifted(edges, 6, 0.0f);
    check(edges[0] == 0 && edges[1] == 0 && edges[2] == 0 && edges[3] == 1 && isinf(edges[4]) && isinf(edges[5]),
          "exp_shifted edges", kt->name, 1, 6, 1, 0);
}

/// attn_scores_i8 / attn_values_i8 against double-precision sums over the dequantized rows that
/// tk_quantize_rows_i8 made (and those rows against the floats: within half a step of each row's
/// scale), at head sizes with and without vector tails and key counts that leave a tail of the
/// 4-key passes; zero probabilities skip their rows.
static void test_attention_i8(const tk_kernels *kt) {
    static const long dims[] = {8, 37, 64, 128};
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        for (long n = 1; n <= 403; n += 101) {
            const long d = dims[di], ldx = d + 3;
            float *x = malloc(sizeof(float) * n * ldx), *scale = malloc(sizeof(float) * n);
            float *q = malloc(sizeof(float) * d), *p = malloc(sizeof(float) * n);
            float *s = malloc(sizeof(float) * n), *out = malloc(sizeof(float) * d);
            int8_t *k = malloc((size_t)(n * d));
            for (long i = 0; i < n * ldx; i++) x[i] = frand() * 4.0f;
            for (long c = 0; c < ldx; c++) x[c] = 0.0f;  // an all-zero row: scale 0, values 0
            for (long c = 0; c < d; c++) q[c] = frand();
            for (long j = 0; j < n; j++) p[j] = (j % 7 == 3) ? 0.0f : (frand() + 1.0f) / (float)n;
            tk_quantize_rows_i8(x, n, d, ldx, k, scale);
            double qerr = 0;
            for (long j = 0; j < n; j++)
                for (long c = 0; c < d; c++) qerr = fmax(qerr, fabs(k[j * d + c] * (double)scale[j] - x[j * ldx + c]) - 0.5001 * scale[j]);
            check(qerr <= 0, "quantize_rows_i8", kt->name, n, 1, d, qerr);
            if (kt->quantize_rows_i8) {
                // The table's own quantizer: the same bytes and scales, NaN and ±∞ rows included.
                int8_t *k2 = malloc((size_t)(n * d));
                float *scale2 = malloc(sizeof(float) * n);
                float *odd = malloc(sizeof(float) * n * ldx);
                memcpy(odd, x, sizeof(float) * n * ldx);
                if (n > 2) { odd[ldx + 1] = NAN; odd[2 * ldx] = INFINITY; }
                for (int pass = 0; pass < 2; pass++) {
                    const float *src = pass ? odd : x;
                    tk_quantize_rows_i8(src, n, d, ldx, k, scale);
                    kt->quantize_rows_i8(src, n, d, ldx, k2, scale2);
                    const int same = memcmp(k, k2, (size_t)(n * d)) == 0 && memcmp(scale, scale2, sizeof(float) * n) == 0;
                    check(same, pass ? "quantize_rows_i8 (table, NaN/inf) = generic" : "quantize_rows_i8 (table) = generic", kt->name, n, 1, d, 0);
                }
                tk_quantize_rows_i8(x, n, d, ldx, k, scale);
                free(k2); free(scale2); free(odd);
            }
            // Scores see the query rounded to int8 as the keys are: against that in double, and
            // bit for bit against the generic table (exact integer dot products).
            kt->attn_scores_i8(q, k, scale, n, d, s);
            int8_t *q8 = malloc((size_t)d);
            float sq, *s0 = malloc(sizeof(float) * n);
            tk_quantize_rows_i8(q, 1, d, d, q8, &sq);
            tk_kernels_for(TK_ISA_GENERIC)->attn_scores_i8(q, k, scale, n, d, s0);
            double err = 0;
            long differ = 0;
            for (long j = 0; j < n; j++) {
                double ref = 0;
                for (long c = 0; c < d; c++) ref += (double)q8[c] * k[j * d + c];
                err = fmax(err, fabs(s[j] - ref * sq * scale[j]));
                differ += memcmp(&s[j], &s0[j], sizeof(float)) != 0;
            }
            check(err < 1e-5 * d, "attn_scores_i8", kt->name, 1, n, d, err);
            check(differ == 0, "attn_scores_i8 = generic", kt->name, 1, n, d, (double)differ);
            free(q8); free(s0);
            kt->attn_values_i8(p, k, scale, n, d, out);
            err = 0;
            for (long c = 0; c < d; c++) {
                double ref = 0;
                for (long j = 0; j < n; j++) ref += (double)p[j] * scale[j] * k[j * d + c];
                err = fmax(err, fabs(out[c] - ref));
            }
            check(err < 1e-5, "attn_values_i8", kt->name, 1, n, d, err);
            free(x); free(scale); free(q); free(p); free(s); free(out); free(k);
        }
    }
}

/// f32 weights and activations on the bf16 tiles (AMX, for a quantized model's prompt attention),
/// any k (zero-padded to whole tiles): against Σ bf16(w)·bf16(x) in double, rounded in two row
/// ranges and computed in two output ranges.
static void test_bf16_f32(const tk_kernels *kt, long m, long n, long k) {
    if (!tk_gemm_rounds_bf16_x(kt, TK_F32)) return;
    float *w = malloc(sizeof(float) * n * k), *x = malloc(sizeof(float) * m * k), *y = malloc(sizeof(float) * m * n);
    for (long i = 0; i < n * k; i++) w[i] = frand();
    for (long i = 0; i < m * k; i++) x[i] = frand() * 4.0f;
    for (long i = 0; i < m * n; i++) y[i] = NAN;
    bf16_product_in_halves(kt, TK_F32, w, x, y, m, n, k);
    double num = 0, den = 0;
    for (long i = 0; i < m; i++)
        for (long j = 0; j < n; j++) {
            double ref = 0;
            for (long c = 0; c < k; c++) ref += bf16_if(1, w[j * k + c]) * bf16_if(1, x[i * k + c]);
            const double d = y[i * n + j] - ref;
            num += isnan(d) ? 1e300 : d * d;
            den += ref * ref;
        }
    check(num / den < 1e-9, "gemm bf16 x f32", kt->name, m, n, k, num / den);
    free(w); free(x); free(y);
}

/// Panels packed once (`bf16_pack`, for attention's keys and values) against the same product
/// rounding its panels per call (`gemm_bf16_x[TK_F32]`), bit for bit: weights given as rows of
/// inputs (K) and as rows of outputs (V, read transposed), packed n × kq and used over the first
/// k ≤ kq inputs (a causal block's keys), in two output ranges; the activations rounded from rows
/// 5 floats longer than k (a head's columns of the queries).
static void test_bf16_packed(const tk_kernels *kt, long m, long n, long kq, long k) {
    if (!kt->bf16_pack || !tk_gemm_rounds_bf16_x(kt, TK_F32)) return;
    float *w = malloc(sizeof(float) * n * kq), *wt = malloc(sizeof(float) * n * kq), *wk = malloc(sizeof(float) * n * k);
    float *x = malloc(sizeof(float) * m * k), *y = malloc(sizeof(float) * m * n), *ref = malloc(sizeof(float) * m * n);
    for (long i = 0; i < n * kq; i++) w[i] = frand();
    for (long o = 0; o < n; o++)
        for (long i = 0; i < kq; i++) wt[i * n + o] = w[o * kq + i];
    for (long o = 0; o < n; o++)
        for (long i = 0; i < k; i++) wk[o * k + i] = w[o * kq + i];
    for (long i = 0; i < m * k; i++) x[i] = frand() * 4.0f;
    bf16_product_in_halves(kt, TK_F32, wk, x, ref, m, n, k);
    void *packed = aligned_alloc(64, (size_t)(kt->bf16_pack_size(n, kq) + 63) / 64 * 64);
    float *xs = malloc(sizeof(float) * m * (k + 5));
    for (long i = 0; i < m; i++) memcpy(xs + i * (k + 5), x + i * k, sizeof(float) * k);
    void *xb = rounded_rows(kt, xs, k + 5, m, k);
    free(xs);
    for (int layout = 0; layout < 2; layout++) {
        if (layout == 0) kt->bf16_pack(w, kq, 1, n, kq, packed);
        else kt->bf16_pack(wt, 1, n, n, kq, packed);
        for (long i = 0; i < m * n; i++) y[i] = NAN;
        const long split = output_split(n);
        kt->gemm_bf16_packed(packed, n, kq, xb, y, n, m, k, 0, split);
        if (split < n) kt->gemm_bf16_packed(packed, n, kq, xb, y, n, m, k, split, n);
        check(memcmp(y, ref, sizeof(float) * m * n) == 0, layout == 0 ? "gemm bf16 packed rows" : "gemm bf16 packed columns",
              kt->name, m, n, k, 0);
    }
    free(w); free(wt); free(wk); free(x); free(y); free(ref); free(packed); free(xb);
}

/// The tile GEMM's epilogues (`gemm_bf16_x_epilogue`, AMX) against the plain product in the same
/// two output ranges: ReLU bit for bit max(0, ·) of it; accumulating onto y₀ within 10⁻⁴ of
/// |y₀| + |it| (the sums start from y₀, so each of the k/32 tile steps rounds at y₀'s magnitude:
/// measured ≤ 1.7·10⁻⁵ with |y₀| ≤ 50).
static void test_epilogue(const tk_kernels *kt, tk_dtype dt, long m, long n, long k) {
    if (!kt->gemm_bf16_x_epilogue) return;
    void *w = make_weights(dt, n, k, 1.0f);
    float *x = malloc(sizeof(float) * m * k), *plain = malloc(sizeof(float) * m * n), *y = malloc(sizeof(float) * m * n);
    float *y0 = malloc(sizeof(float) * m * n);
    for (long i = 0; i < m * k; i++) x[i] = frand() * 2.0f;
    for (long i = 0; i < m * n; i++) y0[i] = frand() * 50.0f;
    bf16_product_in_halves(kt, dt, w, x, plain, m, n, k);
    void *xb = rounded_rows(kt, x, k, m, k);
    const long split = output_split(n);
    for (int e = TK_EPILOGUE_ACCUMULATE; e <= TK_EPILOGUE_RELU; e++) {
        memcpy(y, y0, sizeof(float) * m * n);
        kt->gemm_bf16_x_epilogue(dt, w, xb, y, n, m, k, 0, split, e);
        if (split < n) kt->gemm_bf16_x_epilogue(dt, w, xb, y, n, m, k, split, n, e);
        double worst = 0;
        int exact = 1;
        for (long i = 0; i < m * n; i++) {
            if (e == TK_EPILOGUE_RELU) exact &= y[i] == (plain[i] > 0 ? plain[i] : 0.0f);
            else worst = fmax(worst, fabs((double)y[i] - ((double)y0[i] + plain[i])) / (fabs(y0[i]) + fabs(plain[i]) + 1e-30));
        }
        check(exact && worst < 1e-4, e == TK_EPILOGUE_RELU ? "gemm bf16 x relu" : "gemm bf16 x accumulate", kt->name, m, n, k,
              worst);
    }
    free(w); free(x); free(plain); free(y); free(y0); free(xb);
}

/// Attention's weights rounded into the value product's tiles (`softmax_bf16_x`, AMX) against a
/// softmax in double of scale·s + bias[j − r] over each row's visible keys, then rounded: within
/// half a bf16 step at the bottom of a binade (2⁻⁸ relative) plus the exponential's 5·10⁻⁵ (measured
/// 0.00389), masked keys, padding inputs and padding rows exactly 0.
static void test_softmax_bf16_x(const tk_kernels *kt, long rows, long n, float scale, int with_bias, long visible0) {
    if (!kt->softmax_bf16_x) return;
    const long kp = (n + 31) / 32 * 32, padded = (rows + 31) / 32 * 32;
    float *sc = malloc(sizeof(float) * rows * n), *orig = malloc(sizeof(float) * rows * n);
    float *bias = malloc(sizeof(float) * (rows + n));
    for (long i = 0; i < rows * n; i++) orig[i] = sc[i] = frand() * 8.0f;
    for (long i = 0; i < rows + n; i++) bias[i] = frand() * 3.0f;
    const float *b0 = with_bias ? bias + rows : NULL;  // row r reads b0[j − r] ≥ bias[1]
    uint16_t *out = malloc(sizeof(uint16_t) * padded * kp);
    memset(out, 0xFF, sizeof(uint16_t) * padded * kp);
    kt->softmax_bf16_x(sc, rows, n, scale, b0, visible0, out);
    double worst = 0;
    int exact = 1;
    for (long r = 0; r < padded; r++) {
        const long visible = r < rows ? (visible0 + r < n ? visible0 + r : n) : 0;
        double mx = -INFINITY, sum = 0;
        for (long j = 0; j < visible; j++) {
            const double v = (double)scale * orig[r * n + j] + (b0 ? b0[j - r] : 0);
            if (v > mx) mx = v;
        }
        for (long j = 0; j < visible; j++) sum += exp((double)scale * orig[r * n + j] + (b0 ? b0[j - r] : 0) - mx);
        for (long c = 0; c < kp; c++) {
            const float got = tk_bf16_to_f32(out[(r / 16) * 16 * kp + (r % 16) * 32 + (c / 32) * 512 + c % 32]);
            if (c >= visible) {
                exact &= got == 0.0f;
                continue;
            }
            const double ref = exp((double)scale * orig[r * n + c] + (b0 ? b0[c - r] : 0) - mx) / sum;
            const double err = fabs(got - ref) / (ref + 1e-30);
            if (ref > 1e-30 && err > worst) worst = err;
        }
    }
    check(worst <= 1.0 / 256 + 1e-4 && exact, "softmax bf16 x", kt->name, rows, n, visible0, worst);
    free(sc); free(orig); free(bias); free(out);
}

/// The plain AVX2 int8 GEMM of 8 or more rows (16-bit multiply-adds) against the AVX-VNNI one,
/// float for float: both sum each block exactly in int32 and scale it in the same order.
static void test_avx2_equals_vnni(tk_dtype dt, long m, long n, long k) {
    const tk_kernels *a2 = tk_kernels_for(TK_ISA_AVX2), *vn = tk_kernels_for(TK_ISA_AVX2_VNNI);
    if (!a2 || !vn) return;
    void *w = make_weights(dt, n, k, 1.0f);
    float *xf = malloc(sizeof(float) * m * k);
    for (long i = 0; i < m * k; i++) xf[i] = frand() * 5.0f;
    tk_block_q8_0 *xq = malloc(sizeof(tk_block_q8_0) * m * (k / TK_QK));
    for (long i = 0; i < m; i++) a2->quantize_row_q8_0(xf + i * k, xq + i * (k / TK_QK), k);
    float *y0 = malloc(sizeof(float) * m * n), *y1 = malloc(sizeof(float) * m * n);
    tk_gemm(vn, dt, w, xq, y0, n, m, k, 0, n);
    for (long i = 0; i < m * n; i++) y1[i] = NAN;
    const long split = n / 32 * 16;
    tk_gemm(a2, dt, w, xq, y1, n, m, k, 0, split);
    tk_gemm(a2, dt, w, xq, y1, n, m, k, split, n);
    long differ = 0;
    for (long i = 0; i < m * n; i++) differ += memcmp(&y0[i], &y1[i], sizeof(float)) != 0;
    check(differ == 0, "avx2 16-bit gemm equals avx2+vnni", "avx2", m, n, k, (double)differ);
    free(w); free(xf); free(xq); free(y0); free(y1);
}

/// A GEMM that keeps vec_dot's arithmetic (NEON's q8_0, q4_0 and K-quant tiles) gives tk_gemv's floats bit for
/// bit: a prompt read at once equals one read a token at a time. Outputs in two ranges, as the
/// thread pool splits them, and activation rows past a whole group of four.
static void test_gemm_equals_gemv(const tk_kernels *kt, tk_dtype dt, long m, long n, long k) {
    void *w = make_weights(dt, n, k, 1.0f);
    float *xf = malloc(sizeof(float) * m * k);
    for (long i = 0; i < m * k; i++) xf[i] = frand();
    const long xb = tk_act_row_bytes(dt, k);   // q8_0 or q8_K blocks
    char *xq = malloc((size_t)(xb * m));
    for (long i = 0; i < m; i++) {
        if (tk_act_kind(dt) == 2) kt->quantize_row_q8_K(xf + i * k, (tk_block_q8_K *)(xq + i * xb), k);
        else if (tk_act_kind(dt) == 1) kt->quantize_row_q8_0(xf + i * k, (tk_block_q8_0 *)(xq + i * xb), k);
        else memcpy(xq + i * xb, xf + i * k, sizeof(float) * (size_t)k);   // f32/f16 weights: f32 rows
    }
    float *y0 = malloc(sizeof(float) * m * n), *y1 = malloc(sizeof(float) * n);
    const long split = output_split(n);
    tk_gemm(kt, dt, w, xq, y0, n, m, k, 0, split);
    if (split < n) tk_gemm(kt, dt, w, xq, y0, n, m, k, split, n);
    long differ = 0;
    for (long i = 0; i < m; i++) {
        tk_gemv(kt, dt, w, xq + i * xb, y1, k, 0, n);
        differ += memcmp(y0 + i * n, y1, sizeof(float) * n) != 0;
    }
    char what[64];
    snprintf(what, sizeof what, "gemm %s = gemv", dtype_name[dt]);
    check(differ == 0, what, kt->name, m, n, k, (double)differ);
    free(w); free(xf); free(xq); free(y0); free(y1);
}

/// The NEON q5_0 and K-quant dot products sum each block in integers and then follow the generic
/// kernels' float expression, so they must give the generic kernels' floats bit for bit.
static void test_dot_equals_generic(const tk_kernels *kt, tk_dtype dt, long n, long k) {
    const tk_kernels *g = tk_kernels_for(TK_ISA_GENERIC);
    void *w = make_weights(dt, n, k, 1.0f);
    float *xf = malloc(sizeof(float) * k);
    for (long i = 0; i < k; i++) xf[i] = frand() * 3.0f;
    void *x = malloc(sizeof(tk_block_q8_K) * (size_t)(k / TK_QK_K + 1) + sizeof(tk_block_q8_0) * (size_t)(k / TK_QK));
    if (tk_act_kind(dt) == 2) g->quantize_row_q8_K(xf, (tk_block_q8_K *)x, k);
    else g->quantize_row_q8_0(xf, (tk_block_q8_0 *)x, k);
    long differ = 0;
    for (long r = 0; r < n; r++) {
        const char *row = (const char *)w + r * tk_row_bytes(dt, k);
        const float a = kt->vec_dot[dt](row, x, k), b = g->vec_dot[dt](row, x, k);
        differ += memcmp(&a, &b, sizeof a) != 0;
    }
    char what[64];
    snprintf(what, sizeof what, "vec_dot %s = generic", dtype_name[dt]);
    check(differ == 0, what, kt->name, 1, n, k, (double)differ);
    free(w); free(xf); free(x);
}

int main(void) {
    static const long shapes[][3] = {  // m, n, k
        {1, 1, 32}, {1, 7, 64}, {1, 33, 96}, {2, 5, 32}, {3, 17, 160}, {5, 16, 256},
        {6, 16, 288}, {7, 31, 320}, {13, 40, 544}, {1, 64, 1024}, {9, 3, 32}, {16, 16, 64},
        {33, 21, 288}, {40, 7, 32}, {1, 5, 8224}, {1, 4, 16384}, {3, 9, 512}, {1, 33, 768},
        {8, 20, 2048},
    };
    const tk_isa isas[] = {TK_ISA_GENERIC, TK_ISA_AVX2, TK_ISA_AVX2_VNNI, TK_ISA_AVX512, TK_ISA_AMX, TK_ISA_NEON};
    for (int t = 0; t < 6; t++) {
        const tk_kernels *kt = tk_kernels_for(isas[t]);
        if (!kt) continue;
        printf("testing %s\n", kt->name);
        test_elementwise(kt);
        test_attention_i8(kt);
        if (isas[t] == TK_ISA_NEON) {
            for (int dt = TK_Q5_0; dt <= TK_Q6_K; dt++) {
                test_dot_equals_generic(kt, (tk_dtype)dt, 37, 256);
                test_dot_equals_generic(kt, (tk_dtype)dt, 9, 2304);
            }
            for (int dt = TK_F32; dt <= TK_Q5_0; dt++) {
                test_gemm_equals_gemv(kt, (tk_dtype)dt, 8, 64, 256);
                test_gemm_equals_gemv(kt, (tk_dtype)dt, 11, 70, 1024);   // row and column tails
                test_gemm_equals_gemv(kt, (tk_dtype)dt, 3, 5, 32);       // no whole group of activation rows
            }
            for (int dt = TK_F32; dt <= TK_F16; dt++)
                test_gemm_equals_gemv(kt, (tk_dtype)dt, 5, 9, 87);       // f32/f16 chunk and scalar tails
            for (int dt = TK_Q4_K; dt <= TK_Q6_K; dt++) {
                test_gemm_equals_gemv(kt, (tk_dtype)dt, 8, 64, 512);
                test_gemm_equals_gemv(kt, (tk_dtype)dt, 7, 70, 768);     // an odd activation row, column tails
                test_gemm_equals_gemv(kt, (tk_dtype)dt, 1, 6, 256);
            }
        }
        for (long k = 32; k <= 512; k += 96) test_quantize(kt, k, 3.0f);
        test_quantize(kt, 64, 0.0f);
        test_quantize(kt, 64, 1e6f);
        test_quantize_q8_K(kt, 768, 3.0f);
        test_quantize_q8_K(kt, 256, 0.0f);
        test_quantize_q8_K(kt, 512, 1e6f);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int dt = 0; dt < TK_DTYPE_COUNT; dt++) {
                test_product(kt, (tk_dtype)dt, shapes[s][0], shapes[s][1], shapes[s][2], 1.0f);
                if (s % 4 == 0) test_product(kt, (tk_dtype)dt, shapes[s][0], shapes[s][1], shapes[s][2], 1e4f);
            }
        // Odd k (not a multiple of 32) exists only for f32/f16.
        for (int dt = 0; dt < 2; dt++) {
            test_product(kt, (tk_dtype)dt, 1, 3, 1, 1.0f);
            test_product(kt, (tk_dtype)dt, 1, 9, 37, 1.0f);     // GEMV of short rows, 4 at a time + tails
            test_product(kt, (tk_dtype)dt, 1, 400, 64, 1.0f);   // an attention head's keys
            test_product(kt, (tk_dtype)dt, 7, 19, 37, 1.0f);
            test_product(kt, (tk_dtype)dt, 8, 17, 300, 1.0f);
        }
        // Packed activations: several input slabs and several output blocks per range.
        if (kt->pack_x) for (int dt = 0; dt < 2; dt++) test_product(kt, (tk_dtype)dt, 300, 500, 600, 1.0f);
        // K-quant GEMM: several 32-row unpacked groups, 4-row tails, many activation rows.
        for (int dt = TK_Q4_K; dt <= TK_Q6_K; dt++) {
            test_product(kt, (tk_dtype)dt, 9, 70, 512, 1.0f);
            test_product(kt, (tk_dtype)dt, 33, 37, 768, 1e3f);
            test_product(kt, (tk_dtype)dt, 6, 33, 256, 1.0f);   // 4 activation rows and 2, an odd weight row
        }
        // Zeros everywhere.
        for (int dt = 0; dt < TK_DTYPE_COUNT; dt++) test_product(kt, (tk_dtype)dt, 4, 4, 64, 0.0f);
        // Quantized weights against f32 activations (AMX: bf16 tiles): whole and
        // partial 32 × 32 tiles, more than one 256-output macro panel, k past one 512-input block.
        static const long f32tiles[][3] = {{32, 16, 37}, {33, 64, 64}, {70, 300, 513}, {64, 64, 1100}, {40, 33, 100}};
        for (size_t s = 0; s < sizeof f32tiles / sizeof f32tiles[0]; s++) test_bf16_f32(kt, f32tiles[s][0], f32tiles[s][1], f32tiles[s][2]);
        static const long packs[][4] = {{64, 512, 64, 64}, {37, 70, 200, 130}, {128, 64, 1100, 1100}, {33, 100, 2100, 1030}, {5, 16, 8, 8}};
        for (size_t s = 0; s < sizeof packs / sizeof packs[0]; s++) test_bf16_packed(kt, packs[s][0], packs[s][1], packs[s][2], packs[s][3]);
        // Epilogues: whole and partial blocks, one chunk of inputs and several.
        static const long epi[][3] = {{64, 128, 1024}, {70, 300, 96}, {33, 40, 4096}, {128, 64, 2080}};
        for (size_t s = 0; s < sizeof epi / sizeof epi[0]; s++)
            for (int dt = TK_Q8_0; dt <= TK_Q4_0; dt++) test_epilogue(kt, (tk_dtype)dt, epi[s][0], epi[s][1], epi[s][2]);
        // Score rows → weights in tiles: T5 (bias, no scale, all keys), causal with an offset,
        // a row count and key count off the tile grid, a mask that hides every key of early rows.
        test_softmax_bf16_x(kt, 128, 512, 1.0f, 1, 512);
        test_softmax_bf16_x(kt, 70, 200, 0.125f, 0, 131);
        test_softmax_bf16_x(kt, 33, 37, 0.5f, 1, 1);
        test_softmax_bf16_x(kt, 20, 40, 1.0f, 0, -5);
        static const long tiles[][3] = {{32, 32, 32}, {33, 40, 96}, {47, 33, 64}, {100, 70, 160}, {64, 300, 1056}, {40, 16, 512}};
        for (size_t s = 0; s < sizeof tiles / sizeof tiles[0]; s++)
            for (int dt = TK_Q8_0; dt <= TK_Q4_0; dt++)
                if (kt->gemm_f32act[dt]) test_product(kt, (tk_dtype)dt, tiles[s][0], tiles[s][1], tiles[s][2], s == 0 ? 1e4f : 1.0f);
    }
    test_q5_0_widening(7, 96);
    test_q5_0_widening(40, 1024);
    static const long rows16[][3] = {{8, 16, 32}, {9, 17, 64}, {40, 70, 1024}, {100, 33, 96}, {13, 5, 160}};
    for (size_t s = 0; s < sizeof rows16 / sizeof rows16[0]; s++)
        for (int dt = TK_Q8_0; dt <= TK_Q4_0; dt++) test_avx2_equals_vnni((tk_dtype)dt, rows16[s][0], rows16[s][1], rows16[s][2]);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
