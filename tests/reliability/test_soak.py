"""Soak: the real window, offscreen, through thousands of slider moves, hundreds of image selections and a
short training run. Nothing may fail, the window must still answer, and memory must level off.

The CI run is short. A longer manual soak (the figures in the notes come from one):

    ZSL_SOAK_MOVES=20000 ZSL_SOAK_SELECTIONS=5000 ZSL_SOAK_EPOCHS=3 \
        python -m pytest tests/reliability/test_soak.py -s
"""

from __future__ import annotations

import gc
import os
import time

import numpy as np
import pytest

pytest.importorskip("PySide6")

MOVES = int(os.environ.get("ZSL_SOAK_MOVES", 2000))
SELECTIONS = int(os.environ.get("ZSL_SOAK_SELECTIONS", 500))
EPOCHS = int(os.environ.get("ZSL_SOAK_EPOCHS", 2))
INPUT_SIZE = 64  # small features: the soak is about the app's loops, not the backbone


def rss_mb() -> float:
    """Resident memory of this process (Linux /proc; the soak is skipped elsewhere)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@pytest.fixture(scope="module")
def soak_model(small_birds, tmp_path_factory):
    """Features of the small birds at 64 px and a 2-epoch MSDN on them, in a home the soak reuses."""
    from zsl_desktop.engine.session import Session
    from zsl_desktop.engine.training import TrainConfig, train
    from zsl_desktop.engine.events import run_to_end

    home = tmp_path_factory.mktemp("soak-home")
    mp = pytest.MonkeyPatch()
    mp.setenv("ZSL_DESKTOP_HOME", str(home))
    try:
        session = Session(small_birds, input_size=INPUT_SIZE)
        run_to_end(session.prepare_features())
        config = TrainConfig(method="msdn", epochs=2, seed=0, hparams={"batch_size": 32}, input_size=INPUT_SIZE)
        finished = run_to_end(train(small_birds, session.features, config))
    finally:
        mp.undo()
    return home, (finished.method, finished.header, "soak model (2 epochs)")


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="RSS is read from /proc")
def test_soak(qtbot, small_birds, soak_model, monkeypatch, capsys):
    from PySide6.QtWidgets import QApplication

    from zsl_desktop.app import theme
    from zsl_desktop.app.main_window import MainWindow
    from zsl_desktop.engine.session.opening import DatasetSpec

    home, model = soak_model
    monkeypatch.setenv("ZSL_DESKTOP_HOME", str(home))
    app = QApplication.instance()
    theme.apply(app)
    window = MainWindow()
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    failures = []
    window.bridge.short_failed.connect(lambda kind, message: failures.append((kind, message)))
    window.bridge.long_failed.connect(lambda failed: failures.append(("long", str(failed))))
    results = {}
    b = window.bridge
    for kind, signal in (
        ("live", b.live_scores),
        ("explain", b.explained),
        ("all", b.all_scores),
        ("image", b.image_loaded),
        ("projection", b.projection),
        ("evaluate", b.evaluated),
    ):
        signal.connect(lambda value, kind=kind: results.__setitem__(kind, results.get(kind, 0) + 1))
    spec = DatasetSpec(source="object", dataset=small_birds, model=model, input_size=INPUT_SIZE, warm_up=False)
    with qtbot.waitSignal(window.bridge.dataset_ready, timeout=60000):
        assert window.open_spec(spec)
    qtbot.waitUntil(window.bridge.idle, timeout=60000)

    editor, controller = window.editor, window.controller
    items = np.random.default_rng(0).permutation(small_birds.num_samples)
    unseen = int(small_birds.unseen_classes[0])
    editor.start_from("dataset", unseen)
    editor.name_edit.setText("Soak class")
    num_sliders = len(editor.sliders)
    rng = np.random.default_rng(1)
    counts = {"moves": 0, "selections": 0, "drags": 0, "undos": 0}

    def select(n: int) -> None:
        """Select the n-th image; every 10th time wait until it is shown and explained, as a user looking
        at it would (the others are clicked past, so the latest-request-wins path drops stale work)."""
        item = int(items[n % len(items)])
        controller.select(item)
        counts["selections"] += 1
        if n % 10 == 0:
            qtbot.waitUntil(
                lambda: window.image_view.item == item and window.image_view.explained is not None, timeout=30000
            )

    def interact(moves: int, selections: int) -> None:
        """``moves`` slider moves in short drags, with ``selections`` image selections spread among them."""
        every = max(1, moves // max(selections, 1))
        slider = None  # the slider being dragged (a new one every 20 moves)
        for m in range(moves):
            if m % 20 == 0:
                if m:
                    slider.slider.setSliderDown(False)
                slider = editor.sliders[int(rng.integers(num_sliders))]
                slider.slider.setSliderDown(True)  # one drag = one undo step
                counts["drags"] += 1
            slider.slider.setValue(int(rng.integers(0, slider.slider.maximum() + 1)))
            counts["moves"] += 1
            if m % every == 0 and counts["selections"] < selections_target[0]:
                select(counts["selections"])
            if m % 10 == 0:
                QApplication.processEvents()
            if m % 400 == 399:  # now and then, undo and redo a drag, and let the workers catch up
                slider.slider.setSliderDown(False)
                editor.undo()
                editor.redo()
                counts["undos"] += 1
                slider.slider.setSliderDown(True)
                qtbot.waitUntil(window.bridge.idle, timeout=30000)
        slider.slider.setSliderDown(False)
        while counts["selections"] < selections_target[0]:  # more selections than moves asked for
            select(counts["selections"])
            QApplication.processEvents()
        qtbot.waitUntil(window.bridge.idle, timeout=30000)

    def settle() -> float:
        qtbot.waitUntil(window.bridge.idle, timeout=30000)
        qtbot.wait(50)
        gc.collect()
        return rss_mb()

    start = time.perf_counter()
    selections_target = [min(20, SELECTIONS)]
    interact(100, 20)  # warm-up: first allocations, caches, fonts
    rss = {"start": settle()}

    selections_target = [counts["selections"] + SELECTIONS // 2]
    interact(MOVES // 2, SELECTIONS // 2)
    rss["half"] = settle()

    model_before = controller.model
    window.training.epochs.setValue(EPOCHS)
    with qtbot.waitSignal(window.bridge.model_changed, timeout=120000):
        window.training.start_button.click()
    qtbot.waitUntil(lambda: not window.bridge.busy, timeout=60000)
    assert controller.model is not model_before, "the trained model took over"
    rss["trained"] = settle()

    selections_target = [counts["selections"] + SELECTIONS - SELECTIONS // 2]
    interact(MOVES - MOVES // 2, SELECTIONS - SELECTIONS // 2)
    rss["end"] = settle()
    seconds = time.perf_counter() - start

    # Still alive and answering: a last selection is explained and predicted.
    item = int(small_birds.splits["test_unseen"][0])
    controller.select(item)
    qtbot.waitUntil(
        lambda: (
            window.image_view.explained is not None
            and window.image_view.item == item
            and window.predictions.raw is not None
        ),
        timeout=30000,
    )
    assert "Soak class" in window.predictions.names
    assert not failures, failures[:5]
    assert counts["moves"] >= MOVES and counts["selections"] >= SELECTIONS
    assert results.get("live", 0) > MOVES // 200, results  # slider moves were scored (throttled, not dropped)
    assert results.get("explain", 0) >= SELECTIONS // 10, results  # selections were explained

    with capsys.disabled():
        print(
            f"\nsoak: {counts['moves']} slider moves ({counts['drags']} drags, {counts['undos']} undo/redo), "
            f"{counts['selections']} selections, {EPOCHS}-epoch training, {seconds:.1f} s; results {results}; "
            f"RSS MB start {rss['start']:.0f}, half {rss['half']:.0f}, after training {rss['trained']:.0f}, "
            f"end {rss['end']:.0f}"
        )
    # Memory levels off: the second half of the session (after training) adds little, and the whole
    # session stays within a fixed allowance however long it runs.
    assert rss["end"] - rss["trained"] < 40 + 0.002 * MOVES, rss
    # The allowance covers one training run: MSDN's default now trains its final model five times (seeds
    # s..s+4000, averaged), which leaves RSS ~120 MB higher than one final model did (measured: +220 vs +98 MB
    # after training, flat afterwards), so the allowance is 300 MB, not 150.
    assert rss["end"] - rss["start"] < 300, rss

    window.close()
    assert all(not t.isRunning() for t in window.bridge.threads())
