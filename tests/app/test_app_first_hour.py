"""A newcomer's first hour (issue 14, items 3, 4, 6): words that match the real state, no lost edits, small mends."""

from __future__ import annotations

import pytest

from zsl_desktop.app.panels.predictions import NO_MODEL
from zsl_desktop.app.widgets import messages


def _record_on_dataset_ready(w):
    """What the panels say at the moment the dataset is ready (after the controller has handled it)."""
    seen = {}

    def record(ready):
        seen["bars"] = w.predictions.bars.message
        seen["button"] = w.predictions.train_button.isVisibleTo(w.predictions)
        seen["hint"] = w.image_view.side_hint.text()

    w.bridge.dataset_ready.connect(record)  # emitted in the GUI thread (the bridge lives there)
    return seen


# -- item 3: status text from the real state ----------------------------------------------------------------------


def test_no_train_button_while_a_model_is_on_its_way(make_window, qtbot, small_birds, trained_model):
    w = make_window(open_dataset=False)
    seen = _record_on_dataset_ready(w)
    w.open_dataset_object(small_birds, model=trained_model)
    qtbot.waitUntil(lambda: w.controller.model is not None and w.bridge.idle(), timeout=60000)
    assert seen["bars"] != NO_MODEL and "Loading the model" in seen["bars"]
    assert not seen["button"]
    assert "No model" not in seen["hint"]
    # loaded, nothing selected yet: no "No model yet" left behind
    assert "No model" not in w.image_view.side_hint.text()
    assert not w.predictions.train_button.isVisibleTo(w.predictions)


def test_without_any_model_it_says_so_and_offers_training(make_window, qtbot, small_birds):
    w = make_window(open_dataset=False)
    seen = _record_on_dataset_ready(w)
    w.open_dataset_object(small_birds, model=None)
    qtbot.waitUntil(lambda: "bars" in seen and w.bridge.idle(), timeout=60000)
    assert seen["bars"] == NO_MODEL and seen["button"]  # nothing will load: say so at once
    assert w.predictions.bars.message == NO_MODEL
    assert w.predictions.train_button.isVisibleTo(w.predictions)
    assert w.image_view.side_hint.text().startswith("No model yet")


def test_stopping_a_first_training_run_does_not_promise_a_previous_model(make_window, qtbot):
    w = make_window(with_model=False)
    panel = w.training
    panel.method_box.setCurrentIndex(panel.method_box.findData("msdn"))
    panel.epochs.setValue(300)
    for row in range(panel.hparams.rowCount()):
        if panel.hparams.item(row, 0).text() == "batch_size":
            panel.hparams.item(row, 1).setText("4")
    panel.start_button.click()
    qtbot.waitUntil(lambda: panel.last_progress is not None, timeout=30000)
    with qtbot.waitSignal(w.bridge.long_finished, timeout=30000):
        panel.stop_button.click()
    assert w.controller.model is None
    assert panel.state.text() == "Stopped. No model is active yet."


def test_another_dataset_starts_without_the_last_ones_gamma_and_results(make_window, qtbot, small_birds):
    w = make_window()  # with a model: its evaluation fills the cards
    qtbot.waitUntil(lambda: w.training.evaluation.cards.text("h") != "–", timeout=30000)
    w.predictions.set_gamma(0.7)
    w.training.state.setText("Done in 0:51. The new model is active.")
    with qtbot.waitSignal(w.bridge.dataset_ready, timeout=60000):
        w.open_dataset_object(small_birds, model=None)
    qtbot.waitUntil(w.bridge.idle, timeout=30000)
    assert w.predictions.gamma == 0.0 and w.predictions.reset_gamma.text() == "model γ"
    assert all(w.training.evaluation.cards.text(k) == "–" for k in ("h", "u", "s", "zsl", "ausuc", "gamma"))
    assert "Done in" not in w.training.state.text()
    assert w.model_label.text() == "no model"


def test_worker_failures_speak_the_users_words(make_window):
    w = make_window(with_model=False)
    w.controller.on_short_failed("loose", "Error(s) in loading state_dict")
    assert w.message.text() == "Adding your photos failed: Error(s) in loading state_dict"
    w.message.setText("")
    w.controller.on_short_failed("all", "no model: train one in the Training panel or load a checkpoint")
    assert w.message.text() == ""  # a request that raced the model away: the panels already say so


# -- item 4: unsaved class edits on quit ---------------------------------------------------------------------------


def _draw_a_class(w):
    w.editor.set_value(0, 1.0)
    w.editor.set_value(1, 0.0)
    w.editor.name_edit.setText("My test bird")
    assert w.editor.draft().dirty


@pytest.mark.parametrize(
    "answer, stays_open, saved", [("cancel", True, False), ("discard", False, False), ("save", False, True)]
)
def test_quit_asks_about_an_unsaved_class(make_window, monkeypatch, answer, stays_open, saved):
    w = make_window(with_model=False)
    _draw_a_class(w)
    asked = []
    monkeypatch.setattr(w, "ask_unsaved_class", lambda name: asked.append(name) or answer)
    w.quit_action()
    assert asked == ["My test bird"]
    assert w.isVisible() == stays_open
    assert ("My test bird" in w.store.names()) == saved


def test_quit_with_nothing_unsaved_does_not_ask(make_window, monkeypatch):
    w = make_window(with_model=False)
    monkeypatch.setattr(w, "ask_unsaved_class", lambda name: pytest.fail("asked without a reason"))
    w.quit_action()
    assert not w.isVisible()


def test_the_close_button_asks_too(make_window, monkeypatch):
    w = make_window(with_model=False)
    _draw_a_class(w)
    monkeypatch.setattr(w, "ask_unsaved_class", lambda name: "cancel")

    class CloseButton:  # a close event from the window system (spontaneous), as the title bar's X sends
        ignored = False

        def spontaneous(self):
            return True

        def ignore(self):
            self.ignored = True

    event = CloseButton()
    w.closeEvent(event)
    assert event.ignored and not w.closing and w.isVisible()


# -- item 6: smaller mends ------------------------------------------------------------------------------------------


def test_one_name_for_loading_a_model_and_its_dialog_opens_where_models_are(make_window, tmp_path):
    from zsl_desktop.engine.paths import data_dir
    from zsl_desktop.engine.session.opening import shipped_checkpoint

    w = make_window(with_model=False)
    file_menu = w.menuBar().actions()[0].menu()
    texts = [a.text() for a in file_menu.actions()]
    assert "Load model…" in texts and "Save model…" in texts
    assert not any("checkpoint" in t.lower() for t in texts)
    assert "Load model…" in [a.text() for a in w.toolbar.actions()]
    assert w.training.load_button.text() == "Load model…"
    assert w.model_folder() == str(shipped_checkpoint().parent)  # a fresh home: the shipped models
    user = data_dir() / "checkpoints"
    user.mkdir(parents=True, exist_ok=True)
    (user / "mine.pt").write_bytes(b"")
    assert w.model_folder() == str(user)  # once the user has trained one: theirs


def test_attribute_filter_matches_words_not_inside_words(make_window):
    w = make_window(with_model=False)
    ed = w.editor
    ed.filter_attributes("red")
    shown = [s.search_text for s in ed.sliders if s.isVisibleTo(ed)]
    assert shown and all("red" in s for s in shown)
    assert not any("barred" in s for s in shown)
    ed.filter_attributes("wing red")
    assert [s.search_text for s in ed.sliders if s.isVisibleTo(ed)] == ["wing color: red"]


def test_a_new_search_starts_at_the_top(make_window, qtbot):
    w = make_window(with_model=False)
    ed = w.editor
    ed.grid.expand_all()
    ed.resize(ed.width(), 300)
    qtbot.waitUntil(lambda: ed.grid.verticalScrollBar().maximum() > 0, timeout=5000)
    ed.grid.verticalScrollBar().setValue(ed.grid.verticalScrollBar().maximum())
    ed.search.setText("color")
    assert ed.grid.verticalScrollBar().value() == 0
    g = w.gallery
    bar = g.view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0, timeout=5000)
    bar.setValue(bar.maximum())
    g.search.setText("bird")
    assert bar.value() == 0


def test_class_export_adds_json_and_refuses_nothing(make_window, tmp_path):
    w = make_window(with_model=False)
    messages.LAST.clear()
    assert w.editor.export_file(tmp_path / "none") is None
    assert messages.LAST and "no classes" in messages.LAST[-1][1]
    assert not list(tmp_path.iterdir())
    _draw_a_class(w)
    assert w.editor.save()
    out = w.editor.export_file(tmp_path / "mine")
    assert out == tmp_path / "mine.json" and out.is_file()
    assert w.editor.export_file(tmp_path / "kept.classes") == tmp_path / "kept.classes"  # a suffix is kept


def test_about_shows_the_version_and_the_logs_folder(make_window):
    from zsl_desktop import __version__
    from zsl_desktop.engine.paths import data_dir

    w = make_window(with_model=False, open_dataset=False)
    assert f"version {__version__}" in w.about_text()
    assert f"Logs: {data_dir() / 'logs'} " in w.about_text()


def test_select_past_the_last_image_is_a_message_not_a_traceback(make_window, capsys):
    from zsl_desktop.app.main import select_when_present

    w = make_window(with_model=False)
    select_when_present(w, 10**6)
    err = capsys.readouterr().err
    assert "--select 1000000" in err and "nothing selected" in err
    assert w.controller.item is None
    w.controller.select(10**6)  # the controller itself ignores an index that is not there
    assert w.controller.item is None
