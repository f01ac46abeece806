"""What a method's ``fit`` gets: the device, the features with the run's flips, the rows of one phase.

Kept apart from the phases because the bench and the developer scripts build a ``TrainData`` on their own.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from zsl_desktop.engine import paths
from zsl_desktop.engine.data.word_vectors import attribute_vectors
from zsl_desktop.engine.distributed import context as dist_context
from zsl_desktop.engine.feature_source import FeatureSource
from zsl_desktop.engine.features import flips_need_mirrored
from zsl_desktop.engine.methods import get_method
from zsl_desktop.engine.methods.base import TrainData

from .config import TrainConfig


def pick_device(requested: str | None = None) -> str:
    if requested:
        return requested
    ctx = dist_context()
    if ctx.active:
        return ctx.device
    return "cuda" if torch.cuda.is_available() else "cpu"


def with_flips(features: FeatureSource, config: TrainConfig) -> FeatureSource:
    """The feature source for ``config.flips``: its test-time averaging set, the mirrored rows checked."""
    if not flips_need_mirrored(config.flips):
        return replace(features, tta=False)
    if features.mirrored is None:
        raise ValueError(
            f"--flips {config.flips} needs the features of the mirrored images; extract them "
            f"(zsl-desktop extract --flips {config.flips} ...) or train with --flips none"
        )
    if get_method(config.method).reencodes_images:  # SGMA
        raise ValueError(
            f"{config.method} re-encodes crops of the original images, so mirrored features do not "
            f"apply to it; train it with --flips none"
        )
    return replace(features, tta=config.flips in ("tta", "both"))


def train_data(
    dataset,
    features,
    index,
    train_classes,
    device,
    seed,
    backbone="efficientnet_lite0",
    input_size=224,
    mirrored: bool = False,
    final: bool = False,
) -> TrainData:
    """What ``fit`` gets for the rows ``index``, learning ``train_classes``; ``mirrored``: the mirrored
    copies of the rows are training rows too; ``final``: a final model's fit (``TrainData.final``). Under torchrun every rank gets every row and computes its
    part of each batch (``TrainData.shards``)."""
    vectors, _ = attribute_vectors(dataset.attribute_names)
    index = np.asarray(index)
    labels = dataset.labels[index]
    if mirrored:
        index, labels = np.concatenate([index, features.mirrored_rows(index)]), np.concatenate([labels, labels])
    return TrainData(
        features=features,
        train_index=index,
        train_labels=labels,
        class_attributes=dataset.class_attributes,
        seen_classes=np.asarray(train_classes),
        unseen_classes=np.setdiff1d(np.arange(dataset.num_classes), train_classes),
        attribute_names=dataset.attribute_names,
        attribute_vectors=vectors,
        device=device,
        seed=seed,
        final=final,
        image_paths=(
            tuple(str(dataset.image_path(i)) for i in range(dataset.num_samples)) if dataset.has_images else None
        ),
        backbone=backbone,
        input_size=input_size,
        cache_dir=paths.feature_store_dir() / "cache",
        dataset_fingerprint=dataset.fingerprint,
        shards=dist_context().shards,
    )
