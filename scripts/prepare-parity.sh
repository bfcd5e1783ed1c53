#!/usr/bin/env bash
# Prepares the llama.cpp parity test (Tests/TandemTests/LlamaCppParityTests.swift): fetches the
# SmolLM2 GGUF (scripts/fetch-smollm2.sh) and derives the Q8_0, Q4_0 and f32 GGUF files both
# engines run (Tools/parity/make_parity_gguf.py, numpy + gguf only; the f32 one is 540 MB). Idempotent; prints the directory to
# export as TANDEM_PARITY_DIR. The golden file records each GGUF's SHA-256 and the test checks it.
#   scripts/prepare-parity.sh [CACHE_DIR]     (default ${TANDEM_CACHE:-$HOME/.cache/tandem})
#   TANDEM_PARITY_TYPES="f32" limits the files made (default: q8_0 q4_0 f32).
#   The GGUF files are made in their own virtual environment, .venv-parity, with the exact numpy
#   and gguf versions of Tools/parity/requirements.txt, so they come out byte-identical anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${1:-${TANDEM_CACHE:-$HOME/.cache/tandem}}"
PYTHON=.venv-parity/bin/python
DIR="$CACHE/parity"
GGUF="$(scripts/fetch-smollm2.sh "$CACHE")"
read -r -a TYPES <<< "${TANDEM_PARITY_TYPES:-q8_0 q4_0 f32}"
MISSING=()
for t in "${TYPES[@]}"; do [[ -s "$DIR/SmolLM2-135M-Instruct.$t.gguf" ]] || MISSING+=("$t"); done
if (( ${#MISSING[@]} )); then
    if [[ ! -x "$PYTHON" ]]; then
        python3 -m venv .venv-parity >&2
        "$PYTHON" -m pip install -q --disable-pip-version-check -r Tools/parity/requirements.txt >&2
    fi
    "$PYTHON" Tools/parity/make_parity_gguf.py "$GGUF" "$DIR" --types "${MISSING[@]}" >&2
fi
echo "$DIR"
