"""distill.py: its sample is train.py's (so the H cache of a raw-data run serves it), and what it
keeps of a teacher's answer."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Tools/llm2slm"))

import distill  # noqa: E402


def test_sample_is_seeded_and_in_file_order():
    """train.py and distill.py take one function's sample, so a distilled run's prompts are
    among the raw run's, whose H cache then serves it."""
    import make_code_data

    assert distill.sample is make_code_data.sample
    rows = list(range(3239))
    a = distill.sample(rows, 512, 0)
    assert len(a) == 512 and a == sorted(set(a)) and a == distill.sample(rows, 512, 0)
    assert a != distill.sample(rows, 512, 1)
    assert a[-1] > 3000   # spread over the file, not its head
    assert distill.sample(rows, None, 0) == rows and distill.sample(rows, 5000, 0) == rows


def test_answer_kept_through_its_first_code_block():
    fence = "`" * 3
    answer = f"Here:\n{fence}python\ndef f(x):\n    return x\n{fence}\n\nIt returns x.\n{fence}\nmore\n{fence}"
    assert distill.through_first_block(answer) == f"Here:\n{fence}python\ndef f(x):\n    return x\n{fence}"
    assert distill.through_first_block(f"{fence}python\ndef f(x):\n    return") is None   # cut off at --max-tokens
    assert distill.through_first_block("no code at all") is None
