"""Training from the panel: live curves, pause/resume/stop, the new model taking over, a smooth GUI."""

import contextlib
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from zsl_desktop.bench.perf import FrameProbe
from zsl_desktop.engine.session.results import TrainProgress
from zsl_desktop.engine.paths import data_dir


def _set_hparam(panel, name, value):
    for row in range(panel.hparams.rowCount()):
        if panel.hparams.item(row, 0).text() == name:
            panel.hparams.item(row, 1).setText(str(value))
            return
    raise KeyError(name)


def _long_run(w, epochs=300):
    w.training.method_box.setCurrentIndex(w.training.method_box.findData("msdn"))
    w.training.epochs.setValue(epochs)
    _set_hparam(w.training, "batch_size", 4)  # many small steps: a run long enough to pause and stop


def test_train_pause_resume_and_stop(make_window, qtbot):
    w = make_window()
    model_before = w.controller.model
    _long_run(w)
    events = []
    w.bridge.train_event.connect(events.append)
    assert w.training.start_button.isEnabled()
    w.training.start_button.click()
    assert w.bridge.busy and w.training.running and not w.training.start_button.isEnabled()
    qtbot.waitUntil(lambda: any(isinstance(e, TrainProgress) for e in events), timeout=20000)
    qtbot.waitUntil(lambda: w.training.curves.loss_curve("total") is not None, timeout=5000)  # the curve is drawn
    x, y = w.training.curves.loss_curve("total").getData()
    assert len(x) > 0 and np.isfinite(y).all()
    assert "ETA" in w.training.state.text()
    # pause: no more steps arrive
    w.training.pause_button.click()
    assert w.bridge.paused and w.training.pause_button.text() == "Resume"
    qtbot.wait(400)
    n_paused = sum(isinstance(e, TrainProgress) for e in events)
    qtbot.wait(600)
    assert sum(isinstance(e, TrainProgress) for e in events) <= n_paused + 1
    w.training.pause_button.click()  # resume
    assert not w.bridge.paused
    qtbot.waitUntil(lambda: sum(isinstance(e, TrainProgress) for e in events) > n_paused + 1, timeout=10000)
    # stop: the job ends cancelled, the previous model stays
    with qtbot.waitSignal(w.bridge.long_finished, timeout=20000) as blocker:
        w.training.stop_button.click()
    assert blocker.args == ["train", "cancelled"]
    assert not w.bridge.busy and not w.training.running
    assert w.controller.model is model_before
    assert "Stopped" in w.training.state.text()
    assert w.training.start_button.isEnabled()


def test_training_to_the_end_makes_the_new_model_active(make_window, qtbot, small_birds):
    w = make_window(with_model=False)
    w.training.epochs.setValue(3)
    # 5 CPU s of training at the training niceness: on a machine loaded ~10 deep it took 67 s of wall time
    # (a failure at 60 s); the wait is a hang guard, not a speed check
    with qtbot.waitSignal(w.bridge.model_changed, timeout=180000):
        w.training.start_button.click()
    qtbot.waitUntil(lambda: not w.bridge.busy, timeout=20000)
    model = w.controller.model
    assert model.method == "msdn" and "gamma" in model.header
    from zsl_desktop.engine.training import default_checkpoint_path

    # the name carries the dataset's fingerprint: another "builtin-small" never overwrites it
    assert model.source == str(data_dir() / "checkpoints" / f"builtin-small-{small_birds.fingerprint[:8]}-msdn.pt")
    assert model.source == str(default_checkpoint_path(small_birds, "msdn"))
    assert os.path.exists(model.source)
    assert w.training.cards.text("h").endswith("%")
    assert len(w.training.curves.validation["H"].data()[0]) == 3  # one validation point per epoch
    assert w.predictions.has_model and not w.predictions.train_button.isVisible()
    w.controller.select(int(small_birds.splits["test_unseen"][0]))
    qtbot.waitUntil(lambda: w.predictions.raw is not None and w.image_view.explained is not None, timeout=10000)


def test_training_with_flips_extracts_the_mirrored_images_once_then_the_model_averages(
    make_window, qtbot, feature_home
):
    import shutil

    from zsl_desktop.engine.session.results import Progress

    features = data_dir() / "features"
    features.unlink()  # this test writes the mirrored store: into its own copy of the shared features
    shutil.copytree(feature_home, features)
    w = make_window(with_model=False)
    panel = w.training
    assert panel.flips.isEnabled() and panel.config().flips == "none"  # off unless asked for
    panel.method_box.setCurrentIndex(panel.method_box.findData("ipce"))
    panel.epochs.setValue(1)
    panel.selection.setCurrentIndex(panel.selection.findData("test"))  # one run, no folds: a fast test
    panel.flips.setCurrentIndex(panel.flips.findData("tta"))
    panel.flips.activated.emit(panel.flips.currentIndex())  # as a user's pick does
    assert panel.config().flips == "tta"
    events = []
    w.bridge.train_event.connect(events.append)
    with qtbot.waitSignal(w.bridge.model_changed, timeout=300000):
        panel.start_button.click()
    qtbot.waitUntil(lambda: not w.bridge.busy, timeout=20000)
    extracting = [e for e in events if isinstance(e, Progress) and e.stage == "extract"]
    assert extracting and extracting[-1].done == extracting[-1].total == small_birds_count(w)
    assert len(list(features.glob("*-hflip"))) == 1
    assert w.controller.model.header["flips"] == "tta"
    assert w.bridge.session.mirrored_store is not None  # the active model scores each image with its mirror
    # SGMA re-encodes crops of the original images: held at none, saying why; the choice comes back after
    panel.method_box.setCurrentIndex(panel.method_box.findData("sgma"))
    assert not panel.flips.isEnabled() and panel.config().flips == "none" and "crops" in panel.flips.toolTip()
    panel.method_box.setCurrentIndex(panel.method_box.findData("ipce"))
    assert panel.flips.isEnabled() and panel.config().flips == "tta"
    # a second run finds the mirrored store: nothing extracted again
    panel.epochs.setValue(1)  # the method switch brought back IPCE's default epochs
    events.clear()
    with qtbot.waitSignal(w.bridge.model_changed, timeout=300000):
        panel.start_button.click()
    qtbot.waitUntil(lambda: not w.bridge.busy, timeout=20000)
    assert not [e for e in events if isinstance(e, Progress) and e.stage == "extract"]


def small_birds_count(window) -> int:
    return window.bridge.session.dataset.num_samples


def test_bad_hyper_parameter_is_reported(make_window):
    w = make_window()
    _set_hparam(w.training, "lr", "fast please")
    w.training.start_button.click()
    assert not w.bridge.busy
    assert "lr" in w.training.state.text()


def test_closing_the_window_during_training_stops_everything(make_window, qtbot):
    w = make_window()
    _long_run(w)
    w.training.start_button.click()
    qtbot.waitUntil(lambda: w.training.last_progress is not None, timeout=20000)
    threads = w.bridge.threads()
    w.close()  # cancels, joins, then closes
    assert all(not t.isRunning() for t in threads)


def test_gui_stays_responsive_while_training(make_window, qtbot):
    """A 16 ms timer probe: the largest gap between ticks while a training run goes."""
    w = make_window()
    _long_run(w)
    w.training.start_button.click()
    qtbot.waitUntil(lambda: w.training.last_progress is not None, timeout=20000)
    probe = FrameProbe()
    probe.start()
    qtbot.wait(3000)
    probe.stop()
    w.bridge.cancel()
    qtbot.waitUntil(lambda: not w.bridge.busy, timeout=20000)
    print(f"\nframe probe while training: {probe.summary()}")
    gaps = np.asarray(probe.gaps)
    # The real figure is measured on the full dataset (see the screenshot tour); here, on a shared
    # 2-core machine, only catch the GUI thread being blocked: the timer must keep firing.
    assert len(gaps) > 45  # >= 15 ticks a second over 3 s
    assert np.median(gaps) < 40
    assert gaps.max() < 1500


def test_run_app_end_to_end(tmp_path):
    """``zsl-desktop --small`` in a fresh home: generates, extracts, opens, screenshots, exits cleanly."""
    shot = tmp_path / "shot.png"
    env = {**os.environ, "ZSL_DESKTOP_HOME": str(tmp_path / "home"), "QT_QPA_PLATFORM": "offscreen"}
    code = (
        "import sys; from zsl_desktop.app.main import run_app; "
        f"sys.exit(run_app(['--small', '--select', '3', '--screenshot', {str(shot)!r}, "
        "'--screenshot-delay', '0.5']))"
    )
    start = time.perf_counter()
    # Its own process group, killed whole at the end: on a time-out, killing the app alone left its bird-drawing
    # processes running, orphaned, long after the test (seen on a busy machine).
    app = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, err = app.communicate(timeout=180)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(app.pid, signal.SIGKILL)
        app.communicate()
    assert app.returncode == 0, err[-3000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "home" / "data" / "datasets" / "builtin_birds_small" / "images.txt").exists()
    assert list((tmp_path / "home" / "config").glob("*.ini"))  # the layout was saved on close
    assert time.perf_counter() - start < 150


@pytest.mark.parametrize("argv", [["--help"]])
def test_cli_help(argv, capsys):
    from zsl_desktop.app.main import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(argv)
    assert "--small" in capsys.readouterr().out


def test_app_backbone_option_reaches_the_dataset_spec(make_window, monkeypatch, tmp_path, capsys):
    from zsl_desktop.app.main import build_parser, run_app

    assert (
        build_parser().parse_args(["--dataset", "d", "--backbone", "efficientnet_lite2"]).backbone
        == "efficientnet_lite2"
    )
    with pytest.raises(SystemExit):
        run_app(["--backbone", "efficientnet_lite1"])  # the built-in birds keep Lite0
    assert "--backbone and --input-size need --dataset" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_app(["--input-size", "448"])  # the shipped models are made at 224 px
    assert "--backbone and --input-size need --dataset" in capsys.readouterr().err
    w = make_window(open_dataset=False)
    specs = []
    monkeypatch.setattr(w, "open_spec", specs.append)
    w.open_path(tmp_path, None, "efficientnet_lite2")
    w.open_path(tmp_path)
    w.open_path(tmp_path, None, None, 448)
    assert [(s.backbone, s.input_size) for s in specs] == [
        ("efficientnet_lite2", 260),
        ("efficientnet_lite0", 224),
        ("efficientnet_lite0", 448),
    ]
