"""Live predictions for the selected image: top-k classes, raw scores, calibrated probabilities.

Calibration (calibrated stacking, Chao et al. 2016) adds γ to every class
without training images (the dataset's unseen classes and the user's own)
before the softmax. γ defaults to the value the model chose on validation
data; moving the slider re-ranks instantly because the raw scores are kept
here (a softmax over a few hundred numbers needs no worker).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from zsl_desktop.app import export, theme
from zsl_desktop.app.widgets.bar_chart import BarRow, PredictionBars
from zsl_desktop.engine.evaluation import calibrate

NO_MODEL = "No model — train one in the Training panel"
LOADING_MODEL = "Loading the model…"
GAMMA_STEPS = 1000
OUT_OF_DOMAIN = "⚠ This model does not know this kind of image"


def calibrate_kinds(raw: np.ndarray, kinds, gamma: float) -> np.ndarray:
    """Raw scores + γ on every class that had no training images (unseen, user, draft)."""
    return calibrate(raw, np.array([k != "seen" for k in kinds], dtype=bool), gamma)


def softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max())
    return e / e.sum()


class PredictionsPanel(QWidget):
    gamma_changed = Signal(float)
    class_clicked = Signal(str)  # a class's bar: its name
    open_training = Signal()
    export_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.raw: np.ndarray | None = None
        self.names: tuple = ()
        self.kinds: tuple = ()
        self.truth: str | None = None
        self.item_name = ""
        self.model_gamma = 0.0
        self._gamma = 0.0
        self._span = 2.0
        self.has_model = False
        self.kept = False  # showing the model's kept scores while it loads (show_kept)
        self.predicted_by = ""  # "" = the active model; else the model that scored this photo
        self.gamma_offset = 0.0  # that model's γ minus the active model's
        self.out_of_domain = False

        self._make_labels()
        self._make_controls()
        self._lay_out()
        self._connect_signals()
        self.set_model(None)
        self.set_source("", 0.0, False)

    def _make_labels(self) -> None:
        """The subtitle, which model predicted, the out-of-domain warning, the bars, the button to train one."""
        self.subtitle = theme.squeezable(QLabel("", self))
        self.subtitle.setObjectName("subtitle")
        self.source_label = QLabel("", self)  # which model predicted, when it is not the active one
        self.source_label.setObjectName("hint")
        self.source_label.setWordWrap(True)
        self.domain_warning = QLabel(OUT_OF_DOMAIN, self)
        self.domain_warning.setObjectName("warning")
        self.domain_warning.setWordWrap(True)
        self.domain_warning.setStyleSheet(f"color: {theme.WRONG}; font-weight: 600;")
        self.domain_warning.setToolTip(
            "Its features are far from every image the model was trained on "
            "(beyond what 99% of held-out training images reach): treat these "
            "predictions as guesses."
        )
        self.bars = PredictionBars(self)
        self.train_button = QPushButton("Open the Training panel", self)
        self.train_button.setObjectName("primary")
        self.train_button.clicked.connect(self.open_training)

    def _make_controls(self) -> None:
        """Top-k, calibration gamma (slider, box, back to the model's) and the CSV export."""
        self.topk = QSpinBox(self)
        self.topk.setRange(3, 30)
        self.topk.setValue(8)
        self.topk.setPrefix("top ")
        self.gamma_slider = QSlider(Qt.Horizontal, self)
        self.gamma_slider.setRange(0, GAMMA_STEPS)
        self.gamma_spin = QDoubleSpinBox(self)
        self.gamma_spin.setDecimals(3)
        self.gamma_spin.setSingleStep(0.05)
        self.gamma_spin.setRange(-self._span, self._span)
        self.gamma_spin.setFixedWidth(78)
        self.reset_gamma = QPushButton("model γ", self)
        self.reset_gamma.setToolTip("Back to the γ the model chose on validation data")
        self.export_button = QPushButton("CSV…", self)
        self.export_button.setToolTip("Export this image's scores for every class as CSV")

    def _lay_out(self) -> None:
        gamma_row = QHBoxLayout()
        gamma_row.addWidget(QLabel("Calibration γ", self))
        gamma_row.addWidget(self.gamma_slider, 1)
        gamma_row.addWidget(self.gamma_spin)
        gamma_row.addWidget(self.reset_gamma)
        head = QHBoxLayout()
        titles = QVBoxLayout()
        titles.setSpacing(0)
        titles.addWidget(self.subtitle)
        head.addLayout(titles, 1)
        head.addWidget(self.topk)
        head.addWidget(self.export_button)
        self.note = QLabel(
            "γ is added to the scores of unseen classes and of yours before the softmax; "
            "raw scores are shown beside the probabilities.",
            self,
        )
        self.note.setObjectName("hint")
        self.note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(6)
        layout.addLayout(head)
        layout.addWidget(self.domain_warning)
        layout.addWidget(self.source_label)
        layout.addWidget(self.bars, 1)
        layout.addWidget(self.train_button, 0, Qt.AlignHCenter)
        layout.addLayout(gamma_row)
        layout.addWidget(self.note)

    def _connect_signals(self) -> None:
        self.topk.valueChanged.connect(self.redraw)
        self.gamma_slider.valueChanged.connect(self._on_gamma_slider)
        self.gamma_spin.valueChanged.connect(self._on_gamma_spin)
        self.reset_gamma.clicked.connect(self._on_reset_gamma)
        self.export_button.clicked.connect(self.export_requested)
        self.bars.row_clicked.connect(self.class_clicked)

    # -- model and γ --------------------------------------------------------------------------------------
    def set_model(self, summary, loading: bool = False) -> None:
        """The active model (None: none, or one still ``loading``, when no "train one" button is offered)."""
        self.has_model = summary is not None
        if self.kept and self.item_name:  # the live model's scores (or none) from now on
            self.subtitle.setText(f"for {self.item_name.replace('_', ' ')}")
        self.kept = False
        self.train_button.setVisible(not self.has_model and not loading)
        for w in (self.gamma_slider, self.gamma_spin, self.reset_gamma, self.export_button):
            w.setEnabled(self.has_model)
        if summary is None:
            self.raw = None
            self.bars.set_message(LOADING_MODEL if loading else NO_MODEL)
            self.subtitle.setText("")
            self.model_gamma, self._span = 0.0, 2.0  # no γ of another dataset's model
            self.reset_gamma.setText("model γ")
            self.set_gamma(0.0)
            return
        self.model_gamma = summary.gamma
        self._span = max(2.0, 3 * abs(self.model_gamma))
        self.gamma_spin.blockSignals(True)
        self.gamma_spin.setRange(-self._span, self._span)
        self.gamma_spin.blockSignals(False)
        self.reset_gamma.setText(f"model γ {self.model_gamma:+.2f}")
        self.set_gamma(self.model_gamma)
        if self.raw is None:
            self.bars.set_message("Select an image to see what the model thinks it is")

    @property
    def gamma(self) -> float:
        return self._gamma

    def set_gamma(self, gamma: float) -> None:
        gamma = float(np.clip(gamma, -self._span, self._span))
        self._gamma = gamma
        for w in (self.gamma_slider, self.gamma_spin):
            w.blockSignals(True)
        self.gamma_slider.setValue(int(round((gamma + self._span) / (2 * self._span) * GAMMA_STEPS)))
        self.gamma_spin.setValue(gamma)
        for w in (self.gamma_slider, self.gamma_spin):
            w.blockSignals(False)
        self.redraw()
        self.gamma_changed.emit(gamma)

    def _on_gamma_slider(self, steps: int) -> None:
        self.set_gamma(-self._span + 2 * self._span * steps / GAMMA_STEPS)

    def _on_gamma_spin(self, value: float) -> None:
        self.set_gamma(value)

    def _on_reset_gamma(self) -> None:
        self.set_gamma(self.model_gamma)

    # -- scores -----------------------------------------------------------------------------------------
    def set_item(self, name: str, truth: str | None) -> None:
        self.set_source("", 0.0, False)
        self.item_name = name
        self.truth = truth
        self.subtitle.setText(f"for {name.replace('_', ' ')}")
        if self.has_model or self.kept:
            self.raw = None
            self.bars.set_message("scoring…")

    def set_source(self, predicted_by: str, gamma_offset: float, out_of_domain: bool) -> None:
        """Who scored the shown image (a photo may go to the real-bird model) and whether it is out of its domain."""
        self.predicted_by, self.gamma_offset, self.out_of_domain = predicted_by, float(gamma_offset), out_of_domain
        self.source_label.setText(
            f"Predicted by the {predicted_by}: this photo is not like the open dataset's images."
            if predicted_by
            else ""
        )
        self.source_label.setVisible(bool(predicted_by))
        self.domain_warning.setVisible(bool(out_of_domain))

    def set_scores(self, raw: np.ndarray | None, names, kinds) -> None:
        if not self.has_model:
            return
        self.raw = None if raw is None else np.asarray(raw, np.float32)
        self.names, self.kinds = tuple(names), tuple(kinds)
        self.redraw()

    def show_kept(self, raw: np.ndarray, names, kinds, model_gamma: float) -> None:
        """The model's kept scores of the selected image, read before torch (issue #19): shown at the model's γ,
        the γ controls off until the live model takes over (``set_model``)."""
        self.kept = True
        self._span = max(2.0, 3 * abs(model_gamma))
        self.gamma_spin.blockSignals(True)
        self.gamma_spin.setRange(-self._span, self._span)
        self.gamma_spin.blockSignals(False)
        self.model_gamma = model_gamma
        self.set_gamma(model_gamma)
        self.subtitle.setText(f"kept scores (model loading…) for {self.item_name.replace('_', ' ')}")
        self.raw = np.asarray(raw, np.float32)
        self.names, self.kinds = tuple(names), tuple(kinds)
        self.redraw()

    def clear(self, message: str) -> None:
        self.raw = None
        self.bars.set_message(message)

    def ranking(self):
        """(names, kinds, raw, calibrated, probability) of every class, best first; None without scores."""
        if self.raw is None:
            return None
        calibrated = calibrate_kinds(self.raw, self.kinds, self._gamma + self.gamma_offset)
        probs = softmax(calibrated)
        order = np.argsort(-calibrated, kind="stable")
        return [
            (self.names[i], self.kinds[i], float(self.raw[i]), float(calibrated[i]), float(probs[i])) for i in order
        ]

    def redraw(self) -> None:
        if not (self.has_model or self.kept):
            return
        ranking = self.ranking()
        if ranking is None:
            if not self.bars.message:
                self.bars.set_message("Select an image to see what the model thinks it is")
            return
        k = self.topk.value()
        self.bars.set_rows([BarRow(n, kind, p, r, c, is_truth=(n == self.truth)) for n, kind, r, c, p in ranking[:k]])

    def top_class(self) -> str | None:
        ranking = self.ranking()
        return ranking[0][0] if ranking else None

    def restore_settings(self, s) -> None:
        self.topk.setValue(s.value("predictions/topk", 8, int))

    def save_settings(self, s) -> None:
        s.set("predictions/topk", self.topk.value())

    def export_chart(self, path):
        """The bar chart as PNG or SVG (by the suffix)."""
        return export.export_bars(self.bars, path)

    def bar_colors(self) -> dict:
        return dict(theme.KIND_COLORS)
