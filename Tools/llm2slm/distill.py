#!/usr/bin/env python3
"""Teacher answers: the large model's own answers to make_code_data.py's tasks, as training targets.

The first real run trained the pair on the library's own function bodies and it learned their
style (helpers from the surrounding module, no imports), which HumanEval punishes. Here the
target of each task is what the reader itself — the large model, alone — answers when the task is
posed exactly as HumanEval's evaluation poses one (the same instruction, its chat template,
greedy): sequence-level distillation. The projector then learns to make the small model say what
the large one would, and the pair keeps the answering style of an instruct model.

Each task is sampled as train.py's --max-examples samples (a seeded sample kept in file order),
so the prompts, and with them train.py's cache of H, are the same as a run on the raw data. The
answer is kept through its first complete code block (what the harness runs; the prose after it
would cost training and decode time and teach nothing the harness sees); an answer without one —
cut off at --max-tokens — is dropped and counted.

    python Tools/llm2slm/distill.py --tandem .build/release/tandem --large qwen1.5b.tandem \
        --data CODE/train.jsonl --out CODE/train-1.5b.jsonl --max-examples 512
    train.py ... --format chat --data CODE/train-1.5b.jsonl

Writes OUT ({"prompt": the user's message, "response": the answer, "origin"}) and OUT's name with
.counts.json. Rerunning resumes: `tandem summarize` skips the ids its output already holds.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "Benchmarks/humaneval"))
from run_humaneval import INSTRUCTION  # noqa: E402
from make_code_data import sample  # noqa: E402

FIRST_BLOCK = re.compile(r"\A(.*?```[^\n]*\n.*?\n```)", re.S)


def through_first_block(answer: str) -> str | None:
    m = FIRST_BLOCK.match(answer)
    return m.group(1) if m else None


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tandem", default=str(HERE.parent.parent / ".build/release/tandem"))
    ap.add_argument("--large", type=Path, required=True, help="the teacher: the reader model, a .tandem or .gguf")
    ap.add_argument("--data", type=Path, required=True, help="make_code_data.py's train.jsonl or heldout.jsonl")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--max-examples", type=int, help="a seeded sample of N tasks, as train.py --max-examples takes it")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-tokens", type=int, default=384)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    rows = sample([json.loads(line) for line in args.data.read_text().splitlines() if line.strip()],
                  args.max_examples, args.seed)
    users = [INSTRUCTION.replace("{prompt}", r["prompt"].strip()) for r in rows]
    work = args.out.with_name(args.out.name + ".work")
    work.mkdir(parents=True, exist_ok=True)
    inp, raw = work / "in.jsonl", work / "answers.jsonl"
    inp.write_text("".join(json.dumps({"id": str(i), "text": u}) + "\n" for i, u in enumerate(users)))
    t0 = time.time()
    subprocess.run([args.tandem, "summarize", str(args.large), "--input", str(inp), "--output", str(raw),
                    "--chat", "--template", "{text}", "--max-tokens", str(args.max_tokens),
                    "--batch", str(args.batch), "--threads", str(args.threads)], check=True)
    answers = {r["id"]: r["summary"] for r in (json.loads(line) for line in raw.read_text().splitlines() if line.strip())}
    kept, dropped = [], 0
    for i, (r, u) in enumerate(zip(rows, users)):
        a = through_first_block(answers.get(str(i), ""))
        if a is None:
            dropped += 1
            continue
        kept.append({"prompt": u, "response": a, "origin": r.get("origin", "")})
    args.out.write_text("".join(json.dumps(k) + "\n" for k in kept))
    counts = {"tasks": len(rows), "kept": len(kept), "dropped_no_code_block": dropped, "teacher": str(args.large),
              "max_tokens": args.max_tokens, "seconds": round(time.time() - t0, 1), "date": time.strftime("%Y-%m-%d %H:%M")}
    args.out.with_name(args.out.name + ".counts.json").write_text(json.dumps(counts, indent=2) + "\n")
    print(json.dumps(counts))
    return counts


if __name__ == "__main__":
    main()
