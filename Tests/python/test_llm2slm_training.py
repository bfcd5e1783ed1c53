"""LLM-to-SLM reference and training tests (pytest; CPU; a few minutes in all).

Run:  /work/venv-ref/bin/python -m pytest -q Tests/python
Needs Tools/fixtures/requirements.txt plus `lz4` and `pytest`.

The synthetic task (Tools/llm2slm/toy.py): entities named by two letters carry a random
attribute; a tiny T5 LLM is pre-trained to know all 256 of them; the tiny SLM (T5, d 32, 1+1
layers) is fine-tuned on 160 and tested on the 96 it never saw. Only the LLM's representation
can tell it the answer, so the pair must beat the same SLM fine-tuned alone.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Tools/llm2slm"))
sys.path.insert(0, str(REPO / "Tools/fixtures"))

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("lz4")

import make_golden  # noqa: E402
import reference as ref  # noqa: E402
import toy  # noqa: E402
import train  # noqa: E402

FIX = REPO / "Tests/Fixtures/llm2slm"
PAIR_STEPS = 200


@pytest.fixture(scope="module")
def toy_world(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("toy")
    t0 = time.time()
    built = toy.build(out / "world", seed=0, llm_steps=100)
    built["build_seconds"] = time.time() - t0
    built["root"] = out
    return built


def run_train(world, out: Path, *extra: str, steps: int = PAIR_STEPS, slm: Path | None = None,
              data: Path | None = None):
    args = ["--slm", str(slm or world["slm"]), "--data", str(data or world["train"]),
            "--out", str(out), *make_golden.toy_train_args(steps)]
    return train.main(args + list(extra))


def test_pair_beats_slm_alone(toy_world, capsys):
    # The LLM is trained to a criterion (toy.pretrain_llm: on until the probe is right everywhere,
    # at most 4 × 100 steps); what the pair needs is that it knows nearly all of the table.
    assert toy_world["llm_pretraining"]["probe_accuracy"] >= 0.99, toy_world["llm_pretraining"]
    llm_before = train.llm_digest(toy_world["llm"])
    t0 = time.time()
    pair = run_train(toy_world, toy_world["root"] / "pair", "--llm", str(toy_world["llm"]),
                     "--eval-data", str(toy_world["heldout"]))
    t_pair = time.time() - t0
    alone = run_train(toy_world, toy_world["root"] / "alone", "--slm-only",
                      "--eval-data", str(toy_world["heldout"]))
    t_alone = time.time() - t0 - t_pair
    hp, ha = pair["history"], alone["history"]
    first, last = hp[0], float(np.mean(hp[-10:]))
    summary = {"llm_pretrain_s": round(toy_world["build_seconds"], 1), "pair_s": round(t_pair, 1),
               "alone_s": round(t_alone, 1), "pair_loss": [round(first, 4), round(last, 4)],
               "alone_loss": [round(ha[0], 4), round(float(np.mean(ha[-10:])), 4)],
               "pair_heldout": pair["eval"], "alone_heldout": alone["eval"]}
    with capsys.disabled():
        print("\nLLM-to-SLM toy:", json.dumps(summary))
    assert last < 0.05 * first, summary                      # loss falls far below its start
    assert pair["eval"]["exact_match"] >= 0.9, summary
    assert pair["eval"]["exact_match"] >= alone["eval"]["exact_match"] + 0.4, summary
    assert pair["eval"]["token_accuracy"] > alone["eval"]["token_accuracy"] + 0.1, summary
    assert train.llm_digest(toy_world["llm"]) == llm_before       # the LLM is never written
    # outputs are what `tandem convert` reads
    out = toy_world["root"] / "pair"
    assert set(ref.safetensors_names(out / "projector.safetensors")) == set(ref.PROJECTOR_NAMES)
    for name in ("config.json", "model.safetensors", "spiece.model"):
        assert (out / "slm" / name).exists()
    assert json.loads((out / "train_meta.json").read_text())["conventions"]["kind"] == "encdec"


def test_resume_is_exact(toy_world):
    """20 steps straight == 10 steps, stop, --resume for 10 more (same data order, RNG, LR)."""
    from safetensors.torch import load_file

    llm = ["--llm", str(toy_world["llm"])]
    run_train(toy_world, toy_world["root"] / "straight", *llm, steps=20)
    part = toy_world["root"] / "resumed"
    r = run_train(toy_world, part, *llm, "--stop-after", "10", steps=20)
    assert r["stopped_at"] == 10 and (part / "checkpoint.pt").exists()
    run_train(toy_world, part, *llm, "--resume", steps=20)
    a = load_file(str(toy_world["root"] / "straight/projector.safetensors"))
    b = load_file(str(part / "projector.safetensors"))
    for k in a:
        assert torch.equal(a[k], b[k]), k
    sa = load_file(str(toy_world["root"] / "straight/slm/model.safetensors"))
    sb = load_file(str(part / "slm/model.safetensors"))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_decoder_only_slm_trains(toy_world):
    """GPT-2 SLM: prompt in the LLM's tokens (A·E_llm[x] + Z), response in GPT-2's BPE."""
    out = toy_world["root"] / "gpt2"
    r = run_train(toy_world, out, "--llm", str(toy_world["llm"]), steps=60,
                  slm=FIX / "random/slm-gpt2-tiny")
    h = r["history"]
    assert np.mean(h[-10:]) < 0.5 * h[0], (h[0], h[-10:])
    names = set(ref.safetensors_names(out / "projector.safetensors"))
    assert names == set(ref.PROJECTOR_NAMES) | {ref.ADAPTER_NAME}
    for name in ("config.json", "model.safetensors", "tokenizer.json", "vocab.json", "merges.txt"):
        assert (out / "slm" / name).exists()
    conv = json.loads((out / "train_meta.json").read_text())["conventions"]
    assert conv["bos_token_id"] == 511 and conv["eos_token_id"] == 511


@pytest.mark.parametrize("pair", ["t5", "gpt2"])
def test_training_loss_matches_inference_path(pair):
    """The batched training loss uses the same embeddings and positions as inference."""
    import torch.nn.functional as F

    slm = {"t5": "slm-t5-tiny", "gpt2": "slm-gpt2-tiny"}[pair]
    llm, model, llm_tok, slm_tok = make_golden.open_pair(
        REPO / "Tests/Fixtures/checkpoints/t5-v1_1-tiny", FIX / "random" / slm,
        FIX / "random" / f"projector-{pair}.safetensors")
    eos = model.conv.eos_token_id
    exs, hs = [], []
    for prompt, resp in (("The house is big.", "Das Haus."), ("Where is it?", "Hier ist es, gut.")):
        x = llm_tok.encode(prompt)
        r = slm_tok.encode(resp, eos=False) if model.kind == "encdec" else slm_tok.encode(resp)
        exs.append({"x": x, "r": r})
        hs.append(ref.llm_hidden(llm, x))
    batch = train.collate(exs, hs, model.kind, model.slm.config, "cpu")
    with torch.no_grad():
        loss = float(model.loss(batch))
        ce, n = 0.0, 0
        for e, h in zip(exs, hs):
            logits = model.teacher_forced_logits(e["x"], h, e["r"])
            t = torch.tensor(e["r"] + [eos])
            ce += float(F.cross_entropy(logits, t, reduction="sum"))
            n += len(t)
    assert abs(loss - ce / n) < 1e-4, (loss, ce / n)


def test_h_cache_roundtrip():
    rng = np.random.default_rng(0)
    h = rng.standard_normal((7, 48)).astype(np.float32)
    back = train.decompress_h(train.compress_h(h), h.shape)
    assert back.dtype == np.float16 and np.array_equal(back, h.astype(np.float16))
    shuffled = train.shuffle_f16(h.astype(np.float16))
    assert np.array_equal(train.unshuffle_f16(shuffled, h.shape), h.astype(np.float16))
    assert shuffled[:7 * 48] == h.astype("<f2").view(np.uint8)[..., 0::2].tobytes()  # low bytes first


@pytest.mark.parametrize("pair", ["random/t5", "random/gpt2", "toy"])
def test_committed_goldens_match_reference(pair):
    """The committed fixtures are what reference.py computes from the committed weights."""
    man = json.loads((FIX / "manifest.json").read_text())["pairs"][pair]
    llm_dir = (FIX / man["llm"]).resolve()
    llm, model, llm_tok, slm_tok = make_golden.open_pair(llm_dir, FIX / man["slm"], FIX / man["projector"])
    blob = (FIX / Path(man["slm"]).parent / man["file"]).read_bytes()
    for case in man["cases"]:
        steps = len(case["greedy_ids"])
        arrays, entry = make_golden.golden_case(llm, model, llm_tok, slm_tok, case["prompt"],
                                                case.get("target"), steps)
        assert entry["input_ids"] == case["input_ids"]
        assert entry["greedy_ids"] == case["greedy_ids"]
        for key, meta in case["arrays"].items():
            want = np.frombuffer(blob, "<f4", meta["bytes"] // 4, meta["offset"]).reshape(meta["shape"])
            np.testing.assert_allclose(arrays[key], want, atol=2e-5, rtol=0, err_msg=f"{pair} {key}")
    if pair == "toy":
        assert all(c["greedy_text"] == c["expected_response"] for c in man["cases"])


@pytest.mark.parametrize("pair", ["t5", "gpt2"])
def test_greedy_matches_transformers_generate(pair):
    """reference.greedy (full recomputation, explicit positions) == HF generate with a KV cache."""
    slm = {"t5": "slm-t5-tiny", "gpt2": "slm-gpt2-tiny"}[pair]
    llm, model, llm_tok, _ = make_golden.open_pair(
        REPO / "Tests/Fixtures/checkpoints/t5-v1_1-tiny", FIX / "random" / slm,
        FIX / "random" / f"projector-{pair}.safetensors")
    x = llm_tok.encode("summarize: the cat sat on the mat")
    h = ref.llm_hidden(llm, x)
    ours = model.greedy(x, h, 12, stop_at_eos=False)
    with torch.no_grad():
        emb = model.prompt_embeds(torch.tensor([x]), h.unsqueeze(0))
        kw = dict(max_new_tokens=12, min_new_tokens=12, do_sample=False, num_beams=1)
        if model.kind == "encdec":
            kw["suppress_tokens"] = None
            theirs = model.slm.generate(inputs_embeds=emb, **kw)[0, 1:].tolist()
        else:
            bos = model.slm_embed(torch.tensor([[model.conv.bos_token_id]]))
            seq = torch.cat([emb, bos], dim=1)
            theirs = model.slm.generate(inputs_embeds=seq, attention_mask=torch.ones(1, seq.shape[1], dtype=torch.long),
                                        pad_token_id=model.conv.eos_token_id, **kw)[0].tolist()
    eos = model.conv.eos_token_id
    # min_new_tokens masks EOS; compare up to the first EOS of ours
    cut = ours.index(eos) if eos in ours else len(ours)
    assert theirs[:cut] == ours[:cut], (ours, theirs)
