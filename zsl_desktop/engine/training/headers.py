"""What a checkpoint's header records about its run, and where a run's checkpoint goes by default."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from zsl_desktop import __version__
from zsl_desktop.engine import paths
from zsl_desktop.engine.data.model import Dataset
from zsl_desktop.engine.methods.base import Method

from .config import TrainConfig


def make_header(dataset: Dataset, method: Method, config: TrainConfig, **extra) -> dict:
    return {
        "method": method.name,
        "hparams": method.hparams,
        "app_version": __version__,
        "dataset": dataset.name,
        "dataset_format": dataset.format,
        "dataset_fingerprint": dataset.fingerprint,
        "attribute_names": list(dataset.attribute_names),
        "class_names": list(dataset.classes),
        "seen_classes": dataset.seen_classes.tolist(),
        "unseen_classes": dataset.unseen_classes.tolist(),
        "backbone": config.backbone,
        "input_size": config.input_size,
        "flips": config.flips,
        "feature_kind": method.feature_kind,
        "channels": method.info.channels,
        "grid_size": list(method.info.grid_size or []),
        "seed": config.seed,
        "folds": config.folds,
        "select": config.select,
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        # float sums depend on the thread count: a rerun needs the same one to pick the same epoch
        "threads": torch.get_num_threads(),
        **extra,
    }


def default_checkpoint_path(dataset: Dataset, method: str, folder: Path | None = None) -> Path:
    """``<dataset>-<fingerprint>-<method>.pt`` in the user's checkpoint folder.

    The fingerprint keeps two datasets whose folders share a name from overwriting each other's model.
    """
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in dataset.name)[:80] or "dataset"
    folder = Path(folder) if folder is not None else paths.data_dir() / "checkpoints"
    return folder / f"{safe}-{dataset.fingerprint[:8]}-{method}.pt"
