"""The training panel's settings: method, epochs, seed, selection, flips, and the method's hyper-parameters.

Why apart from the panel: the form turns into one ``TrainConfig`` (``config``); the panel runs it and
shows its progress. The hyper-parameter table belongs to the form but the panel shows it in its
"Parameters" tab, beside the plots.

The methods import torch (~2 s of CPU): the list is filled by ``load_methods``, once the opening job
has imported torch off the GUI thread (issue #19: no torch before the first predictions).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from zsl_desktop.app.widgets.flips_box import FlipsBox

DEFAULT_METHOD = "msdn"  # the method the built-in model ships with
DEFAULT_EPOCHS = 30  # for a method whose defaults name none


class TrainingForm(QWidget):
    """The settings of the next run; ``hparams`` is the table of the chosen method's hyper-parameters."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.get_method = None  # engine.methods.get_method, once ``load_methods`` has imported the methods
        self.has_images = True  # the dataset has images to mirror (feature-only datasets have none)
        self.method_box = QComboBox(self)
        self.method_box.setMinimumContentsLength(12)
        self.method_box.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.epochs = QSpinBox(self)
        self.epochs.setRange(1, 1000)
        self.seed = QSpinBox(self)
        self.seed.setRange(0, 2**31 - 1)
        self.selection = QComboBox(self)
        self.selection.addItem("validation (recommended)", "validation")
        self.selection.addItem("test split (reproduction only)", "test")
        self.selection.setMinimumContentsLength(12)
        self.selection.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.selection.setToolTip(
            "Choose the epoch and calibration γ on held-out seen classes (validation) or, "
            "only to reproduce published tables, on the test split"
        )
        self.flips = FlipsBox(self)
        self.hparams = QTableWidget(0, 2, self)
        self.hparams.setHorizontalHeaderLabels(["hyper-parameter", "value"])
        self.hparams.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        self.hparams.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeToContents)
        self.hparams.verticalHeader().hide()
        self.hparams.setAlternatingRowColors(True)

        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setLabelAlignment(Qt.AlignRight)
        form.addRow("Method", self.method_box)
        numbers = QHBoxLayout()
        numbers.addWidget(self.epochs, 1)
        numbers.addWidget(QLabel("Seed", self))
        numbers.addWidget(self.seed, 1)
        form.addRow("Epochs", numbers)
        form.addRow("Selection", self.selection)
        form.addRow("Flips", self.flips)
        self.method_box.currentIndexChanged.connect(self.on_method)

    def load_methods(self) -> None:
        """Fill the method list (once); it imports the methods, and so torch."""
        if self.get_method is not None:
            return
        from zsl_desktop.engine.methods import get_method, method_names  # torch: not at start-up (above)

        self.get_method = get_method
        self.method_box.blockSignals(True)
        for name in method_names():
            self.method_box.addItem(get_method(name).title or name, name)
        self.method_box.setCurrentIndex(max(0, self.method_box.findData(DEFAULT_METHOD)))
        self.method_box.blockSignals(False)
        self.on_method()

    def on_method(self) -> None:
        """Another method: its epochs and hyper-parameters, at their defaults."""
        name = self.method_box.currentData()
        if not name:
            return
        self.allow_flips()
        defaults = dict(self.get_method(name).default_hparams)
        self.epochs.setValue(int(defaults.pop("epochs", DEFAULT_EPOCHS)))
        self.hparams.setRowCount(0)
        for key, value in defaults.items():
            row = self.hparams.rowCount()
            self.hparams.insertRow(row)
            k = QTableWidgetItem(key)
            k.setFlags(k.flags() & ~Qt.ItemIsEditable)
            k.setData(Qt.UserRole, value)
            self.hparams.setItem(row, 0, k)
            self.hparams.setItem(row, 1, QTableWidgetItem(str(value)))

    def config(self):
        """The TrainConfig of the form; ValueError naming a hyper-parameter that does not parse."""
        from zsl_desktop.engine.methods.hparams import parse_hparam  # torch: imported with the methods
        from zsl_desktop.engine.training import TrainConfig

        hparams = {}
        for row in range(self.hparams.rowCount()):
            key = self.hparams.item(row, 0).text()
            default = self.hparams.item(row, 0).data(Qt.UserRole)
            text = self.hparams.item(row, 1).text()
            value = parse_hparam(key, text, default)  # ValueError naming the key
            if value != default:
                hparams[key] = value
        return TrainConfig(
            method=self.method_box.currentData(),
            epochs=self.epochs.value(),
            hparams=hparams,
            seed=self.seed.value(),
            select=self.selection.currentData(),
            flips=self.flips.mode(),
        )

    def allow_flips(self) -> None:
        """Mirrored images need the images themselves, and a method that uses their extracted features."""
        method = self.get_method(self.method_box.currentData())
        if not self.has_images:
            self.flips.allow("This dataset has features but no images to mirror.")
        elif method.reencodes_images:
            self.flips.allow(f"{self.method_box.currentText()} re-encodes crops of the original images: no flips.")
        else:
            self.flips.allow()

    def set_dataset(self, dataset) -> None:
        """Flips only with images; a feature-only dataset (xlsa17) gets a method on pooled features."""
        self.has_images = bool(dataset.has_images)
        self.allow_flips()
        if not dataset.has_images:  # attention methods need image grids
            for i in range(self.method_box.count()):
                if self.get_method(self.method_box.itemData(i)).feature_kind == "pooled":
                    self.method_box.setCurrentIndex(i)
                    break

    def set_editable(self, on: bool) -> None:
        """Off while a run trains (the flips keep their state: they say why they are held)."""
        for widget in (self.method_box, self.epochs, self.seed, self.selection, self.hparams):
            widget.setEnabled(on)

    def restore_settings(self, s) -> None:
        self.seed.setValue(s.value("training/seed", 0, int))
        self.flips.set_mode(s.value("training/flips", "none", str))

    def save_settings(self, s) -> None:
        s.set("training/seed", self.seed.value())
        s.set("training/flips", self.flips.chosen)
