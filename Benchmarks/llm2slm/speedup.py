#!/usr/bin/env python3
"""LLM-to-SLM speed-up, one command: end-to-end time of each bundle against the LLM alone
(the full t5-large encoder-decoder), every figure from `tandem bench model --json` (release
build, 1 warm-up + --runs timed runs, medians), engines alternating within one run.

Grid: prompts of 64 (translation-like) and 512 tokens (summarization-like); exactly 32, 128 and
512 generated tokens; q8_0 and q4_0; 2 threads; batch 1. Bundles report the cost split (LLM
encode / SLM encode / SLM decode). Writes results.jsonl, table.md and speedup.png (time against
generated length) into --out.

    python Benchmarks/llm2slm/make_parts.py          # once: parts + .tandem files (torch + transformers)
    python Benchmarks/llm2slm/speedup.py --out Benchmarks/llm2slm/results
"""
import argparse
import json
import pathlib
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Benchmarks"))
from machine import cpu  # noqa: E402

PAIRS = ["t5-large+t5-small", "flan-t5-large+t5-small", "t5-large+gpt2"]


def bench(tandem: str, path: pathlib.Path, prompt: int, new: int, runs: int, threads: int) -> dict:
    out = subprocess.run([tandem, "bench", "model", str(path), "--prompt-tokens", str(prompt), "--new-tokens", str(new),
                          "--runs", str(runs), "--threads", str(threads), "--json"], capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": out.stderr.strip()}
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="/tmp/tandem-llm2slm")
    ap.add_argument("--tandem", default=str(REPO / ".build/release/tandem"))
    ap.add_argument("--out", default=str(REPO / "Benchmarks/llm2slm/results"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompts", type=int, nargs="+", default=[64, 512])
    ap.add_argument("--new", type=int, nargs="+", default=[32, 128, 512])
    ap.add_argument("--dtypes", nargs="+", default=["q8_0", "q4_0"])
    args = ap.parse_args()
    parts, out = pathlib.Path(args.parts), pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with open(out / "results.jsonl", "w") as f:
        for dtype in args.dtypes:
            for prompt in args.prompts:
                for new in args.new:
                    alone = bench(args.tandem, parts / f"t5-large.{dtype}.tandem", prompt, new, args.runs, args.threads)
                    alone.update(system="t5-large alone", dtype=dtype)
                    f.write(json.dumps(alone) + "\n")
                    rows.append(alone)
                    for pair in PAIRS:
                        r = bench(args.tandem, parts / f"{pair}.{dtype}.tandem", prompt, new, args.runs, args.threads)
                        r.update(system=pair, dtype=dtype, prompt_tokens=prompt, new_tokens=new)
                        if "total_ms" in r and "total_ms" in alone:
                            r["speedup"] = alone["total_ms"] / r["total_ms"]
                        f.write(json.dumps(r) + "\n")
                        rows.append(r)
                    f.flush()
                    print(f"{dtype} prompt {prompt} new {new}: alone {alone.get('total_ms', float('nan')):.0f} ms, "
                          + ", ".join(f"{r['system']} {r.get('total_ms', float('nan')):.0f} ms ({r.get('speedup', float('nan')):.2f}×)"
                                      for r in rows[-3:]), flush=True)
    lines = ["# LLM-to-SLM speed-up at the paper's shapes (random weights, `tandem bench model`)", "",
             f"{cpu()}; {args.threads} threads, batch 1, medians of {args.runs} timed runs after a warm-up; "
             f"{time.strftime('%Y-%m-%d')}. Command: `python Benchmarks/llm2slm/speedup.py` (see its docstring).", "",
             "| dtype | prompt | new | system | total ms (min–max) | speed-up | LLM encode ms | SLM encode ms | SLM decode ms |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['dtype']} | {r.get('prompt_tokens')} | {r.get('new_tokens')} | {r['system']} | error: {r['error']} | | | | |")
            continue
        lines.append(f"| {r['dtype']} | {r['prompt_tokens']} | {r['new_tokens']} | {r['system']} | "
                     f"{r['total_ms']:.0f} ({r['total_ms_min']:.0f}–{r['total_ms_max']:.0f}) | {r.get('speedup', 1.0):.2f}× | "
                     f"{r.get('llm_encode_ms', r['encode_ms']):.0f} | {r.get('slm_encode_ms', 0):.0f} | "
                     f"{r.get('slm_decode_ms', r['total_ms'] - r['encode_ms']):.0f} |")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(len(args.dtypes), len(args.prompts), figsize=(6 * len(args.prompts), 4 * len(args.dtypes)), squeeze=False)
        for i, dtype in enumerate(args.dtypes):
            for j, prompt in enumerate(args.prompts):
                ax = axes[i][j]
                for system in ["t5-large alone"] + PAIRS:
                    pts = sorted((r["new_tokens"], r["total_ms"] / 1000) for r in rows
                                 if r["system"] == system and r["dtype"] == dtype and r.get("prompt_tokens") == prompt and "total_ms" in r)
                    if pts:
                        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=system)
                ax.set_title(f"{dtype}, {prompt}-token prompt, {args.threads} threads")
                ax.set_xlabel("generated tokens")
                ax.set_ylabel("end-to-end seconds")
                ax.grid(alpha=0.3)
                ax.legend()
        fig.tight_layout()
        fig.savefig(out / "speedup.png", dpi=110)
    except ImportError:
        print("matplotlib not installed: no plot")
    print(f"wrote {out}/results.jsonl, table.md, speedup.png")


if __name__ == "__main__":
    main()
