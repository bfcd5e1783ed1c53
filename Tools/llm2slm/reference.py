#!/usr/bin/env python3
"""PyTorch reference of LLM-to-SLM (Bergner et al., arXiv 2402.16844), as Tandem runs it.

This file is the executable statement of docs/ARCHITECTURE.md §1. Everything the Swift runtime must
reproduce is here, in plain PyTorch on top of Hugging Face `transformers` models:

  LLM   the ENCODER of a T5-family checkpoint (T5 v1.0, v1.1/Flan, mT5), frozen, eval mode.
        Prompt ids: the LLM's sentencepiece model, `sp.encode(prompt) + [</s>=1]` (T5's
        convention), m = len(ids). H = encoder(ids).last_hidden_state, i.e. the final encoder
        layer after the final RMS norm, shape [m, d_l].
  q     projector = nn.Sequential(Linear(d_l, d_h), ReLU(), Linear(d_h, d_s)), d_h = d_s by
        default, with biases. Z = q(H), shape [m, d_s].
  SLM, encoder-decoder (T5):
        the SLM shares the LLM's tokenizer, so the same ids x feed both. The SLM encoder input is
        inputs_embeds = E_slm[x] + Z (E_slm = the SLM's `shared` table; T5 does not scale
        embeddings). The SLM decoder then runs as usual: decoder_start_token_id (0 = <pad>)
        first, cross-attention over the SLM encoder output, greedy argmax.
  LLM, decoder-only (LLaMA, Qwen2): the causal model's prompt pass, frozen. Prompt ids: its own
        tokenizer, no special tokens added (a chat template supplies them). H = the model's
        `last_hidden_state` (after the final RMS norm), or with `layer` L < its layer count the
        output of layer L, `hidden_states[L]` (before any norm).
  SLM, decoder-only sharing the LLM's tokenizer ("shared"; Qwen2.5-Coder-0.5B for -1.5B):
        the same ids x feed both. Prompt embeddings E_slm[x] + Z at positions 0..m-1 (Qwen2 does
        not scale embeddings), and the response continues the prompt: the logits at position m-1
        give r_1, r_j is fed at position m-1+j. No BOS between them, so with Z = 0 the pair is the
        SLM alone, exactly.
  SLM, decoder-only (GPT-2; LLaMA-family alike):
        the prompt is tokenized with the LLM's tokenizer (ids x as above, </s> included, m of
        them). Prompt token embeddings: P = A·E_llm[x] + Z, A = prompt_adapter =
        Linear(d_l, d_s, bias=False), E_llm = the LLM's input embedding table (`shared`).
        The response follows in the SLM's own tokenizer and embeddings. Sequence fed to the SLM
        as inputs_embeds, with EXPLICIT position ids:

            position   0 .. m-1          m                        m+1 .. m+n
            embedding  P[0..m-1]         E_slm[bos]               E_slm[r_1 .. r_n]
            predicts   (no loss)         r_1                      r_2 .. r_n, eos

        bos = the SLM's `bos_token_id` (GPT-2: `<|endoftext|>`); eos = its `eos_token_id`
        (GPT-2: also `<|endoftext|>`). r = slm_tokenizer.encode(response) with no special tokens.
        GPT-2 adds its learned position embedding wpe[p] to every input, prompt positions
        included (p = 0..m-1 for the prompt, m for bos, m+j for r_j); a RoPE model rotates by p.
        The loss is cross-entropy on the response targets only (r_1..r_n, eos).
        Greedy generation feeds P and E_slm[bos] (positions 0..m), takes the argmax of the
        logits at position m as the first response token, feeds it at position m+1, etc.

Trained: the SLM, q (and A). Never trained: the LLM. The trained parts are saved as safetensors
with exactly the names projector.0.weight [d_h, d_l], projector.0.bias [d_h],
projector.2.weight [d_s, d_h], projector.2.bias [d_s], prompt_adapter.weight [d_s, d_l]
(nn.Linear layout: [out, in]); the SLM as an ordinary Hugging Face checkpoint directory.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
FIXTURE_TOOLS = HERE.parent / "fixtures"

PROJECTOR_NAMES = ("projector.0.weight", "projector.0.bias", "projector.2.weight", "projector.2.bias")
ADAPTER_NAME = "prompt_adapter.weight"
SPM_FILE = "spiece.model"
HF_TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json",
                      "special_tokens_map.json", "spiece.model", "tokenizer.model",
                      "added_tokens.json")


# ---------------------------------------------------------------------------------------------
# Tokenizers (the reference libraries: sentencepiece for T5, `tokenizers` for byte-level BPE)
# ---------------------------------------------------------------------------------------------

class T5Tok:
    """sentencepiece model of a T5 checkpoint; encode appends </s> as T5's tokenizer does."""

    def __init__(self, ckpt: Path):
        import sentencepiece as spm

        self.path = Path(ckpt) / SPM_FILE
        self.sp = spm.SentencePieceProcessor(model_file=str(self.path))
        self.eos_id = self.sp.eos_id()
        self.vocab_size = self.sp.get_piece_size()

    def encode(self, text: str, eos: bool = True) -> list[int]:
        return self.sp.encode(text) + ([self.eos_id] if eos else [])

    def decode(self, ids: list[int]) -> str:
        return self.sp.decode([i for i in ids if i != self.eos_id])


class BPETok:
    """Hugging Face `tokenizers` model (tokenizer.json) of a decoder-only SLM."""

    def __init__(self, ckpt: Path):
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(str(Path(ckpt) / "tokenizer.json"))

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids, skip_special_tokens=True)


def slm_kind(slm_dir: Path) -> str:
    """'encdec' for a T5 SLM, 'decoder' for GPT-2 / LLaMA-family."""
    mt = json.loads((Path(slm_dir) / "config.json").read_text())["model_type"]
    if mt in ("t5", "mt5"):
        return "encdec"
    if mt in ("gpt2", "llama", "qwen2"):
        return "decoder"
    raise ValueError(f"unsupported SLM model_type {mt!r}")


def is_decoder_only(ckpt: Path) -> bool:
    return json.loads((Path(ckpt) / "config.json").read_text())["model_type"] in ("llama", "qwen2")


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------

def quiet_transformers() -> None:
    from transformers.utils import logging

    logging.disable_progress_bar()


def load_llm_encoder(llm_dir: Path):
    """The frozen LLM: the encoder of a T5-family checkpoint (enc-dec or encoder-only dir)."""
    from transformers import T5EncoderModel
    from transformers.utils import logging

    quiet_transformers()
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # unused decoder weights are expected
    try:
        enc = T5EncoderModel.from_pretrained(llm_dir, dtype=torch.float32).eval()
    finally:
        logging.set_verbosity(verbosity)
    for p in enc.parameters():
        p.requires_grad_(False)
    return enc


def load_slm(slm_dir: Path):
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM
    from transformers.utils import logging

    quiet_transformers()
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        if slm_kind(slm_dir) == "encdec":
            return AutoModelForSeq2SeqLM.from_pretrained(slm_dir, dtype=torch.float32)
        return AutoModelForCausalLM.from_pretrained(slm_dir, dtype=torch.float32)
    finally:
        logging.set_verbosity(verbosity)


def make_projector(d_l: int, d_s: int, d_h: int | None = None) -> nn.Sequential:
    d_h = d_s if d_h is None else d_h
    return nn.Sequential(nn.Linear(d_l, d_h), nn.ReLU(), nn.Linear(d_h, d_s))


def load_llm_reader(llm_dir: Path):
    """The frozen LLM as a reader: a T5 checkpoint's encoder, or a decoder-only model's base
    (`.model` of its *ForCausalLM: no head)."""
    if not is_decoder_only(llm_dir):
        return load_llm_encoder(llm_dir)
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging

    quiet_transformers()
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        base = AutoModelForCausalLM.from_pretrained(llm_dir, dtype=torch.float32).model.eval()
    finally:
        logging.set_verbosity(verbosity)
    for p in base.parameters():
        p.requires_grad_(False)
    return base


def reader_width(llm) -> int:
    cfg = llm.config
    return cfg.d_model if hasattr(cfg, "d_model") else cfg.hidden_size


@torch.no_grad()
def llm_hidden(llm, ids: list[int], layer: int | None = None) -> torch.Tensor:
    """H [m, d_l], one prompt, f32: the last layer's output after the final RMS norm (a T5
    encoder's, or a decoder-only model's `last_hidden_state`); with `layer` L below a decoder-only
    model's layer count, `hidden_states[L]`, the output of its L-th layer."""
    out = llm(input_ids=torch.tensor([ids], device=llm.device), output_hidden_states=layer is not None)
    if layer is None or layer == llm.config.num_hidden_layers:
        return out.last_hidden_state[0].cpu()
    assert 1 <= layer < llm.config.num_hidden_layers, layer
    return out.hidden_states[layer][0].cpu()


@dataclass
class Conventions:
    """What a runtime needs to know besides the weights (written to train_meta.json)."""
    kind: str
    llm_prompt: str = "sentencepiece(LLM spiece.model).encode(prompt) + [</s>=1]"
    decoder_start_token_id: int | None = None  # enc-dec
    bos_token_id: int | None = None            # decoder-only: first response INPUT token
    eos_token_id: int | None = None

    def to_json(self) -> dict:
        d = {"kind": self.kind, "llm_prompt_ids": self.llm_prompt}
        if self.kind == "shared":
            d.update(prompt_embeddings="E_slm[x] + Z at positions 0..m-1, x = the LLM prompt ids (shared tokenizer)",
                     response="continues the prompt: logits at position m-1 give r_1, r_j fed at m-1+j",
                     eos_token_id=self.eos_token_id)
        elif self.kind == "encdec":
            d.update(slm_encoder_input="E_slm[x] + Z, x = the LLM prompt ids (shared tokenizer)",
                     decoder_start_token_id=self.decoder_start_token_id,
                     eos_token_id=self.eos_token_id)
        else:
            d.update(prompt_embeddings="prompt_adapter(E_llm[x]) + Z at positions 0..m-1",
                     first_response_input=f"E_slm[bos_token_id={self.bos_token_id}] at position m",
                     response_positions="token j of the response (1-based) at position m+j",
                     response_tokenizer="the SLM's own (tokenizer.json), no special tokens",
                     bos_token_id=self.bos_token_id, eos_token_id=self.eos_token_id,
                     learned_positions="GPT-2 adds wpe[p] to every input, prompt included")
        return d


class LLM2SLM(nn.Module):
    """Frozen LLM encoder + trainable projector (+ prompt adapter) + trainable SLM.

    `llm` is kept out of the module tree (no gradients, not in state_dict). With
    `use_llm=False` the same class runs the SLM alone (the baseline): enc-dec SLMs read E_slm[x],
    decoder-only SLMs read the prompt in their own tokenizer, positions 0..m-1, then bos at m.
    """

    def __init__(self, slm, kind: str, d_l: int, e_llm: torch.Tensor | None = None,
                 d_h: int | None = None, use_llm: bool = True):
        super().__init__()
        self.slm, self.kind, self.use_llm = slm, kind, use_llm
        d_s = slm.config.d_model if kind == "encdec" else slm.config.hidden_size
        self.d_l, self.d_s = d_l, d_s
        if use_llm:
            self.projector = make_projector(d_l, d_s, d_h)
            # Training-time reparametrization, folded into the saved weights (trained_tensors):
            # Z = out_scale * projector(in_scale * H). A real LLM's final hidden states are ~100x
            # larger than an SLM's embeddings, and Adam moves each weight by about the learning
            # rate whatever its gradient, so unscaled the first steps throw Z far off the
            # embeddings' scale. 1.0 until train.py measures them.
            self.register_buffer("in_scale", torch.tensor(1.0))
            self.register_buffer("out_scale", torch.tensor(1.0))
            if kind == "decoder":
                self.prompt_adapter = nn.Linear(d_l, d_s, bias=False)
                assert e_llm is not None, "decoder-only SLMs need the LLM's embedding table"
                self.register_buffer("e_llm", e_llm.detach().clone(), persistent=False)
        cfg = slm.config
        self.conv = Conventions(kind=kind,
                                decoder_start_token_id=getattr(cfg, "decoder_start_token_id", None),
                                bos_token_id=getattr(cfg, "bos_token_id", None),
                                eos_token_id=cfg.eos_token_id)

    # -- pieces ------------------------------------------------------------------------------
    def slm_embed(self, ids: torch.Tensor) -> torch.Tensor:
        return self.slm.get_input_embeddings()(ids)

    def prompt_embeds(self, x: torch.Tensor, h: torch.Tensor | None) -> torch.Tensor:
        """SLM-space prompt embeddings [B, m, d_s]: x are LLM prompt ids (or SLM ids, no LLM)."""
        if not self.use_llm:
            return self.slm_embed(x)
        z = self.project(h)
        if self.kind in ("encdec", "shared"):
            return self.slm_embed(x) + z
        return self.prompt_adapter(self.e_llm[x]) + z

    def project(self, h: torch.Tensor) -> torch.Tensor:
        return self.out_scale * self.projector(h * self.in_scale)

    # -- training loss -----------------------------------------------------------------------
    def loss(self, batch: dict) -> torch.Tensor:
        """Mean cross-entropy over response tokens. batch from `collate`."""
        emb = self.prompt_embeds(batch["x"], batch.get("h"))
        if self.kind == "encdec":
            out = self.slm(inputs_embeds=emb, attention_mask=batch["x_mask"], labels=batch["labels"])
            return out.loss
        # decoder-only: [prompt (m_i) | bos r_1..r_n] per row (shared: no bos), right-padded,
        # positions 0..len-1; train.py's collate lays out the targets
        B, L = batch["resp_in"].shape[0], batch["seq_len"]
        d = emb.shape[-1]
        seq = emb.new_zeros(B, L, d)
        resp = self.slm_embed(batch["resp_in"])
        for b in range(B):
            m, n = int(batch["m"][b]), int(batch["n_in"][b])
            seq[b, :m] = emb[b, :m]
            seq[b, m:m + n] = resp[b, :n]
        pos = torch.arange(L, device=seq.device).unsqueeze(0).expand(B, L)
        if self.kind == "shared":
            # A real vocabulary's head is a quarter of the work: apply it only where a target is.
            hidden = self.slm.base_model(inputs_embeds=seq, attention_mask=batch["mask"], position_ids=pos).last_hidden_state
            scored = batch["targets"] != -100
            logits = self.slm.get_output_embeddings()(hidden[scored])
            return F.cross_entropy(logits.float(), batch["targets"][scored])
        logits = self.slm(inputs_embeds=seq, attention_mask=batch["mask"], position_ids=pos).logits
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch["targets"].reshape(-1),
                               ignore_index=-100)

    # -- inference (one prompt, f32, greedy) -------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.slm.parameters()).device

    def _ids(self, ids: list[int]) -> torch.Tensor:
        return torch.tensor([ids], device=self.device)

    def _prompt(self, x: list[int], h: torch.Tensor | None) -> torch.Tensor:
        return self.prompt_embeds(self._ids(x), None if h is None else h.to(self.device).unsqueeze(0))

    @torch.no_grad()
    def z(self, h: torch.Tensor) -> torch.Tensor:
        return self.project(h.to(self.device))

    @torch.no_grad()
    def teacher_forced_logits(self, x: list[int], h: torch.Tensor | None, target: list[int]) -> torch.Tensor:
        """Logits at every response step for a fixed target (no EOS appended by this function).

        enc-dec: decoder inputs [start] + target -> logits [len(target)+1, V].
        decoder-only: inputs P (positions 0..m-1), bos (m), target (m+1..) -> the logits from
        position m on, [len(target)+1, V].
        """
        emb = self._prompt(x, h)
        if self.kind == "encdec":
            dec = self._ids([self.conv.decoder_start_token_id] + target)
            return self.slm(inputs_embeds=emb, decoder_input_ids=dec).logits[0].cpu()
        m = len(x)
        if self.kind == "shared":
            seq = torch.cat([emb, self.slm_embed(self._ids(target))], dim=1) if target else emb
            pos = torch.arange(seq.shape[1], device=self.device).unsqueeze(0)
            return self.slm(inputs_embeds=seq, position_ids=pos).logits[0, m - 1:].cpu()
        resp = self.slm_embed(self._ids([self.conv.bos_token_id] + target))
        seq = torch.cat([emb, resp], dim=1)
        pos = torch.arange(seq.shape[1], device=self.device).unsqueeze(0)
        return self.slm(inputs_embeds=seq, position_ids=pos).logits[0, m:].cpu()

    @torch.no_grad()
    def greedy(self, x: list[int], h: torch.Tensor | None, max_new_tokens: int,
               stop_at_eos: bool = True, return_logits: bool = False):
        """Greedy decoding (full recomputation each step: slow, obviously correct).

        Returns the generated ids (EOS included if produced and stop_at_eos) and, if asked,
        the logits of each step [steps, V].
        """
        emb = self._prompt(x, h)
        out, steps = [], []
        if self.kind == "encdec":
            enc = self.slm.get_encoder()(inputs_embeds=emb).last_hidden_state
            dec = [self.conv.decoder_start_token_id]
            for _ in range(max_new_tokens):
                logits = self.slm(encoder_outputs=(enc,), decoder_input_ids=self._ids(dec)).logits[0, -1].cpu()
                tok = int(logits.argmax())
                steps.append(logits)
                out.append(tok)
                dec.append(tok)
                if stop_at_eos and tok == self.conv.eos_token_id:
                    break
        else:
            seq = emb if self.kind == "shared" else torch.cat([emb, self.slm_embed(self._ids([self.conv.bos_token_id]))], dim=1)
            for _ in range(max_new_tokens):
                pos = torch.arange(seq.shape[1], device=self.device).unsqueeze(0)
                logits = self.slm(inputs_embeds=seq, position_ids=pos).logits[0, -1].cpu()
                tok = int(logits.argmax())
                steps.append(logits)
                out.append(tok)
                if stop_at_eos and tok == self.conv.eos_token_id:
                    break
                seq = torch.cat([seq, self.slm_embed(self._ids([tok]))], dim=1)
        return (out, torch.stack(steps)) if return_logits else out

    # -- saving --------------------------------------------------------------------------------
    def trained_tensors(self) -> dict[str, torch.Tensor]:
        t = {n: p.detach().contiguous().float().cpu() for n, p in self.projector.state_dict().items()}
        t = {f"projector.{n}": v for n, v in t.items()}
        # fold the scales in: out * (W2 relu(W0 (in * H) + b0) + b2) = (out W2) relu((in W0) H + b0) + out b2
        s_in, s_out = float(self.in_scale), float(self.out_scale)
        t["projector.0.weight"] = t["projector.0.weight"] * s_in
        t["projector.2.weight"] = t["projector.2.weight"] * s_out
        t["projector.2.bias"] = t["projector.2.bias"] * s_out
        if self.kind == "decoder":
            t[ADAPTER_NAME] = self.prompt_adapter.weight.detach().contiguous().float().cpu()
        assert set(t) == set(PROJECTOR_NAMES) | ({ADAPTER_NAME} if self.kind == "decoder" else set()), t.keys()
        return t

    def load_trained_tensors(self, path: Path) -> None:
        from safetensors.torch import load_file

        t = load_file(str(path))
        self.projector.load_state_dict({n[len("projector."):]: v for n, v in t.items()
                                        if n.startswith("projector.")})
        self.in_scale.fill_(1.0)   # saved tensors have the scales folded in
        self.out_scale.fill_(1.0)
        if self.kind == "decoder":
            self.prompt_adapter.weight.data.copy_(t[ADAPTER_NAME])


def save_projector(model: LLM2SLM, path: Path, metadata: dict | None = None) -> None:
    from safetensors.torch import save_file

    # one key: safetensors writes its metadata map in hash order, so several keys are not reproducible
    meta = {"llm2slm": json.dumps(metadata or {}, sort_keys=True)}
    save_file(model.trained_tensors(), str(path), metadata=meta)
    Path(path).chmod(0o644)  # safetensors writes 0600


def save_slm(slm, src_dir: Path, out_dir: Path) -> None:
    """save_pretrained (safetensors) + the source checkpoint's tokenizer files, copied verbatim.

    T5 under transformers 5.x: `save_pretrained` would drop an untied (v1.1) lm_head and write
    `tie_word_embeddings: true` + `scale_decoder_outputs`; we keep the untied head and rewrite
    config.json as real checkpoints spell it (Tools/fixtures/common.py).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    src_cfg = json.loads((Path(src_dir) / "config.json").read_text())
    is_t5 = src_cfg["model_type"] in ("t5", "mt5")
    tie = src_cfg.get("tie_word_embeddings", True)
    if is_t5 and not tie:
        slm._tied_weights_keys = {"encoder.embed_tokens.weight": "shared.weight",
                                  "decoder.embed_tokens.weight": "shared.weight"}
    slm.save_pretrained(out_dir, safe_serialization=True)
    if is_t5:
        sys.path.insert(0, str(FIXTURE_TOOLS))
        from common import check_t5_embeddings, rewrite_t5_config

        rewrite_t5_config(out_dir, tie)
        check_t5_embeddings(out_dir, tie)
    for name in HF_TOKENIZER_FILES:
        if (Path(src_dir) / name).exists():
            shutil.copyfile(Path(src_dir) / name, out_dir / name)
    for p in out_dir.iterdir():
        p.chmod(0o644)


def safetensors_names(path: Path) -> list[str]:
    """Tensor names in a safetensors file (header only)."""
    import struct

    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return [k for k in json.loads(f.read(n)) if k != "__metadata__"]


def safetensors_metadata(path: Path) -> dict:
    """A safetensors file's `__metadata__` (header only)."""
    import struct

    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n)).get("__metadata__", {})
