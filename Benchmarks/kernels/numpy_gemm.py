#!/usr/bin/env python3
"""numpy (OpenBLAS) f32 GEMM, the reference point of `tandem bench kernels`.

Y = X @ W.T with X [m, k] and W [n, k] (Tandem's weight layout), f32. Prints one JSON object
{"MxNxK": median GFLOP/s, ...}; with --serve, one GFLOP/s line per shape line read from stdin
(what the bench uses, alternating with its own runs). Run it with the OpenBLAS tuning variables
unset and the thread count pinned, as the bench does:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=2 python3 numpy_gemm.py 512x4096x1024
"""
import argparse
import json
import statistics
import sys
import time

import numpy as np


def serve():
    """One line "MxNxK" in, one timed matmul's GFLOP/s out (a warm-up first, once per shape).
    `tandem bench kernels` alternates these with its own runs, so both engines see the same
    states of a noisy host."""
    rng = np.random.default_rng(0)
    ready = {}
    for line in sys.stdin:
        shape = line.strip()
        if not shape:
            continue
        if shape not in ready:
            m, n, k = (int(v) for v in shape.split("x"))
            x = rng.standard_normal((m, k), dtype=np.float32)
            w = rng.standard_normal((n, k), dtype=np.float32)
            y = np.empty((m, n), dtype=np.float32)
            np.matmul(x, w.T, out=y)
            ready[shape] = (x, w, y)
        x, w, y = ready[shape]
        t0 = time.perf_counter()
        np.matmul(x, w.T, out=y)
        dt = time.perf_counter() - t0
        m, k = x.shape
        n = w.shape[0]
        print(2.0 * m * n * k / dt / 1e9, flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shapes", nargs="*", help="MxNxK")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--serve", action="store_true", help="time one matmul per shape read from stdin")
    args = ap.parse_args()
    if args.serve:
        serve()
        return
    rng = np.random.default_rng(0)
    out = {}
    for shape in args.shapes:
        m, n, k = (int(v) for v in shape.split("x"))
        x = rng.standard_normal((m, k), dtype=np.float32)
        w = rng.standard_normal((n, k), dtype=np.float32)
        y = np.empty((m, n), dtype=np.float32)
        np.matmul(x, w.T, out=y)  # warm-up
        times = []
        for _ in range(max(1, args.runs)):
            t0 = time.perf_counter()
            np.matmul(x, w.T, out=y)
            times.append(time.perf_counter() - t0)
        out[shape] = 2.0 * m * n * k / statistics.median(times) / 1e9
    print(json.dumps(out))


if __name__ == "__main__":
    main()
