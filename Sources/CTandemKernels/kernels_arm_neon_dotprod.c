// The NEON int8 dot products compiled for the dot-product extension (`sdot`, FEAT_DotProd), for a
// build that targets plain ARMv8-A: kernels_dispatch.c picks this table's copies when the CPU
// reports the extension at run time (tk_cpu_has_neon_dotprod), so one binary runs on a
// Cortex-A53 board and uses `sdot` on a Cortex-A76 or Neoverse core.
#include "tk_internal.h"

#if defined(TK_HAVE_NEON_DOTPROD)
#include <arm_neon.h>
#include <math.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("dotprod"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("arch=armv8.2-a+dotprod")
#endif

static inline int32x4_t tk_vdotq_s32(int32x4_t acc, int8x16_t a, int8x16_t b) { return vdotq_s32(acc, a, b); }

#define TK_NEON_NAME(base) base##_neon_dotprod
#include "kernels_arm_neon_int8.h"
#undef TK_NEON_NAME

#if defined(__clang__)
#pragma clang attribute pop
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif

#endif // TK_HAVE_NEON_DOTPROD
