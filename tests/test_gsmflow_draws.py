"""GSMFlow's ``classifier_draws``: K softmaxes on K synthetic draws averaged into one head (session 10)."""

import numpy as np
import torch

import zsl_desktop.engine.methods.generative as generative
from zsl_desktop.engine.methods.base import Control, FeatureSource, ModelInfo, TrainData
from zsl_desktop.engine.methods.gsmflow import GSMFlow

SMALL = {
    "hidden": 32,
    "cond_dim": 16,
    "batch_size": 32,
    "mining": False,
    "n_synth": 20,
    "seen_synth": 5,
    "cls_epochs": 10,
    "cls_batch": 32,
    "code_pca": 4,
}
CLASSES, ATTRIBUTES, DIM, PER_CLASS = 6, 5, 24, 20


def small_problem():
    """Six classes, features a linear image of their attributes plus noise; classes 4 and 5 unseen."""
    rng = np.random.default_rng(0)
    attributes = rng.uniform(0, 100, (CLASSES, ATTRIBUTES)).astype(np.float32)
    labels = np.repeat(np.arange(CLASSES), PER_CLASS)
    mix = rng.normal(size=(ATTRIBUTES, DIM)).astype(np.float32) / 40
    features = (attributes[labels] @ mix + rng.normal(size=(len(labels), DIM)) * 0.3).astype(np.float32)
    train_index = np.nonzero(labels < 4)[0]
    data = TrainData(
        features=FeatureSource(pooled=features),
        train_index=train_index,
        train_labels=labels[train_index],
        class_attributes=attributes,
        seen_classes=np.arange(4),
        unseen_classes=np.array([4, 5]),
        attribute_names=tuple(f"a{i}" for i in range(ATTRIBUTES)),
        seed=0,
    )
    return data, torch.from_numpy(features)


def trained(draws: int, monkeypatch=None, fits=None) -> GSMFlow:
    """A 2-epoch GSMFlow with ``classifier_draws`` = draws; ``fits`` collects every softmax's (weight, bias)."""
    if fits is not None:
        fit = generative.fit_softmax

        def recording(*args, **kwargs):
            fits.append(fit(*args, **kwargs))
            return fits[-1]

        monkeypatch.setattr(generative, "fit_softmax", recording)
    data, features = small_problem()
    info = ModelInfo(tuple(f"a{i}" for i in range(ATTRIBUTES)), CLASSES, "pooled", DIM)
    method = GSMFlow(info, {**SMALL, "classifier_draws": draws})
    list(method.fit(data, Control(), 2))
    method.encode(features[:2])  # the classifier is built here at the latest
    return method


def test_the_head_is_the_mean_of_its_draws_and_scores_their_mean_logits(monkeypatch):
    fits: list = []
    method = trained(3, monkeypatch, fits)
    assert len(fits) == 3  # the finished model's classifier: three softmaxes
    head = method._require_head()
    torch.testing.assert_close(head.weight, torch.stack([w for w, _ in fits]).mean(0), rtol=0, atol=0)
    data, features = small_problem()
    codes = method.encode(features)
    logits = method.score(codes, data.class_attributes)
    mean_logits = np.mean([codes @ w.numpy().T + b.numpy() for w, b in fits], axis=0)
    np.testing.assert_allclose(logits, mean_logits, rtol=1e-5, atol=1e-5)
    assert not all(torch.equal(fits[0][0], w) for w, _ in fits[1:])  # each draw is its own classifier


def test_one_draw_is_the_single_classifier_and_the_first_of_several(monkeypatch):
    """K = 1 trains one softmax and keeps it as is; K = 3 starts with that very softmax (same generator
    stream), so the option changes nothing until it is set."""
    one: list = []
    single = trained(1, monkeypatch, one)
    assert len(one) == 1
    assert torch.equal(single._require_head().weight, one[0][0]) and torch.equal(single._require_head().bias, one[0][1])
    three: list = []
    trained(3, monkeypatch, three)
    assert torch.equal(three[0][0], one[0][0]) and torch.equal(three[0][1], one[0][1])


def test_an_averaged_head_round_trips_through_its_state():
    method = trained(2)
    data, features = small_problem()
    info = ModelInfo(tuple(f"a{i}" for i in range(ATTRIBUTES)), CLASSES, "pooled", DIM)
    again = GSMFlow(info, {**SMALL, "classifier_draws": 2})
    again.load_state_dict(method.state_dict())
    drawn = data.class_attributes[:2] * 0.5 + 1.0  # a class nobody trained: a calibrated prototype column
    rows = np.concatenate((data.class_attributes, drawn))
    expected = method.score(method.encode(features), rows)
    np.testing.assert_array_equal(again.score(again.encode(features), rows), expected)
    assert set(again.state_dict()) == set(method.state_dict())  # one weight and bias, as with one draw


def test_a_refit_averages_as_many_draws(monkeypatch):
    fits: list = []
    method = trained(2, monkeypatch, fits)
    data, features = small_problem()
    fits.clear()
    method.refit_classifier(data.class_attributes[[0, 1, 4]], features[:20], np.zeros(20, np.int64))
    assert len(fits) == 2
    torch.testing.assert_close(method._require_head().weight, (fits[0][0] + fits[1][0]) / 2)
