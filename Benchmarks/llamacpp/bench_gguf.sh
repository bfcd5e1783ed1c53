#!/usr/bin/env bash
# Tandem against llama.cpp on one GGUF file as it was downloaded (Tandem keeps its own block
# types: `tandem convert X.gguf` without --dtype), same host, same threads, alternating rounds.
#
#   Benchmarks/llamacpp/bench_gguf.sh GGUF LLAMA_BENCH [ROUNDS] [THREADS] [TANDEM]
#
#   llama.cpp: its own C timings, built for the CPU at hand: `llama-bench -p 512 -n 0 -r 3` (a
#   prompt of 512 tokens in one batch) and `llama-bench -p 0 -n 128 -d 0,512 -r 3` (128 tokens
#   decoded one at a time, from an empty context and after 512 tokens of context).
#   Tandem:    `tandem bench model FILE --prompt-tokens 512 --new-tokens 128 --runs 3` (its encode
#   is the prompt pass, its decode the 128 tokens after it) and `--prompt-tokens 1` for decoding
#   from an (almost) empty context; release build, TANDEM_ISA as set in the environment.
# Decode is compared at the same depth: llama-bench's plain `-n 128` starts from an empty cache,
# where each step attends over fewer keys than after a 512-token prompt.
# Prints one line per engine and round (tokens/s), then medians and ratios as a Markdown table.
# llama.cpp held to AVX2: pass a llama-bench built with -DGGML_NATIVE=OFF -DGGML_AVX2=ON
# -DGGML_AVX512=OFF …, and run with TANDEM_ISA=avx2.
set -euo pipefail
cd "$(dirname "$0")/../.."
GGUF="$1"; LLAMA_BENCH="$2"; ROUNDS="${3:-3}"; THREADS="${4:-2}"; TANDEM="${5:-.build/release/tandem}"
[[ -x "$TANDEM" ]] || { echo "build first: swift build -c release" >&2; exit 2; }
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
"$TANDEM" convert "$GGUF" -o "$OUT/model.tandem" --quiet
results="$OUT/rows"
for round in $(seq "$ROUNDS"); do
    { "$LLAMA_BENCH" -m "$GGUF" -t "$THREADS" -p 512 -n 0 -r 3 -o csv 2>/dev/null
      "$LLAMA_BENCH" -m "$GGUF" -t "$THREADS" -p 0 -n 128 -d 0,512 -r 3 -o csv 2>/dev/null | tail -n +2; } > "$OUT/llama.csv"
    python3 - "$OUT/llama.csv" "$round" >> "$results" <<'PY'
import csv, sys
for r in csv.DictReader(open(sys.argv[1])):
    kind = "prompt" if int(r["n_prompt"]) > 0 else ("decode" if int(r.get("n_depth") or 0) > 0 else "decode0")
    print(f"llama.cpp {kind} {float(r['avg_ts']):.2f} round {sys.argv[2]}")
PY
    for prompt in 512 1; do
        "$TANDEM" bench model "$OUT/model.tandem" --prompt-tokens $prompt --new-tokens 128 --threads "$THREADS" --runs 3 --json \
            | python3 -c "
import json, sys
r = json.load(sys.stdin)
if $prompt == 512:
    print(f\"tandem prompt {512 / (r['encode_ms'] / 1000):.2f} round $round\")
    print(f\"tandem decode {r['decode_tokens_per_s']:.2f} round $round\")
else:
    print(f\"tandem decode0 {r['decode_tokens_per_s']:.2f} round $round\")" >> "$results"
    done
done
cat "$results"
python3 - "$results" "$GGUF" "$THREADS" <<'PY'
import statistics, sys, collections, platform, subprocess
v = collections.defaultdict(list)
for line in open(sys.argv[1]):
    engine, kind, value, *_ = line.split()
    v[(engine, kind)].append(float(value))
cpu = next((l.split(":", 1)[1].strip() for l in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
            if l.startswith("Model name")), platform.processor())
print(f"\n{sys.argv[2].rsplit('/', 1)[-1]}, {cpu}, {sys.argv[3]} threads, medians of {len(v[('tandem', 'decode')])} rounds\n")
print("| engine | prompt 512 tok/s | decode after 512 tok/s | decode from empty tok/s |\n|---|---|---|---|")
kinds = ("prompt", "decode", "decode0")
for e in ("tandem", "llama.cpp"):
    print(f"| {e} | " + " | ".join(f"{statistics.median(v[(e, k)]):.1f}" for k in kinds) + " |")
ratios = [statistics.median(v[("tandem", k)]) / statistics.median(v[("llama.cpp", k)]) for k in kinds]
print("| **ratio** | " + " | ".join(f"**{x:.2f}×**" for x in ratios) + " |")
PY
