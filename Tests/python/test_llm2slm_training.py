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


@pytest.mark.parametrize("pair", ["t5", "gpt2", "qwen2"])
def test_training_loss_matches_inference_path(pair):
    """The batched training loss uses the same embeddings and positions as inference."""
    import torch.nn.functional as F

    slm = {"t5": "slm-t5-tiny", "gpt2": "slm-gpt2-tiny", "qwen2": "slm-qwen2-tiny"}[pair]
    reader = "qwen2-tiny" if pair == "qwen2" else "t5-v1_1-tiny"
    llm, model, llm_tok, slm_tok = make_golden.open_pair(
        REPO / "Tests/Fixtures/checkpoints" / reader, FIX / "random" / slm,
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


@pytest.mark.parametrize("pair", ["random/t5", "random/gpt2", "random/qwen2", "random/qwen2-layer1", "toy"])
def test_committed_goldens_match_reference(pair):
    """The committed fixtures are what reference.py computes from the committed weights."""
    man = json.loads((FIX / "manifest.json").read_text())["pairs"][pair]
    llm_dir = (FIX / man["llm"]).resolve()
    llm, model, llm_tok, slm_tok = make_golden.open_pair(llm_dir, FIX / man["slm"], FIX / man["projector"])
    blob = (FIX / Path(man["slm"]).parent / man["file"]).read_bytes()
    for case in man["cases"]:
        steps = len(case["greedy_ids"])
        arrays, entry = make_golden.golden_case(llm, model, llm_tok, slm_tok, case["prompt"],
                                                case.get("target"), steps, man.get("reader_layer"))
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


SHARED_ROWS = [{"prompt": f"def item_{i}(x):", "response": f" return x * {i % 7} + {i % 5}"} for i in range(24)]


def shared_args(out: Path, data: Path, *extra: str, steps: int = 60) -> list[str]:
    return ["--llm", str(REPO / "Tests/Fixtures/checkpoints/qwen2-tiny"), "--slm", str(FIX / "random/slm-qwen2-tiny"),
            "--data", str(data), "--out", str(out), "--freeze-slm", "--steps", str(steps), "--batch-size", "8",
            "--lr", "3e-2", "--warmup", "5", "--threads", "1", "--log-every", "10", "--save-every", "0", "--seed", "0", *extra]


def test_shared_pair_trains_the_projector_alone(tmp_path):
    """A decoder-only reader (qwen2-tiny) for an SLM sharing its tokenizer, the SLM frozen: only
    the projector trains, its last layer starts at zero (step 0's loss is the SLM alone's), the
    loss falls, and the outputs are what `tandem convert` reads (no SLM copy: its own file)."""
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in SHARED_ROWS))
    out = tmp_path / "shared"
    r = train.main(shared_args(out, data, "--reader-layer", "1"))
    model, h = r["model"], r["history"]
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == 64 * 32 + 32 + 32 * 32 + 32      # the projector, d_l 64 → d_h 32 → d_s 32
    # step 0: Z = 0, so the loss is the SLM's own on the first batch
    alone = ref.LLM2SLM(model.slm, "shared", 0, use_llm=False)
    examples, _ = train.prepare(train.parse_args(shared_args(tmp_path / "x", data)))[2](data)
    batch = train.collate([examples[i] for i in train.batch_indices(0, len(examples), 8, 0)], None, "shared",
                          model.slm.config, "cpu")
    with torch.no_grad():
        assert abs(float(alone.loss(batch)) - h[0]) < 1e-5, (float(alone.loss(batch)), h[0])
    assert np.mean(h[-5:]) < 0.9 * h[0], (h[0], h[-5:])   # 6.54 → 5.77 here: a random SLM, only its inputs move
    assert set(ref.safetensors_names(out / "projector.safetensors")) == set(ref.PROJECTOR_NAMES)
    meta = json.loads(ref.safetensors_metadata(out / "projector.safetensors")["llm2slm"])
    assert meta["reader_layer"] == 1 and meta["kind"] == "shared"
    assert not (out / "slm").exists()
    # trained with H scaled to unit RMS and Z to the embeddings' RMS; the saved tensors fold both in,
    # so the runtime's plain projector gives the trained Z
    assert float(model.in_scale) != 1.0 and float(model.out_scale) != 1.0
    saved = ref.LLM2SLM(model.slm, "shared", model.d_l)
    saved.load_trained_tensors(out / "projector.safetensors")
    probe = 3 * torch.randn(5, model.d_l, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(saved.z(probe), model.z(probe), rtol=1e-5, atol=1e-6)


def test_constant_h_control_learns_one_vector(tmp_path):
    """--constant-h: the projector's first layer stays zero, so the saved projector maps any H to
    the same Z (a soft prompt), and that Z was trained (not left at the zero start)."""
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in SHARED_ROWS))
    out = tmp_path / "constant"
    r = train.main(shared_args(out, data, "--reader-layer", "1", "--constant-h", steps=20))
    model = r["model"]
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 32 + 32 * 32 + 32   # no W1
    saved = ref.LLM2SLM(model.slm, "shared", model.d_l)
    saved.load_trained_tensors(out / "projector.safetensors")
    assert not saved.projector[0].weight.any()
    g = torch.Generator().manual_seed(2)
    z1, z2 = saved.z(3 * torch.randn(4, model.d_l, generator=g)), saved.z(3 * torch.randn(4, model.d_l, generator=g))
    torch.testing.assert_close(z1, z2, rtol=0, atol=0)
    torch.testing.assert_close(z1, z1[:1].expand_as(z1), rtol=0, atol=0)
    assert z1.abs().max() > 0


def tandem_binary() -> Path | None:
    for build in ("release", "debug"):
        p = REPO / ".build" / build / "tandem"
        if p.exists():
            return p
    return None


def tiny_tandem_reader(tmp_path: Path) -> tuple[Path, Path]:
    """The tandem binary and qwen2-tiny converted by it (f32); skips without a build."""
    import subprocess

    binary = tandem_binary()
    if binary is None:
        pytest.skip("no .build/*/tandem: swift build first (scripts/test.sh does)")
    model = tmp_path / "qwen2-tiny.tandem"
    subprocess.run([str(binary), "convert", str(REPO / "Tests/Fixtures/checkpoints/qwen2-tiny"), "-o", str(model),
                    "--dtype", "f32", "--quiet"], check=True)
    return binary, model


def test_tandem_reader_cache_is_the_reference_reader(tmp_path):
    """--llm X.tandem: `tandem features` writes H for the same prompt ids, equal to PyTorch's H
    within f16 rounding (scripts/test.sh builds the binary before these tests run)."""
    binary, model = tiny_tandem_reader(tmp_path)
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in SHARED_ROWS))
    for layer in (None, 1):
        extra = [] if layer is None else ["--reader-layer", str(layer)]
        args = shared_args(tmp_path / f"t{layer}", data, "--tandem", str(binary), *extra, steps=1)
        args[args.index("--llm") + 1] = str(model)
        ours = train.prepare(train.parse_args(args))[2](data)[1]
        theirs = train.prepare(train.parse_args(shared_args(tmp_path / f"p{layer}", data, *extra, steps=1)))[2](data)[1]
        for a, b in zip(ours, theirs):
            assert a.shape == b.shape
            np.testing.assert_allclose(a.numpy(), b.numpy(), atol=2e-3, rtol=2e-3)   # both f16-rounded


def test_tandem_cache_serves_what_it_holds_and_reads_the_rest(tmp_path):
    """A .tandem reader's cache holds H for one prompt list; a run on some of those prompts, in
    another order (distill.py drops the tasks its teacher left without a code block), takes their
    entries and runs no `tandem features`; with prompts the cache lacks, only those are read."""
    binary, model = tiny_tandem_reader(tmp_path)
    calls = tmp_path / "calls.txt"   # the subcommands train.py runs, through a logging wrapper
    wrapper = tmp_path / "tandem"
    wrapper.write_text(f'#!/bin/sh\necho "$1" >> "{calls}"\nexec "{binary}" "$@"\n')
    wrapper.chmod(0o755)
    cache = tmp_path / "cache"

    def load(rows):
        data = tmp_path / f"d{len(rows)}.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows))
        args = shared_args(tmp_path / "run", data, "--tandem", str(wrapper), "--cache", str(cache), steps=1)
        args[args.index("--llm") + 1] = str(model)
        calls.write_text("")
        hs = train.prepare(train.parse_args(args))[2](data)[1]
        return hs, calls.read_text().split()

    full, ran = load(SHARED_ROWS)
    assert "features" in ran
    picked = [20, 3, 11, 0]
    part, ran = load([SHARED_ROWS[i] for i in picked])
    assert "features" not in ran
    for j, i in enumerate(picked):
        assert torch.equal(part[j], full[i])
    new = {"prompt": "def other(y):", "response": " return y"}
    mixed, ran = load([SHARED_ROWS[5], new, SHARED_ROWS[1]])
    assert ran.count("features") == 1 and len((cache / "train/extra/ids.jsonl").read_text().splitlines()) == 1
    assert torch.equal(mixed[0], full[5]) and torch.equal(mixed[2], full[1])
    alone, ran = load([new])   # the prompt read for the mixed run, now from the extra cache
    assert "features" not in ran and torch.equal(mixed[1], alone[0])
    again, ran = load(SHARED_ROWS)   # the first list: the main cache was kept
    assert "features" not in ran and all(torch.equal(a, b) for a, b in zip(full, again))
