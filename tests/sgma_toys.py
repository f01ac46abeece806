"""What the SGMA tests share (not a test file): a tiny SGMA problem, a state through a weights-only file, and
a model and training data over a real feature store with its images."""

import io

import numpy as np
import torch

from zsl_desktop.engine.feature_source import ImageAccess
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


def round_trip(state):
    """``state`` saved and loaded back as a checkpoint is (``weights_only``: no unpickling)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def extracted(dataset, folder):
    """``dataset`` and its feature store at 64 px in ``folder`` (small enough for crops in a test)."""
    from zsl_desktop.engine.features import extract_all

    return dataset, extract_all(dataset, root=folder, input_size=64)


def with_images(dataset, store):
    """The store's FeatureSource reaching the original images too (what crops need)."""
    source = store.source()
    source.images = ImageAccess.for_store(dataset, store)
    return source


def grid_info(dataset, store):
    """ModelInfo of a grid-feature model for ``dataset`` over ``store``."""
    return ModelInfo(
        attribute_names=dataset.attribute_names,
        num_classes=dataset.num_classes,
        feature_kind="grid",
        channels=int(store.grid.shape[1]),
        grid_size=tuple(store.grid.shape[2:]),
    )


def train_data(dataset, source, seed=3):
    """TrainData of ``dataset``'s trainval rows read from ``source``."""
    index = dataset.splits["trainval"]
    return TrainData(
        features=source,
        train_index=index,
        train_labels=dataset.labels[index],
        class_attributes=dataset.class_attributes,
        seen_classes=dataset.seen_classes,
        unseen_classes=dataset.unseen_classes,
        attribute_names=dataset.attribute_names,
        seed=seed,
    )
