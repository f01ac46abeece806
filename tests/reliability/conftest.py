"""Reliability fixtures: the CLI run in-process with its output captured, and helper scripts' paths."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the corpus and helper modules beside these tests
    sys.path.insert(0, str(HERE))


@pytest.fixture
def cli(capsys):
    """Run ``zsl-desktop ARGS`` in-process: returns (exit code, stdout, stderr)."""
    from zsl_desktop.cli import main

    def run(*args):
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """One intra-op thread: these tests run small batches, where a second thread on a shared
    two-core machine costs far more in synchronisation than it gives (and results stay identical)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
