#!/usr/bin/env python3
"""Tandem against llama.cpp on SmolLM2-135M-Instruct, same weights, same threads, same run (issue 6).

Both engines run the parity GGUF files (Tools/parity/make_parity_gguf.py: identical Q8_0 / Q4_0
blocks; Tandem imports them with `tandem convert X.gguf --dtype <same>`). For each dtype and each
of --runs rounds, the engines alternate, each in a fresh process:

  prompt   512 seeded random tokens evaluated as one batch: tokens/s.
           llama.cpp: llama-cpp-python, Llama(n_ctx=1024, n_batch=512, n_threads=T), eval(tokens);
           Tandem: `tandem bench model FILE --prompt-tokens 512 --new-tokens 128 --threads T --json`
           (its encode_ms is the prompt pass).
  decode   128 tokens, one at a time after that prompt: tokens/s (llama.cpp: eval([token]) per step,
           argmax of the logits; Tandem: the same bench run, EOS ignored).
  first    process start to first generated token, for a short chat prompt: the wall time of a
           child that loads the model, reads the prompt and produces one token
           (`tandem generate FILE PROMPT --max-tokens 1`; llama.cpp: python -c that imports
           llama_cpp, loads, evals, samples one token).
  rss      peak resident memory of the process (ru_maxrss; llama.cpp's includes the Python
           interpreter, ≈ 30 MB with numpy).

Medians over the runs; ratios Tandem / llama.cpp. Results: Benchmarks/llamacpp/results/.

    /work/venv-ref/bin/python Benchmarks/llamacpp/bench.py --parity-dir ~/.cache/tandem/parity [--runs 5]

Needs llama-cpp-python (Tools/parity/requirements.txt says how it was built: AVX2, matching the
machine the issue's figures came from) and a release build of tandem.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import random
import resource
import statistics
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
CHAT = "<|im_start|>user\nGive me three tips for staying healthy.<|im_end|>\n<|im_start|>assistant\n"


def llama_child(path: str, threads: int, prompt_tokens: int, new_tokens: int, seed: int) -> None:
    """Runs in a child process: one prompt pass and one decode, prints JSON."""
    import numpy as np
    from llama_cpp import Llama
    llm = Llama(model_path=path, n_ctx=prompt_tokens + new_tokens + 8, n_batch=prompt_tokens, n_ubatch=prompt_tokens,
                n_threads=threads, n_threads_batch=threads, logits_all=False, verbose=False)
    rng = random.Random(seed)
    tokens = [rng.randrange(100, 40000) for _ in range(prompt_tokens)]
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(tokens)
    t1 = time.perf_counter()
    vocab = llm.n_vocab()
    for _ in range(new_tokens):
        # Only the last position's logits exist (logits_all=False, as llama.cpp's own tools run).
        token = int(np.argmax(np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(vocab,))))
        llm.eval([token])
    t2 = time.perf_counter()
    print(json.dumps({"prompt_ms": (t1 - t0) * 1000, "decode_tokens_per_s": new_tokens / (t2 - t1),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


FIRST_TOKEN = """
import sys, numpy as np
from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], n_ctx=256, n_threads=int(sys.argv[2]), verbose=False)
ids = llm.tokenize(sys.argv[3].encode(), add_bos=False, special=True)
llm.eval(ids)
print(int(np.argmax(np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)))))
"""


def timed(cmd: list[str], env=None) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return (time.perf_counter() - t0) * 1000, out.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parity-dir", type=pathlib.Path, default=pathlib.Path.home() / ".cache/tandem/parity")
    ap.add_argument("--tandem", default=str(REPO / ".build/release/tandem"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--dtypes", default="q8_0,q4_0")
    ap.add_argument("--tandem-isa", default=None, help="TANDEM_ISA for the Tandem runs (e.g. avx2 to match an AVX2 llama.cpp)")
    ap.add_argument("--results", type=pathlib.Path, default=REPO / "Benchmarks/llamacpp/results")
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        path, threads, p, n, seed = args.child
        llama_child(path, int(threads), int(p), int(n), int(seed))
        return 0

    env = dict(os.environ)
    if args.tandem_isa:
        env["TANDEM_ISA"] = args.tandem_isa
    args.results.mkdir(parents=True, exist_ok=True)
    rows = []
    for dtype in args.dtypes.split(","):
        gguf = args.parity_dir / f"SmolLM2-135M-Instruct.{dtype}.gguf"
        model = args.parity_dir / f"SmolLM2-135M-Instruct.{dtype}.tandem"
        if not model.exists():
            subprocess.run([args.tandem, "convert", str(gguf), "--dtype", dtype, "-o", str(model), "--quiet"], check=True)
        runs = {"tandem": [], "llama.cpp": []}
        for r in range(args.runs):
            for engine in ("tandem", "llama.cpp") if r % 2 == 0 else ("llama.cpp", "tandem"):
                if engine == "tandem":
                    _, out = timed([args.tandem, "bench", "model", str(model), "--prompt-tokens", str(args.prompt_tokens),
                                    "--new-tokens", str(args.new_tokens), "--threads", str(args.threads), "--runs", "1", "--json"], env)
                    b = json.loads(out)
                    first, _ = timed([args.tandem, "generate", str(model), CHAT, "--max-tokens", "1", "--threads", str(args.threads)], env)
                    runs[engine].append({"prompt_tokens_per_s": args.prompt_tokens / (b["encode_ms"] / 1000),
                                         "decode_tokens_per_s": b["decode_tokens_per_s"], "first_token_ms": first,
                                         "peak_rss_mb": b["peak_rss_mb"]})
                else:
                    _, out = timed([sys.executable, __file__, "--child", str(gguf), str(args.threads), str(args.prompt_tokens),
                                    str(args.new_tokens), str(r)])
                    b = json.loads(out)
                    first, _ = timed([sys.executable, "-c", FIRST_TOKEN, str(gguf), str(args.threads), CHAT])
                    runs[engine].append({"prompt_tokens_per_s": args.prompt_tokens / (b["prompt_ms"] / 1000),
                                         "decode_tokens_per_s": b["decode_tokens_per_s"], "first_token_ms": first,
                                         "peak_rss_mb": b["peak_rss_mb"]})
                print(f"{dtype} run {r} {engine}: {runs[engine][-1]}", file=sys.stderr)
        med = {e: {k: statistics.median(x[k] for x in v) for k in v[0]} for e, v in runs.items()}
        row = {"dtype": dtype, "threads": args.threads, "runs": args.runs, "tandem_isa": args.tandem_isa or "native",
               "date": time.strftime("%Y-%m-%d %H:%M"), "tandem": med["tandem"], "llama.cpp": med["llama.cpp"],
               "per_run": runs, "loadavg_end": os.getloadavg()[0]}
        rows.append(row)
        with open(args.results / "results.jsonl", "a") as f:
            f.write(json.dumps(row, sort_keys=True) + "\n")
    lines = [f"# SmolLM2-135M-Instruct, Tandem vs llama.cpp (llama-cpp-python), {args.threads} threads, medians of {args.runs} alternating runs",
             "", f"Tandem ISA: {args.tandem_isa or 'native'}. Command: `python Benchmarks/llamacpp/bench.py --runs {args.runs}"
             + (f" --tandem-isa {args.tandem_isa}" if args.tandem_isa else "") + "`", "",
             "| dtype | engine | prompt 512 tok/s | decode tok/s | start → first token ms | peak RSS MB |", "|---|---|---|---|---|---|"]
    for row in rows:
        for e in ("tandem", "llama.cpp"):
            m = row[e]
            lines.append(f"| {row['dtype']} | {e} | {m['prompt_tokens_per_s']:.0f} | {m['decode_tokens_per_s']:.1f} | {m['first_token_ms']:.0f} | {m['peak_rss_mb']:.0f} |")
        t, l = row["tandem"], row["llama.cpp"]
        lines.append(f"| {row['dtype']} | **ratio** | **{t['prompt_tokens_per_s'] / l['prompt_tokens_per_s']:.2f}×** | "
                     f"**{t['decode_tokens_per_s'] / l['decode_tokens_per_s']:.2f}×** | **{t['first_token_ms'] / l['first_token_ms']:.2f}×** | "
                     f"**{t['peak_rss_mb'] / l['peak_rss_mb']:.2f}×** |")
    name = "table" + (f"-{args.tandem_isa}" if args.tandem_isa else "") + ".md"
    (args.results / name).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
