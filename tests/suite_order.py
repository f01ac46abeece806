"""The order xdist's ``--dist loadgroup`` gets the test files in: the costliest groups first (tests/conftest.py's hook).

Why: xdist hands a worker its next group when it runs low, so a long group sent late runs on at the end while the
other worker has little left to do. Ordered by test count, ``tests/app/test_app_methods.py`` (3 tests, 76 CPU s then)
was sent at ~90% of a 2-worker run and its GSMFlow test took 412 s of the last 13 minutes (session 13, busy machine).
A module of its own, not in conftest.py: the test (tests/test_suite_order.py) imports it by name, and ``conftest`` is
the name of every folder's conftest.py.
"""

from __future__ import annotations

from collections import Counter

import pytest

FRESH_BIRDS = "fresh_builtin"  # the xdist group of the tests on the freshly drawn birds (one group, several files)
# After it, longest first: each file's wall seconds in a 2-worker run (session 13, after its changes; the machine
# loaded ~5 deep; ``pytest --durations`` and ``--cpu-durations`` list them). Wall, not CPU: a test that waits for its
# child processes holds its worker as long. A group not listed keeps the test-count order; a stale entry only
# changes the order (tests/test_suite_order.py fails when a listed file is gone).
COSTLY_GROUPS = (
    "tests/app/test_app_training.py",  # 89 s (38 CPU s): training in the window, at the training niceness
    "tests/reliability/test_soak.py",  # 61 s, one test
    "tests/test_distributed.py",  # 51 s (43 CPU s): torchrun launches, every method by one and by two processes
    "tests/test_first_launch.py",  # 45 s: birds drawn in processes
    "tests/app/test_kept_predictions.py",  # 43 s
    "tests/test_shipped_real_birds.py",  # 33 s
    "tests/app/test_real_window.py",  # 30 s, one test: the app in Xvfb
    "tests/app/test_app_first_hour.py",  # 25 s
    "tests/reliability/test_crash_safety.py",  # 25 s: 130 kills of writer processes
    "tests/test_wheel.py",  # 24 s: a wheel built and installed in a fresh venv
    "tests/app/test_app_methods.py",  # 23 s
    "tests/app/test_bench_app.py",  # 19 s, one test
)


def group_and_order(config, items) -> None:
    """Mark each test with its xdist group and, on xdist's workers under loadgroup, sort ``items`` in place.

    The files that check the shipped models on the freshly drawn birds (``fresh_builtin``, the suite's largest
    set-up) form one group, sent first so the other worker runs the rest beside it; then ``COSTLY_GROUPS``; then
    the groups with the most tests, as xdist would order them.
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
