"""Shared fixtures. Every test runs offscreen with its user folders in a temp dir."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
import zsl_desktop.app  # noqa: E402, F401 - as the app: PySide6's types made eagerly (its docstring says why)

if os.environ.get("PYTEST_XDIST_WORKER"):
    # Under pytest-xdist (README: ``-n auto``) the workers share the cores: one torch thread each, set
    # before torch is imported; the CLI's default (threads.configure) reads it too. Two workers with a
    # pool of the machine's size each spin against one another.
    os.environ["OMP_NUM_THREADS"] = "1"

import pytest

from cpu_time import (  # noqa: F401 (hooks: --cpu-durations, the suite's CPU seconds by file and test)
    pytest_addoption,
    pytest_runtest_call,
    pytest_runtest_makereport,
    pytest_runtest_setup,
    pytest_runtest_teardown,
    register_totals,
)
from suite_order import group_and_order
from zsl_desktop.engine.paths import shared_data_dir


@pytest.fixture(autouse=True)
def _user_home(tmp_path_factory, monkeypatch):
    """Point every per-user file (data, settings, class library) at a fresh temp folder."""
    monkeypatch.setenv("ZSL_DESKTOP_HOME", str(tmp_path_factory.mktemp("home")))


@pytest.fixture(autouse=True)
def _torch_threads_put_back():
    """Each test leaves torch's thread count as it found it (under xdist: the worker's OMP_NUM_THREADS, one).

    The bench's sections set it per section (every core for extraction and training) and left it so: the worker's
    next tests then ran two threads spinning against the other workers (tests/test_bench.py says what it cost).
    """
    import sys

    torch = sys.modules.get("torch")
    share = os.environ.get("OMP_NUM_THREADS", "")
    before = torch.get_num_threads() if torch is not None else (int(share) if share.isdigit() else None)
    yield
    torch = sys.modules.get("torch")
    if torch is not None and before is not None and torch.get_num_threads() != before:
        torch.set_num_threads(before)


@pytest.fixture(scope="session")
def shared_data():
    path = shared_data_dir()
    if path is None:
        pytest.skip("../shared/zsl_data (real benchmark files) is not beside the checkout")
    return path


@pytest.fixture(scope="session")
def small_birds(tmp_path_factory):
    """The small built-in dataset, generated once per test session."""
    from zsl_desktop.engine.data import load_builtin

    return load_builtin(small=True, root=tmp_path_factory.mktemp("birds") / "builtin_birds_small")


@pytest.fixture(scope="session")
def fresh_builtin(tmp_path_factory):
    """The full built-in birds, their test images redrawn from nothing, once per session: every shipped model is
    checked on them.

    The generator is deterministic, so the redrawn set must carry the checkpoints' fingerprint. The test images
    (1,080 of 3,000) are drawn as the first launch draws them, one process per core; the training birds are not
    drawn (see ``fresh_birds``): no check reads them and the fingerprint covers their names, labels and split,
    not their pixels. tests/test_first_launch.py checks that this drawing equals ``generate()``'s.
    """
    from fresh_birds import draw_test_images

    return draw_test_images(tmp_path_factory.mktemp("fresh") / "builtin_birds")


@pytest.fixture(scope="session")
def fresh_test_features(fresh_builtin):
    """(rows, grid, pooled) of its test split, seen then unseen, re-extracted from the images.

    With the default backbone and input size, which every shipped model was made with (each test checks).
    """
    import numpy as np

    from zsl_desktop.engine.extraction import extract_images

    d = fresh_builtin
    rows = np.concatenate([d.splits["test_seen"], d.splits["test_unseen"]])
    grid, pooled, errors = extract_images([d.image_path(int(i)) for i in rows])
    assert not errors
    return rows, grid, pooled


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config):
    """``-n auto``: one worker more than the cores this process may use, at most 4 (each holds torch and Qt, ~2 GB
    at peak).

    Why one more (issue 19): a run's tests used ~534 CPU-seconds (user + sys) while the quiet 2-core run with one
    worker per core took 362 s, 724 core-seconds: about a quarter of it the workers waited (Qt timers, child
    processes starting), and a third worker fills that. Speed is checked by ``zsl-desktop bench``, not by the
    tests: a wall-clock check in tests/test_builtin_birds.py that failed beside a third worker was dropped.
    """
    from zsl_desktop.engine.threads import cores

    return min(cores() + 1, 4)


def pytest_configure(config):
    """Under ``--dist loadgroup`` the groups go to the workers in the order the hook below gives them."""
    register_totals(config)
    if getattr(config.option, "dist", "no") == "loadgroup":
        config.option.loadscopereorder = False  # xdist's own order (most tests first) sent the costliest last


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups
def pytest_collection_modifyitems(config, items):
    """For ``--dist loadgroup``: each test file is one group, run on one worker (its module fixtures made once),
    costliest first (``suite_order``). Without xdist the marks change nothing and the order stays as collected."""
    group_and_order(config, items)
