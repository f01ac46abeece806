"""A tiny SGMA problem for the tests of SGMA and of its final models (shared, not a test file)."""

import numpy as np

from zsl_desktop.engine.methods.base import FeatureSource, ModelInfo, TrainData


def toy_problem(seed=0, n=60, channels=16, grid=4):
    """6 classes (4 seen, 2 unseen), 8 attributes; class signal in the top-left and bottom-right cells."""
    rng = np.random.default_rng(seed)
    ca = (rng.random((6, 8)) > 0.5).astype(np.float32) * 100
    projection = np.abs(rng.normal(size=(channels, 8))).astype(np.float32)
    labels = rng.integers(0, 4, n)
    feats = 0.2 * np.abs(rng.normal(size=(n, channels, grid, grid)))
    signal = np.einsum("ca,na->nc", projection, ca[labels] / 100)
    feats[:, : channels // 2, 0, 0] += signal[:, : channels // 2]
    feats[:, channels // 2 :, -1, -1] += signal[:, channels // 2 :]
    names = tuple(f"has_part_{i // 4}::colour_{i % 4}" for i in range(8))
    data = TrainData(
        features=FeatureSource(grid=feats.astype(np.float32)),
        train_index=np.arange(n),
        train_labels=labels,
        class_attributes=ca,
        seen_classes=np.arange(4),
        unseen_classes=np.array([4, 5]),
        attribute_names=names,
        seed=7,
    )
    info = ModelInfo(
        attribute_names=names, num_classes=6, feature_kind="grid", channels=channels, grid_size=(grid, grid)
    )
    return info, data
