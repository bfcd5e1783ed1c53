#!/usr/bin/env python3
"""Perplexity of each dtype on a fixed real text: Tandem against llama.cpp, llama-perplexity's method.

The text: the first --papers (16) ACLSum test papers (the `aclsum` package, MIT), each paper's
abstract and introduction as Benchmarks/summarize/run_aclsum.py builds its documents, the papers
joined by a blank line, UTF-8, no trailing newline (llama-perplexity drops one, Tandem would
not). Its SHA-256 and byte count go into every result row. 16 papers are 14.7k–15.1k tokens for
the models here: 28–29 chunks of 512.

The measure: the text's tokens cut into chunks of --context (512) tokens, what does not fill a
last chunk left out; each chunk read from an empty cache in one pass, the tokens of its second
half scored (row i's logits predict token i + 1 for i from 256 to 510: 255 tokens a chunk); the
perplexity is exp of the mean −log p, ± its standard error as llama-perplexity reports it. A
model whose vocabulary adds BOS (Gemma 3) gets it in front of the text and in place of each
chunk's first token, in both engines.

    python Benchmarks/perplexity/run_perplexity.py --models gemma3-270m,qwen0.5b --dtypes native,q8_0,q4_0
    python Benchmarks/perplexity/run_perplexity.py --models qwen1.5b --dtypes native
    python Benchmarks/perplexity/run_perplexity.py --models smollm2 --dtypes f32,q8_0,q4_0
    python Benchmarks/perplexity/run_perplexity.py --table-only

Runs, one after the other, 2 threads each (--threads):

  llama.cpp        llama-perplexity -m FILE.gguf -f TEXT -c 512 -b 512 -t 2; the token count
                   from llama-tokenize --show-count on the same file (BOS included where it adds
                   one). -b 512 reads one chunk a pass. Its default, 2048, reads four at once as
                   four sequences of a 2048-cell cache: the same figures (Gemma 3 native, all 28
                   chunks: identical to the 4 decimals printed) at 3× its time (attention over
                   the whole cache); --llama-batch 2048 gives it back.
  tandem           tandem perplexity FILE.tandem TEXT --context 512 --threads 2, its text form
                   (at 85ef321 --json leaves out the token count and the running perplexity per
                   chunk; the text form prints both, and the estimate to 4 decimals, as
                   llama-perplexity does).
  tandem, own      for a re-quantized dtype: Tandem on its own re-quantization as well.

Files per model and dtype (TANDEM_CACHE; scripts/fetch-gguf.sh, scripts/prepare-parity.sh):

  native           the Q4_K_M file as downloaded; Tandem: `tandem convert X.gguf` (no --dtype:
                   every block copied as it is), so both engines hold the same blocks.
  q8_0, q4_0       re-quantized from the downloaded file, by each engine's own tool:
                   llama.cpp `llama-quantize --allow-requantize X.gguf Y.gguf Q8_0` (or Q4_0);
                   Tandem `tandem convert X.gguf --dtype q8_0`. The table's "same file" columns
                   run llama-quantize's file in both engines (`tandem convert Y.gguf`, blocks
                   copied); "own" is Tandem's re-quantization, and names the tensors whose
                   blocks differ from llama-quantize's (each .tandem tensor's XXH64; llama-
                   quantize's Q4_0 gives the output matrix q6_K, or q8_0 where its rows are not
                   a multiple of 256, as here). Each file's tensor types are recorded: the
                   GGUF's read from its header here, the .tandem's by `tandem inspect --json`.
  f32, q8_0, q4_0  SmolLM2-135M-Instruct only: the parity files (f32 dequantized from the
                   Q4_1 download, q8_0 and q4_0 quantized from that by gguf-py), the same file
                   in both engines (Tandem: convert --dtype of the file's own type).

Needs: a release `tandem` (--tandem), a llama.cpp build's bin directory holding
llama-perplexity, llama-tokenize and llama-quantize and its shared libraries (--llama-cpp or
LLAMA_CPP_BIN), and a Python where `aclsum` imports (`pip install aclsum`); nothing else outside
the standard library. Results: Benchmarks/perplexity/results/perplexity.jsonl (one row per run,
appended) and perplexity.md (the table, the latest run of each model, dtype and engine). Wall
times include loading the model; on a shared machine they are noisy, and secondary.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import pathlib
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
CACHE = pathlib.Path(os.environ.get("TANDEM_CACHE", pathlib.Path.home() / ".cache/tandem"))
RESULTS = REPO / "Benchmarks/perplexity/results"
sys.path.insert(0, str(REPO / "Benchmarks"))
from machine import cpu  # noqa: E402

# name: (model, the file as downloaded, the parity files by dtype)
MODELS = {
    "gemma3-270m": ("Gemma 3 270M", CACHE / "gemma-3-270m.Q4_K_M.gguf", None),
    "qwen0.5b": ("Qwen2.5-Coder-0.5B-Instruct", CACHE / "Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf", None),
    "qwen1.5b": ("Qwen2.5-Coder-1.5B-Instruct", CACHE / "Qwen2.5-Coder-1.5B-Instruct.Q4_K_M.gguf", None),
    "smollm2": ("SmolLM2-135M-Instruct", None, CACHE / "parity/SmolLM2-135M-Instruct.{dtype}.gguf"),
}
REQUANTIZE = {"q8_0": "Q8_0", "q4_0": "Q4_0"}


# The text -------------------------------------------------------------------------------------

def text(papers: int) -> tuple[str, list[str]]:
    """The first `papers` ACLSum test papers, abstract + introduction each, joined by a blank line."""
    import aclsum
    path = pathlib.Path(aclsum.__file__).parent / "dataset/test.jsonl"
    parts, ids = [], []
    for line in path.read_text().splitlines()[:papers]:
        x = json.loads(line)
        parts.append(" ".join(x["sentences"]["abstract"]) + "\n\n" + " ".join(x["sentences"]["introduction"]))
        ids.append(x["id"])
    return "\n\n".join(parts).rstrip("\n"), ids


# What a file holds ----------------------------------------------------------------------------

GGML_TYPES = {0: ("f32", 1, 4), 1: ("f16", 1, 2), 2: ("q4_0", 32, 18), 3: ("q4_1", 32, 20), 6: ("q5_0", 32, 22),
              7: ("q5_1", 32, 24), 8: ("q8_0", 32, 34), 10: ("q2_K", 256, 84), 11: ("q3_K", 256, 110),
              12: ("q4_K", 256, 144), 13: ("q5_K", 256, 176), 14: ("q6_K", 256, 210), 30: ("bf16", 1, 2)}


def gguf_tensors(path: pathlib.Path) -> list[dict]:
    """Name, type and bytes of every tensor of a GGUF file (v2/v3), from its header alone."""
    with open(path, "rb") as f:
        def read(fmt: str):
            return struct.unpack("<" + fmt, f.read(struct.calcsize("<" + fmt)))[0]

        def string() -> str:
            return f.read(read("Q")).decode("utf-8", "replace")
        scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

        def skip(kind: int) -> None:
            if kind == 8:
                string()
            elif kind == 9:
                inner, count = read("I"), read("Q")
                if inner in scalar:
                    f.seek(count * struct.calcsize("<" + scalar[inner]), 1)
                else:
                    for _ in range(count):
                        skip(inner)
            else:
                read(scalar[kind])
        if f.read(4) != b"GGUF" or read("I") < 2:
            raise ValueError(f"{path} is not a GGUF v2/v3 file")
        tensors, kvs = read("Q"), read("Q")
        for _ in range(kvs):
            string()
            skip(read("I"))
        out = []
        for _ in range(tensors):
            name = string()
            shape = [read("Q") for _ in range(read("I"))]
            kind = read("I")
            read("Q")
            dtype, block, size = GGML_TYPES.get(kind, (f"type{kind}", 1, 0))
            out.append({"name": name, "dtype": dtype, "bytes": math.prod(shape) // block * size})
        return out


def summary(tensors: list[dict], embedding: str, output: str) -> dict:
    """Tensors and bytes per dtype, and the token embedding's and output matrix's dtypes."""
    kinds: dict[str, list[int]] = {}
    for t in tensors:
        k = kinds.setdefault(t["dtype"], [0, 0])
        k[0] += 1
        k[1] += t["bytes"]
    find = {t["name"]: t["dtype"] for t in tensors}
    return {"dtypes": {k: {"tensors": v[0], "bytes": v[1]} for k, v in sorted(kinds.items())},
            "embedding": find.get(embedding), "output": find.get(output, "tied")}


def gguf_summary(path: pathlib.Path) -> dict:
    return summary(gguf_tensors(path), "token_embd.weight", "output.weight")


def tandem_summary(tandem: str, path: pathlib.Path) -> dict:
    r = json.loads(subprocess.run([tandem, "inspect", str(path), "--json"], check=True, capture_output=True, text=True).stdout)
    s = summary(r["tensors"], "model.embed_tokens.weight", "lm_head.weight")
    s["adds_bos"] = bool(r["metadata"].get("generation", {}).get("add_bos_token", False))
    return s


def tandem_checksums(path: pathlib.Path) -> dict[str, int]:
    """Each tensor's and blob's XXH64, from a .tandem file's directory (Formats/FORMAT.md §2–3)."""
    with open(path, "rb") as f:
        preamble = f.read(128)
        count = struct.unpack_from("<I", preamble, 52)[0]
        offset, length = struct.unpack_from("<QQ", preamble, 56)
        f.seek(offset)
        directory = f.read(length)
    out, at = {}, 0
    for _ in range(count):
        size, rank = struct.unpack_from("<I", directory, at)[0], directory[at + 6]
        name_length = struct.unpack_from("<I", directory, at + 8)[0]
        name = directory[at + 48 + 8 * rank:at + 48 + 8 * rank + name_length].decode()
        out[name] = struct.unpack_from("<Q", directory, at + 40)[0]
        at += size
    return out


def describe(s: dict) -> str:
    """'q8_0 ×169, f32 ×49; embedding q8_0, output tied'"""
    kinds = sorted(s["dtypes"].items(), key=lambda kv: -kv[1]["bytes"])
    return ", ".join(f"{k} ×{v['tensors']}" for k, v in kinds) + f"; embedding {s['embedding']}, output {s['output']}"


# Runs -----------------------------------------------------------------------------------------

def timed(cmd: list[str], env: dict | None = None) -> tuple[str, float, float]:
    """Runs `cmd` to the end: its stdout and stderr together, wall seconds and peak RSS in MB
    (its own, from wait4)."""
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        log = out.read().decode("utf-8", "replace")
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{log[-3000:]}")
    return log, wall, usage.ru_maxrss / 1024


def per_chunk(running: list[float]) -> list[float]:
    """Each chunk's own perplexity, from the running perplexity after each chunk."""
    out, before = [], 0.0
    for i, p in enumerate(running, 1):
        total = i * math.log(p)
        out.append(math.exp(total - before))
        before = total
    return out


def run_tandem(args, model: pathlib.Path, text_path: pathlib.Path) -> dict:
    cmd = [args.tandem, "perplexity", str(model), str(text_path), "--context", str(args.context), "--threads", str(args.threads)]
    log, wall, rss = timed(cmd)
    head = re.search(r"^(\d+) tokens, (\d+) chunks of (\d+)$", log, re.M)
    final = re.search(r"Final estimate: PPL = ([\d.]+) \+/- ([\d.]+) \((\d+) tokens scored in (\d+) chunks, ([\d.]+) s\)", log)
    running = [float(x) for x in re.findall(r"^\[\d+\] ([\d.]+)$", log, re.M)]
    return {"text_tokens": int(head[1]), "chunks": int(final[4]), "scored": int(final[3]), "ppl": float(final[1]),
            "err": float(final[2]), "chunk_ppl": per_chunk(running), "wall_s": wall, "own_s": float(final[5]),
            "peak_rss_mb": rss, "command": " ".join(cmd)}


def run_llama(args, gguf: pathlib.Path, text_path: pathlib.Path) -> dict:
    env = dict(os.environ, LD_LIBRARY_PATH=args.llama_cpp + os.pathsep + os.environ.get("LD_LIBRARY_PATH", ""))
    count, _, _ = timed([f"{args.llama_cpp}/llama-tokenize", "-m", str(gguf), "-f", str(text_path), "--ids",
                         "--show-count", "--log-disable"], env)
    cmd = [f"{args.llama_cpp}/llama-perplexity", "-m", str(gguf), "-f", str(text_path), "-c", str(args.context),
           "-b", str(args.llama_batch), "-t", str(args.threads)]
    log, wall, rss = timed(cmd, env)
    chunks = re.search(r"calculating perplexity over (\d+) chunks, n_ctx=(\d+), batch_size=(\d+), n_seq=(\d+)", log)
    final = re.search(r"Final estimate: PPL = ([\d.]+) \+/- ([\d.]+)", log)
    running = [float(x) for x in re.findall(r"\[\d+\]([\d.]+),", log)]
    n = int(chunks[1])
    return {"tokens": int(re.search(r"Total number of tokens: (\d+)", count)[1]), "chunks": n,
            "scored": n * (args.context - 1 - args.context // 2), "ppl": float(final[1]), "err": float(final[2]),
            "chunk_ppl": per_chunk(running), "batch": int(chunks[3]), "sequences_per_pass": int(chunks[4]),
            "wall_s": wall, "peak_rss_mb": rss, "command": " ".join(cmd)}


def convert(args, source: pathlib.Path, out: pathlib.Path, dtype: list[str]) -> pathlib.Path:
    if not out.exists():
        subprocess.run([args.tandem, "convert", str(source), *dtype, "-o", str(out), "--quiet"], check=True)
    return out


def quantize(args, source: pathlib.Path, out: pathlib.Path, kind: str) -> pathlib.Path:
    if not out.exists():
        env = dict(os.environ, LD_LIBRARY_PATH=args.llama_cpp)
        timed([f"{args.llama_cpp}/llama-quantize", "--allow-requantize", str(source), str(out), kind, str(args.threads)], env)
    return out


def files(args, name: str, dtype: str, work: pathlib.Path) -> dict[str, tuple[str, pathlib.Path]]:
    """engine → (how its file was made, the file): `tandem` and `llama.cpp` on the same blocks,
    `tandem-own` on Tandem's own re-quantization where there is one."""
    _, download, parity = MODELS[name]
    if parity is not None:
        gguf = pathlib.Path(str(parity).format(dtype=dtype))
        made = "parity file (Tools/parity/make_parity_gguf.py)"
        return {"llama.cpp": (made, gguf), "tandem": (made + f", convert --dtype {dtype}",
                                                      convert(args, gguf, work / f"{name}.{dtype}.tandem", ["--dtype", dtype]))}
    if dtype == "native":
        made = "as downloaded"
        return {"llama.cpp": (made, download), "tandem": (made + ", convert", convert(args, download, work / f"{name}.native.tandem", []))}
    gguf = quantize(args, download, work / f"{name}.{dtype}.llama-quantize.gguf", REQUANTIZE[dtype])
    made = f"llama-quantize --allow-requantize {REQUANTIZE[dtype]}"
    return {"llama.cpp": (made, gguf),
            "tandem": (made + ", convert", convert(args, gguf, work / f"{name}.{dtype}.llama-quantize.tandem", [])),
            "tandem-own": (f"convert --dtype {dtype}", convert(args, download, work / f"{name}.{dtype}.tandem", ["--dtype", dtype]))}


def commit() -> str:
    r = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return r.stdout.strip() or "?"


def llama_version(args) -> str:
    env = dict(os.environ, LD_LIBRARY_PATH=args.llama_cpp)
    r = subprocess.run([f"{args.llama_cpp}/llama-perplexity", "--version"], capture_output=True, text=True, env=env)
    m = re.search(r"version: \S+ \((\w+)\)", r.stdout + r.stderr)
    return m[1] if m else "?"


# The table ------------------------------------------------------------------------------------

def write_table(rows: list[dict]) -> None:
    latest: dict[tuple, dict] = {}
    for r in rows:
        latest[(r["model"], r["dtype"], r["engine"])] = r
    keys = sorted({(m, d) for m, d, _ in latest}, key=lambda k: (list(MODELS).index(k[0]), ["native", "f32", "q8_0", "q4_0"].index(k[1])))
    any_row = next(iter(latest.values()))
    mb = lambda r: f"{r['file_bytes'] / 1e6:.0f} MB"
    out = ["# Perplexity of each dtype on a fixed real text: Tandem and llama.cpp", "",
           f"The text: the first {any_row['papers']} ACLSum test papers, abstract + introduction, joined by blank lines "
           f"({any_row['text_bytes']:,} bytes, SHA-256 `{any_row['text_sha256'][:16]}…`). llama-perplexity's method: "
           f"chunks of {any_row['context']} tokens, each from an empty cache, the second half of each scored "
           f"({any_row['context'] - 1 - any_row['context'] // 2} tokens a chunk); ± is the standard error. "
           f"{any_row['threads']} threads. Command: `python Benchmarks/perplexity/run_perplexity.py` (see its docstring).", "",
           "*Same file*: both engines on the same blocks (for q8_0 and q4_0, llama-quantize's re-quantization of "
           "the downloaded Q4_K_M; Tandem reads it through `tandem convert` without --dtype, which copies every block). "
           "*Tandem, own*: Tandem on `tandem convert --dtype` of the downloaded file. Δ: Tandem − llama.cpp on the same "
           "file, relative; largest chunk Δ: the same for each chunk's own perplexity. Tokens: what the text "
           "tokenizes to, BOS included where the model adds one; the chunks cut from them (bold where the engines differ). "
           "Wall time: each run as a whole (loading included), on a shared 2-core machine: noisy, secondary.", "",
           "| model | dtype | file (same file) | tokens | chunks | Tandem | llama.cpp | Δ | largest chunk Δ "
           "| Tandem, own (file) | wall s Tandem / llama.cpp |",
           "|" + "---|" * 11]
    for m, d in keys:
        t, l, own = (latest.get((m, d, e)) for e in ("tandem", "llama.cpp", "tandem-own"))
        if not (t and l):
            continue
        tokens = f"{t['tokens']}" if t["tokens"] == l["tokens"] else f"**{t['tokens']} / {l['tokens']}**"
        chunks = f"{t['chunks']}" if t["chunks"] == l["chunks"] else f"**{t['chunks']} / {l['chunks']}**"
        delta = (t["ppl"] / l["ppl"] - 1) * 100
        worst = max((a / b - 1) * 100 for a, b in zip(t["chunk_ppl"], l["chunk_ppl"]))
        least = min((a / b - 1) * 100 for a, b in zip(t["chunk_ppl"], l["chunk_ppl"]))
        widest = worst if abs(worst) >= abs(least) else least
        own_cell = "—"
        if own:
            differ = own.get("differs_from_llama_quantize")
            blocks = ("" if differ is None else "; the same blocks as llama-quantize's" if not differ
                      else f"; all but {', '.join(f'`{n}`' for n in differ)} as llama-quantize's")
            own_cell = f"{own['ppl']:.4f} ± {own['err']:.4f} ({mb(own)}{blocks})"
        out.append(f"| {MODELS[m][0]} | {d} | {mb(l)} | {tokens} | {chunks} | {t['ppl']:.4f} ± {t['err']:.4f} "
                   f"| {l['ppl']:.4f} ± {l['err']:.4f} | {delta:+.2f}% | {widest:+.2f}% | {own_cell} "
                   f"| {t['wall_s']:.0f} / {l['wall_s']:.0f} |")
    out += ["", "What each file holds (tensors by dtype, largest first; the GGUF's from its header, the .tandem's from "
            "`tandem inspect`):", "", "| model | dtype | engine | made by | tensors |", "|---|---|---|---|---|"]
    for m, d in keys:
        for e in ("llama.cpp", "tandem", "tandem-own"):
            r = latest.get((m, d, e))
            if r:
                out.append(f"| {MODELS[m][0]} | {d} | {e} | {r['made_by']} | {describe(r['holds'])} |")
    dates = sorted({r["date"] for r in latest.values()})
    out += ["", f"Run {dates[0]} – {dates[-1]}; Tandem {', '.join(sorted({r['commit'] for r in latest.values()}))}, "
            f"llama.cpp {', '.join(sorted({r['llama_cpp'] for r in latest.values()}))} "
            f"(llama-perplexity -b {', '.join(sorted({str(r['batch']) for r in latest.values() if 'batch' in r}))}); "
            f"{', '.join(sorted({r['cpu'] for r in latest.values()}))}."]
    (RESULTS / "perplexity.md").write_text("\n".join(out) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="gemma3-270m,qwen0.5b")
    ap.add_argument("--dtypes", default="native,q8_0,q4_0", help="native, q8_0, q4_0; smollm2: f32, q8_0, q4_0")
    ap.add_argument("--papers", type=int, default=16, help="the first N ACLSum test papers")
    ap.add_argument("--context", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--engines", default="tandem,llama.cpp,tandem-own")
    ap.add_argument("--llama-batch", type=int, default=512,
                    help="llama-perplexity's -b: 512 reads one chunk a pass; its default, 2048, reads 4 (the same figures, slower)")
    ap.add_argument("--tandem", default=str(REPO / ".build/release/tandem"))
    ap.add_argument("--commit", default=None, help="the commit the tandem binary was built from (default: HEAD)")
    ap.add_argument("--llama-cpp", default=os.environ.get("LLAMA_CPP_BIN", ""), help="llama.cpp's build bin directory")
    ap.add_argument("--work", default=None, help="where converted and quantized files go, and stay (default: a temporary directory)")
    ap.add_argument("--table-only", action="store_true")
    args = ap.parse_args()
    log = RESULTS / "perplexity.jsonl"
    if args.table_only:
        write_table([json.loads(l) for l in log.read_text().splitlines()])
        print((RESULTS / "perplexity.md").read_text())
        return 0
    if not args.llama_cpp:
        sys.exit("--llama-cpp DIR (or LLAMA_CPP_BIN): the bin directory of a llama.cpp build")
    RESULTS.mkdir(parents=True, exist_ok=True)
    work = pathlib.Path(args.work) if args.work else pathlib.Path(tempfile.mkdtemp(prefix="perplexity."))
    work.mkdir(parents=True, exist_ok=True)
    body, ids = text(args.papers)
    data = body.encode()
    text_path = work / f"aclsum-test-{args.papers}.txt"
    text_path.write_bytes(data)
    common = {"papers": args.papers, "paper_ids": ids, "text_bytes": len(data), "text_sha256": hashlib.sha256(data).hexdigest(),
              "context": args.context, "threads": args.threads, "cpu": cpu(), "commit": args.commit or commit(),
              "llama_cpp": llama_version(args), "tandem_isa": os.environ.get("TANDEM_ISA", "native")}
    print(f"text: {len(data)} bytes, sha256 {common['text_sha256']}", flush=True)
    try:
        for name in args.models.split(","):
            for dtype in args.dtypes.split(","):
                made = files(args, name, dtype, work)
                for engine in args.engines.split(","):
                    if engine not in made:
                        continue
                    how, path = made[engine]
                    if engine == "llama.cpp":
                        r = run_llama(args, path, text_path)
                        holds = gguf_summary(path)
                    else:
                        r = run_tandem(args, path, text_path)
                        holds = tandem_summary(args.tandem, path)
                        # The chunks are cut from the text's tokens with BOS in front where the model adds one.
                        r["tokens"] = r["text_tokens"] + int(holds.pop("adds_bos"))
                    if engine == "tandem-own":
                        # Which tensors Tandem's re-quantization holds otherwise than llama-quantize's.
                        mine, theirs = tandem_checksums(path), tandem_checksums(made["tandem"][1])
                        r["differs_from_llama_quantize"] = sorted(k for k in mine if mine[k] != theirs.get(k))
                    r.update(common, model=name, dtype=dtype, engine=engine, made_by=how, file=path.name,
                             file_bytes=path.stat().st_size, holds=holds, date=time.strftime("%Y-%m-%d %H:%M"))
                    with open(log, "a") as f:
                        f.write(json.dumps(r, sort_keys=True) + "\n")
                    print(f"{name} {dtype} {engine}: PPL {r['ppl']:.4f} ± {r['err']:.4f}, {r['tokens']} tokens, "
                          f"{r['chunks']} chunks, {r['wall_s']:.1f} s", flush=True)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    write_table([json.loads(l) for l in log.read_text().splitlines()])
    print((RESULTS / "perplexity.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
