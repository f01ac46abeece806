"""What the GSMFlow tests share (not a test file): a tiny GSMFlow problem, its training data and model, a fit to
the end, a comparison of two models' scores, and an xlsa17 res101.mat fixture for the shared trainer."""

import numpy as np
import scipy.io
import torch

from zsl_desktop.engine.methods.base import Control, FeatureSource, ModelInfo, TrainData
from zsl_desktop.engine.methods.gsmflow import GSMFlow


TINY = {
    "hidden": 32,
    "cond_dim": 16,
    "batch_size": 32,
    "relation_hidden": 16,
    "relation_epochs": 3,
    "relation_batch": 32,
    "mining_steps": 3,
    "n_synth": 20,
    "cls_epochs": 30,
    "cls_batch": 32,
    "code_pca": 4,
    "classifier_draws": 1,  # one softmax per build keeps these tests fast; test_gsmflow_draws.py tests the average
}

K, A, D, PER_CLASS = 6, 5, 24, 24


def tiny_problem(seed=0):
    """6 classes whose features are a linear image of their attributes plus noise; classes 4, 5 unseen."""
    rng = np.random.default_rng(seed)
    attributes = rng.uniform(0, 100, (K, A)).astype(np.float32)
    mix = rng.normal(size=(A, D)).astype(np.float32) / 40
    labels = np.repeat(np.arange(K), PER_CLASS)
    features = (attributes[labels] @ mix + rng.normal(size=(len(labels), D)) * 0.3).astype(np.float32)
    return attributes, features, labels


def tiny_gsmflow(hparams=None):
    info = ModelInfo(attribute_names=tuple(f"a{i}" for i in range(A)), num_classes=K, feature_kind="pooled", channels=D)
    return GSMFlow(info, {**TINY, **(hparams or {})})


def tiny_data(seed=0):
    attributes, features, labels = tiny_problem(seed)
    train_index = np.nonzero(labels < 4)[0]
    return (
        TrainData(
            features=FeatureSource(pooled=features),
            train_index=train_index,
            train_labels=labels[train_index],
            class_attributes=attributes,
            seen_classes=np.arange(4),
            unseen_classes=np.array([4, 5]),
            attribute_names=tuple(f"a{i}" for i in range(A)),
            seed=seed,
        ),
        features,
        labels,
    )


def fit_to_end(method, data, epochs, start=0, control=None):
    return list(method.fit(data, control or Control(), epochs, start_epoch=start))


def assert_scores_alike(a, b, features, class_attributes):
    """Two models score every image alike (a resumed run against the uninterrupted one)."""
    x = torch.from_numpy(features)
    np.testing.assert_allclose(
        a.score(a.encode(x), class_attributes), b.score(b.encode(x), class_attributes), rtol=1e-4, atol=1e-4
    )


def write_xlsa17(folder, seed=0):
    rng = np.random.default_rng(seed)
    k, a, per = 6, 8, 10
    original = rng.uniform(0, 100, size=(a, k))
    labels = np.repeat(np.arange(k), per)
    mix = rng.normal(size=(a, 2048)) / 50
    features = np.maximum(original.T[labels] @ mix + rng.normal(size=(len(labels), 2048)), 0)
    index = np.arange(len(labels))
    seen = labels < 4
    trainval = index[seen & (index % per < 8)]
    test_seen = index[seen & (index % per >= 8)]
    test_unseen = index[~seen]

    def one(i):
        return (np.asarray(i) + 1).reshape(-1, 1).astype(np.uint16)

    scipy.io.savemat(
        folder / "att_splits.mat",
        {
            "att": original / np.linalg.norm(original, axis=0),
            "original_att": original,
            "trainval_loc": one(trainval),
            "test_seen_loc": one(test_seen),
            "test_unseen_loc": one(test_unseen),
        },
    )
    scipy.io.savemat(folder / "res101.mat", {"features": features.T, "labels": (labels + 1).reshape(-1, 1)})
