"""MSDN's losses against independent NumPy versions."""

import math

import numpy as np
import pytest
import torch

from zsl_desktop.engine.methods.msdn import cross_entropy_loss, distillation_loss, jensen_shannon, self_calibration_loss


# -- independent NumPy references ------------------------------------------------------------
def np_softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def np_ce(logits, labels):
    p = np_softmax(logits)
    return float(-np.mean(np.log(p[np.arange(len(labels)), labels])))


def np_jsd(s1, s2):
    p, q = np_softmax(s1), np_softmax(s2)
    m = (p + q) / 2

    def kl(a, b):
        return np.sum(a * np.log(a / b), axis=1).mean()

    return float((kl(q, m) + kl(p, m)) / 2)


def t64(x):
    return torch.tensor(np.asarray(x, dtype=np.float64))


# -- losses ---------------------------------------------------------------------------------------
def test_cross_entropy_removes_the_bias_and_uses_all_classes():
    # biased logits [[1,2,3],[1,1,1]] with bias [-1,-1,+1] -> [[2,3,2],[2,2,0]]
    # row 0, label 1: -log(e^3 / (2e^2 + e^3)) = log(1 + 2/e); row 1, label 0: log(2 + e^-2)
    logits, bias, labels = t64([[1, 2, 3], [1, 1, 1]]), t64([-1, -1, 1]), torch.tensor([1, 0])
    expected = (math.log(1 + 2 / math.e) + math.log(2 + math.exp(-2))) / 2
    assert cross_entropy_loss(logits, labels, bias).item() == pytest.approx(expected, rel=1e-12)
    rng = np.random.default_rng(0)
    x, b, y = rng.normal(size=(5, 7)), rng.choice([-1.0, 1.0], 7), rng.integers(0, 7, 5)
    assert cross_entropy_loss(t64(x), torch.tensor(y), t64(b)).item() == pytest.approx(np_ce(x - b, y), rel=1e-10)


def test_self_calibration_has_the_batch_mean_inside_the_log():
    # all-zero logits over 4 classes, one unseen: mass 1/4 for every row -> log 4
    assert self_calibration_loss(torch.zeros(2, 4, dtype=torch.float64), torch.tensor([3])).item() == pytest.approx(
        math.log(4)
    )
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 5)) * 3
    unseen = np.array([False, True, False, False, True])
    expected = -math.log(np.mean(np_softmax(x)[:, unseen].sum(1)))
    mean_of_logs = float(np.mean(-np.log(np_softmax(x)[:, unseen].sum(1))))
    got = self_calibration_loss(t64(x), torch.from_numpy(unseen)).item()
    assert got == pytest.approx(expected, rel=1e-10)
    assert got != pytest.approx(mean_of_logs, rel=1e-3)  # the other placement of the mean differs
    assert self_calibration_loss(t64(x), torch.tensor([1, 4])).item() == pytest.approx(expected, rel=1e-10)
    # Extreme logits stay finite (log-sum-exp), and no unseen class means no loss.
    assert math.isfinite(self_calibration_loss(t64([[1000.0, -1000.0]]), torch.tensor([1])).item())
    assert self_calibration_loss(t64(x), torch.zeros(5, dtype=torch.bool)).item() == 0.0


def test_distillation_code_and_paper_forms():
    rng = np.random.default_rng(2)
    s1, s2 = rng.normal(size=(4, 6)) * 2, rng.normal(size=(4, 6)) * 2
    d = s1 - s2
    weighted = np.mean(np.sum(d**2 / np.linalg.norm(d, axis=1, keepdims=True) * np.abs(d), axis=1))
    cubed = np.mean(np.sum(np.abs(d) ** 3, axis=1) / np.linalg.norm(d, axis=1))
    assert weighted == pytest.approx(cubed)  # the identity quoted in METHODS.md 2.4
    jsd = np_jsd(s1, s2)
    assert jensen_shannon(t64(s1), t64(s2)).item() == pytest.approx(jsd, rel=1e-9)
    assert distillation_loss(t64(s1), t64(s2), "code").item() == pytest.approx(weighted + jsd, rel=1e-9)
    paper = np.mean(np.sum(d**2, axis=1)) + jsd
    assert distillation_loss(t64(s1), t64(s2), "paper").item() == pytest.approx(paper, rel=1e-9)
    # Tiny case by hand: d = (3, 4), ||d||_2 = 5, ||d||_3^3 = 27 + 64 = 91 -> 91/5 = 18.2; JSD of equal
    # softmaxes (a constant shift) is 0.
    assert distillation_loss(t64([[3.0, 4.0]]), t64([[0.0, 0.0]]), "code").item() == pytest.approx(
        18.2 + np_jsd(np.array([[3.0, 4.0]]), np.zeros((1, 2))), rel=1e-9
    )
    assert distillation_loss(t64([[5.0, 5.0]]), t64([[0.0, 0.0]]), "paper").item() == pytest.approx(50.0)
    with pytest.raises(ValueError):
        distillation_loss(t64(s1), t64(s2), "other")


def test_distillation_of_identical_logits_is_zero_with_finite_gradients():
    s1 = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    loss = distillation_loss(s1, s1.detach().clone(), "code")
    loss.backward()
    assert loss.item() == pytest.approx(0.0, abs=1e-9)
    assert torch.isfinite(s1.grad).all()
