"""The quiet gate: heavy background imports wait while the user scrolls, pause between modules, and never hang."""

import sys
import threading
import time

import pytest

from zsl_desktop.engine import quiet


@pytest.fixture
def gate(monkeypatch):
    """The process's gate with a short quiet time, left as it was afterwards."""
    monkeypatch.setattr(quiet.GATE, "quiet_after", 0.3)
    monkeypatch.setattr(quiet.GATE, "last_touch", float("-inf"))
    return quiet.GATE


@pytest.fixture
def fresh_module(tmp_path, monkeypatch):
    """The name of a module that is not imported yet (written to a folder on sys.path)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    names = []

    def make(name: str) -> str:
        (tmp_path / f"{name}.py").write_text("VALUE = 42\n")
        names.append(name)
        return name

    yield make
    for name in names:
        sys.modules.pop(name, None)


def keep_touching(gate, seconds: float) -> threading.Thread:
    """A user scrolling for ``seconds``: the gate touched every 50 ms."""

    def run():
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            gate.touch()
            time.sleep(0.05)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_an_untouched_gate_never_waits(gate):
    start = time.monotonic()
    assert gate.wait()
    assert time.monotonic() - start < 0.1


def test_the_wait_lasts_until_the_user_pauses(gate):
    user = keep_touching(gate, 0.5)
    start = time.monotonic()
    assert gate.wait()
    waited = time.monotonic() - start
    user.join()
    assert 0.5 + 0.3 - 0.1 < waited < 5, waited  # the last touch, then the quiet time


def test_cancelling_or_the_limit_ends_the_wait(gate):
    gate.touch()
    start = time.monotonic()
    assert not gate.wait(cancelled=lambda: True)
    assert time.monotonic() - start < 0.2
    user = keep_touching(gate, 1.5)
    start = time.monotonic()
    assert gate.wait(limit=0.3)  # a user who never pauses: the work goes on after the limit
    assert time.monotonic() - start < 1.0
    user.join()


def test_import_when_quiet_waits_then_imports_and_is_free_afterwards(gate, fresh_module):
    name = fresh_module("quiet_probe_a")
    user = keep_touching(gate, 0.4)
    start = time.monotonic()
    assert quiet.import_when_quiet(name)
    assert time.monotonic() - start > 0.4 + 0.3 - 0.1 and sys.modules[name].VALUE == 42
    user.join()
    gate.touch()  # imported already: no wait however busy the user is
    start = time.monotonic()
    assert quiet.import_when_quiet(name)
    assert time.monotonic() - start < 0.1


def test_a_cancelled_import_imports_nothing(gate, fresh_module):
    name = fresh_module("quiet_probe_b")
    gate.touch()
    assert not quiet.import_when_quiet(name, cancelled=lambda: True)
    assert name not in sys.modules


def test_a_paced_import_pauses_before_its_next_module_only_on_its_own_thread(gate, fresh_module):
    first, second = fresh_module("quiet_probe_c"), fresh_module("quiet_probe_d")
    with quiet.paced_imports():
        __import__(first)  # quiet: at once
        gate.touch()  # the user comes back: the next module waits
        others = []
        elsewhere = threading.Thread(target=lambda: others.append(time.monotonic()) or __import__("quiet_probe_e"))
        fresh_module("quiet_probe_e")
        start = time.monotonic()
        elsewhere.start()
        elsewhere.join()
        assert time.monotonic() - start < 0.2  # another thread's import does not wait
        __import__(second)
        assert time.monotonic() - start > 0.2
    assert not any(isinstance(f, quiet.ImportPacer) for f in sys.meta_path)  # removed afterwards
    gate.touch()
    start = time.monotonic()
    __import__(fresh_module("quiet_probe_f"))  # outside paced_imports: no wait
    assert time.monotonic() - start < 0.2
