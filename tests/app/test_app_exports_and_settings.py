"""Through the real window: exported images, plots and tables; the layout and settings kept across a restart.

Every test drives real widgets on the small built-in birds with a real (briefly trained) MSDN
model; threads are real too, so the tests wait on results with ``qtbot.waitUntil``.
"""

from window_steps import select_item
from zsl_desktop.engine.paths import data_dir


PNG = b"\x89PNG\r\n\x1a\n"


def test_exports(make_window, qtbot, small_birds, tmp_path, monkeypatch):
    from zsl_desktop.app import export

    w = make_window()
    select_item(w, qtbot, 4)
    qtbot.waitUntil(lambda: w.image_view.explained is not None and w.predictions.raw is not None, timeout=10000)
    png = export.export_overlay(w.image_view.canvas, tmp_path / "overlay.png")
    assert png.read_bytes()[:8] == PNG
    csv_path = export.predictions_csv(w.predictions.ranking(), tmp_path / "pred.csv", {"image": "x"})
    lines = csv_path.read_text().splitlines()
    assert lines[0] == "# image: x" and lines[1].startswith("rank,class,kind,raw_score")
    assert len(lines) == 2 + small_birds.num_classes
    bars = export.export_bars(w.predictions.bars, tmp_path / "bars.svg")
    assert b"<svg" in bars.read_bytes()[:400]
    assert export.export_bars(w.predictions.bars, tmp_path / "bars.png").read_bytes()[:8] == PNG
    plot = w.export_plot_to(w.features.plot.getPlotItem(), tmp_path / "features.png")
    assert plot.read_bytes()[:8] == PNG and plot.stat().st_size > 1000
    svg = w.export_plot_to(w.training.loss_plot.getPlotItem(), tmp_path / "loss.svg")
    assert b"<svg" in svg.read_bytes()[:400]
    # the menu's Training plot > Validation exports that plot, whichever sub-tab is on show
    asked = []
    monkeypatch.setattr(
        w, "_ask_path", lambda title, name, filters: asked.append((title, name)) or str(tmp_path / name)
    )
    w.training.tabs.setCurrentIndex(0)
    w.export_validation_plot()
    assert asked == [("Export the Validation plot", "validation.png")]
    assert (tmp_path / "validation.png").read_bytes()[:8] == PNG
    rows = w.controller.gallery_predictions()
    out = export.all_predictions_csv(rows, tmp_path / "all.csv")
    assert len(out.read_text().splitlines()) == 1 + small_birds.num_samples


def test_layout_and_settings_are_restored(make_window, qtbot):
    w = make_window(open_dataset=False)
    w.docks["features"].hide()
    w.image_view.opacity.setValue(20)
    w.image_view.cmap.setCurrentText("viridis")
    w.resize(1520, 870)
    size = w.width()
    w.close()
    w2 = make_window(open_dataset=False)
    assert not w2.docks["features"].isVisible()
    assert w2.image_view.opacity.value() == 20
    assert w2.image_view.cmap.currentText() == "viridis"
    # the geometry is saved (offscreen's 800x800 screen makes Qt adjust a restored 1500 px window)
    assert w2.settings.bytes("window/geometry") is not None and size >= 1400
    assert w2.settings.path.parent == data_dir().parent / "config"
