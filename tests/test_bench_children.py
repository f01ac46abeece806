"""The bench's children are stopped once they have said everything (``DONE``), not waited for."""

import os
import textwrap
import time

import pytest

from zsl_desktop.bench import children

FAKE_CHILD = """
import json, sys, time
print("READY 1.5", flush=True)
print(json.dumps({"p95": 12.0}), flush=True)
print("DONE", flush=True)
time.sleep(float(sys.argv[2]))  # a window closing slowly: joining the threads of cancelled work
"""


@pytest.fixture
def fake_child(tmp_path, monkeypatch):
    (tmp_path / "fake_bench_child.py").write_text(textwrap.dedent(FAKE_CHILD))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setattr(children, "CHILD_MODULE", "fake_bench_child")


def test_a_child_is_stopped_at_done_with_its_figures(fake_child):
    start = time.perf_counter()
    result, ready = children.run_child("smooth", "60")
    assert time.perf_counter() - start < 30  # not the 60 s the child would still take to close
    assert result["p95"] == 12.0 and result["ready_cpu_s"] == 1.5
    assert 0 < ready <= result["at"]["DONE"]


def test_a_child_that_fails_before_done_is_an_error(tmp_path, monkeypatch):
    (tmp_path / "failing_bench_child.py").write_text("import sys\nprint('READY', flush=True)\nsys.exit('broken')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setattr(children, "CHILD_MODULE", "failing_bench_child")
    with pytest.raises(RuntimeError, match="broken"):
        children.run_child("startup")


GRANDPARENT_CHILD = """
import subprocess, sys
# a worker the child started (the first launch's drawing pool): it holds the child's pipes open
worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print("READY", worker.pid, flush=True)
print("DONE", flush=True)
worker.wait()
"""


def test_stopping_a_child_stops_the_processes_it_started(tmp_path, monkeypatch):
    """A child stopped alone left its workers holding its pipes, and the bench waited on them forever."""
    (tmp_path / "grandparent_bench_child.py").write_text(textwrap.dedent(GRANDPARENT_CHILD))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setattr(children, "CHILD_MODULE", "grandparent_bench_child")
    start = time.perf_counter()
    result, _ = children.run_child("first", timeout=30)
    assert time.perf_counter() - start < 20  # not the worker's 60 s (nor the 30 s timeout)
    worker = int(result["ready_cpu_s"])  # the READY line's number: here the worker's pid
    for _ in range(50):
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the child's worker is still running")
