"""CE-GZSL / IPCE ``classifier_draws`` and ``final_draws`` (generative.averaged_softmax): K softmaxes on K synthetic
draws averaged into one, every epoch or only for the classifier a final model keeps."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
import torch

import zsl_desktop.engine.methods.generative as generative
from test_ipce import TINY, fit, make, synthetic, train_data


def trained(draws: int, monkeypatch=None, fits=None, name="ipce", final_draws: int = 0, final: bool = False):
    """A 2-epoch model with ``classifier_draws`` = draws and ``final_draws``; ``final``: fitted as a final model
    (``TrainData.final``); ``fits`` collects every softmax's (weight, bias)."""
    if fits is not None:
        original = generative.fit_softmax

        def recording(*args, **kwargs):
            fits.append(original(*args, **kwargs))
            return fits[-1]

        monkeypatch.setattr(generative, "fit_softmax", recording)
    features, labels, attributes = synthetic(per_class=12)
    model = make(name, classifier_draws=draws, final_draws=final_draws)
    fit(model, dataclasses.replace(train_data(features, labels, attributes), final=final), 2)
    return model, features, attributes


@pytest.mark.parametrize("name", ["ipce", "ce-gzsl"])
def test_the_head_is_the_mean_of_its_draws_and_scores_their_mean_logits(monkeypatch, name):
    fits: list = []
    model, features, attributes = trained(3, monkeypatch, fits, name)
    last = fits[-3:]  # the last epoch's classifier: three softmaxes
    assert len(fits) == 2 * 3
    weight, bias = model.state_dict()["head.weight"], model.state_dict()["head.bias"]
    torch.testing.assert_close(weight, torch.stack([w for w, _ in last]).mean(0))
    torch.testing.assert_close(bias, torch.stack([b for _, b in last]).mean(0))
    codes = model.encode(torch.from_numpy(features))
    h = codes[:, : TINY["embed_size"]]
    mean_logits = np.mean([h @ w.numpy().T + b.numpy() for w, b in last], axis=0)
    np.testing.assert_allclose(model.score(codes, attributes), mean_logits, rtol=1e-4, atol=1e-4)
    assert not torch.equal(last[0][0], last[1][0])  # each draw is its own classifier


def test_one_draw_is_the_single_classifier_and_the_first_of_several(monkeypatch):
    """K = 1 trains one softmax an epoch and keeps it as is; K = 3 starts with that very softmax (the same
    generator stream), so the option changes nothing until it is set."""
    one: list = []
    single, _, _ = trained(1, monkeypatch, one)
    assert len(one) == 2
    assert torch.equal(single.state_dict()["head.weight"], one[-1][0])
    assert torch.equal(single.state_dict()["head.bias"], one[-1][1])
    three: list = []
    trained(3, monkeypatch, three)
    assert torch.equal(three[0][0], one[0][0]) and torch.equal(three[0][1], one[0][1])


def test_an_averaged_head_round_trips_through_save_and_load():
    model, features, attributes = trained(2)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    again = make("ipce", classifier_draws=2)
    again.load_state_dict(torch.load(buffer, weights_only=True))
    drawn = attributes[:2] * 0.5 + 1.0  # classes nobody trained: calibrated comparator columns
    rows = np.concatenate((attributes, drawn))
    x = torch.from_numpy(features)
    np.testing.assert_array_equal(again.score(again.encode(x), rows), model.score(model.encode(x), rows))
    assert set(again.state_dict()) == set(trained(1)[0].state_dict())  # one weight and bias, as with one draw


@pytest.mark.parametrize("real", [True, False])
def test_a_refit_averages_as_many_draws(monkeypatch, real):
    fits: list = []
    model, features, attributes = trained(2, monkeypatch, fits)
    fits.clear()
    rows = attributes[[0, 1, 6]]
    if real:
        model.refit_classifier(rows, features[:24], np.repeat([0, 1], 12), seed=3)
    else:
        model.refit_classifier(rows, seed=3)
    assert len(fits) == 2
    head = model.state_dict()
    torch.testing.assert_close(head["head.weight"], (fits[0][0] + fits[1][0]) / 2)
    torch.testing.assert_close(head["head.bias"], (fits[0][1] + fits[1][1]) / 2)
    assert model.score(model.encode(torch.from_numpy(features[:5])), rows).shape == (5, 3)


@pytest.mark.parametrize("name", ["ipce", "ce-gzsl"])
def test_final_draws_average_only_a_final_models_last_classifier_starting_with_todays(monkeypatch, name):
    """final_draws K: a final model's first epoch stays one softmax, its last (kept) classifier is the mean of K,
    and the first of those K is the very softmax it keeps without the option (same stream); the networks are the
    same. A fold model (not final) ignores the option: its classifiers draw the validation curves."""
    one: list = []
    single, _, _ = trained(1, monkeypatch, one, name, final=True)
    monkeypatch.undo()
    kept: list = []
    model, _, _ = trained(1, monkeypatch, kept, name, final_draws=3, final=True)
    monkeypatch.undo()
    assert len(one) == 2 and len(kept) == 1 + 3
    assert torch.equal(kept[0][0], one[0][0])  # epoch 1: the same single softmax
    assert torch.equal(kept[1][0], one[1][0]) and torch.equal(kept[1][1], one[1][1])  # epoch 2's first draw
    head = model.state_dict()
    torch.testing.assert_close(head["head.weight"], torch.stack([w for w, _ in kept[1:]]).mean(0))
    torch.testing.assert_close(head["head.bias"], torch.stack([b for _, b in kept[1:]]).mean(0))
    assert not torch.equal(head["head.weight"], single.state_dict()["head.weight"])
    for key in ("E.fc1.weight", "G.fc1.weight"):  # the networks do not see the classifier's draws
        assert torch.equal(model.state_dict()[key], single.state_dict()[key]), key
    fold: list = []
    fold_model, _, _ = trained(1, monkeypatch, fold, name, final_draws=3, final=False)
    assert len(fold) == 2 and torch.equal(fold_model.state_dict()["head.weight"], single.state_dict()["head.weight"])


def test_ce_gzsl_and_ipce_average_five_final_draws_by_default():
    """The defaults (docs/history/ce_gzsl.md): CE-GZSL's final models keep the mean of five softmaxes since session
    14, IPCE's since session 15; a file written before either carries no final_draws and ran with 0."""
    from zsl_desktop.engine.methods import get_method

    for name in ("ce-gzsl", "ipce"):
        assert get_method(name).default_hparams["final_draws"] == 5, name
        assert get_method(name).hparams_before == {"final_draws": 0}, name


def test_a_refit_keeps_classifier_draws_not_final_draws(monkeypatch):
    """refit_classifier (the rows a user drew) stays at classifier_draws: final_draws does not slow it down."""
    fits: list = []
    model, _, attributes = trained(1, monkeypatch, fits, "ce-gzsl", final_draws=3, final=True)
    fits.clear()
    model.refit_classifier(attributes[[0, 1, 6]], seed=3)
    assert len(fits) == 1
