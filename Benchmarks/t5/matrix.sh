#!/usr/bin/env bash
# Issue 4's side-by-side table in one command: for each shape and batch, CTranslate2 int8, then
# Tandem q8_0, then Tandem q4_0 (one process each, back to back, so the three see the same
# machine), 512-token inputs, exactly 128 new tokens, 2 threads, 2 runs each; then the table.
#
#   Benchmarks/t5/matrix.sh [OUT.jsonl]      (default $TMPDIR/t5-matrix.jsonl)
#
# Models (README.md, "Set up"): CT2_DIR/<shape>-int8 and TANDEM_DIR/<shape>.{q8_0,q4_0}.tandem.
# Settings: CT2_PYTHON (the venv with ctranslate2), CT2_DIR, TANDEM_DIR, TANDEM (the release
# binary), SHAPES, BATCHES, RUNS (2). Takes ≈ 11 minutes on 2 cores for the four shapes.
#
#   ISA=avx2 Benchmarks/t5/matrix.sh    both engines held to AVX2 + FMA (a laptop's
#                                       instruction set): TANDEM_ISA=avx2 for Tandem, and for CTranslate2
#                                       CT2_FORCE_CPU_ISA=AVX2 and MKL_ENABLE_INSTRUCTIONS=AVX2 (its
#                                       GEMMs are MKL's, which otherwise pick AVX512-VNNI or AMX).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-${TMPDIR:-/tmp}/t5-matrix.jsonl}
CT2_PYTHON=${CT2_PYTHON:-/work/venv-bench/bin/python}
CT2_DIR=${CT2_DIR:-/work/scratch/ct2}
TANDEM_DIR=${TANDEM_DIR:-/work/scratch}
TANDEM=${TANDEM:-.build/release/tandem}
SHAPES=${SHAPES:-t5-small t5-base t5-large flan-t5-large}
BATCHES=${BATCHES:-1 8}
RUNS=${RUNS:-2}
ct2_env=()
if [ -n "${ISA:-}" ]; then
    export TANDEM_ISA=$ISA
    [ "$ISA" = avx2 ] && ct2_env=(MKL_ENABLE_INSTRUCTIONS=AVX2 CT2_FORCE_CPU_ISA=AVX2)
fi
: > "$out"
for s in $SHAPES; do
    for b in $BATCHES; do
        echo "==> $s batch $b" >&2
        env "${ct2_env[@]}" "$CT2_PYTHON" Benchmarks/t5/ct2_bench.py --model "$CT2_DIR/$s-int8" --prompt-tokens 512 \
            --new-tokens 128 --batch "$b" --threads 2 --runs "$RUNS" --json \
            | sed "s/^{/{\"engine_tag\":\"ct2-int8\",\"shape\":\"$s\",/" >> "$out"
        for q in q8_0 q4_0; do
            "$TANDEM" bench model "$TANDEM_DIR/$s.$q.tandem" --prompt-tokens 512 --new-tokens 128 --batch "$b" \
                --threads 2 --runs "$RUNS" --json | sed "s/^{/{\"engine_tag\":\"tandem-$q\",\"shape\":\"$s\",/" >> "$out"
        done
    done
done
python3 - "$out" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    if line.strip():
        r = json.loads(line)
        rows[(r["shape"], r["batch"], r["engine_tag"])] = r
print("| shape | B | CT2 int8 encode ms | q8_0 encode ms | q4_0 encode ms | CT2 int8 decode tok/s | q8_0 decode tok/s "
      "| q4_0 decode tok/s | q8_0 / CT2 decode | q4_0 / CT2 decode | encode speed q8_0 / CT2 | peak RSS MB CT2 / q8_0 / q4_0 |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for (shape, b, tag), c in rows.items():
    if tag != "ct2-int8":
        continue
    q8, q4 = rows.get((shape, b, "tandem-q8_0")), rows.get((shape, b, "tandem-q4_0"))
    if not (q8 and q4):
        continue
    ce, cd = c["encode_ms_less_one_step"], c["decode_tokens_per_s_from_steps"]
    print(f"| {shape} | {b} | {ce:.0f} | {q8['encode_ms']:.0f} | {q4['encode_ms']:.0f} | {cd:.1f} | "
          f"{q8['decode_tokens_per_s']:.1f} | {q4['decode_tokens_per_s']:.1f} | {q8['decode_tokens_per_s'] / cd:.2f}× | "
          f"{q4['decode_tokens_per_s'] / cd:.2f}× | {ce / q8['encode_ms']:.2f}× | "
          f"{c['peak_rss_mb']:.0f} / {q8['peak_rss_mb']:.0f} / {q4['peak_rss_mb']:.0f} |")
PY
