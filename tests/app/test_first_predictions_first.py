"""At start-up the selected image's predictions come first: every image's scores, the test-split
evaluation and the opening's warm-up wait for the first live scores (they delayed them, measured)."""

import threading
import time

from zsl_desktop.app.bridge import EngineBridge
from zsl_desktop.engine.events import Control
from zsl_desktop.engine.session import opening


def test_scores_evaluation_and_warm_up_follow_the_first_live_scores(
    make_window, qtbot, small_birds, trained_model, monkeypatch
):
    order = []
    submit, result = EngineBridge._submit, EngineBridge._on_short_result

    def recorded_submit(self, kind, fn, priority=0, slow=False):
        order.append(("asked", kind))
        return submit(self, kind, fn, priority, slow)

    def recorded_result(self, kind, rid, value):
        order.append(("got", kind))
        return result(self, kind, rid, value)

    monkeypatch.setattr(EngineBridge, "_submit", recorded_submit)
    monkeypatch.setattr(EngineBridge, "_on_short_result", recorded_result)
    monkeypatch.setattr(opening, "prewarm_imports", lambda: order.append(("warm-up", "imports")))
    monkeypatch.setattr(opening, "warm_up", lambda session: order.append(("warm-up", "step")))
    window = make_window(open_dataset=False)
    window.open_dataset_object(small_birds, model=trained_model, warm_up=True)
    qtbot.waitUntil(lambda: ("warm-up", "step") in order and window.bridge.idle(), timeout=30000)
    first_live = order.index(("got", "live"))
    for later in (("asked", "all"), ("asked", "evaluate"), ("warm-up", "imports")):
        assert order.index(later) > first_live, order
    qtbot.waitUntil(lambda: window.controller.all_scores is not None, timeout=10000)  # they still come


def test_the_warm_up_gate_waits_for_its_event_then_goes_on():
    gate = threading.Event()
    threading.Timer(0.2, gate.set).start()
    start = time.monotonic()
    assert opening.wait_for_gate(gate, Control(), limit=10)
    assert 0.15 < time.monotonic() - start < 5


def test_the_warm_up_gate_gives_up_after_its_limit_and_on_cancel():
    start = time.monotonic()
    assert opening.wait_for_gate(threading.Event(), Control(), limit=0.2)  # an app that never shows predictions
    assert time.monotonic() - start < 5
    control = Control()
    threading.Timer(0.1, control.cancel).start()
    assert not opening.wait_for_gate(threading.Event(), control, limit=10)
    assert opening.wait_for_gate(None, Control())  # no gate: no wait
