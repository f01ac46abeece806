"""GSMFlow's state (``gsmflow/state.py``): a weights-only round trip scores identically, and a resume state
continues to the uninterrupted run (also one saved after the last epoch)."""

import numpy as np
import pytest
import torch

from gsmflow_toys import assert_scores_alike, fit_to_end, tiny_data, tiny_gsmflow
from zsl_desktop.engine.checkpoints import load_checkpoint, save_checkpoint
from zsl_desktop.engine.methods.base import Control, EpochEnd
from zsl_desktop.engine.training import inference_state


def test_state_round_trip_gives_identical_scores_and_loads_weights_only(tmp_path):
    data, features, _ = tiny_data()
    m = tiny_gsmflow()
    fit_to_end(m, data, 2)
    codes = m.encode(torch.from_numpy(features))
    user = data.class_attributes[[0, 4]] + np.float32(7.0)  # two rows the classifier was not trained for
    matrix = np.concatenate([data.class_attributes, user])
    expected = m.score(codes, matrix)
    path = save_checkpoint(tmp_path / "g.pt", {"method": "gsmflow"}, inference_state(m))
    state = load_checkpoint(path).state  # weights_only=True inside
    assert not any(k.startswith("optim.") for k in state)
    again = tiny_gsmflow()
    again.load_state_dict(state)
    np.testing.assert_array_equal(again.encode(torch.from_numpy(features)), codes)
    np.testing.assert_array_equal(again.score(codes, matrix), expected)
    np.testing.assert_array_equal(again.synthesize(user, 5, seed=3), m.synthesize(user, 5, seed=3))


def test_a_resume_state_saved_after_the_last_epoch_scores():
    """The state saved at the last EpochEnd has no classifier yet (it is built when first needed); a run
    resumed there trains no further epoch and must end like the uninterrupted one (it said "not trained yet")."""
    data, features, _ = tiny_data()
    method = tiny_gsmflow()
    for event in method.fit(data, Control(), 2):
        if isinstance(event, EpochEnd) and event.epoch == 2:
            state = {k: v.clone() for k, v in method.state_dict().items()}
    assert not any(k.startswith("head.") for k in state)  # the case this test is about
    resumed = tiny_gsmflow()
    resumed.load_state_dict(state)
    fit_to_end(resumed, data, 2, start=2)  # nothing left to train
    assert_scores_alike(resumed, method, features, data.class_attributes)


@pytest.mark.parametrize(
    "options", [{}, {"seen_synth": 5, "synth_temperature": 1.2, "cls_weight_decay": 1e-4, "cls_real_repeat": 3}]
)
def test_resume_continues_exactly(options):
    """The trainer saves a resume state after each epoch; continuing from it repeats the uninterrupted run
    (also with the final classifier's options, whose draws come from the epoch's seeded generator)."""
    data, features, _ = tiny_data()
    whole = tiny_gsmflow(options)
    fit_to_end(whole, data, 3)
    first = tiny_gsmflow(options)
    for event in first.fit(data, Control(), 3):
        if isinstance(event, EpochEnd) and event.epoch == 2:
            state = {k: v.clone() for k, v in first.state_dict().items()}
            break
    assert "optim.mined_x" in state  # mined rows travel with the resume state
    assert state["flow.blocks.0.g1.fc_u.weight"].dtype == torch.float16  # plus float32 remainders
    resumed = tiny_gsmflow(options)
    resumed.load_state_dict(state)
    fit_to_end(resumed, data, 3, start=2)
    assert_scores_alike(resumed, whole, features, data.class_attributes)
