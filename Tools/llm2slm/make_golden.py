#!/usr/bin/env python3
"""Golden data for Tandem's LLM-to-SLM parity tests, from the PyTorch reference (reference.py).

Two sets, both under --out (default Tests/Fixtures/llm2slm):

random/   tiny random parts, seeded, weights drawn with NumPy (platform independent):
  LLM      ../checkpoints/t5-v1_1-tiny (T5 v1.1, d_l 64; only its encoder is used; not copied)
  slm-t5-tiny/     encoder-decoder SLM: T5 v1.0 (relu, tied head, d_model^-0.5 scaling),
                   d_s 32, 2+2 layers, with the LLM's spiece.model (the enc-dec kind shares the
                   LLM's tokenizer); decoder.final_layer_norm.weight drawn x HEAD_SCALE_T5 so
                   greedy argmaxes have a margin
  slm-gpt2-tiny/   decoder-only SLM: GPT-2, n_embd 32, 2 layers, 4 heads, n_positions 64, with
                   gpt2-tiny's byte-level BPE (vocab 512, <|endoftext|> = 511); ln_f weight and
                   bias drawn x HEAD_SCALE_GPT2 (GPT-2's tied head gives near-uniform logits
                   otherwise)
  slm-qwen2-tiny/  decoder-only SLM sharing its LLM's tokenizer: Qwen2, hidden 32, 2 layers, 4
                   heads over 2 key/value heads, untied head, with qwen2-tiny's tokenizer.json;
                   weights drawn as the Qwen2 fixture's (common.draw_decoder_weights). Its LLM is
                   ../checkpoints/qwen2-tiny (d_l 64, decoder-only: its prompt pass reads)
  projector-t5.safetensors    projector.{0,2}.{weight,bias}      [32,64] [32] [32,32] [32]
  projector-gpt2.safetensors  the same + prompt_adapter.weight   [32,64]
  projector-qwen2.safetensors           the same, no adapter (the SLM reads E_slm[x] + Z)
  projector-qwen2-layer1.safetensors    the same drawn again, trained "on" the reader's layer 1
                                        (metadata llm2slm {"reader_layer": 1})
  t5.f32, gpt2.f32, qwen2.f32, qwen2-layer1.f32   golden arrays (little-endian f32), offsets in
                                                  manifest.json

toy/      the trained toy pair of Tools/llm2slm/toy.py (LLM knows a random attribute table;
          the SLM learns to read it through Z): llm/, slm/, projector.safetensors, the train /
          held-out JSONL, toy.f32 goldens for held-out prompts. Trained here with train.py on one
          CPU thread: deterministic on one machine; another CPU may round differently during
          training, so regenerating elsewhere can change toy/ bytes (random/ does not change).

Per prompt and SLM kind (prompt ids: the LLM's sentencepiece + </s>):
  H               [m, d_l]   LLM encoder output (after the final RMS norm)
  Z               [m, d_s]   projector(H)
  prompt_embeds   [m, d_s]   what the SLM receives at prompt positions, BEFORE the SLM's own
                             position handling: enc-dec E_slm[x] + Z; decoder-only
                             prompt_adapter(E_llm[x]) + Z (GPT-2 then adds wpe[0..m-1])
  logits          [n+1, V]   teacher forcing on a fixed target (n SLM tokens, no EOS added):
                             enc-dec decoder inputs [0] + target; decoder-only inputs
                             P (pos 0..m-1), bos=511 (pos m), target (pos m+1..m+n); rows are
                             the predictions after each decoder/response input; shared: the
                             predictions after the last prompt token and after each target token
  greedy_logits   [16, V]    logits of each greedy step (EOS ignored: always 16 steps)
  greedy_ids      16 tokens  argmax decoding, EOS ignored (16 steps); plus greedy_ids_eos: with
                             stop at EOS (max 16), and min_margin: the smallest top1 - top2 gap
Deterministic; f32; float rounding differs by ~1e-6 between CPUs, so compare with a tolerance.
Run from the repository root: /work/venv-ref/bin/python Tools/llm2slm/make_golden.py
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "fixtures"))

import reference as ref  # noqa: E402
from common import (pack_arrays, dir_size, gpt2_init_rules, human, numpy_reinit, relpath,  # noqa: E402
                    seed_everything, sha256_file, t5_init_rules, write_json)

SEED = 20260505
STEPS = 16
HEAD_SCALE_T5 = 32.0
HEAD_SCALE_GPT2 = 32.0
# Random tied-embedding models repeat their last token under greedy decoding (the input
# embedding dominates the residual stream and matches its own head row). Shrinking the T5
# embeddings / growing GPT-2's block outputs lets the layers, and so the context, decide.
EMB_SCALE_T5 = 0.125
BLOCK_OUT_SCALE_GPT2 = 32.0
PROMPTS = ["translate English to German: The house is wonderful.",
           "summarize: the cat sat on the mat",
           "Where is the station?"]
T5_TARGET = "Das Haus ist gut."
GPT2_TARGET = " The quick brown fox."
# projector / adapter output scales: Z comparable to the SLM's own embeddings
# (T5 shared ~ N(0, 0.125^2) after EMB_SCALE_T5; GPT-2 wte ~ N(0, 0.02^2))
PROJ_SCALE = {"encdec": 0.125, "decoder": 0.05}
ADAPTER_STD = 0.03

SLM_T5 = dict(d_model=32, d_kv=8, num_heads=4, d_ff=64, num_layers=2, num_decoder_layers=2,
              feed_forward_proj="relu", tie_word_embeddings=True,
              relative_attention_num_buckets=32, relative_attention_max_distance=128,
              dropout_rate=0.1, layer_norm_epsilon=1e-6, initializer_factor=1.0,
              pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
SLM_GPT2 = dict(n_embd=32, n_layer=2, n_head=4, n_positions=64)
SLM_QWEN2 = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-6,
                 rope_theta=1000000.0, tie_word_embeddings=False, use_sliding_window=False)
QWEN2_TARGET = " def add(a, b): return a + b"


def rng_for(name: str) -> np.random.Generator:
    return np.random.default_rng([SEED, zlib.crc32(name.encode())])


def make_slm_t5(out: Path, llm_dir: Path) -> list[str]:
    import sentencepiece as spm
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    from toy import save_t5

    spm_bytes = (llm_dir / "spiece.model").read_bytes()
    cfg = dict(SLM_T5, vocab_size=spm.SentencePieceProcessor(model_proto=spm_bytes).get_piece_size())
    seed_everything(SEED)
    model = T5ForConditionalGeneration(T5Config(**cfg)).eval()
    notes = numpy_reinit(model, t5_init_rules(cfg), SEED)
    with torch.no_grad():
        model.decoder.final_layer_norm.weight.mul_(HEAD_SCALE_T5)
        model.shared.weight.mul_(EMB_SCALE_T5)
    save_t5(model, out, spm_bytes, tie=True)
    return notes + [f"decoder.final_layer_norm.weight x {HEAD_SCALE_T5}", f"shared.weight x {EMB_SCALE_T5}"]


def make_slm_gpt2(out: Path, tok_dir: Path) -> list[str]:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    vocab = json.loads((tok_dir / "vocab.json").read_text())
    eot = vocab["<|endoftext|>"]
    seed_everything(SEED + 1)
    cfg = GPT2Config(vocab_size=len(vocab), bos_token_id=eot, eos_token_id=eot, **SLM_GPT2)
    model = GPT2LMHeadModel(cfg).eval()
    notes = numpy_reinit(model, gpt2_init_rules(cfg.to_dict()), SEED + 1)
    with torch.no_grad():
        model.transformer.ln_f.weight.mul_(HEAD_SCALE_GPT2)
        model.transformer.ln_f.bias.mul_(HEAD_SCALE_GPT2)
        for block in model.transformer.h:
            block.attn.c_proj.weight.mul_(BLOCK_OUT_SCALE_GPT2)
            block.mlp.c_proj.weight.mul_(BLOCK_OUT_SCALE_GPT2)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    for name in ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json"):
        shutil.copyfile(tok_dir / name, out / name)
    for p in out.iterdir():
        p.chmod(0o644)
    return notes + [f"transformer.ln_f.weight and .bias x {HEAD_SCALE_GPT2}",
                    f"attn.c_proj.weight and mlp.c_proj.weight x {BLOCK_OUT_SCALE_GPT2}"]


def make_slm_qwen2(out: Path, llm_dir: Path) -> list[str]:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from common import draw_decoder_weights

    llm_cfg = json.loads((llm_dir / "config.json").read_text())
    seed_everything(SEED + 2)
    cfg = Qwen2Config(vocab_size=llm_cfg["vocab_size"], bos_token_id=llm_cfg["bos_token_id"],
                      eos_token_id=llm_cfg["eos_token_id"], **SLM_QWEN2)
    model = Qwen2ForCausalLM(cfg).eval()
    draw_decoder_weights(model, SEED + 2)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    shutil.copyfile(llm_dir / "tokenizer.json", out / "tokenizer.json")
    for p in out.iterdir():
        p.chmod(0o644)
    return ["every weight drawn by common.draw_decoder_weights"]


def make_projector(path: Path, kind: str, d_l: int, d_s: int, salt: str = "", metadata: dict | None = None) -> None:
    """NumPy-drawn projector (+ adapter), nn.Linear layout [out, in]; `metadata`: the JSON
    train.py writes under `llm2slm` (e.g. reader_layer)."""
    from safetensors.numpy import save_file

    s = PROJ_SCALE[kind]
    t = {"projector.0.weight": rng_for(salt + "p0w").standard_normal((d_s, d_l)) * d_l ** -0.5,
         "projector.0.bias": rng_for(salt + "p0b").standard_normal(d_s) * 0.1,
         "projector.2.weight": rng_for(salt + "p2w").standard_normal((d_s, d_s)) * s * d_s ** -0.5,
         "projector.2.bias": rng_for(salt + "p2b").standard_normal(d_s) * 0.1 * s}
    if kind == "decoder":
        t[ref.ADAPTER_NAME] = rng_for("A").standard_normal((d_s, d_l)) * ADAPTER_STD * d_l ** -0.5
    meta = {"kind": kind}
    if metadata is not None:
        meta["llm2slm"] = json.dumps(metadata, sort_keys=True)
    save_file({k: v.astype(np.float32) for k, v in t.items()}, str(path), metadata=meta)
    path.chmod(0o644)


def open_pair(llm_dir: Path, slm_dir: Path, projector: Path):
    llm = ref.load_llm_reader(llm_dir)
    slm = ref.load_slm(slm_dir).eval()
    shared = ref.is_decoder_only(llm_dir)
    kind = "shared" if shared else ref.slm_kind(slm_dir)
    model = ref.LLM2SLM(slm, kind, ref.reader_width(llm),
                        e_llm=llm.get_input_embeddings().weight if kind == "decoder" else None)
    model.load_trained_tensors(projector)
    model.eval()
    slm_tok = ref.T5Tok(slm_dir) if kind == "encdec" else ref.BPETok(slm_dir)
    return llm, model, ref.BPETok(llm_dir) if shared else ref.T5Tok(llm_dir), slm_tok


def golden_case(llm, model, llm_tok, slm_tok, prompt: str, target: str | None, steps: int, layer: int | None = None):
    import torch

    x = llm_tok.encode(prompt)
    h = ref.llm_hidden(llm, x, layer)
    with torch.no_grad():
        z = model.z(h)
        pe = model.prompt_embeds(torch.tensor([x]), h.unsqueeze(0))[0]
    arrays = {"H": h.numpy(), "Z": z.numpy(), "prompt_embeds": pe.numpy()}
    entry = {"prompt": prompt, "input_ids": x}
    if target is not None:
        t = slm_tok.encode(target, eos=False) if model.kind == "encdec" else slm_tok.encode(target)
        arrays["logits"] = model.teacher_forced_logits(x, h, t).numpy()
        entry.update(target=target, target_ids=t)
        if model.kind == "encdec":
            entry["decoder_input_ids"] = [model.conv.decoder_start_token_id] + t
        elif model.kind == "shared":
            entry["response_position_ids"] = list(range(len(x), len(x) + len(t)))
        else:
            entry["response_input_ids"] = [model.conv.bos_token_id] + t
            entry["response_position_ids"] = list(range(len(x), len(x) + len(t) + 1))
    ids, logits = model.greedy(x, h, steps, stop_at_eos=False, return_logits=True)
    arrays["greedy_logits"] = logits.numpy()
    top2 = torch.topk(logits, 2, dim=-1).values
    entry["greedy_ids"] = ids
    entry["greedy_ids_eos"] = model.greedy(x, h, steps, stop_at_eos=True)
    entry["greedy_text"] = slm_tok.decode(entry["greedy_ids_eos"])
    entry["min_margin"] = float((top2[:, 0] - top2[:, 1]).min())
    return arrays, entry


def write_arrays(path: Path, cases: list[tuple[dict, dict]]) -> dict:
    blob = bytearray()
    for arrays, entry in cases:
        pack_arrays(arrays, entry, blob)
    path.write_bytes(bytes(blob))
    path.chmod(0o644)
    return {"file": path.name, "bytes": len(blob), "sha256": sha256_file(path)}


def tensor_shapes(path: Path) -> dict:
    from common import tensor_table

    return {t["name"]: t["shape"] for t in tensor_table(path)}


def make_random(out: Path, ckpts: Path, manifest: dict) -> None:
    llm_dir = ckpts / "t5-v1_1-tiny"
    rnd = out / "random"
    rnd.mkdir(parents=True, exist_ok=True)
    notes_t5 = make_slm_t5(rnd / "slm-t5-tiny", llm_dir)
    notes_gpt2 = make_slm_gpt2(rnd / "slm-gpt2-tiny", ckpts / "gpt2-tiny")
    d_l = json.loads((llm_dir / "config.json").read_text())["d_model"]
    make_projector(rnd / "projector-t5.safetensors", "encdec", d_l, SLM_T5["d_model"])
    make_projector(rnd / "projector-gpt2.safetensors", "decoder", d_l, SLM_GPT2["n_embd"])
    for name, slm, proj, target, notes in (
            ("t5", "slm-t5-tiny", "projector-t5.safetensors", T5_TARGET, notes_t5),
            ("gpt2", "slm-gpt2-tiny", "projector-gpt2.safetensors", GPT2_TARGET, notes_gpt2)):
        llm, model, llm_tok, slm_tok = open_pair(llm_dir, rnd / slm, rnd / proj)
        cases = [golden_case(llm, model, llm_tok, slm_tok, p, target, STEPS) for p in PROMPTS]
        info = write_arrays(rnd / f"{name}.f32", cases)
        manifest["pairs"][f"random/{name}"] = {
            "kind": model.kind, "llm": relpath(llm_dir, out), "slm": f"random/{slm}",
            "projector": f"random/{proj}", "projector_tensors": tensor_shapes(rnd / proj),
            "conventions": model.conv.to_json(), "slm_notes": notes, **info,
            "cases": [e for _, e in cases]}
        print(f"wrote {relpath(rnd / (name + '.f32'), REPO)} ({human(info['bytes'])}); greedy "
              + "; ".join(str(e["greedy_ids"]) for _, e in cases)
              + f"; min margin {min(e['min_margin'] for _, e in cases):.3f}")
    # A decoder-only reader (the Qwen2 fixture) and an SLM sharing its tokenizer.
    qwen_llm = ckpts / "qwen2-tiny"
    notes_qwen2 = make_slm_qwen2(rnd / "slm-qwen2-tiny", qwen_llm)
    d_q = json.loads((qwen_llm / "config.json").read_text())["hidden_size"]
    for name, layer in (("qwen2", None), ("qwen2-layer1", 1)):
        proj = f"projector-{name}.safetensors"
        make_projector(rnd / proj, "encdec", d_q, SLM_QWEN2["hidden_size"], salt=name,
                       metadata=None if layer is None else {"reader_layer": layer})
        llm, model, llm_tok, slm_tok = open_pair(qwen_llm, rnd / "slm-qwen2-tiny", rnd / proj)
        cases = [golden_case(llm, model, llm_tok, slm_tok, p, QWEN2_TARGET, STEPS, layer) for p in PROMPTS]
        info = write_arrays(rnd / f"{name}.f32", cases)
        manifest["pairs"][f"random/{name}"] = {
            "kind": model.kind, "llm": relpath(qwen_llm, out), "slm": "random/slm-qwen2-tiny",
            "projector": f"random/{proj}", "projector_tensors": tensor_shapes(rnd / proj), "reader_layer": layer,
            "conventions": model.conv.to_json(), "slm_notes": notes_qwen2, **info,
            "cases": [e for _, e in cases]}
        print(f"wrote {relpath(rnd / (name + '.f32'), REPO)} ({human(info['bytes'])}); greedy "
              + "; ".join(str(e["greedy_ids"]) for _, e in cases)
              + f"; min margin {min(e['min_margin'] for _, e in cases):.3f}")


def make_toy(out: Path, manifest: dict, llm_steps: int, pair_steps: int) -> None:
    import toy
    import train

    dest = out / "toy"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        built = toy.build(tmp / "toy", seed=0, llm_steps=llm_steps)
        res = train.main(["--llm", str(built["llm"]), "--slm", str(built["slm"]),
                          "--data", str(built["train"]), "--eval-data", str(built["heldout"]),
                          "--out", str(tmp / "pair"), *toy_train_args(pair_steps)])
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        shutil.copytree(built["llm"], dest / "llm")
        shutil.copytree(tmp / "pair" / "slm", dest / "slm")
        shutil.copyfile(tmp / "pair" / "projector.safetensors", dest / "projector.safetensors")
        for name in ("train.jsonl", "heldout.jsonl"):
            shutil.copyfile(built[name.split(".")[0]], dest / name)
    for p in dest.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    llm, model, llm_tok, slm_tok = open_pair(dest / "llm", dest / "slm", dest / "projector.safetensors")
    rows = [json.loads(line) for line in (dest / "heldout.jsonl").read_text().splitlines()][:4]
    cases = [golden_case(llm, model, llm_tok, slm_tok, r["prompt"], r["response"], 8) for r in rows]
    for (_, e), r in zip(cases, rows):
        e["expected_response"] = r["response"]
    info = write_arrays(dest / "toy.f32", cases)
    hist = res["history"]
    manifest["pairs"]["toy"] = {
        "kind": model.kind, "llm": "toy/llm", "slm": "toy/slm", "projector": "toy/projector.safetensors",
        "projector_tensors": tensor_shapes(dest / "projector.safetensors"),
        "conventions": model.conv.to_json(),
        "training": {"llm_pretraining": built["llm_pretraining"], "steps": pair_steps,
                     "loss_first": hist[0], "loss_last": hist[-1], "heldout": res["eval"]},
        "note": "cases are the first 4 held-out entities (never seen in SLM fine-tuning); greedy 8 steps",
        **info, "cases": [e for _, e in cases]}
    print(f"wrote {relpath(dest, REPO)}/ ({human(dir_size(dest))}); held-out {res['eval']}; greedy "
          + "; ".join(f"{e['prompt']}->{e['greedy_text']!r}" for _, e in cases))


def toy_train_args(steps: int) -> list[str]:
    """The training recipe shared by the toy fixture and the pytest test."""
    return ["--steps", str(steps), "--batch-size", "32", "--lr", "3e-3", "--warmup", "30",
            "--threads", "1", "--log-every", "50", "--save-every", "0", "--seed", "0"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    ap.add_argument("--out", type=Path, default=REPO / "Tests/Fixtures/llm2slm")
    ap.add_argument("--checkpoints", type=Path, default=REPO / "Tests/Fixtures/checkpoints")
    ap.add_argument("--skip-toy", action="store_true", help="keep toy/ as it is (only random/)")
    ap.add_argument("--toy-llm-steps", type=int, default=100)
    ap.add_argument("--toy-steps", type=int, default=200)
    args = ap.parse_args()

    import torch
    import transformers

    torch.set_num_threads(1)
    seed_everything(SEED)
    args.out.mkdir(parents=True, exist_ok=True)
    mpath = args.out / "manifest.json"
    manifest = {"generator": relpath(Path(__file__), REPO),
                "reference": f"Tools/llm2slm/reference.py; transformers {transformers.__version__}, "
                             f"torch {torch.__version__}, float32 CPU",
                "steps": STEPS, "pairs": {}}
    if args.skip_toy and mpath.exists():
        old = json.loads(mpath.read_text())["pairs"]
        if "toy" in old:
            manifest["pairs"]["toy"] = old["toy"]
    make_random(args.out, args.checkpoints, manifest)
    if not args.skip_toy:
        make_toy(args.out, manifest, args.toy_llm_steps, args.toy_steps)
    manifest["pairs"] = dict(sorted(manifest["pairs"].items()))
    write_json(mpath, manifest, compact=True)
    print(f"wrote {relpath(mpath, REPO)}; total {relpath(args.out, REPO)}: {human(dir_size(args.out))}")


if __name__ == "__main__":
    main()
