"""engine.readout: the rate to aim for when gamma is read off a few calibration images."""

from __future__ import annotations

import numpy as np
import pytest

from zsl_desktop.engine.readout import expected_h, rate_for_readout, readout_weights
from zsl_desktop.engine.selection import REJECTION_RATES


def test_readout_weights_are_the_order_statistics_beta_density():
    q, w = readout_weights(0.25, 80)  # m = 20 of n = 80: Beta(20, 61), mean 20 / 81
    assert w.sum() == pytest.approx(1.0)
    assert np.dot(q, w) == pytest.approx(20 / 81, abs=1e-4)
    variance = 20 * 61 / (81**2 * 82)
    assert np.dot((q - 20 / 81) ** 2, w) == pytest.approx(variance, rel=1e-3)


def test_expected_h_of_a_flat_curve_is_the_curve_and_many_images_read_the_rate_exactly():
    assert expected_h(np.full(len(REJECTION_RATES), 0.6), 0.3, 74) == pytest.approx(0.6)
    tent = 1 - np.abs(REJECTION_RATES - 0.4)
    assert expected_h(tent, 0.2, 200_000) == pytest.approx(tent[20], abs=1e-3)
    assert expected_h(tent, 0.4, 74) < tent[40]  # a noisy read-out of the peak falls off it on both sides


def test_a_curve_steeper_on_the_seen_side_moves_the_aim_towards_unseen_and_no_images_keep_the_best():
    # H collapses below rate 0.2 (too few seen images sent to unseen classes) and falls slowly above it
    curve = np.where(REJECTION_RATES < 0.2, 0.6 - 3 * (0.2 - REJECTION_RATES), 0.6 - 0.2 * (REJECTION_RATES - 0.2))
    folds = np.stack([curve, curve + 0.01])
    assert rate_for_readout(folds, 0) == pytest.approx(0.2)
    aimed = rate_for_readout(folds, 74)
    assert 0.2 < aimed < 0.35
    assert rate_for_readout(folds, 10_000) == pytest.approx(0.2, abs=0.011)  # little noise: back at the best
