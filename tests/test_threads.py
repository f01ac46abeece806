"""One place sets torch's and numpy's thread pools; OMP_NUM_THREADS (torchrun's setting) wins when given."""

import torch

from zsl_desktop.engine import threads


def test_configure_takes_the_argument_then_the_environment_then_every_core(monkeypatch):
    before = torch.get_num_threads()
    try:
        assert threads.configure(1) == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert threads.configure() == 2
        monkeypatch.delenv("OMP_NUM_THREADS")
        assert threads.configure() == threads.cores()
        assert 1 <= threads.worker_threads() <= threads.cores()
    finally:
        torch.set_num_threads(before)
