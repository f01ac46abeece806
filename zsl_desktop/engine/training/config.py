"""What a training run is asked to do (``TrainConfig``) and the constants of model selection.

The numbers that METHODS.md decision 1 fixes for every method live here, so the phases, the CLI and the
panels read one value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SELECTIONS = ("validation", "test")
CALIBRATION_FRACTION = 0.1  # of each seen class, kept out of the final run to place gamma ("calibration")
GAMMA_TRANSFERS = ("calibration", "folds", "training_share")  # Method.transfer_for
SELECTION_FOLDS = 3  # groups of pseudo-unseen classes, each trained and validated in turn
SMOOTH_EPOCHS = 3  # moving-average window over the fold-mean validation curve
FINAL_SEED_STEP = 1000  # final model j trains with seed + j * 1000, away from the seeds users pick


@dataclass
class TrainConfig:
    method: str = "msdn"
    epochs: int | None = None  # None: the method's default
    hparams: dict = field(default_factory=dict)
    seed: int = 0
    device: str | None = None
    select: str = "validation"
    backbone: str = "efficientnet_lite0"
    input_size: int = 224
    folds: int = SELECTION_FOLDS
    smooth_epochs: int = SMOOTH_EPOCHS
    # "train": mirrored images as extra training rows; "tta": each image scored with its mirror;
    # "both"; "none". Anything but "none" needs the mirrored store (features.mirrored).
    flips: str = "none"
