"""A trained model of any method for a bench dataset, shipped or a stand-in: scoring costs depend on shapes."""

from __future__ import annotations

import numpy as np


def trained_method(name: str, dataset, seed: int = 0):
    """A trained ``name`` for ``dataset``: its shipped checkpoint when one fits, else one epoch on random features.

    Scoring cost depends on shapes, not on how well the model is trained, but the
    generative methods cannot score at all before training (they need their classifier).
    Returns (method, where it came from).
    """
    from zsl_desktop.engine.checkpoints import CheckpointError, check_compatible, load_checkpoint
    from zsl_desktop.engine.methods.base import Control, FeatureSource, ModelInfo, TrainData
    from zsl_desktop.engine.methods import get_method
    from zsl_desktop.engine.training import method_from_checkpoint
    from zsl_desktop.engine.session.opening import shipped_checkpoint

    shipped = shipped_checkpoint().parent / f"{name}_builtin.pt"
    if shipped.is_file():
        checkpoint = load_checkpoint(shipped)
        try:
            check_compatible(checkpoint, dataset)
            return method_from_checkpoint(checkpoint), "shipped"
        except CheckpointError:
            pass  # the shipped model is for the full built-in birds; train a stand-in below
    cls = get_method(name)
    channels, grid = 64, (7, 7)
    rng = np.random.default_rng(seed)
    seen = np.asarray(dataset.seen_classes)
    labels = np.repeat(seen, 4)
    shape = (len(labels), channels, *grid) if cls.feature_kind == "grid" else (len(labels), channels)
    features = np.abs(rng.normal(size=shape)).astype(np.float32)
    info = ModelInfo(
        attribute_names=dataset.attribute_names,
        num_classes=dataset.num_classes,
        feature_kind=cls.feature_kind,
        channels=channels,
        grid_size=grid if cls.feature_kind == "grid" else None,
    )
    method = cls(info)
    source = FeatureSource(grid=features) if cls.feature_kind == "grid" else FeatureSource(pooled=features)
    data = TrainData(
        features=source,
        train_index=np.arange(len(labels)),
        train_labels=labels,
        class_attributes=dataset.class_attributes,
        seen_classes=seen,
        unseen_classes=np.setdiff1d(np.arange(dataset.num_classes), seen),
        attribute_names=dataset.attribute_names,
        seed=seed,
    )
    for _ in method.fit(data, Control(), 1):
        pass
    return method, "1 epoch on random features"
