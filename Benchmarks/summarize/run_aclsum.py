#!/usr/bin/env python3
"""ACLSum summarized by real instruct models: Tandem against llama.cpp on the same GGUF files.

ACLSum (the `aclsum` package, MIT) holds 100 test papers from the ACL Anthology, each with three
human summaries: its challenge, its approach and its outcome, a sentence or two each. Each
paper's abstract and introduction is the document; each model writes one summary per paper,
greedy, through its own chat template, and ROUGE-1/2/L (the `rouge-score` package, stemmed,
F1 × 100) scores it against each human summary and against the three joined.

    python Benchmarks/summarize/run_aclsum.py --models smollm2,qwen0.5b --docs 100
    python Benchmarks/summarize/run_aclsum.py --models qwen1.5b --docs 25
    python Benchmarks/summarize/run_aclsum.py --table-only

Engines, same file, same prompt, same greedy settings, 2 threads, run one after the other:

  tandem     tandem summarize MODEL --chat --template T --max-tokens N --batch B --stats-json S
             (documents/s and peak RSS from its own --stats-json)
  llama.cpp  llama-cpp-python on a llama.cpp built for this CPU (LLAMA_CPP_LIB_PATH), one
             document at a time (its Python API decodes one sequence); the prompt is the GGUF's
             own chat template rendered by Jinja, the KV cache cleared before each document (no
             reuse of the shared prompt head, as Tandem does none), repeat penalty off.
             Documents/s from the wall clock around each call and, stricter for Tandem, from
             llama.cpp's own C timings (prompt + decode), which leave out its Python loop.
             Peak RSS of its own process.

Files (scripts/fetch-gguf.sh, scripts/prepare-parity.sh; TANDEM_CACHE):

  smollm2    SmolLM2-135M-Instruct.q8_0.gguf (parity/; Tandem: convert --dtype q8_0, the same blocks)
  qwen0.5b   Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf (Tandem: convert, keeping its K-quants)
  qwen1.5b   Qwen2.5-Coder-1.5B-Instruct.Q4_K_M.gguf (likewise)

Needs: a release `tandem`, and a Python with llama-cpp-python, rouge-score and aclsum
(`pip install aclsum rouge-score`; llama-cpp-python built against the same llama.cpp:
`CMAKE_ARGS="-DLLAMA_BUILD=OFF" pip install llama_cpp_python-0.3.16.tar.gz`, then
LLAMA_CPP_LIB_PATH=<llama.cpp build>/bin). Results: Benchmarks/summarize/results/aclsum.jsonl
(one row per model and engine), aclsum.md (the table, latest row of each), and each run's
summaries under results/aclsum/.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
CACHE = pathlib.Path(os.environ.get("TANDEM_CACHE", pathlib.Path.home() / ".cache/tandem"))
RESULTS = REPO / "Benchmarks/summarize/results"
sys.path.insert(0, str(REPO / "Benchmarks"))
from machine import cpu  # noqa: E402

MODELS = {
    "smollm2": ("SmolLM2-135M-Instruct", CACHE / "parity/SmolLM2-135M-Instruct.q8_0.gguf", ["--dtype", "q8_0"]),
    "qwen0.5b": ("Qwen2.5-Coder-0.5B-Instruct", CACHE / "Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf", []),
    "qwen1.5b": ("Qwen2.5-Coder-1.5B-Instruct", CACHE / "Qwen2.5-Coder-1.5B-Instruct.Q4_K_M.gguf", []),
}
TEMPLATE = ("Summarize this paper in two or three sentences: the problem it addresses, its approach, "
            "and its main result.\n\n{text}")
KINDS = ["challenge", "approach", "outcome", "all"]


def documents(count: int) -> list[dict]:
    """ACLSum's test papers, in the package's order: id, document (abstract + introduction), and
    the human summaries."""
    import aclsum  # noqa: F401  (the package's data directory)
    path = pathlib.Path(aclsum.__file__).parent / "dataset/test.jsonl"
    docs = []
    for line in path.read_text().splitlines()[:count]:
        x = json.loads(line)
        text = " ".join(x["sentences"]["abstract"]) + "\n\n" + " ".join(x["sentences"]["introduction"])
        refs = dict(x["summary"])
        refs["all"] = " ".join(x["summary"][k] for k in ["challenge", "approach", "outcome"])
        docs.append({"id": x["id"], "text": text, "refs": refs})
    return docs


def rouge(docs: list[dict], summaries: dict[str, str]) -> dict:
    """Mean F1 × 100 of ROUGE-1, -2 and -L, per human summary kind."""
    from rouge_score import rouge_scorer
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    out = {}
    for kind in KINDS:
        scores = [scorer.score(d["refs"][kind], summaries[d["id"]]) for d in docs]
        for m in ["rouge1", "rouge2", "rougeL"]:
            out[f"{kind}.{m}"] = round(100 * statistics.mean(s[m].fmeasure for s in scores), 2)
    return out


def tandem_model(tandem: str, name: str) -> pathlib.Path:
    _, gguf, dtype = MODELS[name]
    out = CACHE / f"aclsum-{name}.tandem"
    if not out.exists():
        subprocess.run([tandem, "convert", str(gguf), *dtype, "-o", str(out), "--quiet"], check=True)
    return out


def run_tandem(args, name: str, work: pathlib.Path) -> dict:
    model = tandem_model(args.tandem, name)
    inp, out, stats = work / f"{name}.in.jsonl", work / f"{name}.tandem.jsonl", work / f"{name}.stats.json"
    out.unlink(missing_ok=True)
    cmd = [args.tandem, "summarize", str(model), "--input", str(inp), "--output", str(out), "--chat",
           "--template", TEMPLATE, "--max-tokens", str(args.max_tokens), "--batch", str(args.batch),
           "--threads", str(args.threads), "--quiet", "--stats-json", str(stats)]
    subprocess.run(cmd, check=True)
    s = json.loads(stats.read_text())
    records = [json.loads(l) for l in out.read_text().splitlines()]
    return {"engine": "tandem", "docs_per_s": s["docs_per_s"], "seconds": s["seconds"], "peak_rss_mb": s["peak_rss_mb"],
            "input_tokens": s["input_tokens"], "output_tokens": s["output_tokens"], "batch": s["batch"],
            "command": " ".join(c if " " not in c and "\n" not in c else json.dumps(c) for c in cmd),
            "summaries": {r["id"]: r["summary"] for r in records},
            "prompt_tokens": {r["id"]: r["input_tokens"] for r in records}}


def llama_child(gguf: str, docs_path: str, out_path: str, threads: int, max_tokens: int, message: str) -> None:
    """Runs in its own process (its peak RSS is llama.cpp's alone). `message` is the user's
    message, with {text} where each document goes."""
    import jinja2
    import llama_cpp
    from llama_cpp import Llama
    docs = [json.loads(l) for l in pathlib.Path(docs_path).read_text().splitlines()]
    llm = Llama(model_path=gguf, n_ctx=4096, n_batch=512, n_threads=threads, n_threads_batch=threads, verbose=False)
    source = llm.metadata["tokenizer.chat_template"]
    template = jinja2.Environment(loader=jinja2.BaseLoader()).from_string(source)
    ctx = llm._ctx.ctx
    rows = []
    for d in docs:
        prompt = template.render(messages=[{"role": "user", "content": message.replace("{text}", d["text"])}],
                                 add_generation_prompt=True)
        tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
        llm.reset()
        llama_cpp.llama_perf_context_reset(ctx)
        t0 = time.perf_counter()
        r = llm.create_completion(tokens, max_tokens=max_tokens, temperature=0.0, top_k=1, repeat_penalty=1.0)
        wall = time.perf_counter() - t0
        perf = llama_cpp.llama_perf_context(ctx)
        rows.append({"id": d["id"], "summary": r["choices"][0]["text"], "prompt_tokens": len(tokens),
                     "output_tokens": r["usage"]["completion_tokens"], "wall_s": wall,
                     "c_s": (perf.t_p_eval_ms + perf.t_eval_ms) / 1000})
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    pathlib.Path(out_path).write_text(json.dumps({"rows": rows, "peak_rss_mb": peak, "version": llama_cpp.__version__}))


def llama_child_run(args, name: str, inp: pathlib.Path, out: pathlib.Path, message: str = TEMPLATE) -> tuple[list, float, str]:
    """llama.cpp over the documents of `inp` in a child process: its rows (id, summary,
    prompt_tokens, output_tokens, wall_s, c_s), its peak RSS in MB and llama-cpp-python's version."""
    subprocess.run([args.python, __file__, "--llama-child", str(MODELS[name][1]), str(inp), str(out),
                    str(args.threads), str(args.max_tokens), message], check=True)
    r = json.loads(out.read_text())
    return r["rows"], r["peak_rss_mb"], r["version"]


def run_llama(args, name: str, work: pathlib.Path) -> dict:
    rows, peak, version = llama_child_run(args, name, work / f"{name}.in.jsonl", work / f"{name}.llama.json")
    wall, c = sum(x["wall_s"] for x in rows), sum(x["c_s"] for x in rows)
    return {"engine": "llama.cpp", "docs_per_s": len(rows) / wall, "docs_per_s_c": len(rows) / c, "seconds": wall,
            "peak_rss_mb": peak, "input_tokens": sum(x["prompt_tokens"] for x in rows),
            "output_tokens": sum(x["output_tokens"] for x in rows), "batch": 1, "llama_cpp_python": version,
            "summaries": {x["id"]: x["summary"] for x in rows},
            "prompt_tokens": {x["id"]: x["prompt_tokens"] for x in rows}}


def write_table(rows: list[dict]) -> None:
    latest = {}
    for r in rows:
        latest[(r["model"], r["engine"])] = r
    out = ["# ACLSum test papers summarized: Tandem and llama.cpp on the same GGUF files", "",
           "Abstract + introduction as the document, one summary per paper, greedy, through each model's chat "
           "template with the prompt", "", "> " + TEMPLATE.replace("\n\n", " ↵↵ "), "",
           "ROUGE F1 × 100 (rouge-score, stemmed) against each human summary and the three joined; "
           "documents/s over the whole job, 2 threads. llama.cpp: llama-cpp-python, one document at a time, "
           "documents/s by the wall clock and by its own C timings (prompt + decode). "
           "Command: `python Benchmarks/summarize/run_aclsum.py` (see its docstring).", "",
           "| model | engine | docs | batch | docs/s | docs/s (C timings) | Tandem / llama.cpp | R-1 all | R-2 all | R-L all "
           "| R-L challenge | R-L approach | R-L outcome | output tokens / doc | peak RSS MB | date, CPU |",
           "|" + "---|" * 16]
    for (model, engine), r in sorted(latest.items(), key=lambda kv: (list(MODELS).index(kv[0][0]), kv[0][1] != "tandem")):
        ratio = ""
        if engine == "tandem" and (model, "llama.cpp") in latest:
            peer = latest[(model, "llama.cpp")]
            ratio = f"**{r['docs_per_s'] / peer['docs_per_s_c']:.2f}×** (wall {r['docs_per_s'] / peer['docs_per_s']:.2f}×)"
        c = f"{r['docs_per_s_c']:.3f}" if "docs_per_s_c" in r else ""
        g = r["rouge"]
        out.append(f"| {MODELS[model][0]} ({r['file_type']}) | {engine} | {r['docs']} | {r['batch']} | {r['docs_per_s']:.3f} | {c} | {ratio} "
                   f"| {g['all.rouge1']:.1f} | {g['all.rouge2']:.1f} | {g['all.rougeL']:.1f} | {g['challenge.rougeL']:.1f} "
                   f"| {g['approach.rougeL']:.1f} | {g['outcome.rougeL']:.1f} | {r['output_tokens'] / r['docs']:.0f} "
                   f"| {r['peak_rss_mb']:.0f} | {r['date']}, {r['cpu']} |")
    out += ["", "Same prompt tokens in both engines: " + "; ".join(
        f"{m} {r['same_prompt_tokens']}/{r['docs']}" for (m, e), r in sorted(latest.items()) if e == "tandem" and "same_prompt_tokens" in r) + ".",
        "", "Summaries: `results/aclsum/<model>.<engine>.jsonl`."]
    (RESULTS / "aclsum.md").write_text("\n".join(out) + "\n")


def log_rows(log: pathlib.Path, rows, leave_out: tuple[str, ...]) -> None:
    """Appends one JSON line per engine's result, without its per-item fields."""
    with open(log, "a") as f:
        for r in rows:
            f.write(json.dumps({k: v for k, v in r.items() if k not in leave_out}, sort_keys=True) + "\n")


def engine_arguments(ap: argparse.ArgumentParser) -> None:
    """The options every Tandem-against-llama.cpp benchmark here takes."""
    ap.add_argument("--engines", default="tandem,llama.cpp")
    ap.add_argument("--batch", type=int, default=8, help="Tandem's --batch")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tandem", default=str(REPO / ".build/release/tandem"))
    ap.add_argument("--python", default=sys.executable, help="the Python with llama-cpp-python")
    ap.add_argument("--table-only", action="store_true")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--llama-child":
        llama_child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), sys.argv[7])
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="smollm2,qwen0.5b,qwen1.5b")
    ap.add_argument("--docs", type=int, default=100, help="the first N test papers")
    ap.add_argument("--max-tokens", type=int, default=96)
    engine_arguments(ap)
    args = ap.parse_args()
    log = RESULTS / "aclsum.jsonl"
    if args.table_only:
        write_table([json.loads(l) for l in log.read_text().splitlines()])
        print((RESULTS / "aclsum.md").read_text())
        return 0
    docs = documents(args.docs)
    work = RESULTS / "aclsum"
    work.mkdir(parents=True, exist_ok=True)
    for name in args.models.split(","):
        (work / f"{name}.in.jsonl").write_text("".join(json.dumps({"id": d["id"], "text": d["text"]}) + "\n" for d in docs))
        results = {}
        for engine in args.engines.split(","):
            r = run_tandem(args, name, work) if engine == "tandem" else run_llama(args, name, work)
            r.update(model=name, docs=len(docs), file=MODELS[name][1].name, file_type=MODELS[name][1].name.split(".")[-2],
                     threads=args.threads, max_tokens=args.max_tokens, cpu=cpu(), date=time.strftime("%Y-%m-%d %H:%M"),
                     rouge=rouge(docs, r["summaries"]))
            results[engine] = r
            with open(work / f"{name}.{engine}.jsonl", "w") as f:
                for d in docs:
                    f.write(json.dumps({"id": d["id"], "summary": r["summaries"][d["id"]],
                                        "prompt_tokens": r["prompt_tokens"][d["id"]]}) + "\n")
            print(f"{name} {engine}: {r['docs_per_s']:.3f} docs/s, R-L(all) {r['rouge']['all.rougeL']:.1f}, "
                  f"peak {r['peak_rss_mb']:.0f} MB", flush=True)
        if "tandem" in results and "llama.cpp" in results:
            a, b = results["tandem"]["prompt_tokens"], results["llama.cpp"]["prompt_tokens"]
            results["tandem"]["same_prompt_tokens"] = sum(a[k] == b[k] for k in a)
        log_rows(log, results.values(), leave_out=("summaries", "prompt_tokens"))
        (work / f"{name}.in.jsonl").unlink()
    write_table([json.loads(l) for l in log.read_text().splitlines()])
    print((RESULTS / "aclsum.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
