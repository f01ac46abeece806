"""One attribute as a labelled slider in the dataset's own value scale (CUB: 0-100)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QSlider, QWidget

STEPS = 1000  # slider resolution over the value range


class AttributeSlider(QWidget):
    """Emits ``edited(index, value)`` while the user moves it and ``released(index)`` at the end of a drag."""

    edited = Signal(int, float)
    released = Signal(int)

    def __init__(self, index: int, label: str, lo: float, hi: float, parent=None):
        super().__init__(parent)
        self.index, self.lo, self.hi = index, float(lo), float(hi)
        self.search_text = label.casefold()
        self.label = QLabel(label, self)
        self.label.setMinimumWidth(90)
        self.label.setToolTip(label)
        self.slider = QSlider(Qt.Horizontal, self)
        self.slider.setRange(0, STEPS)
        self.slider.setMinimumWidth(80)
        self.slider.setFocusPolicy(Qt.StrongFocus)
        self.spin = QDoubleSpinBox(self)
        self.spin.setRange(self.lo, self.hi)
        self.spin.setDecimals(0 if self.hi > 1.5 else 2)
        self.spin.setSingleStep((self.hi - self.lo) / 20)
        self.spin.setButtonSymbols(QDoubleSpinBox.NoButtons)
        self.spin.setFixedWidth(50)
        self.spin.setObjectName("value")
        self.spin.setAlignment(Qt.AlignRight | Qt.AlignVCenter)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 1, 0, 1)
        layout.setSpacing(8)
        layout.addWidget(self.label, 5)
        layout.addWidget(self.slider, 6)
        layout.addWidget(self.spin)
        self.slider.valueChanged.connect(self._on_slider)
        self.slider.sliderReleased.connect(self._on_released)
        self.spin.editingFinished.connect(self._on_spin)

    def _to_steps(self, value: float) -> int:
        span = self.hi - self.lo
        return int(round((float(value) - self.lo) / span * STEPS)) if span > 0 else 0

    def _from_steps(self, steps: int) -> float:
        return self.lo + (self.hi - self.lo) * steps / STEPS

    def value(self) -> float:
        return float(self.spin.value())

    def set_value(self, value: float) -> None:
        """Programmatic update: no signals (undo, reset, 'start from')."""
        for w in (self.slider, self.spin):
            w.blockSignals(True)
        self.slider.setValue(self._to_steps(value))
        self.spin.setValue(float(value))
        for w in (self.slider, self.spin):
            w.blockSignals(False)

    def move_to(self, value: float) -> None:
        """As if the user moved the slider to ``value``: the signals fire (tests, scripting)."""
        self.slider.setValue(self._to_steps(value))

    def _on_slider(self, steps: int) -> None:
        value = self._from_steps(steps)
        self.spin.blockSignals(True)
        self.spin.setValue(value)
        self.spin.blockSignals(False)
        self.edited.emit(self.index, value)
        if not self.slider.isSliderDown():
            self.released.emit(self.index)  # keyboard / click steps are one undo step each

    def _on_released(self) -> None:
        self.released.emit(self.index)

    def _on_spin(self) -> None:
        value = float(self.spin.value())
        self.slider.blockSignals(True)
        self.slider.setValue(self._to_steps(value))
        self.slider.blockSignals(False)
        self.edited.emit(self.index, value)
        self.released.emit(self.index)
