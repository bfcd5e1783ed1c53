#!/usr/bin/env python3
"""Cycles per block of the NEON int8 dot products, on paper: Tandem's against ggml's (llama.cpp).

No ARM hardware is reachable here, so this estimates with llvm-mca (LLVM's machine-code analyzer,
which runs an instruction sequence through a core's scheduling model). Each engine's dot product
for one weight type is compiled for AArch64 by clang into a wrapper that calls it on a fixed
length (two 32-value blocks, or one 256-value K-quant super-block), so the block loop is gone and
the wrapper is straight-line code; llvm-mca repeats that sequence and reports cycles per
iteration, divided here by the blocks it covers. Both engines get the same compiler and flags:
`-O2 -mcpu=CORE` (dotprod cores: `sdot`; Cortex-A72: each engine's widening fallback).

    python3 Benchmarks/kernels/neon_mca.py --ggml path/to/llama.cpp/ggml [--clang CLANG] [--mca LLVM_MCA]

Needs a clang that targets AArch64 (the Swift toolchain's does) with an AArch64 libc's headers
(Debian: gcc-aarch64-linux-gnu), and llvm-mca with the cores' models (Debian: llvm-19). Paper
figures: a model of the core, not a timing; memory is not modelled (decode streams the weights).
"""
from __future__ import annotations

import argparse
import pathlib
import re
import shutil
import subprocess
import tempfile

REPO = pathlib.Path(__file__).resolve().parents[2]
KERNELS = REPO / "Sources/CTandemKernels"
# (weight type, values per call, blocks per call)
TYPES = [("q8_0", 64, 2), ("q4_0", 64, 2), ("q5_0", 64, 2), ("q4_K", 256, 1), ("q5_K", 256, 1), ("q6_K", 256, 1)]
CORES = ["cortex-a76", "neoverse-n1", "cortex-a55", "cortex-a72"]

TANDEM = """#include "kernels_arm_neon.c"
#define W(t, call) __attribute__((flatten)) float mca_##t(const void *w, const void *x) { return call; }
W(q8_0, tk_vec_dot_q8_0_q8_0_neon(w, x, 64))
W(q4_0, tk_vec_dot_q4_0_q8_0_neon(w, x, 64))
W(q5_0, tk_vec_dot_q5_0_q8_0_neon(w, x, 64))
W(q4_K, tk_dot_k4_neon(w, x, 256, 0))
W(q5_K, tk_dot_k4_neon(w, x, 256, 1))
W(q6_K, tk_vec_dot_q6_K_q8_K_neon(w, x, 256))
"""
GGML = """#include "arch/arm/quants.c"
#define W(t, fn, k) __attribute__((flatten)) float mca_##t(const void *w, const void *x) { float s; fn(k, &s, 0, w, 0, x, 0, 1); return s; }
W(q8_0, ggml_vec_dot_q8_0_q8_0, 64)
W(q4_0, ggml_vec_dot_q4_0_q8_0, 64)
W(q5_0, ggml_vec_dot_q5_0_q8_0, 64)
W(q4_K, ggml_vec_dot_q4_K_q8_K, 256)
W(q5_K, ggml_vec_dot_q5_K_q8_K, 256)
W(q6_K, ggml_vec_dot_q6_K_q8_K, 256)
"""

# The prompt pass's products, steady state: each function's innermost loop that holds `sdot`, one
# pass of it per llvm-mca iteration, divided by the 32-value block products in it (two `sdot`
# each). vec_dot loops over one output's blocks; Tandem's GEMM tile over 16 outputs' blocks.
STEADY = """#include "kernels_arm_neon.c"
__attribute__((flatten)) void mca_tandem_vec_dot_q8_0(const void *w, const void *x, float *y, long k) { *y = tk_vec_dot_q8_0_q8_0_neon(w, x, k); }
__attribute__((flatten)) void mca_tandem_vec_dot_q4_0(const void *w, const void *x, float *y, long k) { *y = tk_vec_dot_q4_0_q8_0_neon(w, x, k); }
__attribute__((flatten)) void mca_tandem_gemm_q8_0(const void *w, const void *x, float *y, long k) { tk_neon_gemm_q8(w, x, y, 4, 4, k, 0, 4, 0); }
__attribute__((flatten)) void mca_tandem_gemm_q4_0(const void *w, const void *x, float *y, long k) { tk_neon_gemm_q8(w, x, y, 4, 4, k, 0, 4, 1); }
"""
STEADY_GGML = """#include "arch/arm/quants.c"
__attribute__((flatten)) void mca_ggml_vec_dot_q8_0(const void *w, const void *x, float *y, long k) { ggml_vec_dot_q8_0_q8_0(k, y, 0, w, 0, x, 0, 1); }
__attribute__((flatten)) void mca_ggml_vec_dot_q4_0(const void *w, const void *x, float *y, long k) { ggml_vec_dot_q4_0_q8_0(k, y, 0, w, 0, x, 0, 1); }
"""

# The same on the int8 matrix-multiply extension (`smmla`, cores that have it): Tandem's GEMM
# tiles on `sdot` and on `smmla` beside ggml's `smmla` path (its vec_dot asked for two rows by two,
# nrc = 2, which llama.cpp's matrix product uses on such cores). ggml's K-quant `smmla` loops are
# left out: their innermost loops hold the products alone, the unpacking sits in loops before
# them, so cycles per block product would not compare.
STEADY_I8MM = """#include "kernels_arm_neon_dotprod.c"
#include "kernels_arm_neon_i8mm.c"
#define T(name, call) __attribute__((flatten)) void mca_##name(const void *w, const void *x, float *y, long k) { call; }
T(tandem_sdot_gemm_q8_0, tk_neon_gemm_q8(w, x, y, 4, 4, k, 0, 4, 0))
T(tandem_sdot_gemm_q4_0, tk_neon_gemm_q8(w, x, y, 4, 4, k, 0, 4, 1))
T(tandem_sdot_gemm_q4_K, tk_neon_gemm_k4(w, x, y, 4, 2, k, 0, 4, 0))
T(tandem_sdot_gemm_q6_K, tk_neon_gemm_q6_K(w, x, y, 4, 2, k, 0, 4))
T(tandem_smmla_gemm_q8_0, tk_i8mm_gemm_q8(w, x, y, 4, 4, k, 0, 4, 0))
T(tandem_smmla_gemm_q4_0, tk_i8mm_gemm_q8(w, x, y, 4, 4, k, 0, 4, 1))
T(tandem_smmla_gemm_q4_K, tk_i8mm_gemm_k4(w, x, y, 4, 2, k, 0, 4, 0))
T(tandem_smmla_gemm_q6_K, tk_gemm_q6_K_neon_i8mm(w, x, y, 4, 2, k, 0, 4))
"""
STEADY_I8MM_GGML = """#include "arch/arm/quants.c"
#define G(t, fn, wb, xb) __attribute__((flatten)) void mca_ggml_smmla_##t(const void *w, const void *x, float *y, long k) { fn(k, y, 4, w, wb, x, xb, 2); }
G(q8_0, ggml_vec_dot_q8_0_q8_0, k / 32 * 34, k / 32 * 34)
G(q4_0, ggml_vec_dot_q4_0_q8_0, k / 32 * 18, k / 32 * 34)
"""
I8MM_CORES = ["neoverse-n2", "neoverse-v1"]  # cortex-a710: llvm-mca gives it N2's figures


def assembly(args, core: str, include: list[str], src: pathlib.Path, out: pathlib.Path) -> str:
    """`src` compiled for `core` (-O2, the same flags for both engines), as assembly text."""
    subprocess.run([args.clang, "--target=aarch64-linux-gnu", f"-mcpu={core}", "-std=gnu11", "-O2", "-w",
                    "-isystem", args.sysroot_include, *include, "-S", str(src), "-o", str(out)], check=True)
    return out.read_text()


def block_products(body: list[str]) -> float:
    """32-value block products in a loop body: 16 int8 products per `sdot`, 32 per `smmla`."""
    return (16 * sum(b.startswith("sdot") for b in body) + 32 * sum(b.startswith("smmla") for b in body)) / 32


def hot_loop(asm: str, name: str) -> list[str] | None:
    """The innermost loop of function `name` that holds `sdot` or `smmla`: from its header label to
    the branch back to it, labels and that branch left out."""
    lines, inside = [], False
    for line in asm.splitlines():
        if line.startswith(f"{name}:"):
            inside = True
            continue
        if inside and line.startswith(".Lfunc_end"):
            break
        if inside:
            lines.append(line.split("//")[0].rstrip())
    best = None
    for end, line in enumerate(lines):
        m = re.match(r"\s+(?:b\.\w+|b|cbnz|cbz|tbnz|tbz)\s+(?:.*,\s*)?(\.LBB\w+)$", line)
        if not m:
            continue
        start = next((i for i, l in enumerate(lines[:end]) if l.startswith(m.group(1) + ":")), None)
        if start is None:
            continue
        body = [l.strip() for l in lines[start + 1:end] if l.strip() and not l.strip().endswith(":")
                and not l.strip().startswith(".")]
        if block_products(body) and (best is None or len(body) < len(best)):
            best = body
    return best


def steady_table(args, work: pathlib.Path, g: pathlib.Path, include: dict) -> None:
    (work / "steady.c").write_text(STEADY)
    (work / "steady_ggml.c").write_text(STEADY_GGML)
    kernels = [("tandem", "vec_dot", "q8_0"), ("tandem", "vec_dot", "q4_0"), ("ggml", "vec_dot", "q8_0"),
               ("ggml", "vec_dot", "q4_0"), ("tandem", "gemm", "q8_0"), ("tandem", "gemm", "q4_0")]
    print("\ncycles per 32-value block product in the steady-state loop (one output's loop for vec_dot, "
          "16 outputs' for the 4 × 4 GEMM tile)\n")
    print("| core | " + " | ".join(f"{e} {k} {t}" for e, k, t in kernels) + " | gemm / tandem vec_dot (q8_0, q4_0) |")
    print("|---|" + "---|" * (len(kernels) + 1))
    for core in [c for c in CORES if c != "cortex-a72"]:
        row = {}
        for engine, src in (("tandem", "steady.c"), ("ggml", "steady_ggml.c")):
            text = assembly(args, core, include[engine], work / src, work / f"steady-{engine}-{core}.s")
            for e, k, t in kernels:
                if e != engine:
                    continue
                body = hot_loop(text, f"mca_{e}_{k}_{t}")
                row[(e, k, t)] = None if body is None else \
                    cycles(args.mca, core, body, work) / block_products(body)
        cells = [f"{row[x]:.2f}" if row[x] else "–" for x in kernels]
        ratio = [row[("tandem", "vec_dot", t)] / row[("tandem", "gemm", t)]
                 if row[("tandem", "vec_dot", t)] and row[("tandem", "gemm", t)] else None for t in ("q8_0", "q4_0")]
        print(f"| {core} | " + " | ".join(cells) + " | " + ", ".join(f"{r:.2f}×" if r else "–" for r in ratio) + " |")


def i8mm_table(args, work: pathlib.Path, include: dict) -> None:
    (work / "i8mm.c").write_text(STEADY_I8MM)
    (work / "i8mm_ggml.c").write_text(STEADY_I8MM_GGML)
    types = ["q8_0", "q4_0", "q4_K", "q6_K"]
    kernels = [(e, t) for t in types for e in ("tandem_sdot_gemm", "tandem_smmla_gemm", "ggml_smmla")
               if e != "ggml_smmla" or t in ("q8_0", "q4_0")]
    print("\ncycles per 32-value block product on cores with `smmla` (the innermost loop that holds the products: "
          "Tandem's 4 × 4 (q8_0, q4_0) and 4 × 2 (K-quant) tiles on `sdot` and on `smmla`, ggml's 2 × 2 `smmla` "
          "vec_dot)\n")
    print("| core | " + " | ".join(f"{e.replace('_', ' ')} {t}" for e, t in kernels) + " | smmla / sdot tile |")
    print("|---|" + "---|" * (len(kernels) + 1))
    for core in I8MM_CORES:
        row = {}
        for engine, src in (("tandem", "i8mm.c"), ("ggml", "i8mm_ggml.c")):
            text = assembly(args, core, include[engine], work / src, work / f"i8mm-{engine}-{core}.s")
            for e, t in kernels:
                if e.startswith(engine):
                    body = hot_loop(text, f"mca_{e}_{t}")
                    row[(e, t)] = None if body is None else cycles(args.mca, core, body, work) / block_products(body)
        gain = [row[("tandem_sdot_gemm", t)] / row[("tandem_smmla_gemm", t)]
                if row[("tandem_sdot_gemm", t)] and row[("tandem_smmla_gemm", t)] else None for t in types]
        print(f"| {core} | " + " | ".join(f"{row[x]:.2f}" if row[x] else "–" for x in kernels) + " | "
              + ", ".join(f"{g:.2f}×" if g else "–" for g in gain) + " |")


def functions(asm: str) -> dict[str, list[str]]:
    """The instructions of each mca_* function in clang's assembly output."""
    out, cur = {}, None
    for line in asm.splitlines():
        m = re.match(r"^mca_(\w+):", line)
        if m:
            cur = m.group(1)
            out[cur] = []
            continue
        if cur and line.startswith(".Lfunc_end"):
            cur = None
            continue
        if cur:
            s = line.split("//")[0].strip()
            if s and not s.startswith(".") and not s.endswith(":"):
                out[cur].append(s)
    return out


def cycles(mca: str, core: str, instructions: list[str], work: pathlib.Path) -> float | None:
    """Cycles per call, or None where the compiler kept a loop (llvm-mca would see one pass of it)."""
    if any(re.match(r"(b\.|b\s|cbnz|cbz|tbnz|tbz)", i) for i in instructions):
        return None
    body = [i for i in instructions if i != "ret"]
    src = work / "body.s"
    src.write_text("\n".join(body) + "\n")
    r = subprocess.run([mca, "-mtriple=aarch64", f"-mcpu={core}", "-iterations=200", str(src)],
                       capture_output=True, text=True, check=True)
    return int(re.search(r"Total Cycles:\s+(\d+)", r.stdout).group(1)) / 200


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ggml", type=pathlib.Path, required=True, help="llama.cpp's ggml directory")
    ap.add_argument("--clang", default=shutil.which("clang") or "clang")
    ap.add_argument("--mca", default=shutil.which("llvm-mca-19") or "/usr/lib/llvm-19/bin/llvm-mca")
    ap.add_argument("--sysroot-include", default="/usr/aarch64-linux-gnu/include")
    args = ap.parse_args()
    g = args.ggml
    work = pathlib.Path(tempfile.mkdtemp())
    (work / "tandem.c").write_text(TANDEM)
    (work / "ggml.c").write_text(GGML)
    include = {"tandem": [f"-I{KERNELS}/include", f"-I{KERNELS}"],
               "ggml": [f"-I{g}/include", f"-I{g}/src", f"-I{g}/src/ggml-cpu"]}
    version = subprocess.run([args.clang, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    mca_version = next(l.strip() for l in subprocess.run([args.mca, "--version"], capture_output=True, text=True).stdout.splitlines()
                       if "version" in l)
    print(f"cycles per block (llvm-mca, {mca_version}; {version}, -O2 -mcpu=CORE)\n")
    print("| core | int8 product | engine | " + " | ".join(t for t, _, _ in TYPES) + " |")
    print("|---|---|---|" + "---|" * len(TYPES))
    for core in CORES:
        rows = {}
        for engine in ("tandem", "ggml"):
            f = functions(assembly(args, core, include[engine], work / f"{engine}.c", work / f"{engine}-{core}.s"))
            rows[engine] = [(lambda c: c and c / blocks)(cycles(args.mca, core, f[t], work)) for t, _, blocks in TYPES]
        product = "widening (no dotprod)" if core == "cortex-a72" else "sdot"
        for engine in ("tandem", "ggml"):
            print(f"| {core} | {product} | {engine} | " + " | ".join(f"{c:.1f}" if c else "loop" for c in rows[engine]) + " |")
        print(f"| {core} | {product} | **ggml / tandem** | "
              + " | ".join(f"**{b / a:.2f}×**" if a and b else "–" for a, b in zip(rows["tandem"], rows["ggml"])) + " |")
    print("\n(loop: the compiler kept a loop in that wrapper, which llvm-mca cannot time as one pass.)")
    steady_table(args, work, g, include)
    i8mm_table(args, work, include)
    shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
