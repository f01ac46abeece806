"""Shared fixtures. Every test runs offscreen with its user folders in a temp dir."""

import os
from collections import Counter

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
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


FRESH_BIRDS = "fresh_builtin"  # the xdist group of the tests on the freshly drawn birds
# The costliest groups after it, costliest first (CPU seconds of each file in a 2-worker run, busy machine, session
# 13; ``--cpu-durations`` lists them). Sent right after the drawn birds: xdist hands a worker a group when it runs
# low, so a long group sent late runs alone at the end while the other worker idles. Ordered by test count, as
# before, test_app_methods.py (3 tests, then 76 CPU s) came last: the run's last 12 minutes were it and little
# else. A group not listed keeps the test-count order; a stale entry only changes the order.
COSTLY_GROUPS = (
    "tests/test_distributed.py",  # 52 CPU s: torchrun launches, every method trained by one and by two processes
    "tests/app/test_app_training.py",  # 38
    "tests/reliability/test_crash_safety.py",  # 35
    "tests/app/test_kept_predictions.py",  # 25
    "tests/app/test_app_first_hour.py",  # 25
    "tests/app/test_app_methods.py",  # 25
    "tests/test_wheel.py",  # 21
    "tests/app/test_bench_app.py",  # 21
    "tests/test_bench.py",  # 17
)


def pytest_configure(config):
    """Under ``--dist loadgroup`` the groups go to the workers in the order the hook below gives them."""
    register_totals(config)
    if getattr(config.option, "dist", "no") == "loadgroup":
        config.option.loadscopereorder = False  # xdist's own order (most tests first) sent the costliest last


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups
def pytest_collection_modifyitems(config, items):
    """For ``--dist loadgroup``: a test file runs on one worker, so its module fixtures are made once.

    The files that check the shipped models on the freshly drawn birds (``fresh_builtin``, the suite's
    largest set-up: over a quarter of the suite's time, 15 of 56 minutes on a busy machine) form one group, sent first so the
    other worker runs the rest beside it; then the costliest groups (``COSTLY_GROUPS``), then the groups with the
    most tests, as xdist orders them. Without xdist the marks change nothing and the order stays as collected.
    """
    groups = {}
    for item in items:
        if FRESH_BIRDS in item.fixturenames:
            groups[item] = FRESH_BIRDS
        else:
            groups[item] = item.path.relative_to(config.rootpath).as_posix()
        item.add_marker(pytest.mark.xdist_group(groups[item]))
    if getattr(config.option, "loadgroup", False):  # set on xdist's workers, which collect for the scheduler
        sizes = Counter(groups.values())
        rank = {group: i for i, group in enumerate((FRESH_BIRDS, *COSTLY_GROUPS))}
        items.sort(key=lambda item: (rank.get(groups[item], len(rank)), -sizes[groups[item]]))
