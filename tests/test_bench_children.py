"""The bench's children are stopped once they have said everything (``DONE``), not waited for."""

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
