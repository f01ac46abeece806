"""What the class editor does as a dataset opens, now that it does less on the GUI thread (opening14).

The CUB species of "Start from" arrive from a worker (``EngineBridge.request_species``); a folded attribute
group gets its sliders when it is first shown; a dataset on the same attributes keeps the sliders; the plot
modules can be imported on a helper thread (``plot_preload``).
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from zsl_desktop.app.bridge import EngineBridge
from zsl_desktop.app.library import LibraryStore
from zsl_desktop.app.panels.class_editor import ClassEditorPanel
from zsl_desktop.app.plot_preload import PlotPreload
from zsl_desktop.engine.cub_species import cub_attribute_names, species_offer
from zsl_desktop.engine.data.model import Attribute, Dataset

CUB_SPECIES = "(CUB species)"


def cub_like(name: str = "cub-like", classes: int = 4, seed: int = 0, features: bool = False) -> Dataset:
    """A tiny dataset on CUB's 312 attributes, whole-number percentages (the slider's 0-100 steps)."""
    rng = np.random.default_rng(seed)
    n = 6 * classes
    labels = np.arange(n) % classes
    return Dataset(
        name=name,
        format="test",
        root=Path("."),
        classes=tuple(f"{name} class {i}" for i in range(classes)),
        attributes=tuple(Attribute.from_name(a) for a in cub_attribute_names()),
        class_attributes=rng.integers(0, 101, (classes, 312)).astype(np.float32),
        labels=labels,
        splits={k: np.arange(n) for k in ("trainval", "test_seen", "test_unseen")},
        seen_classes=np.arange(classes - 1),
        unseen_classes=np.array([classes - 1]),
        features=rng.random((n, 16)).astype(np.float32) if features else None,
    )


def other_attributes() -> Dataset:
    d = cub_like("other")
    return Dataset(
        name="five attributes",
        format="test",
        root=Path("."),
        classes=d.classes,
        attributes=tuple(Attribute.from_name(f"has_size::s{i}") for i in range(5)),
        class_attributes=d.class_attributes[:, :5],
        labels=d.labels,
        splits=d.splits,
        seen_classes=d.seen_classes,
        unseen_classes=d.unseen_classes,
    )


def show(editor, dataset) -> None:
    """As the controller opens a dataset: the library first (its scale), then the editor."""
    editor.store.set_dataset(dataset)
    editor.set_dataset(dataset)
    QApplication.processEvents()  # a layout shows the widgets added to a shown parent from the event loop


def species_items(editor) -> list[str]:
    box = editor.start_box
    return [box.itemText(i) for i in range(box.count()) if box.itemText(i).endswith(CUB_SPECIES)]


@pytest.fixture
def editor(qtbot):
    panel = ClassEditorPanel(LibraryStore())
    qtbot.addWidget(panel)
    panel.resize(420, 900)
    panel.show()
    return panel


def test_start_from_lists_the_cub_species_once_the_workers_reply_arrives(editor, qtbot):
    d = cub_like()
    show(editor, d)
    assert species_items(editor) == [] and editor.start_box.count() == 1 + d.num_classes  # not read here
    bridge = EngineBridge()
    try:
        bridge.species.connect(editor.set_species)
        with qtbot.waitSignal(bridge.species, timeout=30000):
            bridge.request_species(d.attribute_names)
    finally:
        assert bridge.shutdown()
    assert len(species_items(editor)) == 200 and editor.species_shown_for(d)
    index = editor.start_box.findText("○ Cardinal (CUB species)")
    assert index > 0
    editor.start_box.activated.emit(index)  # the user picks the cardinal
    red = cub_attribute_names().index("has_crown_color::red")
    assert editor.values()[red] > 50 and editor.name_edit.text() == "My Cardinal"


def test_a_species_reply_for_other_attributes_is_dropped(editor):
    offer = species_offer(cub_attribute_names())  # asked for while a CUB dataset was open
    show(editor, other_attributes())  # ... another one opened before the reply came
    editor.set_species(offer)
    assert species_items(editor) == [] and not editor.species_shown_for(editor.dataset)
    show(editor, cub_like())
    editor.set_species(species_offer(("has_size::s0",)))  # a reply for the five attributes, late
    assert species_items(editor) == []
    editor.set_species(offer)
    assert len(species_items(editor)) == 200


def test_a_dataset_on_the_same_attributes_keeps_the_species_and_the_sliders(editor):
    show(editor, cub_like())
    editor.set_species(species_offer(cub_attribute_names()))
    made = dict(editor.grid.made)
    second = cub_like("second", classes=3, seed=1)
    show(editor, second)
    assert editor.species_shown_for(second) and len(species_items(editor)) == 200  # no new request needed
    assert all(editor.grid.made[i] is s for i, s in made.items()), "the same slider widgets"
    assert editor.start_box.findText("● second class 0") > 0 and editor.start_box.findText("● cub-like class 0") < 0
    assert all(s.value() == 0 for s in editor.grid.made.values()), "a new class on the new dataset"
    show(editor, other_attributes())
    assert len(editor.sliders) == 5 and not editor.species_shown_for(editor.dataset)


def test_a_folded_group_gets_its_sliders_with_the_drafts_values_when_opened(editor):
    d = cub_like()
    show(editor, d)
    grid = editor.grid
    groups = list(grid.groups)
    first_two = set(grid.groups[groups[0]]) | set(grid.groups[groups[1]])
    assert set(grid.made) == first_two, "only the open groups' sliders are made as the dataset opens"
    editor.start_from("dataset", 2)
    row = d.class_attributes[2]
    late = groups[5]
    assert not any(i in grid.made for i in grid.groups[late])
    grid.sections[late].set_expanded(True)  # the user opens the group
    for i in grid.groups[late]:
        assert grid.made[i].value() == pytest.approx(row[i]) and grid.made[i].isVisibleTo(editor)
    badge = grid.sections[groups[7]].badge.text()  # a folded group's badge counts its values all the same
    on = int((row[grid.groups[groups[7]]] > 25).sum())
    assert badge == (f"{on} of {len(grid.groups[groups[7]])}" if on else "")


def test_moving_a_slider_not_made_yet_edits_the_draft(editor):
    d = cub_like()
    show(editor, d)
    last = d.num_attributes - 1
    assert last not in editor.grid.made
    editor.set_value(last, 40.0)
    assert editor.values()[last] == pytest.approx(40.0) and editor.grid.made[last].value() == pytest.approx(40.0)
    editor.undo()
    assert editor.values()[last] == 0 and editor.grid.made[last].value() == 0
    assert [s.index for s in editor.sliders] == list(range(d.num_attributes))  # all of them, by index, on request


def test_the_filter_shows_matching_attributes_of_groups_never_opened(editor):
    show(editor, cub_like())
    editor.filter_attributes("crown red")
    shown = [s.search_text for s in editor.grid.made.values() if s.isVisibleTo(editor)]
    assert shown == ["crown color: red"]
    editor.filter_attributes("")
    section = editor.grid.sections["crown_color"]
    assert section.isVisibleTo(editor) and all(
        editor.grid.made[i].isVisibleTo(editor) for i in editor.grid.groups["crown_color"]
    )


def test_switching_datasets_twice_keeps_the_users_saved_class(make_window, qtbot, small_birds):
    """A CUB-like dataset, the small birds, the CUB-like again: "Start from" fills each time, the class saved on
    the first is offered again on its return, with its values on every slider (lazily made ones too)."""
    w = make_window(with_model=False)
    cub = cub_like(features=True)
    for dataset in (cub, small_birds, cub):
        with qtbot.waitSignal(w.bridge.dataset_ready, timeout=60000):
            w.open_dataset_object(dataset)
        qtbot.waitUntil(w.bridge.idle, timeout=30000)
        offered = 200 if dataset is cub else 0
        qtbot.waitUntil(lambda n=offered: len(species_items(w.editor)) == n, timeout=10000)
        if dataset is cub and "Mine" not in w.store.names():
            w.editor.start_from("dataset", 1)
            w.editor.set_value(311, 77.0)
            assert w.editor.save("Mine")
    assert w.editor.class_box.findData("Mine") > 0
    w.editor.edit_class("Mine")
    expected = cub.class_attributes[1].copy()
    expected[311] = 77.0
    np.testing.assert_allclose([s.value() for s in w.editor.sliders], expected, atol=1e-4)


def test_the_plot_modules_can_be_imported_on_a_helper_thread(tmp_path, monkeypatch):
    (tmp_path / "opening14_probe_module.py").write_text("VALUE = 7\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    preload = PlotPreload(("opening14_probe_module",))
    preload.start()
    assert preload.join(10) and preload.error is None
    assert sys.modules["opening14_probe_module"].VALUE == 7
    preload.start()  # once: nothing more to import
    missing = PlotPreload(("no_such_module_opening14",))
    missing.start()
    assert missing.join(10) and isinstance(missing.error, ModuleNotFoundError)  # kept, not raised off the GUI
    monkeypatch.delitem(sys.modules, "opening14_probe_module")


def test_the_qt_modules_are_imported_on_the_calling_thread_before_the_helper_starts(tmp_path, monkeypatch):
    """Shiboken makes a module's Qt types as it loads: on the GUI thread, never beside it (plot_preload)."""
    for name in ("segv15_qt_probe", "segv15_plot_probe"):
        (tmp_path / f"{name}.py").write_text("import threading\nTHREAD = threading.current_thread()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    preload = PlotPreload(("segv15_plot_probe",), qt_modules=("segv15_qt_probe", "no_such_qt_module_segv15"))
    preload.start()
    assert preload.join(10) and preload.error is None
    assert sys.modules["segv15_qt_probe"].THREAD is threading.current_thread()
    assert sys.modules["segv15_plot_probe"].THREAD.name == "plot-import"
    for name in ("segv15_qt_probe", "segv15_plot_probe"):
        monkeypatch.delitem(sys.modules, name)


def test_closing_the_window_waits_for_a_plot_import_under_way(make_window, tmp_path, monkeypatch):
    (tmp_path / "opening14_slow_module.py").write_text("import time\ntime.sleep(1.0)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    w = make_window(open_dataset=False)
    w.plot_import = PlotPreload(("opening14_slow_module",))
    w.plot_import.start()
    assert not w.plot_import.done
    w.close()
    assert w.plot_import.done, "no thread of the window outlives it"
    monkeypatch.delitem(sys.modules, "opening14_slow_module")
