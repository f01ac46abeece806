"""The training panel's "Flips" choice: mirrored copies of the images for training and/or test-time averaging.

The same four modes as ``zsl-desktop train --flips`` (engine.flip_modes.FLIP_MODES). The mirrored
images' features are extracted once, into their own store, the first time a run asks for them.
Methods that re-encode crops of the original images (SGMA) and datasets without images (xlsa17
features) cannot use them: the box is then held at "none" and says why.
"""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QWidget

from zsl_desktop.engine.flip_modes import FLIP_MODES

LABELS = {
    "none": "none",
    "train": "mirrored training images",
    "tta": "test-time averaging",
    "both": "both",
}
TOOLTIP = (
    "Left-right mirrored copies of the images. Mirrored training images: extra training rows. "
    "Test-time averaging: each image is scored as the mean of itself and its mirror. The mirrored "
    "images' features are extracted once (as long as the first extraction, and as much disk)."
)


class FlipsBox(QComboBox):
    """A flip mode of FLIP_MODES; ``allow`` holds it at "none" where flips do not apply.

    ``chosen`` is the user's choice, kept while the box is held at "none" and shown again when flips apply.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        for mode in FLIP_MODES:
            self.addItem(LABELS[mode], mode)
        self.setMinimumContentsLength(12)
        self.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.setToolTip(TOOLTIP)
        self.chosen = "none"
        self.activated.connect(self._on_user_choice)

    def mode(self) -> str:
        """The mode a run uses: the choice, or "none" while flips do not apply."""
        return self.chosen if self.isEnabled() else "none"

    def set_mode(self, mode: str) -> None:
        if mode not in FLIP_MODES:
            return
        self.chosen = mode
        if self.isEnabled():
            self.setCurrentIndex(self.findData(mode))

    def allow(self, why_not: str = "") -> None:
        """Flips apply (``why_not`` empty) or not: then the box shows "none", disabled, with the reason."""
        self.setEnabled(not why_not)
        self.setCurrentIndex(self.findData("none" if why_not else self.chosen))
        self.setToolTip(why_not or TOOLTIP)

    def _on_user_choice(self, index: int) -> None:
        self.chosen = self.itemData(index)
