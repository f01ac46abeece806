"""A held bench child waits after its READY until the parent's ``while_held`` work is done (``run_child``):
the memory child runs while the smooth child finishes its opening, never during its timed parts."""

import textwrap

import pytest

from zsl_desktop.bench import children

HELD_CHILD = """
import json, os, sys
print("READY 1.0", flush=True)
sys.stdin.readline()  # held: the parent's work runs now
print(json.dumps({"saw_marker": os.path.exists(sys.argv[2])}), flush=True)
print("DONE", flush=True)
"""


@pytest.fixture
def held_child(tmp_path, monkeypatch):
    (tmp_path / "held_bench_child.py").write_text(textwrap.dedent(HELD_CHILD))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setattr(children, "CHILD_MODULE", "held_bench_child")


def test_a_held_child_goes_on_only_after_the_parents_work(held_child, tmp_path):
    marker = tmp_path / "memory-child-done"
    heard: list = []

    def while_held(so_far):
        heard.append(so_far)
        marker.write_text("done")  # what the child checks once released

    result, ready = children.run_child("smooth", str(marker), while_held=while_held)
    assert len(heard) == 1 and heard[0]["at"] == {"READY": ready} and ready > 0
    assert heard[0]["ready_cpu_s"] == 1.0  # what the child said so far, its READY line's CPU seconds
    assert result["saw_marker"] is True


def test_a_held_child_is_released_when_the_parents_work_fails(held_child, tmp_path):
    def while_held(ready):
        raise RuntimeError("the memory child failed")

    with pytest.raises(RuntimeError, match="memory child failed"):
        children.run_child("smooth", str(tmp_path / "absent"), while_held=while_held, timeout=30)
