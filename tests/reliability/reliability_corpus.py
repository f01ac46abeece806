"""The bad-input corpus, generated on the fly (no committed binaries).

Each case is one damaged, odd or hostile input and what the engine must do with it:
``accept`` it (and get it right: colours, orientation, size) or ``refuse`` it with a
message that names the file and says the problem (``words``, a regex).
Case ids carry a running number so the corpus size shows in the test names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from corpus_checkpoints import CHECKPOINT_CASES
from corpus_datasets import FOLDER_CASES, MAT_CASES
from corpus_images import IMAGE_CASES


@dataclass(frozen=True)
class Case:
    id: str
    kind: str  # "image" | "folder" | "mat" | "checkpoint"
    build: Callable  # (folder: Path, **ctx) -> Path of the input (an image, a dataset folder, a checkpoint)
    words: str | None = None  # None: accepted; else a regex the refusal must contain
    check: Callable | None = None  # for accepted images: check(rgb_image)
    file: str | None = None  # the file the message must name (default: the built path's name)


def all_cases() -> list[Case]:
    cases = []
    for case_id, build, words, check in IMAGE_CASES:
        cases.append(Case(case_id, "image", build, words, check))
    for case_id, build, words, file in FOLDER_CASES:
        cases.append(Case(case_id, "folder", build, words, None, file))
    for case_id, build, words, file in MAT_CASES:
        cases.append(Case(case_id, "mat", build, words, None, file))
    return cases


def numbered(cases: list[Case], start: int = 1) -> list:
    """pytest params with ids ``corpus-NN-<case>``."""
    import pytest

    return [pytest.param(c, id=f"corpus-{i:02d}-{c.id}") for i, c in enumerate(cases, start)]


def checkpoint_cases() -> list[Case]:
    return [Case(case_id, "checkpoint", build, words, None, "model.pt") for case_id, build, words in CHECKPOINT_CASES]


def corpus() -> list[Case]:
    """Every case, in the order their numbers are given."""
    return all_cases() + checkpoint_cases()


def assert_clear_refusal(code, err, file_name, words):
    """Non-zero exit, one error line naming the file and the problem, no traceback."""
    import re

    assert code != 0, err
    assert "Traceback" not in err, err
    assert file_name in err, f"{file_name!r} not named in: {err}"
    assert re.search(words, err), f"{words!r} not in: {err}"
