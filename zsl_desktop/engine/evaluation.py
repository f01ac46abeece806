"""The standard ZSL / GZSL protocol (Xian et al.), with calibrated stacking.

All accuracies are per-class means (each class counts equally), in [0, 1].
Scores are logits ``[N, K]`` over every class of the dataset; ``seen`` and
``unseen`` are class-id arrays. Calibrated stacking (Chao et al. 2016)
predicts ``argmax_c score(x, c) + gamma * [c is unseen]``.

The seen-unseen curve is computed exactly: a sample's prediction flips from
its best seen class to its best unseen class at one critical gamma
(``max_seen - max_unseen``), so sorting those gives every point of the curve.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def per_class_accuracy(predicted: np.ndarray, labels: np.ndarray, classes=None) -> float:
    """Mean over ``classes`` (default: the classes present in ``labels``) of the per-class hit rate.

    Counted with ``bincount``, not a Python loop over the classes: each validation of a training run calls this
    202 times (``selection.h_by_rejection_rate``, 101 operating points), and the loop held the GIL that the
    window's painting waited for (docs/history/performance.md, session 14). The same rates, so the same mean."""
    predicted = np.asarray(predicted)
    labels = np.asarray(labels)
    classes = np.unique(labels) if classes is None else np.asarray(classes)
    keys, where = np.unique(labels, return_inverse=True)
    counts = np.bincount(where.ravel(), minlength=len(keys))
    hits = np.bincount(where.ravel(), weights=(predicted == labels).ravel(), minlength=len(keys))
    at = np.minimum(np.searchsorted(keys, classes), max(len(keys) - 1, 0))
    present = at[keys[at] == classes] if len(keys) else at[:0]
    return float(np.mean(hits[present] / counts[present])) if len(present) else 0.0


def calibrate(scores: np.ndarray, shifted, gamma: float, dtype=np.float32) -> np.ndarray:
    """Calibrated stacking: a copy of ``scores`` [..., C] with +gamma on the ``shifted`` columns.

    ``shifted`` (a boolean mask over the columns, or their indices) are the classes without
    training images: the unseen classes, and in the app the user's own classes and the draft.
    The one place γ is applied: evaluation, the predictions panel, the gallery and the exports.
    """
    out = np.array(scores, dtype=dtype, copy=True)
    if gamma and shifted is not None and len(shifted):
        out[..., shifted] += out.dtype.type(gamma)
    return out


def gallery_predictions(scores: np.ndarray, dataset, gamma: float) -> np.ndarray:
    """Each item's calibrated argmax among the dataset's classes (the first columns of ``scores``); -1 for the
    user's loose photos (the rows after the dataset's). What the gallery's right/wrong badges show."""
    k = dataset.num_classes
    calibrated = calibrate(scores[:, :k], np.isin(np.arange(k), dataset.unseen_classes), gamma)
    predicted = np.argmax(calibrated, axis=1)
    predicted[dataset.num_samples :] = -1
    return predicted


def predict(scores: np.ndarray, unseen: np.ndarray | None = None, gamma: float = 0.0, among=None) -> np.ndarray:
    """Argmax class ids, optionally restricted to ``among`` and with +gamma on ``unseen`` columns."""
    scores = calibrate(scores, unseen, gamma, dtype=np.float64)
    if among is not None:
        among = np.asarray(among)
        return among[np.argmax(scores[:, among], axis=1)]
    return np.argmax(scores, axis=1)


def zsl_accuracy(scores: np.ndarray, labels: np.ndarray, unseen: np.ndarray) -> float:
    """Conventional ZSL top-1: unseen test images, prediction restricted to the unseen classes."""
    return per_class_accuracy(predict(scores, among=unseen), labels, unseen)


def harmonic_mean(u: float, s: float) -> float:
    return 0.0 if u + s == 0 else 2 * u * s / (u + s)


@dataclass(frozen=True)
class GZSLResult:
    u: float
    s: float
    h: float
    gamma: float


def gzsl_accuracy(scores_seen, labels_seen, scores_unseen, labels_unseen, seen, unseen, gamma=0.0) -> GZSLResult:
    """U, S and H over all classes at a fixed calibration gamma."""
    s = per_class_accuracy(predict(scores_seen, unseen, gamma), labels_seen, seen)
    u = per_class_accuracy(predict(scores_unseen, unseen, gamma), labels_unseen, unseen)
    return GZSLResult(u=u, s=s, h=harmonic_mean(u, s), gamma=float(gamma))


@dataclass(frozen=True)
class SeenUnseenCurve:
    """Accuracy pairs as gamma sweeps from -inf (all seen) to +inf (all unseen)."""

    gammas: np.ndarray  # the gamma at which each point starts to hold (first is -inf)
    seen: np.ndarray
    unseen: np.ndarray

    @property
    def ausuc(self) -> float:
        """Area under the unseen-vs-seen accuracy curve (Chao et al.)."""
        # Points run in gamma order: seen accuracy falls, unseen rises.
        x, y = self.seen, self.unseen
        return float(np.sum((x[:-1] - x[1:]) * (y[1:] + y[:-1]) / 2))

    def best(self) -> GZSLResult:
        """The point with the best H, gamma placed mid-way inside its interval."""
        h = np.array([harmonic_mean(u, s) for u, s in zip(self.unseen, self.seen)])
        i = int(np.argmax(h))
        lo = self.gammas[i]
        hi = self.gammas[i + 1] if i + 1 < len(self.gammas) else lo + 1.0
        if not np.isfinite(lo):
            lo = hi - 1.0
        return GZSLResult(u=float(self.unseen[i]), s=float(self.seen[i]), h=float(h[i]), gamma=float((lo + hi) / 2))


def seen_unseen_curve(scores_seen, labels_seen, scores_unseen, labels_unseen, seen, unseen) -> SeenUnseenCurve:
    """Exact calibrated-stacking curve over all gammas."""
    seen = np.asarray(seen)
    unseen = np.asarray(unseen)
    scores = np.concatenate([np.asarray(scores_seen, np.float64), np.asarray(scores_unseen, np.float64)])
    labels = np.concatenate([np.asarray(labels_seen), np.asarray(labels_unseen)])
    from_seen_set = np.r_[np.ones(len(labels_seen), bool), np.zeros(len(labels_unseen), bool)]
    best_seen = seen[np.argmax(scores[:, seen], axis=1)]
    best_unseen = unseen[np.argmax(scores[:, unseen], axis=1)]
    # Prediction is the unseen class iff gamma > flip.
    flip = scores[:, seen].max(axis=1) - scores[:, unseen].max(axis=1)

    # Per-class weights so that sums are per-class mean accuracies.
    weight = np.zeros(len(labels))
    for part, classes in ((from_seen_set, seen), (~from_seen_set, unseen)):
        present = [c for c in classes if np.any(labels[part] == c)]
        for c in present:
            m = part & (labels == c)
            weight[m] = 1.0 / (m.sum() * len(present))
    hit_seen = from_seen_set & (best_seen == labels)  # counts while gamma <= flip
    hit_unseen = ~from_seen_set & (best_unseen == labels)  # counts once gamma > flip

    order = np.argsort(flip, kind="stable")
    f = flip[order]
    seen_gain = (weight * hit_seen)[order]
    unseen_gain = (weight * hit_unseen)[order]
    # After passing the j-th flip, samples 0..j are predicted unseen.
    s_acc = np.clip(seen_gain.sum() - np.cumsum(seen_gain), 0.0, None)
    u_acc = np.cumsum(unseen_gain)
    # Collapse ties: keep the last index of each distinct flip value.
    last = np.r_[np.flatnonzero(np.diff(f) > 0), len(f) - 1]
    gammas = np.r_[-np.inf, f[last]]
    return SeenUnseenCurve(
        gammas=gammas,
        seen=np.r_[seen_gain.sum(), s_acc[last]],
        unseen=np.r_[0.0, u_acc[last]],
    )


@dataclass(frozen=True)
class EvaluationReport:
    """One evaluation, with how gamma was chosen (``fixed``, ``validation`` or ``test``)."""

    zsl: float
    gzsl: GZSLResult
    ausuc: float
    gamma_source: str
    curve: SeenUnseenCurve = field(repr=False)
    skipped: int = 0  # test images left out because their file could not be read

    def as_dict(self) -> dict:
        extra = {"skipped_images": self.skipped} if self.skipped else {}
        return {
            **extra,
            "zsl_t1": self.zsl,
            "u": self.gzsl.u,
            "s": self.gzsl.s,
            "h": self.gzsl.h,
            "gamma": self.gzsl.gamma,
            "gamma_source": self.gamma_source,
            "ausuc": self.ausuc,
        }

    def format(self) -> str:
        g = self.gzsl
        return (
            f"ZSL T1 {100 * self.zsl:5.1f} | GZSL U {100 * g.u:5.1f} S {100 * g.s:5.1f} H {100 * g.h:5.1f} "
            f"(gamma {g.gamma:+.3f}, chosen on {self.gamma_source}) | AUSUC {100 * self.ausuc:5.1f}"
            + (f" | {self.skipped} unreadable test images skipped" if self.skipped else "")
        )


def evaluate(
    scores_seen,
    labels_seen,
    scores_unseen,
    labels_unseen,
    seen,
    unseen,
    gamma: float = 0.0,
    gamma_source: str = "fixed",
) -> EvaluationReport:
    """ZSL T1, GZSL U/S/H at ``gamma``, and AUSUC, on the test splits."""
    curve = seen_unseen_curve(scores_seen, labels_seen, scores_unseen, labels_unseen, seen, unseen)
    return EvaluationReport(
        zsl=zsl_accuracy(scores_unseen, labels_unseen, unseen),
        gzsl=gzsl_accuracy(scores_seen, labels_seen, scores_unseen, labels_unseen, seen, unseen, gamma),
        ausuc=curve.ausuc,
        gamma_source=gamma_source,
        curve=curve,
    )


def confusion_matrix(predicted: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts [true, predicted]."""
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(labels), np.asarray(predicted)), 1)
    return m
