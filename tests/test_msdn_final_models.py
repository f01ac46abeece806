"""What MSDN's final models are: several averaged (members), their gamma transfer, their centred codes."""

import io
from dataclasses import replace

import numpy as np
import pytest
import torch

from msdn_toys import HP, toy_problem, weights_only_round_trip
from zsl_desktop.engine.methods import get_method
from zsl_desktop.engine.methods.base import FEW_SEEN_CLASSES, Control, EpochEnd
from zsl_desktop.engine.methods.msdn import MSDN, PARAMETER_NAMES


def test_members_average_the_codes_of_every_final_model_and_survive_a_weights_only_file():
    info, data = toy_problem()
    models = []
    for seed in (7, 1007, 2007):  # three final models, as the trainer trains them (one seed each)
        m = MSDN(info, HP)
        list(m.fit(replace(data, seed=seed), Control(), epochs=2))
        models.append(m)
    assert MSDN(info, HP).final_models() == 5 and MSDN(info, {"final_models": "1"}).final_models() == 1
    second = MSDN(info, HP)
    second.adopt_members(models[0])
    list(second.fit(replace(data, seed=1007), Control(), epochs=2))  # trains its own net, keeps the member
    last = MSDN(info, HP)
    last.adopt_members(second)
    list(last.fit(replace(data, seed=2007), Control(), epochs=2))
    x = data.features.rows("grid", np.arange(9))
    mean = sum(m.encode(x) for m in models) / 3
    np.testing.assert_allclose(last.encode(x), mean, rtol=1e-5, atol=1e-6)
    explanation = last.explain(x[0])
    np.testing.assert_allclose(explanation.attribute_scores, mean[0], rtol=1e-5, atol=1e-6)
    assert explanation.attention.shape == (12, 2, 2)
    np.testing.assert_allclose(explanation.attention.sum((1, 2)), 1.0, rtol=1e-5)  # a mean of softmaxes

    state = last.state_dict()
    assert {k for k in state if k.startswith("member")} == {f"member{i}.{n}" for i in (0, 1) for n in PARAMETER_NAMES}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    loaded = MSDN(info, HP)
    loaded.load_state_dict(torch.load(buffer, weights_only=True))
    np.testing.assert_array_equal(loaded.encode(x), last.encode(x))
    with pytest.raises(ValueError, match="members are incomplete"):
        MSDN(info, HP).load_state_dict({k: v for k, v in state.items() if k != "member1.W_2"})
    with pytest.raises(TypeError):
        MSDN(info, HP).adopt_members(object())


def test_gamma_transfer_auto_keeps_folds_unless_there_are_few_seen_classes():
    """Under 8 seen classes the fold models' gamma does not carry over: the final run calibrates its own."""
    msdn = get_method("msdn")
    assert msdn.transfer_for({}, seen_classes=40) == "folds"  # CUB, the built-in birds: as before
    assert msdn.transfer_for({}, seen_classes=7) == "calibration"  # a 10-digit set with 3 unseen
    assert msdn.transfer_for({}) == "folds"
    assert msdn.transfer_for({"gamma_transfer": "folds"}, seen_classes=7) == "folds"  # the user's choice wins
    assert msdn.transfer_for({"gamma_transfer": "training_share"}, seen_classes=40) == "training_share"


def test_centre_codes_subtracts_the_training_rows_mean_code_of_all_final_models():
    info, data = toy_problem()  # 4 seen classes: under FEW_SEEN_CLASSES
    # the default, "validation": the trainer chooses on or off on the fold models (tests/test_validation_variants.py)
    assert MSDN.default_hparams["centre_codes"] == "validation"
    auto = MSDN(info, {**HP, "centre_codes": "auto"})
    assert auto.centres_codes(4) and not auto.centres_codes(FEW_SEEN_CLASSES)  # CUB's 40, the birds' 40: no change
    off = {**HP, "centre_codes": "off"}
    assert MSDN(info, {"centre_codes": "True"}).centres_codes(40) and not MSDN(info, off).centres_codes(4)
    with pytest.raises(ValueError, match="centre_codes"):
        MSDN(info, {"centre_codes": "sometimes"})
    plain, centred = MSDN(info, off), MSDN(info, {**HP, "centre_codes": "on"})
    list(plain.fit(data, Control(), epochs=2))
    means = []
    for event in centred.fit(data, Control(), epochs=2):
        if isinstance(event, EpochEnd):  # validation encodes after every epoch: the mean must be current
            codes = centred.encode(data.features.rows("grid", data.train_index))
            means.append(np.abs(codes.mean(0)).max() / np.abs(codes).mean())
    assert len(means) == 2 and max(means) < 1e-4
    assert (plain._code_mean == 0).all() and "code_mean" not in plain.state_dict()  # off: the state as before
    x = data.features.rows("grid", np.arange(10))  # same seeded training: the codes differ by the mean only
    mean = centred._code_mean.numpy()
    assert np.abs(mean).max() > 0.1 * np.abs(plain.encode(x)).mean()
    np.testing.assert_allclose(centred.encode(x), plain.encode(x) - mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(centred.explain(x[0]).attribute_scores, centred.encode(x[:1])[0], rtol=1e-5, atol=1e-5)

    loaded = MSDN(info, HP)
    loaded.load_state_dict(weights_only_round_trip(centred.state_dict()))
    np.testing.assert_array_equal(loaded.encode(x), centred.encode(x))
    older = {k: v for k, v in centred.state_dict().items() if k != "code_mean"}  # shipped models, older checkpoints
    loaded.load_state_dict(older)
    np.testing.assert_allclose(loaded.encode(x), plain.encode(x), rtol=1e-5, atol=1e-5)  # uncentred, as before

    last = MSDN(info, {**HP, "centre_codes": "on"})  # a second final model: the mean of the averaged code
    last.adopt_members(centred)
    list(last.fit(replace(data, seed=1007), Control(), epochs=2))
    codes = last.encode(data.features.rows("grid", data.train_index))
    assert np.abs(codes.mean(0)).max() < 1e-4 * np.abs(codes).mean()
