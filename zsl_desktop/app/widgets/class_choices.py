"""The class editor's two class lists: the class being edited, and the classes to start a draft from.

Why apart: both are filled from the dataset and the class library on every change; the panel only
reads the chosen item's data (``NEW``, a saved class's name, or ``(kind, name_or_index)``).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from zsl_desktop.app import theme

NEW = "__new__"  # the class list's item for a new class


def fill_class_box(box, names, current: str | None) -> None:
    """ "New class" and the saved classes; ``current`` (a saved class's name) selected, else "New class"."""
    box.blockSignals(True)
    box.clear()
    box.addItem("✎ New class", NEW)
    for n in names:
        box.addItem(f"★ {n}", n)
    box.setCurrentIndex(max(0, box.findData(current)) if current else 0)
    box.blockSignals(False)


def fill_start_box(box, dataset, names, species_names) -> None:
    """The dataset's classes (seen ●, unseen ◆), the saved ones (★) and CUB species the dataset lacks (○)."""
    box.blockSignals(True)
    box.clear()
    box.addItem("— choose a class —", None)
    if dataset is not None:
        unseen = set(int(c) for c in dataset.unseen_classes)
        for i, name in enumerate(dataset.classes):
            box.addItem(f"{'◆' if i in unseen else '●'} {theme.display_name(name)}", ("dataset", i))
            box.setItemData(box.count() - 1, QColor(theme.UNSEEN if i in unseen else theme.SEEN), Qt.ForegroundRole)
        for n in names:
            box.addItem(f"★ {n}", ("user", n))
            box.setItemData(box.count() - 1, QColor(theme.USER), Qt.ForegroundRole)
        own = set(dataset.classes)
        for i, name in enumerate(species_names):
            if name not in own:
                box.addItem(f"○ {theme.display_name(name)} (CUB species)", ("species", i))
    box.setCurrentIndex(0)
    box.blockSignals(False)
