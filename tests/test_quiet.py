"""The quiet gate: heavy background imports wait while the user scrolls, pause between modules, and never hang."""

import sys
import threading
import time

import numpy as np
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


def test_a_paced_loop_pauses_at_its_pause_points_and_an_unpaced_one_never_does(gate):
    gate.touch()
    start = time.monotonic()
    quiet.pause_for_user()  # not paced: no wait, however busy the user is
    assert time.monotonic() - start < 0.1
    with quiet.paced_imports():
        quiet.pause_for_user()  # paced: waits for the quiet time after the last touch
        assert time.monotonic() - start > 0.3 - 0.05
        others = []
        elsewhere = threading.Thread(target=lambda: (quiet.pause_for_user(), others.append(time.monotonic())))
        gate.touch()
        start = time.monotonic()
        elsewhere.start()
        elsewhere.join()
        assert others[0] - start < 0.2  # another thread's loop is not paced
    gate.touch()
    start = time.monotonic()
    quiet.pause_for_user()  # after the paced work: free again
    assert time.monotonic() - start < 0.1


def test_checking_the_images_pauses_while_the_user_scrolls(gate, tmp_path, monkeypatch):
    """The opening's images' check (every file's stamp) waits at its pause points when it is paced."""
    from types import SimpleNamespace

    from zsl_desktop.engine import image_stamps

    for i in range(5):
        (tmp_path / f"{i}.jpg").write_bytes(b"x" * (i + 1))
    dataset = SimpleNamespace(num_samples=5, image_root=tmp_path, image_paths=tuple(f"{i}.jpg" for i in range(5)))
    monkeypatch.setattr(image_stamps, "PAUSE_EVERY", 2)
    pauses = []
    with monkeypatch.context() as counting:
        counting.setattr(image_stamps, "pause_for_user", lambda: pauses.append(True))
        stamps = image_stamps.image_stamps(dataset)
    assert len(pauses) == 3 and stamps[:, 0].tolist() == [1, 2, 3, 4, 5]  # at rows 0, 2 and 4; every file stamped
    user = keep_touching(gate, 0.4)
    start = time.monotonic()
    with quiet.paced_imports():
        assert np.array_equal(image_stamps.image_stamps(dataset), stamps)
    assert time.monotonic() - start > 0.4 + 0.3 - 0.1
    user.join()


@pytest.mark.parametrize("kept", [True, False])
def test_the_opening_after_kept_predictions_is_paced_and_a_first_launch_is_not(kept, monkeypatch):
    """With kept predictions on screen the user may scroll while torch is imported: its modules wait for pauses."""
    from types import SimpleNamespace

    from zsl_desktop.engine.session import before_torch, opening

    shown = SimpleNamespace(name="DatasetLoaded")  # what the window shows before torch

    def load_before_torch(spec):
        return spec, (shown if kept else None)
        yield  # a generator, as the real one

    def open_session(spec, control, emit_event):
        yield quiet.is_paced()

    monkeypatch.setattr(before_torch, "load_before_torch", load_before_torch)
    monkeypatch.setattr(opening, "open_session", open_session)
    spec, control = SimpleNamespace(before_torch=None), SimpleNamespace(cancelled=False)
    events = list(before_torch.open_in_two_stages(spec, control, lambda event: None))
    assert events == ([shown, True] if kept else [False])
    assert not quiet.is_paced()  # afterwards: this thread is not paced any more
