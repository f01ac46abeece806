"""What the shipped-model tests share: where the checkpoints are and the test-split figures of some scores."""

from zsl_desktop.engine.session.opening import shipped_checkpoint
from zsl_desktop.engine.backbones import BACKBONES, DEFAULT_BACKBONE
from zsl_desktop.engine.evaluation import evaluate

TRAINED = shipped_checkpoint().parent


def made_on_default_features(header) -> bool:
    """True when the checkpoint used the features ``fresh_test_features`` re-extracts."""
    return (
        header["backbone"] == DEFAULT_BACKBONE
        and int(header["input_size"]) == BACKBONES[DEFAULT_BACKBONE].default_input_size
    )


def figures_on_test_split(dataset, scores, gamma) -> dict:
    """ZSL/GZSL figures of ``scores`` for the test rows (seen, then unseen) at calibration ``gamma``."""
    n_seen = len(dataset.splits["test_seen"])
    return evaluate(
        scores[:n_seen],
        dataset.labels[dataset.splits["test_seen"]],
        scores[n_seen:],
        dataset.labels[dataset.splits["test_unseen"]],
        dataset.seen_classes,
        dataset.unseen_classes,
        gamma,
    ).as_dict()
