#!/usr/bin/env bash
# The test suite, exactly as CI runs it (.ci/run calls this script with no arguments or settings).
#   1. every Swift test (debug build), with the instruction set chosen at start-up (AVX2 here);
#   2. the same suite again with TANDEM_ISA=generic, so the portable kernels are tested too;
#   3. the C kernels' own tests, natively (every x86 table this CPU runs), then the NEON kernels
#      cross-compiled for AArch64 and run under qemu-user (scripts/test-neon.sh) when the cross
#      compiler is installed (.ci/run installs it);
#   4. the Python tests of the LLM-to-SLM reference and trainer (Tests/python, PyTorch), when the
#      virtual environment .venv-test exists (.ci/run creates it from Tests/python/requirements.txt);
#   5. the llama.cpp parity test in f32 (SmolLM2, Tests/TandemTests/LlamaCppParityTests.swift:
#      8 greedy continuations identical to llama.cpp's), when scripts/prepare-parity.sh has made
#      the f32 GGUF in the cache (.ci/run does; ~1.5 minutes);
#      and Gemma 3 270M's Q4_K_M file as downloaded against llama.cpp — token ids on the full
#      262k vocabulary and the prompt logits (DownloadedGGUFParityTests; the greedy comparison is
#      opt-in, ~5 minutes in a debug build) — when scripts/fetch-gguf.sh has cached the file
#      (.ci/run does; ~20 seconds); and its f32 dequantization (Tools/parity/make_parity_gguf.py) —
#      ids, prompt logits and all 8 greedy continuations identical — when that file is in the
#      parity directory (.ci/run makes it);
#   6. the Swift tests under AddressSanitizer and ThreadSanitizer (scripts/sanitize.sh; each in
#      its own build directory, ~8 minutes on 2 cores); TANDEM_SANITIZERS=0 skips them for a
#      quick local run.
set -euo pipefail
cd "$(dirname "$0")/.."

swift build --build-tests
echo "==> swift test (native ISA)"
swift test --skip-build
echo "==> swift test (TANDEM_ISA=generic)"
TANDEM_ISA=generic swift test --skip-build
echo "==> C kernels natively (every x86 table this CPU runs, against the scalar reference)"
native=$(mktemp -d)
trap 'rm -rf "$native"' EXIT
clang -std=c11 -O2 -Wall -Wextra -Werror -ISources/CTandemKernels/include \
    Sources/CTandemKernels/*.c Tests/CTandemKernelsNative/test_kernels.c -lm -o "$native/test-kernels"
"$native/test-kernels"
if command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64 >/dev/null; then
    echo "==> NEON kernels under qemu-aarch64"
    scripts/test-neon.sh
else
    echo "==> skipping NEON kernels: aarch64-linux-gnu-gcc or qemu-aarch64 not installed"
fi
PY="${TANDEM_TEST_PYTHON:-.venv-test/bin/python}"
if [ -x "$PY" ] && "$PY" -c "import torch, transformers" 2>/dev/null; then
    echo "==> Python tests (LLM-to-SLM reference and training)"
    "$PY" -m pytest -q Tests/python
else
    echo "==> skipping Python tests: no $PY with torch (python3 -m venv .venv-test && .venv-test/bin/pip install -r Tests/python/requirements.txt)"
fi
PARITY="${TANDEM_PARITY_DIR:-${TANDEM_CACHE:-$HOME/.cache/tandem}/parity}"
if [ -s "$PARITY/SmolLM2-135M-Instruct.f32.gguf" ]; then
    echo "==> llama.cpp parity, f32 (SmolLM2 from $PARITY)"
    TANDEM_PARITY_DIR="$PARITY" TANDEM_PARITY_DTYPES=f32 swift test --skip-build --filter LlamaCppParityTests
else
    echo "==> skipping llama.cpp parity: no $PARITY/SmolLM2-135M-Instruct.f32.gguf (TANDEM_PARITY_TYPES=f32 scripts/prepare-parity.sh)"
fi
GEMMA="${TANDEM_GEMMA_GGUF:-${TANDEM_CACHE:-$HOME/.cache/tandem}/gemma-3-270m.Q4_K_M.gguf}"
if [ -s "$GEMMA" ]; then
    echo "==> llama.cpp parity, Gemma 3 270M Q4_K_M (token ids and prompt logits)"
    TANDEM_GEMMA_GGUF="$GEMMA" swift test --skip-build --filter 'DownloadedGGUFParityTests/prompt'
else
    echo "==> skipping Gemma 3 parity: no $GEMMA (scripts/fetch-gguf.sh gemma3-270m)"
fi
GEMMA32="$PARITY/gemma-3-270m.f32.gguf"
if [ -s "$GEMMA32" ]; then
    echo "==> llama.cpp parity, Gemma 3 270M dequantized to f32 (ids, prompt logits, 8 greedy continuations)"
    TANDEM_GEMMA_F32_GGUF="$GEMMA32" swift test --skip-build --filter DownloadedGGUFParityTests
else
    echo "==> skipping Gemma 3 f32 parity: no $GEMMA32 (Tools/parity/make_parity_gguf.py GEMMA_GGUF $PARITY --types f32)"
fi
if [ "${TANDEM_SANITIZERS:-1}" != 0 ]; then
    echo "==> swift test under AddressSanitizer"
    scripts/sanitize.sh address
    echo "==> swift test under ThreadSanitizer"
    scripts/sanitize.sh thread
else
    echo "==> skipping the sanitizer runs (TANDEM_SANITIZERS=0); CI runs them (scripts/sanitize.sh)"
fi
