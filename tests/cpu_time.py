"""``--cpu-durations=N``: the N costliest test files and tests by CPU seconds, for finding where the suite's time goes.

Why CPU and not pytest's ``--durations`` (wall time): on the shared 2-core machine (load 8-20) a test's wall time
says mostly how loaded the machine was; its CPU time (this process, every thread, and the child processes it
waited for) what it cost. A file's module fixtures count in its first test, so the file totals are the fair
figures. Works under pytest-xdist: each worker measures its own tests and the figure travels with the report.
tests/conftest.py imports these hooks and calls ``register_totals``.
"""

from __future__ import annotations

import resource
from collections import defaultdict

import pytest

CPU_PROPERTY = "cpu_s"
_spent = pytest.StashKey[float]()


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its children that have been waited for."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def pytest_addoption(parser):
    parser.addoption(
        "--cpu-durations",
        type=int,
        default=None,
        metavar="N",
        help="list the N costliest test files and tests by CPU seconds (process, threads and waited-for children)",
    )


def _timed_phase(item):
    start = cpu_seconds()
    yield
    item.stash[_spent] = cpu_seconds() - start


pytest_runtest_setup = pytest.hookimpl(hookwrapper=True)(_timed_phase)
pytest_runtest_call = pytest.hookimpl(hookwrapper=True)(_timed_phase)
pytest_runtest_teardown = pytest.hookimpl(hookwrapper=True)(_timed_phase)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if item.config.getoption("cpu_durations") is not None and _spent in item.stash:
        outcome.get_result().user_properties.append((CPU_PROPERTY, item.stash[_spent]))


class _Totals:
    """Each test's CPU seconds as its reports arrive (on xdist's controller: from every worker); printed at the end."""

    def __init__(self, count: int):
        self.count = count
        self.by_test: defaultdict[str, float] = defaultdict(float)

    def pytest_runtest_logreport(self, report):
        for name, value in report.user_properties:
            if name == CPU_PROPERTY:  # under xdist's loadgroup the id ends in "@group": left out
                self.by_test[report.nodeid.split("@")[0]] += value

    def pytest_terminal_summary(self, terminalreporter):
        files: defaultdict[str, float] = defaultdict(float)
        for nodeid, seconds in self.by_test.items():
            files[nodeid.split("::")[0]] += seconds
        write = terminalreporter.write_line
        total = sum(self.by_test.values())
        terminalreporter.section(f"CPU seconds: {total:.1f} in all; the {self.count} costliest files, then tests")
        for path, seconds in sorted(files.items(), key=lambda kv: -kv[1])[: self.count]:
            write(f"{seconds:8.2f}  {path}")
        write("")
        for nodeid, seconds in sorted(self.by_test.items(), key=lambda kv: -kv[1])[: self.count]:
            write(f"{seconds:8.2f}  {nodeid}")


def register_totals(config) -> None:
    """From tests/conftest.py's pytest_configure: the report at the end, when asked for."""
    count = config.getoption("cpu_durations")
    if count is not None:
        config.pluginmanager.register(_Totals(count), "cpu-durations-totals")
