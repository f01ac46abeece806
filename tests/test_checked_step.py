"""methods/checked_step.py: the step MSDN and SGMA take after every batch, and its refusal of a non-finite loss."""

import math

import pytest
import torch

from zsl_desktop.engine.methods.checked_step import checked_step
from zsl_desktop.engine.sharding import Shards


def _problem():
    weight = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    return weight, torch.optim.SGD([weight], lr=0.5)


def test_a_finite_loss_steps_and_reports_every_term():
    weight, optimizer = _problem()
    part = Shards().part(4)
    loss = (weight**2).sum()
    figures = checked_step("toy", optimizer, part, (loss, weight[0] * 3), epoch=1, step=1)
    assert figures == pytest.approx([5.0, 3.0])
    assert weight.detach().tolist() == pytest.approx([0.0, 0.0])  # w - 0.5 * 2w


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_non_finite_loss_raises_before_stepping_and_names_where(bad):
    weight, optimizer = _problem()
    loss = (weight * bad).sum()
    with pytest.raises(FloatingPointError, match=r"toy: the loss became .* at epoch 3, step 17; try a lower"):
        checked_step("toy", optimizer, Shards().part(4), (loss,), epoch=3, step=17)
    assert weight.detach().tolist() == [1.0, -2.0]  # untouched
