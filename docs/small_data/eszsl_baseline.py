"""Linear ESZSL baseline (Romera-Paredes & Torr 2015) on a dataset's extracted pooled features.

W = (X^T X + g I)^-1 X^T Y S (S^T S + lam I)^-1; g, lam chosen by mean ZSL accuracy on folds of pseudo-unseen
seen classes (held out from trainval; never the test images). Then fit on all trainval and report
ZSL T1 on test_unseen and GZSL U/S/H at gamma = 0 (no calibration: a ZSL baseline, its H is not comparable
to the app's calibrated H). The features are the store the app extracted (run ``zsl-desktop extract`` or
``train`` first; same ZSL_DESKTOP_HOME). ``--seed`` draws the validation folds (the fit is closed-form).
Developer tool (numpy only, not shipped): the linear floor that a method should beat on small real data.
usage: ZSL_DESKTOP_HOME=... python docs/small_data/eszsl_baseline.py DATASET [--seed S] [--fold-size 2] [--folds 5]
"""

import argparse
import itertools

import numpy as np

from zsl_desktop.engine import evaluation as ev
from zsl_desktop.engine.data import load_dataset
from zsl_desktop.engine.features import FeatureStore

GRID = [10.0**e for e in range(-3, 4)]


_EIG = {}


def fit(X, y, S, classes, g, lam):
    Y = -np.ones((len(X), len(classes)))
    Y[np.arange(len(X)), np.searchsorted(classes, y)] = 1
    Sc = S[classes]
    key = (X.shape, float(X[:3].sum()), float(X[-3:].sum()))
    if key not in _EIG:
        _EIG.clear()
        _EIG[key] = np.linalg.eigh(X.T @ X)
    e, U = _EIG[key]
    A = U @ ((U.T @ (X.T @ Y @ Sc)) / (e + g)[:, None])
    return A @ np.linalg.inv(Sc.T @ Sc + lam * np.eye(S.shape[1]))


def per_class(pred, y):
    return float(np.mean([np.mean(pred[y == c] == c) for c in np.unique(y)]))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dataset")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--fold-size", type=int, default=2)
    p.add_argument("--norm", default="l2", choices=["l2", "none", "std"])
    p.add_argument("--attr", default="l2", choices=["l2", "zl2", "maxl2"])
    args = p.parse_args()
    ds = load_dataset(args.dataset)
    store = FeatureStore.open(ds, "efficientnet_lite0", 224)
    if store is None:
        raise SystemExit(f"{ds.name}: no complete feature store here; run zsl-desktop extract --dataset first")
    X = np.asarray(store.pooled, np.float64)
    if args.norm == "l2":
        X = X / np.linalg.norm(X, axis=1, keepdims=True)
    S = np.asarray(ds.class_attributes, np.float64)
    if args.attr == "zl2":
        S = (S - S.mean(0)) / (S.std(0) + 1e-6)
    if args.attr == "maxl2":
        S = S / np.maximum(np.abs(S).max(0), 1e-6)
    S = S / np.maximum(np.linalg.norm(S, axis=1, keepdims=True), 1e-12)
    y = ds.labels
    tv, ts, tu = ds.splits["trainval"], ds.splits["test_seen"], ds.splits["test_unseen"]
    if args.norm == "std":
        mu, sd = X[tv].mean(0), X[tv].std(0) + 1e-6
        X = (X - mu) / sd
    seen, unseen = np.asarray(ds.seen_classes), np.asarray(ds.unseen_classes)
    rng = np.random.default_rng(args.seed)
    folds = [np.sort(rng.choice(seen, args.fold_size, replace=False)) for _ in range(args.folds)]
    results = {}
    for held in folds:
        for g, lam in itertools.product(GRID, GRID):
            tr = tv[~np.isin(y[tv], held)]
            va = tv[np.isin(y[tv], held)]
            W = fit(X[tr], y[tr], S, np.setdiff1d(seen, held), g, lam)
            sc = X[va] @ W @ S[held].T
            results.setdefault((g, lam), []).append(per_class(held[sc.argmax(1)], y[va]))
    acc_val, g, lam = max((float(np.mean(v)), g, lam) for (g, lam), v in results.items())
    W = fit(X[tv], y[tv], S, seen, g, lam)
    scores = X @ W @ S.T
    zsl = per_class(unseen[scores[tu][:, unseen].argmax(1)], y[tu])
    r0 = ev.gzsl_accuracy(scores[ts], y[ts], scores[tu], y[tu], seen, unseen, 0.0)
    print(
        f"ESZSL {ds.name} seed {args.seed} norm {args.norm} attr {args.attr}: val ZSL {100 * acc_val:.1f} (g={g:g}, lam={lam:g}) | "
        f"test ZSL T1 {100 * zsl:.1f} | gamma 0: U {100 * r0.u:.1f} S {100 * r0.s:.1f} H {100 * r0.h:.1f}"
    )


if __name__ == "__main__":
    main()
