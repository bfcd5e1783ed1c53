#!/usr/bin/env python3
"""Random LLM-to-SLM parts at real shapes for the speed-up benchmark (speed does not depend on
weight values). Creates, under --out (default /tmp/tandem-llm2slm):

  t5-large/, flan-t5-large/, t5-small/   via Tools/fixtures/make_t5_shaped.py (transformers, seeded)
  gpt2/                                  GPT-2 124M (GPT2Config defaults), seeded, with a byte-level
                                         BPE tokenizer.json (the gpt2-tiny fixture's; ids beyond it
                                         are never decoded by the benchmark)
  projector-t5.safetensors               Linear(1024→512) → ReLU → Linear(512→512)
  projector-gpt2.safetensors             Linear(1024→768) → ReLU → Linear(768→768) + prompt_adapter (768×1024)

then converts, with TANDEM (default .build/release/tandem), the LLM alone (t5-large) and the three
bundles (t5-large→t5-small, flan-t5-large→t5-small, t5-large→gpt2) to q8_0 and q4_0.

    python Benchmarks/llm2slm/make_parts.py [--out DIR]      # torch + transformers (Tools/llm2slm/requirements.txt)
"""
import argparse
import pathlib
import shutil
import subprocess
import sys

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/tmp/tandem-llm2slm")
    ap.add_argument("--tandem", default=str(REPO / ".build/release/tandem"))
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for shape in ["t5-large", "flan-t5-large", "t5-small"]:
        if not (out / shape / "config.json").exists():
            subprocess.run([sys.executable, str(REPO / "Tools/fixtures/make_t5_shaped.py"), "--shape", shape, "--out", str(out / shape)], check=True)
    if not (out / "gpt2" / "config.json").exists():
        import torch
        from transformers import GPT2Config, GPT2LMHeadModel
        torch.manual_seed(args.seed)
        model = GPT2LMHeadModel(GPT2Config())
        model.save_pretrained(out / "gpt2", safe_serialization=True)
        shutil.copy(REPO / "Tests/Fixtures/checkpoints/gpt2-tiny/tokenizer.json", out / "gpt2" / "tokenizer.json")
    from safetensors.numpy import save_file
    rng = np.random.default_rng(args.seed)

    def projector(dl: int, ds: int, adapter: bool) -> dict:
        t = {"projector.0.weight": rng.standard_normal((ds, dl)) * 0.02, "projector.0.bias": np.zeros(ds),
             "projector.2.weight": rng.standard_normal((ds, ds)) * 0.02, "projector.2.bias": np.zeros(ds)}
        if adapter:
            t["prompt_adapter.weight"] = rng.standard_normal((ds, dl)) * 0.02
        return {k: v.astype(np.float32) for k, v in t.items()}

    save_file(projector(1024, 512, False), str(out / "projector-t5.safetensors"))
    save_file(projector(1024, 768, True), str(out / "projector-gpt2.safetensors"))
    pairs = {"t5-large+t5-small": ("t5-large", "t5-small", "projector-t5"),
             "flan-t5-large+t5-small": ("flan-t5-large", "t5-small", "projector-t5"),
             "t5-large+gpt2": ("t5-large", "gpt2", "projector-gpt2")}
    for dtype in ["q8_0", "q4_0"]:
        alone = out / f"t5-large.{dtype}.tandem"
        if not alone.exists():
            subprocess.run([args.tandem, "convert", str(out / "t5-large"), "--dtype", dtype, "-o", str(alone), "--quiet"], check=True)
        for name, (llm, slm, proj) in pairs.items():
            path = out / f"{name}.{dtype}.tandem"
            if not path.exists():
                subprocess.run([args.tandem, "convert", "--llm", str(out / llm), "--slm", str(out / slm), "--projector",
                                str(out / f"{proj}.safetensors"), "--dtype", dtype, "-o", str(path), "--quiet"], check=True)
    print(f"parts in {out}")


if __name__ == "__main__":
    main()
