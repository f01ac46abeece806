"""A scripted tour of the app that saves screenshots (for the README, reviews and visual checks).

    python -m zsl_desktop.bench.screenshot OUT_DIR [--small] [--train-seconds 8]

Runs the real window (use ``xvfb-run`` or QT_QPA_PLATFORM=offscreen), drives
it like a user would, and writes one PNG per state.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--small", action="store_true")
    p.add_argument("--train-seconds", type=float, default=8.0)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--width", type=int, default=1600)
    p.add_argument("--height", type=int, default=1000)
    args = p.parse_args(argv)

    from zsl_desktop.app.main import configure_torch  # (importing app.main also limits OpenBLAS threads)

    configure_torch()
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from zsl_desktop.app import theme
    from zsl_desktop.app.main_window import MainWindow
    from zsl_desktop.engine.session.opening import shipped_checkpoints
    from zsl_desktop.bench.perf import FrameProbe

    app = QApplication.instance() or QApplication(["zsl-desktop"])
    theme.apply(app)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    window = MainWindow(freeze_gc=True)
    window.resize(args.width, args.height)
    window.show()
    started = time.perf_counter()
    window.open_builtin(small=args.small)
    progress_seen = {}
    stage_probe = FrameProbe()  # how smooth the window stays while the data is prepared
    stage_probe.start()

    def on_event(event):
        stage = getattr(event, "stage", None)
        if stage and stage not in progress_seen:
            if progress_seen:
                print(f"        frame probe during the previous stage: {stage_probe.summary()}", flush=True)
                stage_probe.start()
            progress_seen[stage] = time.perf_counter() - started
            print(f"{progress_seen[stage]:6.1f}s  stage {stage}: {event.message}", flush=True)

    def on_ready(ready):
        print(f"{time.perf_counter() - started:6.1f}s  dataset shown: {ready.dataset.name}", flush=True)

    def on_model(summary):
        print(f"{time.perf_counter() - started:6.1f}s  model: {summary.source}", flush=True)

    def on_finished(name, status):
        if name == "open":
            stage_probe.stop()
            print(f"        frame probe during the last stage: {stage_probe.summary()}", flush=True)
        print(f"{time.perf_counter() - started:6.1f}s  job {name} {status}", flush=True)

    window.bridge.progress.connect(on_event)
    window.bridge.dataset_ready.connect(on_ready)
    window.bridge.model_changed.connect(on_model)
    window.bridge.long_finished.connect(on_finished)

    def shot(name: str) -> None:
        app.processEvents()
        path = out / f"{name}.png"
        window.grab().save(str(path))
        print(f"{time.perf_counter() - started:6.1f}s  {path}", flush=True)

    steps = []

    def step(fn):
        steps.append(fn)
        return fn

    state = {"t": 0.0}

    def ready() -> bool:
        return window.controller.dataset is not None and window.bridge.idle()

    @step
    def select_image():
        if not ready():
            return False
        d = window.controller.dataset
        item = int(d.splits["test_unseen"][len(d.splits["test_unseen"]) // 3])
        window.controller.select(item)
        state["t"] = time.perf_counter()
        return True

    @step
    def image_shot():
        if window.image_view.explained is None and window.controller.model is not None:
            return False
        if not window.image_view.has_image or time.perf_counter() - state["t"] < 1.0:
            return False
        shot("01-image-attention")
        return True

    @step
    def edit_class():
        d = window.controller.dataset
        editor = window.editor
        unseen = int(d.unseen_classes[0])
        editor.start_from("dataset", unseen)
        editor.name_edit.setText("Blue-crowned hookbill")
        names = d.attribute_names
        for i, n in enumerate(names):
            if n.startswith("has_crown_color::"):
                editor.set_value(i, 100.0 if n.endswith("::blue") else 0.0)
        editor.save()
        editor.search.setText("crown")
        window.gallery.rank_button.setChecked(True)
        state["t"] = time.perf_counter()
        return True

    @step
    def class_shot():
        if time.perf_counter() - state["t"] < 1.5 or not window.bridge.idle():
            return False
        shot("02-class-editor")
        window.editor.search.setText("")
        return True

    @step
    def hero_setup():
        """Everything at once: an unseen bird's attention, a class being drawn, the gallery ranked, t-SNE."""
        d = window.controller.dataset
        editor = window.editor
        editor.search.setText("")
        editor.new_class()
        unseen = int(d.unseen_classes[1])
        editor.start_from("dataset", unseen)
        editor.name_edit.setText("Red-crowned variant")
        for i, n in enumerate(d.attribute_names):
            if n.startswith("has_crown_color::"):
                editor.set_value(i, 100.0 if n.endswith("::red") else 0.0)
        editor.search.setText("crown")
        rows = [int(r) for r in d.splits["test_unseen"] if int(d.labels[r]) == unseen]
        window.controller.select(rows[min(3, len(rows) - 1)])
        window.gallery.rank_button.setChecked(False)
        window.gallery.rank_button.setChecked(True)  # ranked, from the top
        window.docks["features"].show()
        window.docks["features"].raise_()
        window.resizeDocks([window.docks["features"]], [330], Qt.Vertical)
        state["t"] = time.perf_counter()
        return True

    @step
    def hero_attribute():
        e = window.image_view.explained
        if e is None or e.item != window.controller.item or not window.bridge.idle():
            if time.perf_counter() - state["t"] > 20.0:  # no explanation comes (no model yet: `--small`)
                print("no attention map after 20 s (no model?): the hero shot goes without it", flush=True)
                return True
            return False
        names = window.controller.dataset.attribute_names
        crown = [i for i, n in enumerate(names) if n.startswith("has_crown_color::")]
        window.image_view.show_attribute(max(crown, key=lambda i: e.attribute_scores[i]))
        return time.perf_counter() - state["t"] > 2.0

    @step
    def hero_shot():
        shot("00-hero")
        window.resizeDocks([window.docks["training"]], [330], Qt.Vertical)
        return True

    probe = FrameProbe()

    @step
    def start_training():
        window.gallery.rank_button.setChecked(False)
        window.editor.search.setText("")
        window.show_training()
        window.training.epochs.setValue(args.epochs)
        window.training.start_button.click()
        state["t"] = time.perf_counter()
        return True

    @step
    def start_probe():
        if window.training.last_progress is None:  # measure once steps flow
            return False
        probe.start()
        return True

    @step
    def training_shot():
        if time.perf_counter() - state["t"] < args.train_seconds:
            return False
        probe.stop()
        print(f"frame probe while training: {probe.summary()}", flush=True)
        shot("03-training")
        window.training.tabs.setCurrentIndex(1)
        state["t"] = time.perf_counter()
        return True

    @step
    def validation_shot():
        if time.perf_counter() - state["t"] < 1.0:
            return False
        shot("04-validation")
        window.bridge.cancel()
        return True

    @step
    def features_shot():
        if not window.bridge.idle():
            return False
        window.docks["features"].show()
        window.docks["features"].raise_()
        window.resizeDocks([window.docks["features"]], [460], Qt.Vertical)
        if window.features.projection is None:
            return False
        state["t"] = time.perf_counter()
        return True

    @step
    def features_wait():
        if time.perf_counter() - state["t"] < 1.0:
            return False
        shot("05-feature-space")
        window.training.tabs.setCurrentIndex(2)
        window.show_training()
        window.resizeDocks([window.docks["training"]], [330], Qt.Vertical)
        return True

    @step
    def evaluation_shot():
        shot("06-evaluation")
        return True

    sgma = [p for p in shipped_checkpoints() if p.name.startswith("sgma")]

    @step
    def load_sgma():
        """A part-based model: its boxes and crops fill the parts strip under the image."""
        if not sgma or window.controller.dataset is None or window.controller.dataset.name != "builtin":
            steps.clear()
            return True
        if not window.bridge.idle():
            return False
        window.load_checkpoint(sgma[0])
        state["t"] = time.perf_counter()
        return True

    @step
    def sgma_select():
        m = window.controller.model
        if m is None or m.method != "sgma" or not window.bridge.idle():
            return time.perf_counter() - state["t"] > 300 and bool(steps.clear() or True)
        window.gallery.rank_button.setChecked(False)
        window.docks["training"].raise_()
        window.controller.select(window.controller.item)
        state["t"] = time.perf_counter()
        return True

    @step
    def sgma_shot():
        e = window.image_view.explained
        if e is None or e.item != window.controller.item or time.perf_counter() - state["t"] < 1.5:
            return False
        shot("07-parts-sgma")
        return True

    def tick():
        while steps and steps[0]():
            if steps:  # a step may end the tour early by clearing the list
                steps.pop(0)
        if not steps:
            window.close()
            app.quit()
            return
        QTimer.singleShot(100, tick)

    QTimer.singleShot(100, tick)
    app.exec()
    print(f"done in {time.perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
