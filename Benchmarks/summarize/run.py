#!/usr/bin/env python3
"""`tandem summarize` throughput: an LLM-to-SLM bundle against the plain large model (issue 7).

One command:

    python3 Benchmarks/summarize/run.py [--docs 1000] [--batches 1,4,8,16] [--threads 2]

It writes --docs synthetic documents of about --doc-tokens tokens (seeded sentences from the
fixture corpus, calibrated with the model's own tokenizer), then runs, for each model and batch
size, the same command a user would:

    tandem summarize MODEL --input docs.jsonl --output OUT --batch B --max-tokens 64 --min-tokens 64
                     --threads 2 --quiet --stats-json STATS [--max-memory 1G]

`--min-tokens 64` fixes every summary at 64 tokens (random weights would otherwise stop at an
arbitrary end-of-sequence). Every figure comes from the run's own --stats-json: documents/s, the
time split (LLM encode, SLM encode, decode) and peak resident memory. Models (random weights at
real shapes, q8_0; speed does not depend on values) come from Benchmarks/llm2slm/make_parts.py:

    bundle  t5-large encoder → projector → t5-small   (PARTS/t5-large+t5-small.q8_0.tandem)
    plain   t5-large                                  (PARTS/t5-large.q8_0.tandem)

Results: Benchmarks/summarize/results/{results.jsonl,table.md}.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import random
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Tools/fixtures"))
from corpus import CORPUS  # noqa: E402  (the fixture tokenizers' training text: every word has pieces)

SENTENCES = [s.strip() + "." for s in CORPUS.replace("\n", " ").split(". ") if len(s.split()) >= 4]


def make_docs(path: pathlib.Path, count: int, words: int, seed: int) -> None:
    rng = random.Random(seed)
    with open(path, "w") as f:
        for i in range(count):
            text, n = [], 0
            while True:
                s = rng.choice(SENTENCES)
                if text and n + len(s.split()) > words:
                    break
                text.append(s)
                n += len(s.split())
            f.write(json.dumps({"id": f"doc-{i:06d}", "text": " ".join(text)}) + "\n")


def summarize(tandem: str, model: pathlib.Path, docs: pathlib.Path, batch: int, threads: int,
              tokens: int, max_memory: str | None, work: pathlib.Path) -> dict:
    out, stats = work / "out.jsonl", work / "stats.json"
    for p in (out, stats):
        p.unlink(missing_ok=True)
    cmd = [tandem, "summarize", str(model), "--input", str(docs), "--output", str(out), "--batch", str(batch),
           "--max-tokens", str(tokens), "--min-tokens", str(tokens), "--threads", str(threads), "--quiet",
           "--stats-json", str(stats)]
    if max_memory:
        cmd += ["--max-memory", max_memory]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - t0
    record = json.loads(stats.read_text())
    lines = out.read_text().splitlines()
    record["records"] = len(lines)
    record["mean_input_tokens"] = record["input_tokens"] / max(1, record["documents"])
    record["process_seconds"] = wall
    record["command"] = " ".join(cmd)
    return record


def calibrate(tandem: str, model: pathlib.Path, work: pathlib.Path, target: int, seed: int) -> int:
    """Words per document that give about `target` input tokens with this model's tokenizer."""
    probe = work / "probe.jsonl"
    make_docs(probe, 4, 200, seed + 1)
    r = summarize(tandem, model, probe, 4, 2, 1, None, work)
    per_word = r["mean_input_tokens"] / 200
    return max(1, round(target / per_word))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--doc-tokens", type=int, default=400)
    ap.add_argument("--summary-tokens", type=int, default=64)
    ap.add_argument("--batches", default="1,4,8,16", help="batch sizes to try per model")
    ap.add_argument("--models", default="bundle,plain")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--parts", default="/tmp/tandem-llm2slm", help="make_parts.py output directory")
    ap.add_argument("--tandem", default=str(REPO / ".build/release/tandem"))
    ap.add_argument("--max-memory", default="1G", help="--max-memory for the bundle runs")
    ap.add_argument("--results", default=str(REPO / "Benchmarks/summarize/results"))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--table-only", action="store_true", help="rebuild table.md from results.jsonl (latest row per model and batch)")
    args = ap.parse_args()

    if args.table_only:
        latest = {}
        for line in (pathlib.Path(args.results) / "results.jsonl").read_text().splitlines():
            r = json.loads(line)
            latest[(r["model"], r["requested_batch"])] = r
        rows = [latest[k] for k in sorted(latest, key=lambda k: (k[0] != "bundle", k[1]))]
        args.docs = max(r["documents"] for r in rows)
        args.batches = ",".join(sorted({str(r["requested_batch"]) for r in rows}, key=int))
        write_table(rows, pathlib.Path(args.results) / "table.md", args)
        print((pathlib.Path(args.results) / "table.md").read_text())
        return 0

    parts = pathlib.Path(args.parts)
    models = {"bundle": parts / "t5-large+t5-small.q8_0.tandem", "plain": parts / "t5-large.q8_0.tandem"}
    if not all(p.exists() for p in models.values()):
        subprocess.run([sys.executable, str(REPO / "Benchmarks/llm2slm/make_parts.py"), "--out", str(parts),
                        "--tandem", args.tandem], check=True)
    results = pathlib.Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tandem-sumbench-") as tmp:
        work = pathlib.Path(tmp)
        words = calibrate(args.tandem, models["bundle"], work, args.doc_tokens, args.seed)
        docs = work / "docs.jsonl"
        make_docs(docs, args.docs, words, args.seed)
        rows = []
        with open(results / "results.jsonl", "a") as log:
            for name in args.models.split(","):
                for batch in [int(b) for b in args.batches.split(",")]:
                    r = summarize(args.tandem, models[name], docs, batch, args.threads, args.summary_tokens,
                                  args.max_memory if name == "bundle" else None, work)
                    r.update(model=name, file=models[name].name, requested_batch=batch, threads=args.threads,
                             date=time.strftime("%Y-%m-%d %H:%M"))
                    rows.append(r)
                    log.write(json.dumps(r, sort_keys=True) + "\n")
                    log.flush()
                    print(f"{name:6} batch {batch:2}: {r['docs_per_s']:.3f} docs/s, llm {r['llm_encode_ms'] / 1000:.1f} s, "
                          f"slm enc {r['slm_encode_ms'] / 1000:.1f} s, decode {r['decode_ms'] / 1000:.1f} s "
                          f"({r['decode_tokens_per_s']:.0f} tok/s), rss {r['peak_rss_mb']:.0f} MB", file=sys.stderr)
    write_table(rows, results / "table.md", args)
    print((results / "table.md").read_text())
    return 0


def write_table(rows: list, path: pathlib.Path, args) -> None:
    lines = [f"# tandem summarize: {args.docs} documents of ~{args.doc_tokens} tokens, {args.summary_tokens}-token summaries, "
             f"{args.threads} threads, q8_0", "",
             f"Command: `python3 Benchmarks/summarize/run.py --docs {args.docs} --batches {args.batches} --threads {args.threads}`", "",
             "| model | batch | docs | docs/s | wall s | LLM encode % | SLM encode % | decode % | decode tok/s | peak RSS MB | mean input tokens |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        total = r["seconds"] * 1000
        lines.append(f"| {r['model']} | {r['batch']} | {r['documents']} | {r['docs_per_s']:.3f} | {r['seconds']:.1f} | "
                     f"{100 * r['llm_encode_ms'] / total:.1f} | {100 * r['slm_encode_ms'] / total:.1f} | {100 * r['decode_ms'] / total:.1f} | "
                     f"{r['decode_tokens_per_s']:.0f} | {r['peak_rss_mb']:.0f} | {r['mean_input_tokens']:.0f} |")
    best = {m: max((r for r in rows if r["model"] == m), key=lambda r: r["docs_per_s"], default=None) for m in ("bundle", "plain")}
    if best["bundle"] and best["plain"]:
        lines += ["", f"Bundle at its best batch ({best['bundle']['batch']}) / plain at its best batch ({best['plain']['batch']}): "
                      f"**{best['bundle']['docs_per_s'] / best['plain']['docs_per_s']:.2f}×** documents/s."]
    b = {r["batch"]: r for r in rows if r["model"] == "bundle"}
    if 1 in b and 8 in b:
        lines.append(f"SLM decode tokens/s, batch 8 / batch 1: **{b[8]['decode_tokens_per_s'] / b[1]['decode_tokens_per_s']:.2f}×**.")
    if best["bundle"]:
        r = best["bundle"]
        lines.append(f"SLM decode share of the bundle's wall time at its best batch: **{100 * r['decode_ms'] / (r['seconds'] * 1000):.1f} %**; "
                     f"peak RSS {r['peak_rss_mb']:.0f} MB under --max-memory {args.max_memory}.")
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
