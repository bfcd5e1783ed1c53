#!/usr/bin/env python3
"""A synthetic task on which a tiny SLM needs a tiny LLM's information ("the LLM knows facts").

World: 256 entities, each named by two capital letters from A..P ("KD", "AP", ...). Every
entity has one of four attributes, "red" / "blue" / "green" / "gold", drawn at random (a fixed,
seeded table): the attribute is a random function of BOTH letters together, so nothing about it
can be computed from the name, and a letter alone says nothing.

  prompt   "KD"          (LLM/SLM ids: ▁ K D </s>, a character-level sentencepiece model)
  response "green"       (characters g r e e n, then </s>)

The LLM (tiny T5 v1.1: d_model 64, 2 encoder layers) is pre-trained briefly to *know* the whole
table: its encoder plus a linear probe learns to predict the entity's attribute at every prompt
position, for all 256 entities. Then it is frozen and saved as an ordinary T5 checkpoint (its
decoder stays random; only the encoder is used). This is the paper's premise in miniature: the
big model carries knowledge the small one lacks.

The SLM (tiny T5 v1.0: d_model 32, 1 encoder + 1 decoder layer, same tokenizer) is fine-tuned on
160 entities only. The 96 held-out entities never appear in its fine-tuning data:
  * the SLM alone can at best learn to spell the four words: held-out attribute accuracy is
    chance (~25 %);
  * the LLM-to-SLM pair reads the attribute from Z = q(H), where the LLM encoder exposes it
    (linearly, thanks to the probe), also for entities the SLM never saw.

Everything is seeded (NumPy draws for all initial weights, torch.manual_seed for data order and
dropout, which is 0 here) and deterministic on a given machine.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "fixtures"))

LETTERS = "ABCDEFGHIJKLMNOP"
ATTRIBUTES = ["red", "blue", "green", "gold"]
N_TRAIN = 160

LLM_CONFIG = dict(d_model=64, d_kv=16, num_heads=4, d_ff=128, num_layers=2, num_decoder_layers=1,
                  feed_forward_proj="gated-gelu", tie_word_embeddings=False,
                  relative_attention_num_buckets=32, relative_attention_max_distance=128,
                  dropout_rate=0.0, layer_norm_epsilon=1e-6, initializer_factor=1.0,
                  pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
SLM_CONFIG = dict(d_model=32, d_kv=8, num_heads=4, d_ff=64, num_layers=1, num_decoder_layers=1,
                  feed_forward_proj="relu", tie_word_embeddings=True,
                  relative_attention_num_buckets=32, relative_attention_max_distance=128,
                  dropout_rate=0.0, layer_norm_epsilon=1e-6, initializer_factor=1.0,
                  pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)


def world(seed: int) -> tuple[list[dict], list[dict]]:
    """(train, held-out) examples; the attribute table is a seeded random function of the name."""
    rng = np.random.default_rng([seed, 1])
    names = [a + b for a in LETTERS for b in LETTERS]
    attr = rng.integers(0, len(ATTRIBUTES), size=len(names))
    order = rng.permutation(len(names))
    rows = [{"prompt": names[i], "response": ATTRIBUTES[attr[i]]} for i in order]
    return rows[:N_TRAIN], rows[N_TRAIN:]


def train_tokenizer() -> bytes:
    """Character-level sentencepiece model with T5's special ids (<pad>=0, </s>=1, <unk>=2)."""
    import sentencepiece as spm

    lines = [a + b for a in LETTERS for b in LETTERS] + ATTRIBUTES * 8
    out = io.BytesIO()
    chars = sorted(set("".join(lines)))
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=out, model_type="char",
        vocab_size=len(chars) + 4, pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
        pad_piece="<pad>", eos_piece="</s>", unk_piece="<unk>", character_coverage=1.0,
        normalization_rule_name="identity", num_threads=1, input_sentence_size=0,
        shuffle_input_sentence=False, minloglevel=2)
    return out.getvalue()


def new_t5(cfg: dict, vocab: int, seed: int):
    import torch
    from common import numpy_reinit, seed_everything, t5_init_rules, untie_t5_lm_head
    from transformers import T5Config, T5ForConditionalGeneration

    cfg = dict(cfg, vocab_size=vocab)
    seed_everything(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    model = T5ForConditionalGeneration(T5Config(**cfg))
    if not cfg["tie_word_embeddings"]:
        untie_t5_lm_head(model, seed + 1000, std=cfg["initializer_factor"])
    numpy_reinit(model, t5_init_rules(cfg), seed)
    return model


def save_t5(model, out: Path, spm_bytes: bytes, tie: bool) -> None:
    from common import check_t5_embeddings, rewrite_t5_config, write_json

    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    (out / "spiece.model").write_bytes(spm_bytes)
    write_json(out / "tokenizer_config.json", {
        "tokenizer_class": "T5Tokenizer", "eos_token": "</s>", "unk_token": "<unk>",
        "pad_token": "<pad>", "extra_ids": 0, "additional_special_tokens": [],
        "model_max_length": 512})
    rewrite_t5_config(out, tie)
    check_t5_embeddings(out, tie)
    for p in out.iterdir():
        p.chmod(0o644)


def pretrain_llm(model, spm_bytes: bytes, rows: list[dict], steps: int, seed: int, log=print,
                 max_steps: int | None = None, check_every: int = 25) -> dict:
    """Teach the LLM encoder the whole attribute table (encoder + a linear probe at every position).

    Trained to a criterion, not for a fixed count: at least `steps` steps, then on until the probe
    is right at every position of every entity (checked every `check_every` steps), at most
    `max_steps` (default 4 × `steps`). The floats of a fixed number of steps differ between hosts
    (an AMD AVX-512 host reached 0.994 after 100 steps where an Intel AMX host reached 1.0); where
    100 steps already suffice, the weights are exactly those of 100 steps.
    """
    import sentencepiece as spm
    import torch

    max_steps = max_steps if max_steps is not None else 4 * steps
    sp = spm.SentencePieceProcessor(model_proto=spm_bytes)
    ids = torch.tensor([sp.encode(r["prompt"]) + [sp.eos_id()] for r in rows])  # all length 4
    y = torch.tensor([ATTRIBUTES.index(r["response"]) for r in rows])
    enc = model.encoder
    g = torch.Generator().manual_seed(seed)
    probe = torch.nn.Linear(model.config.d_model, len(ATTRIBUTES))
    with torch.no_grad():
        probe.weight.copy_(torch.randn(probe.weight.shape, generator=g) * model.config.d_model ** -0.5)
        probe.bias.zero_()
    params = list(enc.parameters()) + list(probe.parameters())
    opt = torch.optim.AdamW(params, lr=3e-3, weight_decay=0.0)

    def accuracy() -> float:
        enc.eval()
        with torch.no_grad():
            acc = float((probe(enc(input_ids=ids).last_hidden_state).argmax(-1) == y[:, None]).float().mean())
        enc.train()
        return acc

    enc.train()
    t0 = time.time()
    step, acc = 0, 0.0
    while step < max_steps:
        h = enc(input_ids=ids).last_hidden_state                  # [N, 4, d]
        logits = probe(h)                                         # [N, 4, classes]
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 y.repeat_interleave(ids.shape[1]))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        if step % 100 == 0:
            log(f"LLM pre-training step {step}: loss {float(loss.detach()):.4f}")
        if step >= steps and (step - steps) % check_every == 0:
            acc = accuracy()
            if acc == 1.0:
                break
    enc.eval()
    log(f"LLM pre-training: {step} steps in {time.time() - t0:.1f}s, probe accuracy {acc:.3f} (all entities)")
    return {"steps": step, "final_loss": float(loss.detach()), "probe_accuracy": acc}


def build(out: Path, seed: int = 0, llm_steps: int = 100, log=print) -> dict:
    """Write out/llm, out/slm_init, out/train.jsonl, out/heldout.jsonl; return their paths + stats."""
    import torch

    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)  # tiny models: one thread is fastest (and the CI box is shared)
    train, heldout = world(seed)
    for name, rows in (("train.jsonl", train), ("heldout.jsonl", heldout)):
        with open(out / name, "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
    spm_bytes = train_tokenizer()
    import sentencepiece as spm
    vocab = spm.SentencePieceProcessor(model_proto=spm_bytes).get_piece_size()
    llm = new_t5(LLM_CONFIG, vocab, seed + 11)
    stats = pretrain_llm(llm, spm_bytes, train + heldout, llm_steps, seed, log)
    save_t5(llm.eval(), out / "llm", spm_bytes, tie=False)
    slm = new_t5(SLM_CONFIG, vocab, seed + 22)
    save_t5(slm.eval(), out / "slm_init", spm_bytes, tie=True)
    return {"llm": out / "llm", "slm": out / "slm_init", "train": out / "train.jsonl",
            "heldout": out / "heldout.jsonl", "llm_pretraining": stats, "vocab": vocab}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--llm-steps", type=int, default=100)
    args = ap.parse_args()
    r = build(args.out, args.seed, args.llm_steps)
    print(json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in r.items()}, indent=2))


if __name__ == "__main__":
    main()
