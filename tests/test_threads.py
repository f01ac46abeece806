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


def _mkl_dynamic():
    """(get, set) of MKL's dynamic-threads switch inside torch's library, or None where torch has no MKL."""
    import ctypes
    import os

    try:
        lib = ctypes.CDLL(os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so"))
        return lib.mkl_serv_get_dynamic, lib.MKL_Set_Dynamic  # the C entry (mkl_set_dynamic takes a pointer)
    except (OSError, AttributeError):
        return None


def test_configure_puts_mkl_in_the_same_state_whatever_the_count_was_before():
    """A fresh process has MKL's dynamic threads on; torch.set_num_threads turns them off. configure must leave the
    same state when the count does not change (issue #19: the bench's matmul bound read in two states)."""
    import pytest

    switch = _mkl_dynamic()
    if switch is None or not torch.backends.mkl.is_available():
        pytest.skip("torch here has no MKL with the dynamic switch")
    get_dynamic, set_dynamic = switch
    before = torch.get_num_threads()
    try:
        set_dynamic(1)  # as in a fresh process
        assert get_dynamic() == 1
        threads.configure(torch.get_num_threads())  # the count already matches
        assert get_dynamic() == 0
    finally:
        torch.set_num_threads(before)
