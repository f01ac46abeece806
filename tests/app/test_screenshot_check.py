"""``zsl-desktop --screenshot`` (app/main.py): the first predictions are timed when they are shown, not when
every job has ended (a first launch shows them on its first 200 birds minutes before it has drawn the rest),
and a picture that waits for a long job says so."""

from types import SimpleNamespace

from zsl_desktop.app.main import ScreenshotCheck, first_predictions_shown


class FakeBridge:
    def __init__(self):
        self.busy, self.pending = True, False

    def idle(self):
        return not self.busy and not self.pending


def fake_window(model=None, all_scores=None, dataset="birds"):
    controller = SimpleNamespace(dataset=dataset, model=model, all_scores=all_scores)
    return SimpleNamespace(controller=controller, bridge=FakeBridge())


def test_predictions_on_the_first_birds_count_while_the_first_launch_goes_on():
    w = fake_window(model=SimpleNamespace(method="msdn", source="shipped"))
    assert not first_predictions_shown(w, opened=False)  # the model is there, its scores are not yet
    w.controller.all_scores = object()
    assert first_predictions_shown(w, opened=False)  # the 'open' job still draws the other birds


def test_without_a_model_it_waits_for_the_opening_and_its_checkpoint():
    w = fake_window()
    assert not first_predictions_shown(w, opened=False)  # a --checkpoint may still be on its way
    assert not first_predictions_shown(w, opened=True)  # ... and loading
    w.bridge.busy = False
    assert first_predictions_shown(w, opened=True)
    assert not first_predictions_shown(fake_window(dataset=None), opened=True)


def test_the_check_times_the_first_predictions_says_what_it_waits_for_then_takes_the_picture(qapp, capsys, monkeypatch):
    w = fake_window(model=SimpleNamespace(method="msdn", source="shipped"), all_scores=object())
    check = ScreenshotCheck(w, "x.png", delay=0.0, started=0.0)
    check.on_long_started("open", "Opening the built-in birds")
    taken, later = [], []
    monkeypatch.setattr(check, "take", lambda: taken.append(True))
    monkeypatch.setattr(check, "poll_later", lambda: later.append(True))  # no timer left to fire after the test
    check.poll()
    err = capsys.readouterr().err
    assert "first predictions shown" in err and "“Opening the built-in birds” has finished" in err
    assert not taken and check.ready_at is not None
    check.poll()
    assert "has finished" not in capsys.readouterr().err  # said once
    w.bridge.busy = False
    check.poll()
    assert not taken  # the dataset has not opened (when_ready has not run)
    check.opened = True
    check.poll()
    assert taken == [True] and len(later) == 3  # polled again after each of the three waits
