"""The class library as the GUI sees it: engine ``ClassLibrary`` calls plus a ``changed`` signal.

Why a separate object: the class editor, the predictions and the gallery all
depend on the saved classes; one owner that writes the file (atomically,
through the engine) and announces changes keeps them consistent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from zsl_desktop.engine.class_csv import read_classes_csv, write_classes_csv
from zsl_desktop.engine.classes import ClassLibrary, UserClass, attribute_identity, check_name, value_range


class LibraryStore(QObject):
    changed = Signal()

    def __init__(self, path: Path | None = None, parent=None):
        super().__init__(parent)
        self.library = ClassLibrary.load(path)
        self.dataset = None
        self.identity = ""
        self.scale = (0.0, 1.0)

    @property
    def warnings(self) -> list[str]:
        return self.library.warnings

    def set_dataset(self, dataset) -> None:
        self.dataset = dataset
        self.identity = attribute_identity(dataset.attribute_names) if dataset is not None else ""
        self.scale = value_range(dataset.class_attributes) if dataset is not None else (0.0, 1.0)
        self.changed.emit()

    # -- queries ---------------------------------------------------------------------------------------
    def classes(self) -> list[UserClass]:
        return self.library.classes(self.identity) if self.identity else []

    def names(self) -> list[str]:
        return [c.name for c in self.classes()]

    def get(self, name: str) -> UserClass | None:
        return self.library.get(self.identity, name)

    def matrix(self) -> tuple[list[str], np.ndarray]:
        n = self.dataset.num_attributes if self.dataset is not None else 0
        return self.library.matrix(self.identity, n)

    def classes_for(self, attribute_names) -> tuple[list[str], np.ndarray]:
        """Names and values of the saved classes drawn on another attribute list (the real-bird model's)."""
        return self.library.matrix(attribute_identity(attribute_names), len(attribute_names))

    def taken_names(self, exclude: str | None = None) -> list[str]:
        """Names a new or renamed class may not use: the dataset's classes and the other user classes."""
        dataset_names = list(self.dataset.classes) if self.dataset is not None else []
        spaced = [n.replace("_", " ") for n in dataset_names]
        return dataset_names + spaced + [n for n in self.names() if n != exclude]

    # -- commands (each saves the file) ------------------------------------------------------------------------
    def save_class(self, name: str, values, previous: str | None = None) -> UserClass:
        """Create ``name`` or update/rename ``previous``; validates the name; writes the library."""
        name = check_name(name, self.taken_names(exclude=previous))
        values = np.clip(np.asarray(values, np.float32), *self.scale)
        if previous is not None and previous != name and self.get(previous) is not None:
            self.library.rename(self.identity, previous, name)
        saved = self.library.put(
            self.identity, UserClass.from_array(name, values), self.dataset.attribute_names, self.dataset.name
        )
        self.library.save()
        self.changed.emit()
        return saved

    def delete(self, name: str) -> None:
        """Delete and save; a class another window deleted first (merged in by a save) is simply gone."""
        if self.get(name) is not None:
            self.library.delete(self.identity, name)
        self.library.save()
        self.changed.emit()

    def export_file(self, path) -> Path:
        """JSON, or CSV (one row per class, a column per attribute) for a ``.csv`` name."""
        if Path(path).suffix.lower() == ".csv":
            return write_classes_csv(path, self.classes(), self.dataset.attribute_names)
        return self.library.export_json(path, self.identity, self.dataset.attribute_names, scale=self.scale)

    def import_file(self, path) -> list[str]:
        """A JSON class file or library, or a class CSV (``.csv``); LibraryError names the file, line and column."""
        names = self.dataset.attribute_names
        if Path(path).suffix.lower() == ".csv":
            added = self.library.add_classes(
                self.identity,
                read_classes_csv(path, names, self.scale),
                names,
                taken=self.taken_names(),
                dataset=self.dataset.name,
            )
        else:
            added = self.library.import_json(
                path, self.identity, names, self.scale, taken=self.taken_names(), dataset=self.dataset.name
            )
        self.library.save()
        self.changed.emit()
        return added
