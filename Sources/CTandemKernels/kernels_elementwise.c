// Element-wise operations built on exp: the softmax core, SiLU / SwiGLU and tanh-GELU.
//
// Why C and not Swift SIMD: Swift code here is compiled for baseline x86-64 (SSE2), where
// SIMD8<Float>.rounded() and pointwise min/max become per-lane library calls. These loops are
// written once, branch-free, with Cephes' expf polynomial (relative error ≈ 2 ulp) and integer
// bit tricks instead of libm, so the compiler vectorizes each copy for its target: the generic
// copy at the baseline (SSE2 on x86-64, Advanced SIMD on AArch64, where it is the NEON path) and
// the AVX2 copy 8 lanes wide with FMA, the AVX-512 copy 16. Reference: libm's expf (Reference.swift,
// OpsTests).
#include "tk_internal.h"

/// eˣ; exactly 0 below −87.34 (where expf underflows, so a −∞ score weighs nothing), +∞ above 88.72.
#define TK_EXPF_BODY(x, out)                                                                     \
    do {                                                                                         \
        const float lo_ = -87.33654f, hi_ = 88.72283f;                                           \
        float v_ = (x) < lo_ ? lo_ : ((x) > hi_ ? hi_ : (x));                                    \
        /* x = n·ln2 + r with |r| ≤ ln2/2; 1.5·2²³ rounds to nearest, ln2 split for exactness */  \
        const float n_ = (v_ * 1.44269504088896341f + 12582912.0f) - 12582912.0f;               \
        float r_ = v_ - n_ * 0.693359375f;                                                       \
        r_ = r_ + n_ * 2.12194440e-4f;                                                           \
        float p_ = 1.9875691500e-4f;                                                             \
        p_ = p_ * r_ + 1.3981999507e-3f;                                                         \
        p_ = p_ * r_ + 8.3334519073e-3f;                                                         \
        p_ = p_ * r_ + 4.1665795894e-2f;                                                         \
        p_ = p_ * r_ + 1.6666665459e-1f;                                                         \
        p_ = p_ * r_ + 5.0000001201e-1f;                                                         \
        p_ = p_ * (r_ * r_) + r_ + 1.0f;                                                         \
        /* 2ⁿ in two factors: n reaches 128 near the top (2¹²⁸ is no float, p·2¹²⁸ may be) */     \
        const int32_t ni_ = (int32_t)n_;                                                         \
        const int32_t k1_ = ni_ >> 1, k2_ = ni_ - k1_;                                           \
        const float s1_ = tk_bits_to_f32((uint32_t)(k1_ + 127) << 23);                          \
        const float s2_ = tk_bits_to_f32((uint32_t)(k2_ + 127) << 23);                          \
        float y_ = p_ * s1_ * s2_;                                                               \
        y_ = (x) < lo_ ? 0.0f : y_;                                                              \
        (out) = (x) > hi_ ? __builtin_inff() : y_;                                               \
    } while (0)

#define TK_DEFINE_ELEMENTWISE(SUFFIX, ATTR)                                                      \
    ATTR float tk_exp_shifted_##SUFFIX(float *x, int64_t n, float shift) {                       \
        for (int64_t i = 0; i < n; i++) {                                                        \
            float e;                                                                             \
            TK_EXPF_BODY(x[i] - shift, e);                                                       \
            x[i] = e;                                                                            \
        }                                                                                        \
        /* Eight running sums: a single one would serialize on the add latency (the compiler   \
           may not reorder float adds itself). */                                                \
        float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                                 \
        int64_t i = 0;                                                                           \
        for (; i + 8 <= n; i += 8)                                                               \
            for (int j = 0; j < 8; j++) acc[j] += x[i + j];                                      \
        float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])); \
        for (; i < n; i++) sum += x[i];                                                          \
        return sum;                                                                              \
    }                                                                                            \
    ATTR void tk_softmax_##SUFFIX(float *x, int64_t n) {                                        \
        /* Eight running maxima (branch-free, so the compiler vectorizes the pass). */           \
        float mx[8];                                                                             \
        for (int j = 0; j < 8; j++) mx[j] = -__builtin_inff();                                   \
        int64_t i = 0;                                                                           \
        for (; i + 8 <= n; i += 8)                                                               \
            for (int j = 0; j < 8; j++) mx[j] = x[i + j] > mx[j] ? x[i + j] : mx[j];             \
        float m = -__builtin_inff();                                                             \
        for (int j = 0; j < 8; j++) m = mx[j] > m ? mx[j] : m;                                   \
        for (; i < n; i++) m = x[i] > m ? x[i] : m;                                              \
        if (m == -__builtin_inff()) { /* every key masked: weigh nothing, not NaN */             \
            for (int64_t t = 0; t < n; t++) x[t] = 0.0f;                                         \
            return;                                                                              \
        }                                                                                        \
        const float inv = 1.0f / tk_exp_shifted_##SUFFIX(x, n, m);                               \
        for (int64_t t = 0; t < n; t++) x[t] *= inv;                                             \
    }                                                                                            \
    ATTR void tk_silu_mul_##SUFFIX(float *gate, const float *up, int64_t n) {                    \
        for (int64_t i = 0; i < n; i++) {                                                        \
            const float g = gate[i];                                                             \
            float e;                                                                             \
            TK_EXPF_BODY(-g, e);                                                                 \
            const float s = g / (1.0f + e);                                                      \
            gate[i] = up ? s * up[i] : s;                                                        \
        }                                                                                        \
    }                                                                                            \
    ATTR void tk_gelu_tanh_mul_##SUFFIX(float *gate, const float *up, int64_t n) {               \
        for (int64_t i = 0; i < n; i++) {                                                        \
            const float g = gate[i];                                                             \
            const float u = 0.7978845608028654f * (g + 0.044715f * g * g * g);                  \
            float e;                                                                             \
            TK_EXPF_BODY(2.0f * u, e);                                                           \
            const float t = 1.0f - 2.0f / (e + 1.0f); /* tanh(u) */                              \
            const float s = 0.5f * g * (1.0f + t);                                               \
            gate[i] = up ? s * up[i] : s;                                                        \
        }                                                                                        \
    }

TK_DEFINE_ELEMENTWISE(generic, )

#if defined(TK_HAVE_AVX2)
TK_DEFINE_ELEMENTWISE(avx2, __attribute__((target("avx2,fma,f16c"))))
// 16 lanes: the same operations on each value and the same eight running sums, so the same floats
// as the AVX2 copy, in half the instructions (a batch-8 T5 step's cross-attention softmax over 400
// inputs is 64 rows per layer).
TK_DEFINE_ELEMENTWISE(avx512, __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c"))))
#endif
