#!/usr/bin/env python3
"""Fine-tune an SLM + projector (+ prompt adapter) against a frozen T5-family LLM encoder.

Input: --llm DIR (a T5 / Flan-T5 / mT5 checkpoint directory, only its encoder is used and the
directory is never written), --slm DIR (a T5 for the encoder-decoder kind, a GPT-2 for the
decoder-only kind; see reference.py for the exact conventions), --data JSONL with one
{"prompt": ..., "response": ...} object per line.

Output (--out DIR):
  projector.safetensors  projector.0.weight/.0.bias/.2.weight/.2.bias (+ prompt_adapter.weight)
  slm/                   the fine-tuned SLM: save_pretrained (safetensors) + its tokenizer files
  train_meta.json        kind, conventions, LLM path and digest, arguments, final loss
  checkpoint.pt          the latest training state (for --resume)
  cache/                 the LLM outputs H (see below)
ready for `tandem convert --llm LLM_DIR --slm OUT/slm --projector OUT/projector.safetensors`.

The LLM is frozen, so H = LLM encoder(prompt) is computed once per example and cached on disk:
f16, byte-shuffled (all low bytes of a row block, then all high bytes), each example one LZ4
block (`lz4.block`, size stored). The script prints the ratio against raw f16. The cache is keyed
by the LLM's weights digest and the prompts' token ids, and recomputed when either changes.
Training reads H back as f32 (so it trains on f16-rounded H; inference uses the f32 H).

A decoder-only reader run by Tandem (the "shared" kind, docs/ARCHITECTURE.md §1): --llm is then a
.tandem file (LLaMA or Qwen2, e.g. Qwen2.5-Coder-1.5B converted from its GGUF) and --slm a
checkpoint directory of a model sharing its tokenizer (gguf_to_hf.py makes one from the 0.5B
GGUF). H comes from `tandem features` (Tandem's prompt pass; --reader-layer picks
hidden_states[L]) into the same cache; the SLM reads E_slm[x] + Z and its response continues the
prompt. --freeze-slm trains the projector alone (its last layer starts at zero, so step 0 is the
SLM alone) and the bundle then takes the SLM's own file; --bf16 runs the SLM under bf16 autocast.
--format code reads make_code_data.py's {prompt, completion} rows and poses each as HumanEval's
evaluation does (Benchmarks/humaneval/run_humaneval.py's instruction, the SLM's chat template),
the answer a fenced block of the whole function. --format chat reads {prompt, response} rows whose
prompt is the user's message, rendered by the SLM's chat template (distill.py writes them).

Optimiser: AdamW over SLM + projector (+ adapter); linear warm-up for --warmup steps, then
linear decay to 0 at --steps; gradient-norm clipping at --clip; a checkpoint every
--save-every steps; --resume continues from OUT/checkpoint.pt bit-identically (data order is a
function of seed and step; RNG states are saved). --slm-only trains the same SLM alone (no LLM,
no projector): the baseline. --constant-h is the control for the reader's content: the
projector's first layer is held at zero, so it learns one vector added at every prompt position
(a soft prompt) whatever H says. Runs on CPU, or CUDA with --device cuda.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "fixtures"))

import reference as ref  # noqa: E402
from common import sha256_file  # noqa: E402
from make_code_data import sample  # noqa: E402


# ---------------------------------------------------------------------------------------------
# H cache: f16, byte-shuffled, LZ4
# ---------------------------------------------------------------------------------------------

def shuffle_f16(a: np.ndarray) -> bytes:
    """f16 array -> bytes with all low bytes first, then all high bytes (a 2-byte shuffle)."""
    b = np.ascontiguousarray(a, dtype="<f2").view(np.uint8).reshape(-1, 2)
    return b.T.tobytes()


def unshuffle_f16(data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    b = np.frombuffer(data, dtype=np.uint8).reshape(2, -1)
    return np.ascontiguousarray(b.T).view("<f2").reshape(shape)


def compress_h(h: np.ndarray) -> bytes:
    import lz4.block

    return lz4.block.compress(shuffle_f16(h.astype(np.float16)), mode="high_compression",
                              compression=9, store_size=True)


def decompress_h(blob: bytes, shape: tuple[int, ...]) -> np.ndarray:
    import lz4.block

    return unshuffle_f16(lz4.block.decompress(blob), shape)


def read_cache(data: bytes, entries: list, d_l: int) -> list[torch.Tensor]:
    """The f32 H of each cache entry ([offset, bytes, rows])."""
    return [torch.from_numpy(decompress_h(data[o:o + n], (m, d_l)).astype(np.float32)) for o, n, m in entries]


def llm_digest(llm_dir: Path) -> str:
    files = sorted(Path(llm_dir).glob("*.safetensors")) + [Path(llm_dir) / "config.json"]
    return hashlib.sha256("".join(sha256_file(p) for p in files).encode()).hexdigest()


def build_cache(llm, llm_dir: Path, prompts: list[list[int]], cache_dir: Path,
                batch: int = 32, log=print, layer: int | None = None) -> list[torch.Tensor]:
    """H for every prompt (f32 tensors from the f16 cache); computes and writes missing caches.
    `layer`: a decoder-only reader's hidden_states index (reference.llm_hidden)."""
    import lz4.block

    cache_dir.mkdir(parents=True, exist_ok=True)
    index_path, blob_path = cache_dir / "h_cache.json", cache_dir / "h_cache.bin"
    key = hashlib.sha256((llm_digest(llm_dir) + json.dumps(prompts) + ("" if layer is None else f"layer {layer}")).encode()).hexdigest()
    d_l = ref.reader_width(llm)
    last = layer is None or layer == getattr(llm.config, "num_hidden_layers", None)
    if index_path.exists() and blob_path.exists():
        index = json.loads(index_path.read_text())
        if index.get("key") == key:
            data = blob_path.read_bytes()
            log(f"H cache: reusing {blob_path} ({len(prompts)} examples, ratio {index['ratio']:.3f})")
            return read_cache(data, index["entries"], d_l)
    t0 = time.time()
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    hs: list[np.ndarray | None] = [None] * len(prompts)
    with torch.no_grad():
        for s in range(0, len(order), batch):
            idx = order[s:s + batch]
            L = max(len(prompts[i]) for i in idx)
            ids = torch.zeros(len(idx), L, dtype=torch.long)
            mask = torch.zeros(len(idx), L, dtype=torch.long)
            for r, i in enumerate(idx):
                ids[r, :len(prompts[i])] = torch.tensor(prompts[i])
                mask[r, :len(prompts[i])] = 1
            res = llm(input_ids=ids.to(llm.device), attention_mask=mask.to(llm.device), output_hidden_states=not last)
            out = res.last_hidden_state if last else res.hidden_states[layer]
            for r, i in enumerate(idx):
                hs[i] = out[r, :len(prompts[i])].float().cpu().numpy()
    entries, blob, raw, plain = [], bytearray(), 0, 0
    for h in hs:
        c = compress_h(h)
        entries.append([len(blob), len(c), h.shape[0]])
        blob += c
        f16 = h.astype(np.float16).tobytes()
        raw += len(f16)
        plain += len(lz4.block.compress(f16, mode="high_compression", compression=9, store_size=True))
    ratio = raw / max(1, len(blob))
    blob_path.write_bytes(bytes(blob))
    index_path.write_text(json.dumps({"key": key, "d_l": d_l, "dtype": "f16, 2-byte shuffle, lz4 block",
                                      "raw_f16_bytes": raw, "compressed_bytes": len(blob),
                                      "ratio": ratio, "ratio_without_shuffle": raw / max(1, plain),
                                      "entries": entries}))
    log(f"H cache: {len(prompts)} examples in {time.time() - t0:.1f}s; raw f16 {raw} B -> "
        f"{len(blob)} B shuffled+LZ4: ratio {ratio:.3f} (LZ4 without shuffle: {raw / max(1, plain):.3f})")
    return read_cache(bytes(blob), entries, d_l)


def tandem_binary(args) -> str:
    if args.tandem:
        return args.tandem
    built = HERE.parent.parent / ".build/release/tandem"
    return str(built) if built.exists() else "tandem"


def reader_width_of(args) -> int:
    """d_l of a .tandem reader, from `tandem inspect --json`."""
    import subprocess

    info = json.loads(subprocess.run([tandem_binary(args), "inspect", str(args.llm), "--json"], check=True,
                                     capture_output=True, text=True).stdout)
    models = info["metadata"]["models"]
    entry = models.get("llm") or models["model"]
    return int(entry["config"]["hidden_size"])


def tandem_cache(args, prompts: list[list[int]], cache_dir: Path, log=print) -> list[torch.Tensor]:
    """H of a .tandem reader, written by `tandem features` (resumable) into build_cache's format."""
    import subprocess

    cache_dir.mkdir(parents=True, exist_ok=True)
    st = args.llm.stat()

    def key_of(ps):
        return hashlib.sha256(json.dumps([str(args.llm.resolve()), st.st_size, int(st.st_mtime), args.reader_layer,
                                          ps]).encode()).hexdigest()

    key = key_of(prompts)
    index_path, blob_path = cache_dir / "h_cache.json", cache_dir / "h_cache.bin"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    ids_path = cache_dir / "ids.jsonl"
    if index.get("key") != key and ids_path.exists() and blob_path.exists():
        # The cache holds another prompt list read by the same reader (its key says so). It is
        # kept: the prompts wanted that it holds — in any order — come from it, and only the others
        # are read, into (and next time from) the `extra` cache beside it, the same way.
        held = [json.loads(line) for line in ids_path.read_text().splitlines() if line.strip()]
        if len(held) == len(index.get("entries", [])) and index.get("key") == key_of(held):
            where = {json.dumps(p): i for i, p in enumerate(held)}
            missing = list({json.dumps(p): p for p in prompts if json.dumps(p) not in where}.values())
            log(f"H cache: {len(prompts) - len(missing)} of {len(prompts)} prompts from {blob_path}, "
                f"{len(missing)} to read")
            got = dict(zip((json.dumps(p) for p in missing),
                           tandem_cache(args, missing, cache_dir / "extra", log) if missing else []))
            blob = blob_path.read_bytes()
            return [got[j] if j in got else read_cache(blob, [index["entries"][where[j]]], index["d_l"])[0]
                    for j in map(json.dumps, prompts)]
    if index.get("key") != key:
        ids_path.write_text("".join(json.dumps(p) + "\n" for p in prompts))
        cmd = [tandem_binary(args), "features", str(args.llm), "--ids", str(ids_path), "--out", str(cache_dir), "--key", key]
        if args.reader_layer:
            cmd += ["--layer", str(args.reader_layer)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        t0 = time.time()
        subprocess.run(cmd, check=True)
        log(f"H cache: {len(prompts)} prompts read by {cmd[0]} in {time.time() - t0:.1f}s")
        index = json.loads(index_path.read_text())
    else:
        log(f"H cache: reusing {blob_path} ({len(prompts)} examples)")
    return read_cache(blob_path.read_bytes(), index["entries"], index["d_l"])


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------

def read_jsonl(path: Path, fmt: str = "prompt-response", chat=None) -> list[dict]:
    """{prompt, response} rows; with fmt "code", make_code_data.py's {prompt, completion} posed
    as HumanEval's evaluation poses a problem, with fmt "chat" the prompt a user's message
    (`chat` renders the conversation)."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                if fmt == "code":
                    rows.append(code_task(r["prompt"], r["completion"], chat))
                elif fmt == "chat":
                    rows.append({"prompt": chat(r["prompt"]), "response": r["response"]})
                else:
                    rows.append({"prompt": r["prompt"], "response": r["response"]})
    return rows


def code_task(prompt: str, completion: str, chat) -> dict:
    """A function's signature and docstring as the user's task, the whole function as the answer."""
    sys.path.insert(0, str(HERE.parent.parent / "Benchmarks/humaneval"))
    from run_humaneval import INSTRUCTION

    user = INSTRUCTION.replace("{prompt}", prompt.strip())
    return {"prompt": chat(user), "response": "```python\n" + (prompt + completion).rstrip() + "\n```"}


class Tokenization:
    """Turns {prompt, response} into ids following reference.py's conventions."""

    def __init__(self, llm_dir: Path, slm_dir: Path, kind: str, use_llm: bool, slm_cfg):
        self.kind, self.use_llm, self.cfg = kind, use_llm, slm_cfg
        self.llm_tok = ref.T5Tok(llm_dir) if use_llm and kind != "shared" else None
        if kind == "shared":
            self.slm_tok = ref.BPETok(slm_dir)
            self.llm_tok = self.slm_tok   # one tokenizer; the .tandem reader tokenizes as it (golden-tested)
        elif kind == "encdec":
            self.slm_tok = ref.T5Tok(slm_dir)
            if use_llm and (Path(llm_dir) / ref.SPM_FILE).read_bytes() != (Path(slm_dir) / ref.SPM_FILE).read_bytes():
                raise SystemExit("encoder-decoder LLM-to-SLM needs the LLM's tokenizer in the SLM "
                                 f"(spiece.model of {llm_dir} and {slm_dir} differ)")
        else:
            self.slm_tok = ref.BPETok(slm_dir)

    def prompt_ids(self, prompt: str, max_len: int) -> list[int]:
        if self.kind == "shared":
            return self.slm_tok.encode(prompt)[-max_len:]   # the end holds the question and the turn's start
        if self.use_llm or self.kind == "encdec":
            tok = self.llm_tok or self.slm_tok
            ids = tok.encode(prompt)
            return ids[:max_len - 1] + [ids[-1]] if len(ids) > max_len else ids
        return self.slm_tok.encode(prompt)[:max_len]   # SLM alone, decoder-only

    def response_ids(self, response: str, max_len: int) -> list[int]:
        if self.kind == "shared":
            return self.slm_tok.encode(response)[:max_len]
        if self.kind == "encdec":
            return self.slm_tok.encode(response, eos=False)[:max_len]
        return self.slm_tok.encode(response)[:max_len]


def collate(examples: list[dict], hs: list[torch.Tensor] | None, kind: str, cfg, device) -> dict:
    B = len(examples)
    m_max = max(len(e["x"]) for e in examples)
    x = torch.zeros(B, m_max, dtype=torch.long)
    x_mask = torch.zeros(B, m_max, dtype=torch.long)
    h = None if hs is None else torch.zeros(B, m_max, hs[0].shape[-1])
    for b, e in enumerate(examples):
        x[b, :len(e["x"])] = torch.tensor(e["x"])
        x_mask[b, :len(e["x"])] = 1
        if hs is not None:
            h[b, :len(e["x"])] = hs[b]
    batch = {"x": x, "x_mask": x_mask}
    if h is not None:
        batch["h"] = h
    if kind == "encdec":
        n_max = max(len(e["r"]) + 1 for e in examples)
        labels = torch.full((B, n_max), -100, dtype=torch.long)
        for b, e in enumerate(examples):
            t = e["r"] + [cfg.eos_token_id]
            labels[b, :len(t)] = torch.tensor(t)
        batch["labels"] = labels
    elif kind == "shared":
        # [prompt | r_1..r_n]: position m-1+j predicts r_{j+1}, the last one eos.
        L = max(len(e["x"]) + len(e["r"]) for e in examples)
        n_max = max(1, max(len(e["r"]) for e in examples))
        resp_in = torch.zeros(B, n_max, dtype=torch.long)
        targets = torch.full((B, L), -100, dtype=torch.long)
        mask = torch.zeros(B, L, dtype=torch.long)
        m, n_in = torch.zeros(B, dtype=torch.long), torch.zeros(B, dtype=torch.long)
        for b, e in enumerate(examples):
            mb, r = len(e["x"]), e["r"]
            if r:
                resp_in[b, :len(r)] = torch.tensor(r)
            tgt = r + [cfg.eos_token_id]
            targets[b, mb - 1:mb - 1 + len(tgt)] = torch.tensor(tgt)
            mask[b, :mb + len(r)] = 1
            m[b], n_in[b] = mb, len(r)
        batch.update(resp_in=resp_in, targets=targets, mask=mask, m=m, n_in=n_in, seq_len=L)
    else:
        L = max(len(e["x"]) + len(e["r"]) + 1 for e in examples)
        n_max = max(len(e["r"]) + 1 for e in examples)
        resp_in = torch.zeros(B, n_max, dtype=torch.long)
        targets = torch.full((B, L), -100, dtype=torch.long)
        mask = torch.zeros(B, L, dtype=torch.long)
        m, n_in = torch.zeros(B, dtype=torch.long), torch.zeros(B, dtype=torch.long)
        for b, e in enumerate(examples):
            mb, rin = len(e["x"]), [cfg.bos_token_id] + e["r"]
            resp_in[b, :len(rin)] = torch.tensor(rin)
            tgt = e["r"] + [cfg.eos_token_id]
            targets[b, mb:mb + len(tgt)] = torch.tensor(tgt)
            mask[b, :mb + len(rin)] = 1
            m[b], n_in[b] = mb, len(rin)
        batch.update(resp_in=resp_in, targets=targets, mask=mask, m=m, n_in=n_in, seq_len=L)
    return {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in batch.items()}


def batch_indices(step: int, n: int, bs: int, seed: int) -> list[int]:
    """Indices of batch `step`: consecutive slices of per-epoch permutations seeded by (seed, epoch)."""
    out, pos = [], step * bs
    while len(out) < bs:
        epoch, off = divmod(pos, n)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1000003 + epoch)).tolist()
        take = min(bs - len(out), n - off)
        out += perm[off:off + take]
        pos += take
    return out


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------

@torch.no_grad()
def evaluate(model: ref.LLM2SLM, examples: list[dict], hs: list[torch.Tensor] | None,
             max_extra: int = 2) -> dict:
    """Greedy exact match (response + eos) and teacher-forced token accuracy (eos included)."""
    model.eval()
    eos = model.conv.eos_token_id
    greedy = model.kind != "shared"   # real models: HumanEval in Tandem is the test, not a PyTorch loop
    exact = tok_ok = tok_n = 0
    nll = 0.0
    for i, e in enumerate(examples):
        h = None if hs is None else hs[i]
        target = e["r"] + [eos]
        if greedy:
            gen = model.greedy(e["x"], h, max_new_tokens=len(target) + max_extra)
            exact += int(gen == target)
        logits = model.teacher_forced_logits(e["x"], h, e["r"])
        pred = logits.argmax(-1).tolist()
        tok_ok += sum(int(p == t) for p, t in zip(pred, target))
        tok_n += len(target)
        nll += float(torch.nn.functional.cross_entropy(logits.float(), torch.tensor(target), reduction="sum"))
    out = {"token_accuracy": tok_ok / max(1, tok_n), "loss": nll / max(1, tok_n), "n": len(examples)}
    if greedy:
        out["exact_match"] = exact / max(1, len(examples))
    return out


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------

def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    ap.add_argument("--llm", type=Path, help="T5-family checkpoint dir (frozen; only the encoder is used), "
                    "or a decoder-only .tandem read by Tandem (the shared kind)")
    ap.add_argument("--slm", type=Path, required=True, help="SLM checkpoint dir (T5, GPT-2; LLaMA/Qwen2 with a .tandem --llm)")
    ap.add_argument("--tandem", default=None, help="the tandem binary for a .tandem --llm (default: .build/release/tandem)")
    ap.add_argument("--reader-layer", type=int, help="a .tandem reader's hidden_states index (default: the last, normed)")
    ap.add_argument("--freeze-slm", action="store_true", help="train the projector alone (its last layer starts at zero)")
    ap.add_argument("--constant-h", action="store_true",
                    help="control: the projector's first layer held at zero, so Z is one learned vector whatever the "
                         "reader says (a soft prompt added at every prompt position); what the pair gains beyond it "
                         "is the reader's own contribution")
    ap.add_argument("--bf16", action="store_true", help="the SLM under bf16 autocast (CPUs with AVX512-BF16 or AMX)")
    ap.add_argument("--format", choices=["prompt-response", "code", "chat"], default="prompt-response",
                    help="code: make_code_data.py rows posed as HumanEval tasks in the SLM's chat template; "
                    "chat: {prompt, response} rows, the prompt a user's message (distill.py's)")
    ap.add_argument("--max-examples", type=int, help="N training rows only, a sample seeded by --seed (the data is in source order)")
    ap.add_argument("--max-eval-examples", type=int, help="N held-out rows only, sampled the same way")
    ap.add_argument("--data", type=Path, required=True, help="training JSONL of {prompt, response}")
    ap.add_argument("--eval-data", type=Path, help="held-out JSONL: greedy exact match + token accuracy at the end")
    ap.add_argument("--out", type=Path, required=True, help="output directory")
    ap.add_argument("--cache", type=Path, help="H cache directory (default OUT/cache)")
    ap.add_argument("--slm-only", action="store_true", help="baseline: fine-tune the SLM alone (no LLM)")
    ap.add_argument("--d-h", type=int, help="projector hidden width (default d_s)")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    ap.add_argument("--warmup", type=int, default=100, help="linear warm-up steps")
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--clip", type=float, default=1.0, help="max gradient norm")
    ap.add_argument("--save-every", type=int, default=200, help="checkpoint every N steps (0: only at the end)")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    ap.add_argument("--stop-after", type=int, help="stop (after checkpointing) at this step; for tests of --resume")
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--max-prompt-len", type=int, default=512)
    ap.add_argument("--max-response-len", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = ap.parse_args(argv)
    if not args.slm_only and args.llm is None:
        ap.error("--llm is required unless --slm-only")
    return args


def lr_lambda(warmup: int, total: int):
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))
    return f


def prepare(args, log=print):
    """Models, tokenized examples and cached H (for training, evaluation and tests)."""
    tandem_reader = args.llm is not None and args.llm.suffix == ".tandem"
    shared = tandem_reader or (args.llm is not None and args.llm.is_dir() and ref.is_decoder_only(args.llm))
    kind = "shared" if shared else ref.slm_kind(args.slm)
    slm = ref.load_slm(args.slm)
    use_llm = not args.slm_only
    llm = ref.load_llm_reader(args.llm).to(args.device) if use_llm and not tandem_reader else None
    e_llm = llm.get_input_embeddings().weight if (use_llm and kind == "decoder") else None
    d_l = (reader_width_of(args) if tandem_reader else ref.reader_width(llm)) if use_llm else 0
    model = ref.LLM2SLM(slm, kind, d_l=d_l, e_llm=e_llm, d_h=args.d_h, use_llm=use_llm)
    if args.freeze_slm:
        for p in model.slm.parameters():
            p.requires_grad_(False)
        if use_llm:   # the pair starts as the SLM alone
            torch.nn.init.zeros_(model.projector[2].weight)
            torch.nn.init.zeros_(model.projector[2].bias)
    if args.constant_h:
        if not use_llm:
            raise SystemExit("--constant-h is a control for the pair; it makes no sense with --slm-only")
        # W1 = 0 and frozen: ReLU(b1) is the same for every H, so Z = W2 ReLU(b1) + b2 at every
        # position, and the saved projector gives that constant from the runtime's real H too.
        torch.nn.init.zeros_(model.projector[0].weight)
        model.projector[0].weight.requires_grad_(False)
    tk = Tokenization(args.llm, args.slm, kind, use_llm, slm.config)
    chat = None
    if args.format in ("code", "chat"):
        from transformers import AutoTokenizer

        hf_tok = AutoTokenizer.from_pretrained(args.slm)
        chat = lambda user: hf_tok.apply_chat_template([{"role": "user", "content": user}],  # noqa: E731
                                                       tokenize=False, add_generation_prompt=True)

    def load(path):
        rows = read_jsonl(path, args.format, chat)
        limit = args.max_examples if path == args.data else args.max_eval_examples
        rows = sample(rows, limit, args.seed)
        ex = [{"x": tk.prompt_ids(r["prompt"], args.max_prompt_len),
               "r": tk.response_ids(r["response"], args.max_response_len)} for r in rows]
        hs = None
        if use_llm:
            sub = "train" if path == args.data else "eval"
            cache = (args.cache or args.out / "cache") / sub
            prompts = [e["x"] for e in ex]
            hs = (tandem_cache(args, prompts, cache, log) if tandem_reader
                  else build_cache(llm, args.llm, prompts, cache, log=log, layer=args.reader_layer))
        return ex, hs

    return model, tk, load


def main(argv=None, log=print) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    args.out.mkdir(parents=True, exist_ok=True)

    model, tk, load = prepare(args, log)
    examples, hs = load(args.data)
    n_pos = getattr(model.slm.config, "n_positions", None) or getattr(model.slm.config, "max_position_embeddings", None)
    if model.kind in ("decoder", "shared") and n_pos:
        longest = max(len(e["x"]) + len(e["r"]) + 1 for e in examples)
        if longest > n_pos:
            raise SystemExit(f"prompt + bos + response reaches {longest} positions, the SLM has {n_pos}:"
                             " lower --max-prompt-len / --max-response-len")
    if model.kind == "shared" and hs is not None:
        # a real reader: scale H to unit RMS and Z to the embeddings' RMS while training (folded into
        # the saved projector; reference.LLM2SLM.project says why)
        sq = sum(float(h.float().pow(2).sum()) for h in hs)
        rms_h = math.sqrt(sq / sum(h.numel() for h in hs))
        rms_e = float(model.slm.get_input_embeddings().weight.float().pow(2).mean().sqrt())
        model.in_scale.fill_(1.0 / rms_h)
        model.out_scale.fill_(rms_e)
        log(f"projector scales: H RMS {rms_h:.3f}, SLM embedding RMS {rms_e:.5f}")
    model.to(args.device)
    kind = model.kind
    log(f"{'SLM alone' if args.slm_only else 'LLM-to-SLM'} ({kind}): {len(examples)} examples, "
        f"trainable {sum(p.numel() for p in model.parameters() if p.requires_grad)} parameters, device {args.device}")

    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(args.warmup, args.steps))

    ckpt_path = args.out / "checkpoint.pt"
    step, history = 0, []
    if args.resume and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=args.device, weights_only=False)
        model.load_state_dict(state["model"], strict=not args.freeze_slm)
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        step, history = state["step"], state["history"]
        log(f"resumed from {ckpt_path} at step {step}")

    def save_checkpoint():
        tmp = ckpt_path.with_suffix(".tmp")
        weights = {k: v for k, v in model.state_dict().items() if not (args.freeze_slm and k.startswith("slm."))}
        torch.save({"model": weights, "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(), "torch_rng": torch.get_rng_state(),
                    "step": step, "history": history, "args": vars(args)}, tmp)
        os.replace(tmp, ckpt_path)

    t0, running = time.time(), []
    model.train()
    while step < args.steps:
        idx = batch_indices(step, len(examples), args.batch_size, args.seed)
        batch = collate([examples[i] for i in idx], None if hs is None else [hs[i] for i in idx],
                        kind, model.slm.config, args.device)
        with torch.autocast(args.device.split(":")[0], dtype=torch.bfloat16, enabled=args.bf16):
            loss = model.loss(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(params, args.clip)
        opt.step()
        sched.step()
        step += 1
        running.append(float(loss.detach()))
        history.append(running[-1])
        if step % args.log_every == 0 or step == 1 or step == args.steps:
            log(f"step {step:5d}  loss {sum(running) / len(running):.4f}  grad-norm {float(gnorm):.3f}"
                f"  lr {sched.get_last_lr()[0]:.2e}  {time.time() - t0:.1f}s")
            running = []
        if (args.save_every and step % args.save_every == 0) or step == args.steps or step == args.stop_after:
            save_checkpoint()
        if args.stop_after and step >= args.stop_after:
            log(f"stopping at step {step} (--stop-after); continue with --resume")
            return {"stopped_at": step, "history": history}

    model.eval()
    if not args.freeze_slm:
        ref.save_slm(model.slm, args.slm, args.out / "slm")
    meta = {"kind": kind, "slm_only": args.slm_only, "llm": str(args.llm) if args.llm else None,
            "source_slm": str(args.slm), "steps": args.steps,
            "loss_first": history[0] if history else None,
            "loss_last_25": sum(history[-25:]) / max(1, len(history[-25:])),
            "args": {k: str(v) for k, v in vars(args).items()}}
    if not args.slm_only:
        meta["llm_digest"] = "" if args.llm.suffix == ".tandem" else llm_digest(args.llm)
        meta["conventions"] = model.conv.to_json()
        ref.save_projector(model, args.out / "projector.safetensors",
                           {"kind": kind, "d_l": model.d_l, "d_s": model.d_s, "reader_layer": args.reader_layer})
    result = {"history": history, "out": str(args.out), "model": model}
    if args.eval_data:
        ev_ex, ev_hs = load(args.eval_data)
        result["eval"] = meta["eval"] = evaluate(model, ev_ex, ev_hs)
        ev = meta["eval"]
        exact = f"exact match {ev['exact_match']:.3f}, " if "exact_match" in ev else ""
        log(f"held-out: {exact}token accuracy {ev['token_accuracy']:.3f}, loss {ev['loss']:.4f} ({ev['n']} examples)")
    (args.out / "train_meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    written = ([] if args.freeze_slm else [args.out / "slm"]) + ([] if args.slm_only else [args.out / "projector.safetensors"])
    log("wrote " + ", ".join(map(str, written))
        + (f"; loss {history[0]:.4f} -> {meta['loss_last_25']:.4f}" if history else "; no steps (the starting point)"))
    return result


if __name__ == "__main__":
    main()
