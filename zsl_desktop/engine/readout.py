"""The rejection rate to aim for when gamma is read off a few held-out images ("calibration" transfer).

Why: the final model turns the folds' chosen share r of seen images sent to unseen classes into its own gamma on
n held-out seen images (``engine.training``; on the CUB subset n = 74). The share that gamma then sends on the
population is not r but the m-th order statistic of n uniform ranks, r' ~ Beta(m, n - m + 1), m = round(r n).
H falls faster on the seen side of its best rate (unseen accuracy collapses) than on the other, so aiming at the
rate of the best fold-mean H is not the best aim under that noise: this module aims at the rate whose expected
fold-mean H over the draw of r' is best. No test data: the fold models' validation curves only.
"""

from __future__ import annotations

import math

import numpy as np

from zsl_desktop.engine.selection import REJECTION_RATES

QUADRATURE = 2001  # points of the share axis the Beta density is summed over


def readout_weights(rate: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Shares q and their probabilities of being the population share reached when ``rate`` is read off ``n``
    images (the Beta(m, n - m + 1) density of the m-th of n uniform order statistics, m = round(rate n) in 1..n)."""
    m = min(max(1, int(round(rate * n))), n)
    q = np.linspace(0.0, 1.0, QUADRATURE)[1:-1]
    log_density = (
        math.lgamma(n + 1) - math.lgamma(m) - math.lgamma(n - m + 1) + (m - 1) * np.log(q) + (n - m) * np.log1p(-q)
    )
    weights = np.exp(log_density - log_density.max())
    return q, weights / weights.sum()


def expected_h(curve, rate: float, n: int, rates=REJECTION_RATES) -> float:
    """The mean of ``curve`` (H at each of ``rates``, interpolated) over the shares reached from ``n`` images."""
    q, weights = readout_weights(rate, n)
    return float(np.dot(weights, np.interp(q, rates, np.asarray(curve, np.float64))))


def rate_for_readout(fold_h, n: int, rates=REJECTION_RATES) -> float:
    """The rate whose expected fold-mean H is best when gamma is read off ``n`` images; ``fold_h`` is each fold's
    H at ``rates`` at the chosen epoch. With no images (n < 1) the rate of the best fold-mean H."""
    mean = np.asarray(fold_h, np.float64).mean(0)
    if n < 1:
        return float(rates[int(np.argmax(mean))])
    return float(rates[int(np.argmax([expected_h(mean, r, n, rates) for r in rates]))])
