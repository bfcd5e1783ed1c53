#!/usr/bin/env python3
"""CTranslate2 side of the T5 speed benchmark (issue 4, item 6), same keys as `tandem bench model --json`.

For each (model, batch) pair this script starts a fresh child process (so that peak RSS belongs
to that one model and batch), which:
  * loads a converted CTranslate2 model with
    ctranslate2.Translator(path, device="cpu", inter_threads=1, intra_threads=T);
  * builds B seeded synthetic prompts of N tokens each: N-1 random ids in [3, 300) (random.Random
    seeded with SEED+i for prompt i) mapped to the model's vocabulary pieces, then "</s>".
    CTranslate2 takes tokens as strings, so ids go through the model's shared vocabulary
    (shared_vocabulary.json/.txt or source_vocabulary.*); [3, 300) avoids <pad> </s> <unk> and
    stays inside the 400-piece tokenizer of Tools/fixtures/make_t5_shaped.py checkpoints;
  * does one warm-up, then R timed runs; each run is
      encode call:  translate_batch(prompts, beam_size=1, min_decoding_length=1,
                                    max_decoding_length=1)
      full call:    translate_batch(prompts, beam_size=1, min_decoding_length=M,
                                    max_decoding_length=M)
    and checks that every hypothesis has exactly M tokens (EOS is suppressed until M);
  * prints one JSON object per (model, batch), with the median over the R runs and min/max.

Keys (shared with Tandem):
  encode_ms            wall time of the encode call. CTranslate2 4.x has no encoder-only call
                       on Translator, so this is encoder forward + ONE decoder step, which
                       includes the cross-attention K/V projections of every decoder layer over
                       the N input positions, + the final projection/argmax + Python call
                       overhead. (Benchmarks/t5/README.md states the method.)
  total_ms             wall time of the full call (encode + M generated tokens).
  decode_tokens_per_s  B*M / ((total_ms - encode_ms)/1000), per run, then the median. Since
                       encode_ms already contains the first decoder step, the denominator
                       covers M-1 steps: this understates CT2's decode speed by (M-1)/M
                       (0.8% at M=128). `step_ms` below is the exact per-step figure.
  peak_rss_mb          ru_maxrss of the child process (MiB, = VmHWM) after all runs: python +
                       CTranslate2 + model + activations. `rss_before_load_mb` is the same
                       figure just before the model was loaded (the interpreter alone), and
                       `rss_after_runs_mb` is VmRSS at the end: the peak can be well above it
                       because loading transiently holds the weights twice (f32 t5-large:
                       peak 5.7 GB for a 2.9 GB model), see the README.
With --first-token, first_token_ms: from the start of the full call to its first step callback.
Extra keys: *_min / *_max for the three timed figures; runs (R, as Tandem writes it); step_ms
((total-encode)/(M-1), ms per decoder step at batch B); encode_ms_less_one_step (encode_ms -
step_ms) and decode_tokens_per_s_from_steps (B*1000/step_ms), the figures on Tandem's split (its
encode_ms is encoder + cross-attention K/V, and its decode time covers all M steps); per_run
(every run's raw figures); loadavg_1m (the machine's 1-minute
load average before and after: above ~2 on this 2-core box, other work shared the cores),
ct2_version, compute_type, seed, path.

Example (2 threads, batch 1, 512-token prompt, 128 new tokens, 3 runs):
  /work/venv-bench/bin/python Benchmarks/t5/ct2_bench.py \\
      --model /work/scratch/ct2/t5-small-int8 --model /work/scratch/ct2/t5-large-int8 \\
      --prompt-tokens 512 --new-tokens 128 --batch 1 --threads 2 --runs 3 --out results.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

PAD, EOS, UNK = 0, 1, 2
ID_LO, ID_HI = 3, 300


def load_vocabulary(model_dir: Path) -> list[str]:
    """The model's token strings in id order, as CTranslate2 stores them beside model.bin."""
    for stem in ("shared_vocabulary", "source_vocabulary"):
        js = model_dir / f"{stem}.json"
        if js.exists():
            return json.loads(js.read_text(encoding="utf-8"))
        txt = model_dir / f"{stem}.txt"
        if txt.exists():
            lines = txt.read_text(encoding="utf-8").split("\n")  # one token a line
            return lines[:-1] if lines and lines[-1] == "" else lines
    raise SystemExit(f"{model_dir}: no shared_vocabulary/source_vocabulary file")


def synthetic_prompts(vocab: list[str], n_tokens: int, batch: int, seed: int) -> list[list[str]]:
    """B prompts of exactly n_tokens pieces: n_tokens-1 random ids in [3, 300), then </s>."""
    if n_tokens < 1:
        raise SystemExit("--prompt-tokens must be >= 1")
    if len(vocab) < ID_HI or vocab[EOS] != "</s>":
        raise SystemExit(f"vocabulary too small or not T5-like (size {len(vocab)}, id 1 = {vocab[EOS]!r})")
    prompts = []
    for i in range(batch):
        rng = random.Random(seed + i)
        ids = [rng.randrange(ID_LO, ID_HI) for _ in range(n_tokens - 1)]
        prompts.append([vocab[t] for t in ids] + [vocab[EOS]])
    return prompts


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def vm_status_mb(key: str = "VmHWM") -> float | None:
    """A /proc/self/status figure in MiB: VmHWM (peak resident) or VmRSS (resident now)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def run_one(a: argparse.Namespace) -> dict:
    """One model, one batch size, in this process."""
    rss0 = rss_mb()
    load0 = os.getloadavg()[0]
    import ctranslate2  # imported here so the parent process never loads a model

    path = Path(a.model)
    t0 = time.perf_counter()
    tr = ctranslate2.Translator(str(path), device="cpu", compute_type=a.compute_type,
                                inter_threads=1, intra_threads=a.threads)
    load_ms = (time.perf_counter() - t0) * 1e3
    vocab = load_vocabulary(path)
    prompts = synthetic_prompts(vocab, a.prompt_tokens, a.batch, a.seed)
    M = a.new_tokens
    common = dict(beam_size=1, max_batch_size=0, max_input_length=0, return_scores=False)

    def encode_call() -> float:
        t = time.perf_counter()
        tr.translate_batch(prompts, min_decoding_length=1, max_decoding_length=1, **common)
        return time.perf_counter() - t

    first = []  # time of the first step callback in the current full call

    def on_step(step) -> bool:
        if not first:
            first.append(time.perf_counter())
        return False  # never stop early

    def full_call() -> float:
        first.clear()
        extra = {"callback": on_step} if a.first_token else {}
        t = time.perf_counter()
        res = tr.translate_batch(prompts, min_decoding_length=M, max_decoding_length=M,
                                 **common, **extra)
        dt = time.perf_counter() - t
        if first:
            full_call.first_token_s = first[0] - t
        lens = [len(r.hypotheses[0]) for r in res]
        if lens != [M] * a.batch:
            raise SystemExit(f"expected {M} generated tokens per prompt, got {lens}")
        return dt

    for _ in range(a.warmup):  # warm-up: both calls
        encode_call()
        full_call()

    runs = []
    for _ in range(a.runs):
        enc = encode_call()
        tot = full_call()
        dec = tot - enc
        runs.append({
            "encode_ms": enc * 1e3,
            "total_ms": tot * 1e3,
            # None when noise made the encode call slower than the full call (tiny M).
            "decode_tokens_per_s": a.batch * M / dec if dec > 0 else None,
            "step_ms": dec * 1e3 / (M - 1) if M > 1 and dec > 0 else None,
        })
        if a.first_token:
            runs[-1]["first_token_ms"] = full_call.first_token_s * 1e3

    def vals(k):
        return [r[k] for r in runs if r.get(k) is not None]

    def med(k):
        v = vals(k)
        return statistics.median(v) if v else None

    def rnd(x, n=2):
        return None if x is None else round(x, n)

    rec = {
        "engine": "ctranslate2",
        "model": a.name or path.name,
        "dtype": a.dtype or guess_dtype(path.name, tr.compute_type),
        "prompt_tokens": a.prompt_tokens,
        "new_tokens": M,
        "batch": a.batch,
        "threads": a.threads,
        "encode_ms": rnd(med("encode_ms")),
        "decode_tokens_per_s": rnd(med("decode_tokens_per_s")),
        "total_ms": rnd(med("total_ms")),
        "peak_rss_mb": round(rss_mb(), 1),
    }
    for k in ("encode_ms", "decode_tokens_per_s", "total_ms"):
        rec[k + "_min"] = rnd(min(vals(k), default=None))
        rec[k + "_max"] = rnd(max(vals(k), default=None))
    if a.first_token:
        rec["first_token_ms"] = rnd(med("first_token_ms"))
    step = med("step_ms")
    rec.update({
        "runs": a.runs,
        "step_ms": rnd(step, 3),
        # Tandem's split: encode = encoder + cross K/V, decode = all M steps. Estimated by moving
        # one median step out of encode_ms (the first step is heavier: its cross K/V stay in).
        "encode_ms_less_one_step": None if step is None else rnd(med("encode_ms") - step),
        "decode_tokens_per_s_from_steps": None if not step else rnd(a.batch * 1e3 / step),
        "per_run": [{k: rnd(v, 3) for k, v in r.items()} for r in runs],
        "warmup": a.warmup,
        "load_ms": round(load_ms, 1),
        "rss_before_load_mb": round(rss0, 1),
        "vm_hwm_mb": None if vm_status_mb() is None else round(vm_status_mb(), 1),
        "rss_after_runs_mb": None if vm_status_mb("VmRSS") is None else round(vm_status_mb("VmRSS"), 1),
        "loadavg_1m": [round(load0, 2), round(os.getloadavg()[0], 2)],
        "compute_type": tr.compute_type,
        "ct2_version": ctranslate2.__version__,
        "seed": a.seed,
        "path": str(path),
    })
    return rec


def guess_dtype(name: str, compute_type: str) -> str:
    for d in ("int8", "int16", "f16", "bf16", "f32"):
        if name.endswith("-" + d):
            return d
    return {"float32": "f32"}.get(compute_type, compute_type)


def child_args(a: argparse.Namespace, model: str, batch: int) -> list[str]:
    args = [sys.executable, os.path.abspath(__file__), "--child", "--model", model,
            "--batch", str(batch), "--prompt-tokens", str(a.prompt_tokens),
            "--new-tokens", str(a.new_tokens), "--threads", str(a.threads),
            "--runs", str(a.runs), "--warmup", str(a.warmup), "--seed", str(a.seed),
            "--compute-type", a.compute_type] + (["--first-token"] if a.first_token else [])
    if a.dtype:
        args += ["--dtype", a.dtype]
    return args


def table(recs: list[dict]) -> str:
    head = (f"{'model':<22} {'dtype':<5} {'B':>2} {'N':>5} {'M':>4} {'T':>2} "
            f"{'encode ms (min-max)':>24} {'decode tok/s (min-max)':>26} {'total ms':>9} {'RSS MiB':>8}")
    lines = [head, "-" * len(head)]
    for r in recs:
        enc = f"{r['encode_ms']:.1f} ({r['encode_ms_min']:.1f}-{r['encode_ms_max']:.1f})"
        if r["decode_tokens_per_s"] is None:
            dec = "n/a (encode call > full call)"
        else:
            dec = (f"{r['decode_tokens_per_s']:.2f} ({r['decode_tokens_per_s_min']:.2f}-"
                   f"{r['decode_tokens_per_s_max']:.2f})")
        lines.append(f"{r['model']:<22} {r['dtype']:<5} {r['batch']:>2} {r['prompt_tokens']:>5} "
                     f"{r['new_tokens']:>4} {r['threads']:>2} {enc:>24} {dec:>26} "
                     f"{r['total_ms']:>9.1f} {r['peak_rss_mb']:>8.1f}")
    return "\n".join(lines)


def main() -> None:
    doc = __doc__.split("\n\n")
    ap = argparse.ArgumentParser(description=doc[0], epilog="\n\n".join(doc[1:]),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", required=True,
                    help="converted CTranslate2 model directory (repeatable)")
    ap.add_argument("--prompt-tokens", type=int, default=512, help="N, prompt length incl. </s> (default %(default)s)")
    ap.add_argument("--new-tokens", type=int, default=128, help="M >= 2, exact tokens generated (default %(default)s)")
    ap.add_argument("--batch", type=int, action="append",
                    help="B, prompts decoded together (repeatable; default 1)")
    ap.add_argument("--threads", type=int, default=2, help="T, intra_threads (default %(default)s)")
    ap.add_argument("--runs", type=int, default=3, help="R, timed runs (default %(default)s)")
    ap.add_argument("--warmup", type=int, default=1, help="warm-up runs (default %(default)s)")
    ap.add_argument("--seed", type=int, default=0, help="prompt i uses random.Random(seed+i) (default %(default)s)")
    ap.add_argument("--compute-type", default="default",
                    help="CTranslate2 compute_type (default: as the model was quantized)")
    ap.add_argument("--first-token", action="store_true",
                    help="also time the first step callback inside the full call (first_token_ms:"
                         " encode + first step as seen from within the M-token call; a cross-check"
                         " of encode_ms; adds a Python callback per step)")
    ap.add_argument("--dtype", help="dtype label in the JSON (default: from the directory suffix)")
    ap.add_argument("--name", help="model label in the JSON (default: directory name); single model only")
    ap.add_argument("--out", type=Path, help="also append the JSON lines to this file")
    ap.add_argument("--json", action="store_true",
                    help="no table: stdout is always JSON lines, one per (model, batch); the table goes to stderr")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    batches = a.batch or [1]
    if a.runs < 1 or a.new_tokens < 2 or a.batch and min(a.batch) < 1:
        ap.error("--runs and --batch must be >= 1 and --new-tokens >= 2 (the first token is"
                 " inside the encode call, so M = 1 leaves no decode to time)")

    if a.child:
        a.model, a.batch = a.model[0], batches[0]
        print(json.dumps(run_one(a)), flush=True)
        sys.stderr.flush()
        # Skip interpreter teardown: with --first-token (a Python step callback) CTranslate2
        # 4.8.5 sometimes aborts at exit ("terminate called without an active exception").
        os._exit(0)

    recs = []
    for model in a.model:
        for b in batches:
            cmd = child_args(a, model, b)
            if a.name and len(a.model) == 1:
                cmd += ["--name", a.name]
            p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
            if p.returncode != 0:
                sys.exit(f"child failed ({p.returncode}): {' '.join(cmd)}")
            rec = json.loads(p.stdout.strip().splitlines()[-1])
            recs.append(rec)
            line = json.dumps(rec)
            print(line, flush=True)
            if a.out:
                with a.out.open("a") as f:
                    f.write(line + "\n")
    if not a.json:
        print(table(recs), file=sys.stderr)


if __name__ == "__main__":
    main()
