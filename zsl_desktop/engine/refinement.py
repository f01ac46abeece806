"""Refine a class from a few examples: images marked "is this" / "is not this" move its attribute vector.

The rule: a few steps of gradient ascent, in attribute space, on the ranking's own objective

    J(a) = mean over confirmed images of log p(a | x) + mean over rejected images of log(1 - p(a | x)),

where p(a | x) is the calibrated probability of the class against every other class on image x: the
number "Rank by edited class" sorts by (``engine/ranking.py``). Why this rule:

- It works for every method through ``Method.score`` alone (it accepts any attribute rows), with no
  method-specific path: the gradient is taken by central differences, one batched ``score`` call of the
  marked images against 2·A perturbed rows per step (milliseconds for a handful of marked images).
- For the attribute methods (MSDN, SGMA: score = the image's predicted attributes · the normalised class
  row) the gradient of the score is exactly the confirmed image's predicted attributes (minus the part
  along the class row), so a confirmation moves the class towards the model's attribute predictions of
  that image and a rejection away from them; for the generative methods, whose drawn classes are scored
  through a synthesised prototype, it moves the class along the direction that raises the image's
  probability through that embedding.
- Comparing against the other classes (not the raw score) means a confirmation asks "more like this
  image than the classes it is confused with", which is what the ranking measures.

Each step moves the attribute with the largest gradient by ``step`` of the value range and the others in
proportion; a step that lowers J is halved (up to three times) or dropped. Values stay in the value range.
The refinement starts from the user's own definition with every mark so far and takes ``STEPS_PER_MARK``
steps per mark: more evidence, a longer way from the user's definition, and removing a mark removes its
pull (refining the previous refinement instead counts the first marks again at every new one). The step
sizes and this choice were measured on the built-in birds, never on the CUB images the refinement study
reports (README, "Refining a class from a few examples").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zsl_desktop.engine.ranking import logsumexp

STEPS_PER_MARK = 5  # gradient steps per marked image
MAX_STEPS = 40  # at most this many steps, however many images are marked (each step is one batched score)
STEP = 0.04  # share of the value range the most-moved attribute moves per step
PROBE = 0.01  # half-width of the central differences, as a share of the value range
HALVINGS = 3  # a step that lowers the objective is halved at most this many times


@dataclass(frozen=True)
class Refined:
    """The refined attribute vector and how the objective moved (``before`` -> ``after``)."""

    values: np.ndarray  # [A], within the value range
    before: float
    after: float
    steps: int  # steps taken (a step halved to nothing is not counted)


def refine(
    score,
    positive_codes: np.ndarray,
    negative_codes: np.ndarray,
    matrix: np.ndarray,
    column: int,
    boost: np.ndarray,
    value_range: tuple[float, float],
    steps: int | None = None,
    step: float = STEP,
) -> Refined:
    """Move ``matrix[column]`` (the class being edited) towards the confirmed images and away from the rejected.

    ``score(codes, rows) -> [n, K]`` logits (a method's ``score``); ``positive_codes`` / ``negative_codes``
    the marked images' codes (either may be empty); ``matrix`` [C, A] every class of the ranking with
    ``boost`` [C] their calibration (γ on classes without training images, ``ranking.calibration``).
    ``steps`` defaults to ``STEPS_PER_MARK`` per marked image, at most ``MAX_STEPS``.
    """
    lo, hi = (float(v) for v in value_range)
    if not hi > lo:
        raise ValueError(f"the value range must be increasing, got {value_range}")
    matrix = np.asarray(matrix, np.float32)
    boost = np.asarray(boost, np.float64)
    values = np.clip(matrix[column].astype(np.float64), lo, hi)
    positive_codes, negative_codes = np.asarray(positive_codes), np.asarray(negative_codes)
    n_pos, n_neg = len(positive_codes), len(negative_codes)
    if n_pos + n_neg == 0:
        return Refined(values.astype(np.float32), 0.0, 0.0, 0)
    if steps is None:
        steps = min(MAX_STEPS, STEPS_PER_MARK * (n_pos + n_neg))
    marked = np.concatenate([c for c in (positive_codes, negative_codes) if len(c)])
    others = np.delete(matrix, column, axis=0)
    if len(others):
        others_lse = logsumexp(np.asarray(score(marked, others), np.float64) + np.delete(boost, column))
    else:
        others_lse = np.full(len(marked), -np.inf)
    own_boost = float(boost[column])

    def objective(rows: np.ndarray) -> np.ndarray:
        """J of each attribute row [R, A] -> [R]."""
        s = np.asarray(score(marked, rows.astype(np.float32)), np.float64).T + own_boost  # [R, m]
        total = np.logaddexp(s, others_lse)
        j = np.zeros(len(rows))
        if n_pos:
            j += (s[:, :n_pos] - total[:, :n_pos]).mean(axis=1)
        if n_neg:
            j += (others_lse[n_pos:] - total[:, n_pos:]).mean(axis=1)
        return j

    span = hi - lo
    start = current = float(objective(values[None])[0])
    taken = 0
    for _ in range(steps):
        gradient = central_differences(objective, values, PROBE * span, lo, hi)
        top = float(np.max(np.abs(gradient)))
        if not top > 0:
            break
        move = step * span * gradient / top
        for _ in range(HALVINGS + 1):
            candidate = np.clip(values + move, lo, hi)
            value = float(objective(candidate[None])[0])
            if value > current:
                values, current = candidate, value
                taken += 1
                break
            move = move / 2
        else:
            break  # no step along this gradient raises J: a (local) optimum for these marks
    return Refined(values.astype(np.float32), start, current, taken)


def central_differences(objective, values: np.ndarray, probe: float, lo: float, hi: float) -> np.ndarray:
    """∂J/∂a_i for every attribute from one batched call: rows a ± probe·e_i, clipped to [lo, hi]."""
    count = len(values)
    eye = np.eye(count)
    plus = np.clip(values[None] + probe * eye, lo, hi)
    minus = np.clip(values[None] - probe * eye, lo, hi)
    j = objective(np.concatenate([plus, minus]))
    width = np.diag(plus) - np.diag(minus)  # less than 2·probe at a bound
    return np.where(width > 0, (j[:count] - j[count:]) / np.where(width > 0, width, 1.0), 0.0)
