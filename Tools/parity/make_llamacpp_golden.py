"""Golden outputs of llama.cpp on SmolLM2, for Tandem's parity test (Tests/TandemTests/LlamaCppParityTests.swift).

For each parity GGUF (Tools/parity/make_parity_gguf.py: the same Q8_0 / Q4_0 blocks Tandem
imports, and the f32 dequantization both engines run unquantized) and each of 8 fixed prompts,
llama.cpp (through llama-cpp-python, which builds it from source) records:
  * the prompt's token ids from llama.cpp's own tokenizer (special tokens parsed, no BOS: the
    model's metadata says add_bos_token = false);
  * the top-10 logits at every prompt position;
  * the greedy continuation, up to 64 tokens or the end-of-sequence token, and at each step the
    gap between the best and second-best logit (a near-tie there can flip on rounding alone);
  * llama.cpp against itself: the same prompt evaluated one token per micro-batch (n_ubatch=1)
    instead of 512 at once — the largest change in its top-10 prompt logits, and where its own
    greedy continuation first departs. This is the numerical noise floor any second engine
    is measured against: llama.cpp's results depend on its batch size.

    python Tools/parity/make_llamacpp_golden.py PARITY_DIR Tests/Fixtures/llamacpp/smollm2.json
    python Tools/parity/make_llamacpp_golden.py --gguf "$(scripts/fetch-gguf.sh qwen2.5-coder-0.5b)" \
        Tests/Fixtures/llamacpp/qwen2.5-coder-0.5b.json     # the native K-quants, 8 Qwen prompts
    python Tools/parity/make_llamacpp_golden.py --gguf "$(scripts/fetch-gguf.sh gemma3-270m)" \
        Tests/Fixtures/llamacpp/gemma3-270m.json            # 8 Gemma prompts, each from <bos>
    python Tools/parity/make_llamacpp_golden.py --gguf PARITY_DIR/gemma-3-270m.f32.gguf \
        Tests/Fixtures/llamacpp/gemma3-270m.json            # its f32 dequantization (make_parity_gguf.py)

A `--gguf` file whose name says f32 is recorded under the key 'f32' (llama.cpp with an f32 KV
cache), any other under 'native'; the other keys already in OUTPUT are kept.

Needs llama-cpp-python (Tools/parity/requirements.txt). Greedy decoding and 2 threads; llama.cpp's
CPU backend is deterministic for a fixed thread count and batch size. The f32 model runs with an
f32 KV cache (llama.cpp's default is f16, which would round keys, values, queries and attention
probabilities to f16 on its side only); the quantized ones keep llama.cpp's defaults.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import llama_cpp
from llama_cpp import Llama

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from common import sha256_file  # noqa: E402  (the fixture scripts' file hash)

PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    ",
    "Once upon a time, in a small village by the sea,",
    "Photosynthesis is the process by which",
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "<|im_start|>user\nGive me three tips for staying healthy.<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nWhat is 12 times 7?<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nTranslate to French: I like apples and cheese.<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nWrite a haiku about autumn leaves.<|im_end|>\n<|im_start|>assistant\n",
]
# Qwen2.5-Coder-Instruct (the native Q4_K_M file, `--gguf`): code to complete, and requests
# through its ChatML template with the system prompt its template adds by default.
QWEN_SYSTEM = "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
QWEN_PROMPTS = [
    "def fibonacci(n):\n    ",
    "import numpy as np\n\ndef normalize(v):\n    \"\"\"Scale v to unit length.\"\"\"\n",
    "// Binary search in a sorted array\nint search(const int *a, int n, int key) {\n",
    "The quick brown fox",
    QWEN_SYSTEM + "<|im_start|>user\nWrite a Python function that checks whether a number is prime.<|im_end|>\n<|im_start|>assistant\n",
    QWEN_SYSTEM + "<|im_start|>user\nWhat does `git rebase -i HEAD~3` do?<|im_end|>\n<|im_start|>assistant\n",
    QWEN_SYSTEM + "<|im_start|>user\nReverse a string in JavaScript.<|im_end|>\n<|im_start|>assistant\n",
    QWEN_SYSTEM + "<|im_start|>user\nExplain what a hash map is in one sentence.<|im_end|>\n<|im_start|>assistant\n",
]
# Gemma 3 270M (base): text to continue, each from <bos> as Gemma needs (its metadata says
# add_bos_token = true, and without it the model is lost), and two turns of Gemma's template.
GEMMA_PROMPTS = [
    "<bos>The capital of France is",
    "<bos>def fibonacci(n):\n    ",
    "<bos>Once upon a time, in a small village by the sea,",
    "<bos>Photosynthesis is the process by which",
    "<bos>import numpy as np\n\ndef normalize(v):\n    \"\"\"Scale v to unit length.\"\"\"\n",
    "<bos>The three primary colors are",
    "<bos><start_of_turn>user\nWhat is 12 times 7?<end_of_turn>\n<start_of_turn>model\n",
    "<bos><start_of_turn>user\nWrite a haiku about autumn leaves.<end_of_turn>\n<start_of_turn>model\n",
]
NEW_TOKENS = 64
TOP = 10


def top(logits: np.ndarray) -> list:
    order = np.argsort(-logits, kind="stable")[:TOP]
    return [[int(i), float(logits[i])] for i in order]


def greedy(llm: Llama, ids: list, eos: int) -> tuple[np.ndarray, list, list]:
    """Prompt logits (every position), greedy tokens and top-2 margins."""
    llm.reset()
    llm.eval(ids)
    scores = np.array(llm.scores[: llm.n_tokens], dtype=np.float32)
    generated, margins = [], []
    logits = scores[-1]
    for _ in range(NEW_TOKENS):
        best = np.argsort(-logits, kind="stable")[:2]
        token = int(best[0])
        margins.append(float(logits[best[0]] - logits[best[1]]))
        generated.append(token)
        if token == eos:
            break
        llm.eval([token])
        logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
    return scores, generated, margins


def run(path: Path, kv_f32: bool, prompts: list[str] = PROMPTS) -> dict:
    cache = {"type_k": llama_cpp.GGML_TYPE_F32, "type_v": llama_cpp.GGML_TYPE_F32} if kv_f32 else {}
    llm = Llama(model_path=str(path), n_ctx=1024, n_batch=512, n_threads=2, n_threads_batch=2,
                logits_all=True, verbose=False, seed=0, **cache)
    single = Llama(model_path=str(path), n_ctx=1024, n_batch=512, n_ubatch=1, n_threads=2, n_threads_batch=2,
                   logits_all=True, verbose=False, seed=0, **cache)
    eos = llm.token_eos()
    cases = []
    for text in prompts:
        ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        scores, generated, margins = greedy(llm, ids, eos)
        prompt_top = [top(row) for row in scores]
        self_scores, self_generated, _ = greedy(single, ids, eos)
        self_gap = max(abs(float(self_scores[-1][i]) - v) for i, v in prompt_top[-1])
        self_first = next((i for i, (a, b) in enumerate(zip(self_generated, generated)) if a != b),
                          min(len(self_generated), len(generated)))
        cases.append({
            "text": text,
            "ids": [int(i) for i in ids],
            "prompt_top": prompt_top,
            "greedy": generated,
            "greedy_margins": margins,
            "self_prompt_gap": self_gap,
            "self_first_difference": self_first,
            "greedy_text": llm.detokenize([t for t in generated if t != eos]).decode("utf-8", "replace"),
        })
    return {"gguf": path.name, "sha256": sha256_file(path), "kv_cache": "f32" if kv_f32 else "f16",
            "eos": int(eos), "cases": cases}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("parity_dir", type=Path, nargs="?", help="where make_parity_gguf.py wrote the GGUF files")
    parser.add_argument("output", type=Path)
    parser.add_argument("--dtypes", nargs="+", default=["q8_0", "q4_0", "f32"], choices=["q8_0", "q4_0", "f32"])
    parser.add_argument("--gguf", type=Path, help="instead: one GGUF as it was downloaded (Qwen2.5-Coder or Gemma 3 "
                        "Q4_K_M), recorded under the key 'native' with the Qwen or the Gemma prompts")
    args = parser.parse_args()
    models = {}
    if args.gguf:
        gemma = "gemma" in args.gguf.name.lower()
        f32 = ".f32." in args.gguf.name
        if args.output.exists():
            models.update(json.loads(args.output.read_text())["models"])
        models["f32" if f32 else "native"] = run(args.gguf, kv_f32=f32, prompts=GEMMA_PROMPTS if gemma else QWEN_PROMPTS)
    for dtype in [] if args.gguf else args.dtypes:
        path = next(args.parity_dir.glob(f"*.{dtype}.gguf"))
        models[dtype] = run(path, kv_f32=dtype == "f32")
        print(f"{dtype}: {path.name}", file=sys.stderr)
    golden = {
        "generator": "Tools/parity/make_llamacpp_golden.py",
        "llama_cpp_python": llama_cpp.__version__,
        "new_tokens": NEW_TOKENS,
        "models": models,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(golden, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
