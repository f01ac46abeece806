"""Small MSDN models and a toy problem shared by the MSDN tests (``tests/test_msdn_*.py``)."""

import io

import numpy as np
import torch

from zsl_desktop.engine.methods.base import FeatureSource, ModelInfo, Step, TrainData
from zsl_desktop.engine.methods.msdn import MSDN

CUB_NAMES = tuple(f"has_part_{i // 12}::value_{i % 12}" for i in range(312))


def msdn_model(channels, grid, num_attributes=312, num_classes=200, hparams=None, names=None):
    """An untrained MSDN for ``channels`` x ``grid`` x ``grid`` features (CUB-sized by default)."""
    names = names or (CUB_NAMES if num_attributes == 312 else tuple(f"attr_{i}" for i in range(num_attributes)))
    info = ModelInfo(
        attribute_names=names, num_classes=num_classes, feature_kind="grid", channels=channels, grid_size=(grid, grid)
    )
    return MSDN(info, hparams)


def randomise(method, seed=0):
    """Non-zero W_2, W_1_1, W_2_1, as after training, so both sub-nets matter."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name in ("W_2", "W_1_1", "W_2_1"):
            w = getattr(method._net, name)
            w.copy_(torch.randn(w.shape, generator=g) * 0.3)


def toy_problem(seed=0, n=60, channels=16, grid=2):
    """6 classes (4 seen, 2 unseen), 12 binary-ish attributes, each region = P a_y + noise."""
    rng = np.random.default_rng(seed)
    ca = (rng.random((6, 12)) > 0.5).astype(np.float32) * 100
    projection = rng.normal(size=(channels, 12)).astype(np.float32)
    labels = rng.integers(0, 4, n)
    regions = grid * grid
    feats = np.einsum("ca,na->nc", projection, ca[labels] / 100)[:, :, None] + 0.3 * rng.normal(
        size=(n, channels, regions)
    )
    feats = np.maximum(feats, 0).reshape(n, channels, grid, grid).astype(np.float32)
    names = tuple(f"part {i // 4} colour {i % 4}" for i in range(12))
    data = TrainData(
        features=FeatureSource(grid=feats),
        train_index=np.arange(n),
        train_labels=labels,
        class_attributes=ca,
        seen_classes=np.arange(4),
        unseen_classes=np.array([4, 5]),
        attribute_names=names,
        attribute_vectors=None,
        seed=7,
    )
    info = ModelInfo(
        attribute_names=names, num_classes=6, feature_kind="grid", channels=channels, grid_size=(grid, grid)
    )
    return info, data


HP = {"batch_size": 10}


def step_losses(events):
    """The total loss of every ``Step`` among ``events``."""
    return [e.losses["total"] for e in events if isinstance(e, Step)]


def weights_only_round_trip(state):
    """``state`` saved and read back as a checkpoint is: ``torch.load(weights_only=True)``."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)
