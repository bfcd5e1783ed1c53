"""Writes the GGUF files that Tandem and llama.cpp are compared on, with identical weights.

The one real checkpoint reachable here ships as Q4_1, a block type Tandem does not share, so the
two engines would otherwise run different numbers. This script dequantizes every tensor of the
source GGUF to f32 (gguf-py, llama.cpp's reference Python) and requantizes each matrix to the
target type with gguf-py's quantizer, keeping 1-D tensors (norms) in f32 and every metadata key
(tokenizer, chat template, rope settings) as it was. llama.cpp loads the result directly; Tandem
imports it with `tandem convert FILE.gguf --dtype <same type>`, which copies ggml blocks that are
also Tandem blocks byte for byte (Formats/FORMAT.md §5). Output is deterministic: rerunning gives
the same bytes, and the golden file records their SHA-256.

    python Tools/parity/make_parity_gguf.py SmolLM2-135M-Instruct.Q4_1.gguf OUT_DIR [--types q8_0 q4_0]

The same with `--types f32` dequantizes a downloaded K-quant file (Qwen2.5-Coder, Gemma 3) for the
f32 comparison of Tests/TandemTests/LlamaCppParityTests.swift (DownloadedGGUFParityTests): every
tensor to f32 by gguf-py's dequantization, which Tandem's own is bit-exact against.

Needs only `numpy` and `gguf` (Tools/parity/requirements.txt).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q, GGUFValueType as V

TYPES = {"q8_0": Q.Q8_0, "q4_0": Q.Q4_0, "f32": Q.F32}
# general.file_type values (llama.cpp's LLAMA_FTYPE_*) for the types written here.
FILE_TYPE = {Q.F32: 0, Q.Q4_0: 2, Q.Q8_0: 7}
# Keys the writer sets itself.
SKIP_KEYS = {"GGUF.version", "GGUF.tensor_count", "GGUF.kv_count", "general.architecture", "general.file_type"}


def copy_metadata(reader: gguf.GGUFReader, writer: gguf.GGUFWriter) -> None:
    for key, field in reader.fields.items():
        if key in SKIP_KEYS or not field.types:
            continue
        value_type = field.types[0]
        if value_type == V.ARRAY:
            writer.add_key_value(key, field.contents(), value_type, sub_type=field.types[-1])
        else:
            writer.add_key_value(key, field.contents(), value_type)


def write(source: Path, out: Path, qtype: Q) -> None:
    reader = gguf.GGUFReader(str(source))
    arch = reader.fields["general.architecture"].contents()
    tmp = out.with_name(out.name + ".tmp")
    writer = gguf.GGUFWriter(str(tmp), arch)
    copy_metadata(reader, writer)
    writer.add_file_type(FILE_TYPE[qtype])
    for tensor in reader.tensors:
        # gguf-py's shapes are ggml order (columns first); numpy wants rows first.
        values = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        values = values.reshape([int(d) for d in reversed(tensor.shape)])
        target = qtype if values.ndim == 2 else Q.F32
        data = gguf.quants.quantize(values, target) if target != Q.F32 else values
        writer.add_tensor(tensor.name, data, raw_dtype=target)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    os.replace(tmp, out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="a GGUF: SmolLM2's (scripts/fetch-smollm2.sh), or a file of scripts/fetch-gguf.sh")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--types", nargs="+", default=["q8_0", "q4_0"], choices=sorted(TYPES))
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = args.source.name.rsplit(".", 2)[0]  # the model's name, without its file type and .gguf
    for name in args.types:
        out = args.out_dir / f"{stem}.{name}.gguf"
        write(args.source, out, TYPES[name])
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
