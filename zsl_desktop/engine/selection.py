"""Choosing the epoch and the calibration without test data: folds of pseudo-unseen seen classes.

Why folds: one held-out group of 8 seen classes is a noisy stand-in for the real unseen ones (which
group a seed draws moves the chosen epoch and gamma a lot), so the trainer holds out several disjoint
groups in turn and averages their validation curves before choosing anything.

Why a rejection rate: gamma is in score units, which change from one epoch and one fold model to the
next, so the folds' curves are averaged as H against the share of held-out *seen* images that the
calibration sends to unseen classes (``REJECTION_RATES``); the fold-mean curve picks the epoch and the
share. Each fold model also records the gamma that gives each share (``gammas_by_rejection_rate``), so
the final model can either take the mean of the fold models' gammas at the chosen epoch and share and
train on every trainval image, or hold back a tenth of each seen class to turn the share into its own
gamma (on the CUB subset ~2 images a class: a noisier gamma and fewer training images). A third way,
"training_share", records the share of its own training images each fold model sends to unseen classes
(``shares_sent_to_unseen``) and puts the final model's gamma at that share of its training images (on the
CUB subset GSMFlow's fold models send almost none of theirs, so it fails there: gsmflow/method.py). Which
one is the method's ``gamma_transfer`` (engine.training).
"""

from __future__ import annotations

import numpy as np

from zsl_desktop.engine import evaluation as ev
from zsl_desktop.engine.data.model import validation_split

REJECTION_RATES = np.round(np.linspace(0.0, 1.0, 101), 2)  # the operating points every curve is read at
FOLD_FRACTION = 0.2  # of the seen classes in each pseudo-unseen group
MIN_FOLD_CLASSES = 2  # pseudo-unseen classes per group when the seen classes allow it (docstring)
MIN_TRAINING_CLASSES = 3  # seen classes a fold model keeps to learn from before a group may take 2


def seen_class_folds(seen_classes, folds: int, seed: int, fraction: float = FOLD_FRACTION) -> list[np.ndarray]:
    """``folds`` disjoint groups of ``fraction`` of the seen classes, seeded.

    Each group has at least two classes when at least three others are left to train on (5 or more seen
    classes), else one. Why: with one pseudo-unseen class the validation ZSL accuracy is 100% at every
    epoch and H only measures how seen and unseen are told apart, never whether the attributes tell the
    unseen classes apart; a 7-seen-class digit set got 1-class folds from 20%.
    Fewer groups come back when the seen classes run out (5 groups of 20% use them all).
    """
    seen = np.asarray(seen_classes)
    least = MIN_FOLD_CLASSES if len(seen) >= MIN_FOLD_CLASSES + MIN_TRAINING_CLASSES else 1
    size = max(least, int(round(len(seen) * fraction)))
    order = np.random.default_rng(seed).permutation(seen)
    groups = [np.sort(order[i * size : (i + 1) * size]) for i in range(min(int(folds), len(seen) // size))]
    return [g for g in groups if len(g)] or [np.sort(order[:size])]


def h_by_rejection_rate(
    scores_seen, labels_seen, scores_unseen, labels_unseen, seen, unseen, rates=REJECTION_RATES
) -> np.ndarray:
    """H at each share of the seen images sent to unseen classes (ids are column positions)."""
    seen, unseen = np.asarray(seen), np.asarray(unseen)
    flips = np.asarray(scores_seen, np.float64)[:, seen].max(1) - np.asarray(scores_seen, np.float64)[:, unseen].max(1)
    out = np.zeros(len(rates))
    for i, rate in enumerate(rates):
        gamma = gamma_at_rate(flips, rate)
        out[i] = ev.gzsl_accuracy(scores_seen, labels_seen, scores_unseen, labels_unseen, seen, unseen, gamma).h
    return out


def gammas_by_rejection_rate(scores_seen, seen, unseen, rates=REJECTION_RATES) -> np.ndarray:
    """The gamma that sends each share of these seen images to unseen classes (ids are column positions)."""
    seen, unseen = np.asarray(seen), np.asarray(unseen)
    scores = np.asarray(scores_seen, np.float64)
    flips = np.sort(scores[:, seen].max(1) - scores[:, unseen].max(1))
    return np.array([gamma_at_rate(flips, rate) for rate in rates])


def shares_sent_to_unseen(scores, seen, unseen, gammas) -> np.ndarray:
    """For each gamma, the share of these rows it sends to unseen classes (ids are column positions).

    A row goes to an unseen class when its flip point (best seen minus best unseen score) is below gamma,
    as in ``gamma_at_rate``; the rows are the fold model's own training images ("training_share")."""
    seen, unseen = np.asarray(seen), np.asarray(unseen)
    scores = np.asarray(scores, np.float64)
    flips = np.sort(scores[:, seen].max(1) - scores[:, unseen].max(1))
    if not len(flips):
        return np.zeros(len(gammas))
    return np.searchsorted(flips, np.asarray(gammas, np.float64), side="left") / len(flips)


def gamma_at_rate(flips: np.ndarray, rate: float) -> float:
    """The gamma that sends ``rate`` of the images with these flip points to unseen classes (mid-gap)."""
    flips = np.sort(np.asarray(flips, np.float64))
    if not len(flips):
        return 0.0
    k = int(np.clip(round(rate * len(flips)), 0, len(flips)))
    lo = flips[k - 1] if k > 0 else flips[0] - 1.0
    hi = flips[k] if k < len(flips) else flips[-1] + 1.0
    return float((lo + hi) / 2)


def smooth_epochs(curves: np.ndarray, window: int) -> np.ndarray:
    """Moving average over epochs (axis 0), the ends padded with their own values; window 1 = unchanged."""
    curves = np.asarray(curves, np.float64)
    if window <= 1 or len(curves) < 2:
        return curves
    pad = window // 2
    padded = np.concatenate([np.repeat(curves[:1], pad, 0), curves, np.repeat(curves[-1:], pad, 0)])
    kernel = np.ones(window) / window
    return np.apply_along_axis(lambda v: np.convolve(v, kernel, "valid"), 0, padded)[: len(curves)]


def choose_operating_point(
    fold_curves,
    window: int = 1,
    rates=REJECTION_RATES,
    fold_gammas=None,
    tolerance: float = 0.0,
    last_epochs: int = 0,
    fold_shares=None,
) -> dict:
    """From per-fold curves [epochs, rates] of validation H: the epoch and rejection rate of the best mean.

    Folds that stopped early (cancelled) are cut to the shortest. Returns ``epoch`` (1-based),
    ``rate``, ``h`` (the smoothed fold-mean H there) and ``fold_h`` (each fold's H there, unsmoothed).
    With ``fold_gammas`` (per fold [epochs, rates], ``gammas_by_rejection_rate`` every epoch), also
    ``fold_gamma`` (each fold model's gamma there) and ``gamma``, their mean. With ``fold_shares`` (per fold
    [epochs, rates], ``shares_sent_to_unseen`` of the fold's training rows every epoch), also
    ``fold_share`` (the share of its own training images each fold model sends to unseen classes there)
    and ``share``, their mean: the "training_share" transfer (engine.training).

    ``tolerance`` > 0 (in standard errors of the fold H at the best point; needs 2 folds or more): the
    earliest epoch whose best smoothed mean comes within that many standard errors of the best, at its
    own best rate. A plateau's maximum is placed by noise; among epochs the folds cannot tell apart this
    takes the shortest training (the "one standard error" rule of Breiman et al., for epochs).

    ``last_epochs`` k > 0: no epoch is chosen; the epoch is the last one and the rate the best of the
    fold-mean curve averaged over the last k epochs (``window`` and ``tolerance`` unused): a rate read off
    3 x k curves moves less from seed to seed than the argmax of one smoothed curve over every epoch.
    """
    length = min(len(c) for c in fold_curves)
    stacked = np.stack([np.asarray(c, np.float64)[:length] for c in fold_curves])  # [folds, epochs, rates]
    mean = smooth_epochs(stacked.mean(0), window)
    best = np.unravel_index(int(np.argmax(mean)), mean.shape)
    epoch, r = int(best[0]), int(best[1])
    if last_epochs > 0:
        mean = np.repeat(stacked[:, max(0, length - int(last_epochs)) :].mean((0, 1))[None], length, 0)
        epoch, r = length - 1, int(np.argmax(mean[-1]))
    elif tolerance > 0 and len(stacked) > 1:
        error = stacked[:, epoch, r].std(ddof=1) / np.sqrt(len(stacked))
        epoch = int(np.nonzero(mean.max(1) >= mean[epoch, r] - tolerance * error)[0][0])
        r = int(np.argmax(mean[epoch]))
    point = {
        "epoch": int(epoch) + 1,
        "rate": float(rates[r]),
        "h": float(mean[epoch, r]),
        "fold_h": [float(v) for v in stacked[:, epoch, r]],
    }
    if fold_gammas is not None:
        gammas = [float(np.asarray(g, np.float64)[epoch, r]) for g in fold_gammas]
        point.update(fold_gamma=gammas, gamma=float(np.mean(gammas)))
    if fold_shares is not None:
        shares = [float(np.asarray(f, np.float64)[epoch, r]) for f in fold_shares]
        point.update(fold_share=shares, share=float(np.mean(shares)))
    return point


def selection_folds(dataset, config) -> list[tuple]:
    """Per fold: (train rows, held-out seen rows, pseudo-unseen rows, train classes, pseudo-unseen classes).

    A dataset with its own train/val class split (xlsa17) has that one fold; otherwise ``config.folds``
    seeded groups of seen classes. In every fold a fifth of each training class's images is held out
    as the validation images of seen classes.
    """
    trainval = dataset.splits["trainval"]
    official_train, official_val, official_classes = validation_split(dataset, seed=config.seed)
    if "train" in dataset.splits and "val" in dataset.splits and len(official_classes):
        groups = [(official_train, official_val, official_classes)]
    else:
        groups = []
        for classes in seen_class_folds(np.unique(dataset.labels[trainval]), config.folds, config.seed):
            held = np.isin(dataset.labels[trainval], classes)
            groups.append((trainval[~held], trainval[held], classes))
    folds = []
    for train_idx, val_unseen_idx, val_classes in groups:
        train_idx, val_seen_idx = hold_out_per_class(train_idx, dataset.labels, config.seed)
        train_classes = np.setdiff1d(np.unique(dataset.labels[train_idx]), val_classes)
        folds.append((train_idx, val_seen_idx, val_unseen_idx, train_classes, val_classes))
    return folds


def hold_out_per_class(index, labels, seed, fraction=0.2):
    """Split rows into (train, held-out) with ``fraction`` of each class held out, seeded."""
    return hold_out_slices(index, labels, seed, fraction, 1)[0]


def hold_out_slices(index, labels, seed, fraction: float, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``count`` (train, held-out) splits: slice j holds out the j-th ``fraction`` of each class's seeded
    permutation (wrapping round, so slices overlap only when a class has fewer than ``count`` x its slice).
    Slice 0 is ``hold_out_per_class``'s split."""
    index = np.asarray(index)
    rng = np.random.default_rng(seed + 1)
    keep: list[list[int]] = [[] for _ in range(count)]
    held: list[list[int]] = [[] for _ in range(count)]
    for c in np.unique(labels[index]):
        rows = rng.permutation(index[labels[index] == c])
        n = int(round(len(rows) * fraction)) if len(rows) > 2 else 0
        for j in range(count):
            aside = np.zeros(len(rows), bool)
            aside[(j * n + np.arange(n)) % len(rows)] = True
            held[j].extend(rows[aside])
            keep[j].extend(rows[~aside])
    return [(np.sort(np.array(k, np.int64)), np.sort(np.array(h, np.int64))) for k, h in zip(keep, held)]


def fewest_trainval_images(dataset) -> str:
    """``'seven' has 2 trainval images``: the seen class with the fewest, for a too-few-images message."""
    trainval_labels = dataset.labels[dataset.splits["trainval"]]
    counts = {int(c): int(np.sum(trainval_labels == c)) for c in dataset.seen_classes}
    if not counts:
        return "no seen class has trainval images"
    k = min(counts, key=lambda c: counts[c])
    return f"{dataset.classes[k]!r} has {counts[k]} trainval image{'s' if counts[k] != 1 else ''}"
