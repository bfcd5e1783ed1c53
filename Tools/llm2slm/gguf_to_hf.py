#!/usr/bin/env python3
"""A GGUF file as a Hugging Face checkpoint directory, for training against it in PyTorch.

transformers reads the GGUF (dequantizing every tensor to f32: the weights Tandem runs from the
same file, up to its activation rounding) and writes config.json, model.safetensors and the
tokenizer (tokenizer.json, tokenizer_config.json with the file's chat template). Reading a
151,936-token vocabulary takes transformers a minute or two; the directory is made once.

    python Tools/llm2slm/gguf_to_hf.py ~/.cache/tandem/Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf OUT_DIR
Needs torch, transformers, gguf and accelerate (Tools/llm2slm/requirements.txt).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def main(argv=None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("gguf", type=Path)
    ap.add_argument("out", type=Path)
    args = ap.parse_args(argv)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if (args.out / "config.json").exists() and (args.out / "tokenizer.json").exists():
        print(f"{args.out} is there already")
        return args.out
    tok = AutoTokenizer.from_pretrained(args.gguf.parent, gguf_file=args.gguf.name)
    model = AutoModelForCausalLM.from_pretrained(args.gguf.parent, gguf_file=args.gguf.name, dtype=torch.float32)
    # The weights are f32 tensors now; the "gguf quantization" bookkeeping only stops saving.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = args.out.with_name(args.out.name + ".partial")
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    (tmp / "source.json").write_text(json.dumps({"gguf": str(args.gguf), "bytes": args.gguf.stat().st_size}) + "\n")
    tmp.rename(args.out)
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
