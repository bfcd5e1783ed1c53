"""Crafted hostile model files for the reliability report (docs/RELIABILITY.md, issue 8).

Each case is a file that is wrong in exactly one way — every rejection rule of Formats/FORMAT.md
§8, the resource bounds of issue 8 (a 2^60-element tensor, a 10^9-entry vocabulary, a 4 GiB
metadata string) and the GGUF and safetensors equivalents — built byte by byte from the format
specifications, independently of Tandem's writer (like Tests/TandemTestSupport/RawFile.swift,
which the Swift tests use). `scripts/reliability-report.sh` runs the release `tandem` on each and
records the one line it prints. Standard library only.

    python3 Tools/reliability/hostile_files.py OUTDIR    # writes the files and OUTDIR/cases.json
"""

import json
import os
import struct
import sys

# MARK: XXH64 (the header checksum of a .tandem file), after the xxHash specification.

_P1, _P2, _P3, _P4, _P5 = (11400714785074694791, 14029467366897019727, 1609587929392839161,
                           9650029242287828579, 2870177450012600261)
_M = (1 << 64) - 1


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & _M


def _round(acc, lane):
    return (_rotl((acc + lane * _P2) & _M, 31) * _P1) & _M


def xxh64(data, seed=0):
    n, i = len(data), 0
    if n >= 32:
        v = [(seed + _P1 + _P2) & _M, (seed + _P2) & _M, seed & _M, (seed - _P1) & _M]
        while i + 32 <= n:
            for k in range(4):
                v[k] = _round(v[k], struct.unpack_from("<Q", data, i + 8 * k)[0])
            i += 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & _M
        for k in range(4):
            h = ((h ^ _round(0, v[k])) * _P1 + _P4) & _M
    else:
        h = (seed + _P5) & _M
    h = (h + n) & _M
    while i + 8 <= n:
        h = (_rotl(h ^ _round(0, struct.unpack_from("<Q", data, i)[0]), 27) * _P1 + _P4) & _M
        i += 8
    if i + 4 <= n:
        h = (_rotl(h ^ ((struct.unpack_from("<I", data, i)[0] * _P1) & _M), 23) * _P2 + _P3) & _M
        i += 4
    while i < n:
        h = (_rotl(h ^ ((data[i] * _P5) & _M), 11) * _P1) & _M
        i += 1
    h ^= h >> 33
    h = (h * _P2) & _M
    h ^= h >> 29
    h = (h * _P3) & _M
    return h ^ (h >> 32)


# MARK: .tandem (Formats/FORMAT.md §2–§3)

MAGIC = bytes([0x89, 0x54, 0x4E, 0x44, 0x4D, 0x0D, 0x0A, 0x1A])
F32, Q8_0 = 0, 8
METADATA = (
    '{"format":"tandem","kind":"model","models":{"model":{"architecture":"t5","part":"full","prefix":"",'
    '"config":{"d_model":32},"tokenizer":"main"}},"tokenizers":{"main":{"type":"sentencepiece","blob":"tok",'
    '"extra":{}}},"generation":{},"provenance":{"sources":["x"],"converter":"test","created":"now",'
    '"defaultDType":"f32","keepRules":[],"tensors":{}}}')


class Entry:
    def __init__(self, name, offset, stored, dims=(), kind=0, code=F32):
        self.name, self.offset, self.stored, self.dims = name, offset, stored, list(dims)
        self.kind, self.code = kind, code
        self.raw = None
        self.checksum = None
        self.length = None


class TandemFile:
    """A small valid file (two f32 [2, 32] tensors and a 10-byte raw blob) to break one way."""

    def __init__(self):
        self.magic, self.version, self.flags, self.alignment = MAGIC, 1, 0, 64
        self.metadata = METADATA.encode()
        self.metadata_encoding = 0
        data = bytearray(64 * 9)
        for i in range(256):
            data[i] = i & 0xFF
            data[256 + i] = (i * 7) & 0xFF
        data[512:522] = b"ABCDEFGHIJ"
        self.data = data
        self.entries = [Entry("a.weight", 0, 256, [2, 32]), Entry("b.weight", 256, 256, [2, 32]),
                        Entry("tok", 512, 10, kind=1, code=0)]
        self.entry_count = self.file_length = self.data_length = self.meta_stored = self.meta_raw = None
        self.reserved_byte = 0
        self.fix_checksum = True

    def entry_bytes(self, e):
        name = e.name.encode()
        natural = (48 + 8 * len(e.dims) + len(name) + 7) & ~7
        b = struct.pack("<IBBBBII", e.length or natural, e.kind, e.code, len(e.dims) & 0xFF, 0, len(name), 0)
        in_data = e.offset <= len(self.data) and e.stored <= len(self.data) - e.offset
        checksum = e.checksum if e.checksum is not None else (
            xxh64(bytes(self.data[e.offset:e.offset + e.stored])) if in_data else 0)
        b += struct.pack("<QQQQ", e.offset, e.stored, e.stored if e.raw is None else e.raw, checksum)
        b += b"".join(struct.pack("<Q", d) for d in e.dims) + name
        return b + bytes(-len(b) % 8)

    def bytes(self):
        directory = b"".join(self.entry_bytes(e) for e in self.entries)
        meta_off = 128
        dir_off = (meta_off + len(self.metadata) + 7) // 8 * 8
        data_off = (dir_off + len(directory) + self.alignment - 1) // self.alignment * self.alignment
        length = data_off + len(self.data)
        out = bytearray(length)
        out[0:8] = self.magic
        struct.pack_into("<IIQQQQIIQQQQQ", out, 8, self.version, self.flags,
                         length if self.file_length is None else self.file_length, meta_off,
                         len(self.metadata) if self.meta_stored is None else self.meta_stored,
                         len(self.metadata) if self.meta_raw is None else self.meta_raw,
                         self.metadata_encoding, len(self.entries) if self.entry_count is None else self.entry_count,
                         dir_off, len(directory), data_off,
                         len(self.data) if self.data_length is None else self.data_length, self.alignment)
        out[110] = self.reserved_byte
        out[meta_off:meta_off + len(self.metadata)] = self.metadata
        out[dir_off:dir_off + len(directory)] = directory
        out[data_off:] = self.data
        if self.fix_checksum:
            struct.pack_into("<Q", out, 96, xxh64(bytes(out[0:96]) + self.metadata + directory))
        return bytes(out)


def tandem_cases():
    """(id, title, mutate(file) or a function returning bytes, extra CLI flags)."""
    def unchanged(f):
        pass

    def cut(n):
        return lambda: TandemFile().bytes()[:n]

    def longer():
        return TandemFile().bytes() + b"\x01\x02\x03"

    def set_attr(**kw):
        def go(f):
            for k, v in kw.items():
                setattr(f, k, v)
        return go

    def entry(i, **kw):
        def go(f):
            for k, v in kw.items():
                setattr(f.entries[i], k, v)
        return go

    def two(a, b):
        def go(f):
            a(f)
            b(f)
        return go

    G = 4 << 30
    return [
        ("valid", "valid base file (control)", unchanged, ["--verify"]),
        ("empty", "empty file", cut(0), []),
        ("cut-preamble", "cut inside the 128-byte preamble", cut(50), []),
        ("truncated", "shorter than its declared length", lambda f: setattr(f, "file_length", len(f.bytes()) + 100), []),
        ("magic", "wrong magic bytes (a GGUF header)", set_attr(magic=b"GGUF\x03\x00\x00\x00"), []),
        ("version", "format version 2 (future)", set_attr(version=2), []),
        ("flags", "non-zero flags", set_attr(flags=1), []),
        ("reserved", "non-zero reserved preamble byte", set_attr(reserved_byte=9), []),
        ("trailing", "bytes after the declared end", longer, []),
        ("alignment", "alignment 96 (not a power of two)", set_attr(alignment=96), []),
        ("meta-encoding", "unknown metadata encoding 9", set_attr(metadata_encoding=9), []),
        ("offset-past-end", "tensor offset past the data region", entry(1, offset=576), []),
        ("region-past-end", "data region past the end of the file", lambda f: setattr(f, "data_length", len(f.data) + 64), []),
        ("overflow", "shape [2^40, 2^40]: byte size overflows 64 bits", entry(0, dims=[1 << 40, 1 << 40]), []),
        ("offset-overflow", "offset + length overflows 64 bits", entry(1, offset=(1 << 64) - 64), []),
        ("overlap", "two tensors share bytes", entry(1, offset=192), []),
        ("misaligned", "tensor offset not a multiple of the alignment", entry(1, offset=260), []),
        ("tensor-2pow60", "a 2^60-element tensor (shape [2^30, 2^30], 256 bytes stored)", entry(0, dims=[1 << 30, 1 << 30]), []),
        ("tensor-2pow60-consistent", "a 2^60-element tensor whose length (2^62 bytes) matches its shape", entry(0, dims=[1 << 30, 1 << 30], stored=1 << 62), []),
        ("meta-4gib-raw", "metadata declaring 4 GiB (uncompressed)", set_attr(meta_stored=G, meta_raw=G), []),
        ("meta-4gib-lz4", "metadata declaring 4 GiB after LZ4 expansion", set_attr(metadata_encoding=1, meta_raw=G), []),
        ("blob-4gib", "tokenizer blob declaring 4 GiB after LZ4 expansion", entry(2, code=1, raw=G), []),
        ("entries-1e9", "directory declaring 10^9 entries", set_attr(entry_count=1_000_000_000), []),
        ("checksum", "header checksum mismatch", set_attr(fix_checksum=False), []),
        ("entry-length", "directory entry with a wrong length", entry(0, length=1000), []),
        ("rank-9", "tensor of rank 9", entry(0, dims=[1] * 8 + [64]), []),
        ("empty-name", "empty tensor name", entry(1, name=""), []),
        ("duplicate-name", "duplicate tensor name", entry(1, name="a.weight"), []),
        ("kind", "unknown directory entry kind 5", entry(2, kind=5), []),
        ("dtype", "unknown dtype code 77", entry(0, code=77), []),
        ("shape", "shape [3, 32] f32 but 256 bytes stored", entry(0, dims=[3, 32]), []),
        ("partial-block", "q8_0 row of 40 elements (not whole blocks)", entry(0, code=Q8_0, dims=[1, 40]), []),
        ("json", "metadata that is not JSON", set_attr(metadata=b'{"format": "tandem", '), []),
        ("utf8", "metadata that is not UTF-8", set_attr(metadata=b"\xff\xfe{}"), []),
        ("schema", "metadata naming a blob that is not in the file",
         set_attr(metadata=METADATA.replace('"blob":"tok"', '"blob":"missing"').encode()), []),
        ("lz4", "LZ4 metadata that does not expand to its declared size", set_attr(metadata_encoding=1, meta_raw=5000), []),
        ("tensor-checksum", "a tensor's bytes changed (caught by --verify)", entry(1, checksum=12345), ["--verify"]),
    ]


# MARK: GGUF (ggml/docs/gguf.md)

GGUF_U8, GGUF_U32, GGUF_BOOL, GGUF_STRING, GGUF_ARRAY, GGUF_F32, GGUF_I32 = 0, 4, 7, 8, 9, 6, 5
GGML_F32 = 0


class GGUF:
    def __init__(self):
        self.b = bytearray()

    def u8(self, v):
        self.b += struct.pack("<B", v)

    def u32(self, v):
        self.b += struct.pack("<I", v & 0xFFFFFFFF)

    def u64(self, v):
        self.b += struct.pack("<Q", v & _M)

    def string(self, s):
        s = s.encode() if isinstance(s, str) else s
        self.u64(len(s))
        self.b += s

    def header(self, tensors, kvs, version=3, magic=b"GGUF"):
        self.b += magic
        self.u32(version)
        self.u64(tensors)
        self.u64(kvs)

    def kv_string(self, key, value):
        self.string(key)
        self.u32(GGUF_STRING)
        self.string(value)

    def tensor(self, name, dims, offset, ggml_type=GGML_F32):
        self.string(name)
        self.u32(len(dims))
        for d in dims:
            self.u64(d)
        self.u32(ggml_type)
        self.u64(offset)

    def data(self, n, alignment=32):
        self.b += bytes(-len(self.b) % alignment)
        self.b += b"\x3c" * n


def gguf_cases():
    def llama(extra_kvs, more):
        """A llama header with `general.architecture` and `extra_kvs` more keys written by `more`."""
        g = GGUF()
        g.header(0, 1 + extra_kvs)
        g.kv_string("general.architecture", "llama")
        more(g)
        return bytes(g.b)

    def one_tensor(dims, offset=0, ggml_type=GGML_F32, data=64, name="t"):
        g = GGUF()
        g.header(1, 1)
        g.kv_string("general.architecture", "llama")
        g.tensor(name, dims, offset, ggml_type)
        g.data(data)
        return bytes(g.b)

    def raw(f):
        g = GGUF()
        f(g)
        return bytes(g.b)

    def vocab(g):
        g.string("tokenizer.ggml.tokens"); g.u32(GGUF_ARRAY); g.u32(GGUF_STRING); g.u64(1_000_000_000)
        for t in ("<unk>", "<s>", "</s>"):
            g.string(t)

    def name_4gib(g):
        g.string("general.name"); g.u32(GGUF_STRING); g.u64(4 << 30); g.b += b"SmolLM2"

    def token_4gib(g):
        g.string("tokenizer.ggml.tokens"); g.u32(GGUF_ARRAY); g.u32(GGUF_STRING); g.u64(1); g.u64(4 << 30); g.b += b"hello"

    def deep(g):
        g.string("deep"); g.u32(GGUF_ARRAY)
        for _ in range(9):
            g.u32(GGUF_ARRAY); g.u64(1)
        g.u32(GGUF_U8); g.u64(1); g.u8(7)

    def two_tensors(second_name, elements, data_bytes):
        """A llama GGUF with f32 tensors "a" at offset 0 and `second_name` at offset 32."""
        g = GGUF()
        g.header(2, 1)
        g.kv_string("general.architecture", "llama")
        g.tensor("a", [elements], 0)
        g.tensor(second_name, [elements], 32)
        g.data(data_bytes)
        return bytes(g.b)

    def overlap():
        return two_tensors("b", 16, 128)  # 64-byte tensors 32 bytes apart

    def duplicate():
        return two_tensors("a", 8, 64)

    def alignment48():
        g = GGUF()
        g.header(1, 2)
        g.kv_string("general.architecture", "llama")
        g.string("general.alignment"); g.u32(GGUF_U32); g.u32(48)
        g.tensor("t", [4], 0)
        g.data(16, 64)
        return bytes(g.b)

    good = one_tensor([16])
    return [
        ("gguf-magic", "not GGUF (magic XGUF)", b"X" + good[1:]),
        ("gguf-v1", "GGUF version 1", raw(lambda g: (g.header(0, 0, version=1)))),
        ("gguf-big-endian", "big-endian GGUF (version 3 byte-swapped)", raw(lambda g: g.header(0, 0, version=0x03000000))),
        ("gguf-kv-2pow60", "metadata count 2^60", raw(lambda g: g.header(0, 1 << 60))),
        ("gguf-tensors-max", "tensor count 2^64 − 1", raw(lambda g: g.header((1 << 64) - 1, 0))),
        ("gguf-vocab-1e9", "a vocabulary (tokenizer.ggml.tokens) of 10^9 strings", llama(1, vocab)),
        ("gguf-string-4gib", "metadata string (general.name) declaring 4 GiB", llama(1, name_4gib)),
        ("gguf-token-4gib", "one vocabulary token declaring 4 GiB", llama(1, token_4gib)),
        ("gguf-key-4gib", "metadata key declaring 4 GiB", raw(lambda g: (g.header(0, 1), g.u64(4 << 30), g.b.extend(b"general")))),
        ("gguf-deep", "arrays nested 10 deep", llama(1, deep)),
        ("gguf-key-utf8", "metadata key that is not UTF-8",
         raw(lambda g: (g.header(0, 1), g.string(b"\xc3\x28"), g.u32(GGUF_U8), g.u8(0)))),
        ("gguf-bool", "bool value 2", llama(1, lambda g: (g.string("flag"), g.u32(GGUF_BOOL), g.u8(2)))),
        ("gguf-value-type", "unknown value type 13", llama(1, lambda g: (g.string("k"), g.u32(13), g.u32(0)))),
        ("gguf-dims-overflow", "tensor dimensions [2^32, 2^32]", one_tensor([1 << 32, 1 << 32])),
        ("gguf-ggml-type", "unknown ggml tensor type 999", one_tensor([16], ggml_type=999)),
        ("gguf-offset", "tensor offset past the end", one_tensor([16], offset=1 << 20)),
        ("gguf-size", "tensor of 2^20 f32 in a file of a few hundred bytes", one_tensor([1 << 20])),
        ("gguf-misaligned", "tensor offset 4 (alignment 32)", one_tensor([4], offset=4)),
        ("gguf-overlap", "two tensors share bytes", overlap()),
        ("gguf-duplicate", "duplicate tensor name", duplicate()),
        ("gguf-long-name", "65-byte tensor name", one_tensor([4], name="n" * 65)),
        ("gguf-rank", "tensor with 9 dimensions", one_tensor([1] * 9)),
        ("gguf-alignment", "general.alignment 48", alignment48()),
        ("gguf-cut", "cut inside a tensor info", good[:75]),
    ]


# MARK: safetensors (8-byte header length, JSON header, data)

def safetensors_cases():
    def st(header, data=b"", length=None):
        h = header.encode() if isinstance(header, str) else header
        return struct.pack("<Q", len(h) if length is None else length) + h + data

    ok_tensor = '{"wte.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}'
    return [
        ("st-header-2pow60", "header length 2^60", st(ok_tensor, bytes(16), length=1 << 60)),
        ("st-header-past-end", "header length past the end of the file", st(ok_tensor, bytes(16), length=4096)),
        ("st-json", "header that is not JSON", st("{not json", bytes(16))),
        ("st-offsets", "data offsets past the end", st(ok_tensor.replace("[0,16]", "[0,4096]"), bytes(16))),
        ("st-shape", "shape [3, 3] F32 for 16 bytes", st(ok_tensor.replace("[2,2]", "[3,3]"), bytes(16))),
        ("st-overflow", "shape whose element count overflows", st(ok_tensor.replace("[2,2]", "[4294967296,4294967296,4294967296]"), bytes(16))),
        ("st-dtype", "unknown dtype F128", st(ok_tensor.replace("F32", "F128"), bytes(16))),
    ]


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    cases = []
    for cid, title, make, flags in tandem_cases():
        if make.__code__.co_argcount == 0:
            data = make()
        else:
            f = TandemFile()
            make(f)
            data = f.bytes()
        path = os.path.join(out, cid + ".tandem")
        with open(path, "wb") as fh:
            fh.write(data)
        cases.append({"group": "tandem", "id": cid, "title": title, "file": path, "flags": flags})
    for cid, title, data in gguf_cases():
        path = os.path.join(out, cid + ".gguf")
        with open(path, "wb") as fh:
            fh.write(data)
        cases.append({"group": "gguf", "id": cid, "title": title, "file": path, "flags": []})
    for cid, title, data in safetensors_cases():
        cases.append({"group": "safetensors", "id": cid, "title": title, "file": _checkpoint(out, cid, data), "flags": []})
    with open(os.path.join(out, "cases.json"), "w") as fh:
        json.dump(cases, fh, indent=1)


def _checkpoint(out, cid, weights):
    """A GPT-2 checkpoint directory (the committed tiny one's config and tokenizer) with
    `weights` as model.safetensors."""
    here = os.path.dirname(os.path.abspath(__file__))
    source = os.path.join(here, "..", "..", "Tests", "Fixtures", "checkpoints", "gpt2-tiny")
    d = os.path.join(out, cid)
    os.makedirs(d, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json", "generation_config.json"):
        with open(os.path.join(source, name), "rb") as src, open(os.path.join(d, name), "wb") as dst:
            dst.write(src.read())
    with open(os.path.join(d, "model.safetensors"), "wb") as fh:
        fh.write(weights)
    return d


if __name__ == "__main__":
    main()
