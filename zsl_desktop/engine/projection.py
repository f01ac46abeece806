"""2-D projections of pooled image features for the feature view (PCA, t-SNE), with a sample cap.

Why a cap: a scatter plot redraw costs ~8 ms at 10k points and ~75 ms at 50k
on this class of machine (UI.md 3.3), so the user chooses how many points to
see (up to every image). Rows are subsampled per class (every class keeps some
points), seeded, and the result says "showing n of N".

t-SNE is openTSNE's FFT-accelerated interpolation (Linderman et al. 2019):
O(n) per step, 100,000 images in minutes on one core, where our former exact
numpy t-SNE was O(n^2) and capped at 2,000 points. It runs after a PCA to 50
dimensions, as is customary, on the worker, with a frame every 25 steps and a cancel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zsl_desktop.engine.quiet import import_when_quiet

PCA_CAP = 10_000  # the default cap of either method; the feature view lets the user raise it
MAX_CAP = 1_000_000  # the most points either method is asked for (every image of any dataset we open)
ITERATIONS = 750  # t-SNE steps, both phases (openTSNE's default: 250 exaggerated + 500)
# Early exaggeration 4, not openTSNE's 12: while the affinities are exaggerated, t-SNE's updates act like a
# power iteration, and on weakly clustered data (CUB backbone features: 50 species of 20 images) both
# coordinates converge to the same leading direction: with 12 the map is a line (second/first singular
# value 0.0002 with openTSNE, 0.001 with our former exact t-SNE) for the whole exaggeration phase, a third
# of the animation; with 4 it keeps two dimensions and the final map is as good (tests/test_projection.py).
EXAGGERATION = 4.0
METHODS = ("pca", "tsne")


@dataclass(frozen=True)
class Projection:
    """Points [n, 2] for dataset ``rows`` [n]; ``total`` rows were available."""

    points: np.ndarray
    rows: np.ndarray
    method: str
    total: int
    note: str = ""
    explained: tuple[float, ...] = ()  # PCA: variance ratio of each axis
    final: bool = True  # False for an intermediate t-SNE frame
    extra_points: np.ndarray | None = None  # [m, 2] synthesised features, projected with the real ones
    extra_labels: np.ndarray | None = None  # [m] their class ids
    linear: LinearMap | None = None  # PCA: places further feature rows on this map
    space: str = "features"  # what was projected: backbone "features", or a model's "codes"

    @property
    def caption(self) -> str:
        shown = f"showing {len(self.rows):,} of {self.total:,} images"
        return f"{shown} · {self.note}" if self.note else shown


def sample_rows(labels, cap: int, seed: int = 0, rows=None) -> np.ndarray:
    """At most ``cap`` of ``rows`` (default: all), spread evenly over the classes, sorted, seeded.

    Each class gets an equal share of the cap (classes smaller than their
    share give the rest to the others), so small classes stay visible.
    """
    labels = np.asarray(labels)
    rows = np.arange(len(labels)) if rows is None else np.asarray(rows, dtype=np.int64)
    if len(rows) <= cap:
        return np.sort(rows)
    rng = np.random.default_rng(seed)
    by_class = [rng.permutation(rows[labels[rows] == c]) for c in np.unique(labels[rows])]
    by_class.sort(key=len)
    picked, budget = [], cap
    for i, members in enumerate(by_class):
        share = budget // (len(by_class) - i)
        take = members[:share]
        picked.append(take)
        budget -= len(take)
    return np.sort(np.concatenate(picked))


def pca(x: np.ndarray, dims: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(scores [n, dims], explained variance ratio [dims]) of the centred data."""
    x = np.asarray(x, dtype=np.float32)
    mean, components, ratio = pca_fit(x, dims, seed)
    return (x @ components - mean @ components).astype(np.float32), ratio


def pca_fit(x: np.ndarray, dims: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean [d], components [d, dims], explained variance ratio [dims]) of ``x`` [n, d].

    Small inputs use an exact SVD; large ones a seeded randomised subspace
    iteration (Halko et al. 2011), which finds the leading components of a
    10k x 1280 matrix in a fraction of a second instead of seconds. It never makes
    a centred copy of ``x`` (100,000 x 1280 floats are 512 MB): the mean is taken out
    of each product instead. The sign of each axis is fixed (largest loading positive)
    so results are reproducible.
    """
    x = np.asarray(x, dtype=np.float32)
    mean = x.mean(axis=0, dtype=np.float64).astype(np.float32)
    n, d = x.shape
    dims = min(dims, n, d)
    if min(n, d) <= 4 * dims + 64:
        centred = (x - mean[None]).astype(np.float64)
        total = max(float(np.square(centred).sum()), 1e-12)
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        components = vt[:dims].T
        var = s[:dims] ** 2
    else:
        squares = sum(float(np.square(x[i : i + 8192], dtype=np.float64).sum()) for i in range(0, n, 8192))
        total = max(squares - n * float(np.square(mean, dtype=np.float64).sum()), 1e-12)
        rng = np.random.default_rng(seed)
        k = min(dims + 10, d)
        basis = rng.standard_normal((d, k)).astype(np.float32)
        for _ in range(4):  # power iterations sharpen the spectrum; QR keeps the basis well conditioned
            y = x @ basis - mean @ basis  # the centred data times the basis
            basis, _ = np.linalg.qr(x.T @ y - np.outer(mean, y.sum(axis=0)))
        small = (x @ basis - mean @ basis).astype(np.float64)
        _, s, vt = np.linalg.svd(small, full_matrices=False)
        components = basis.astype(np.float64) @ vt[:dims].T
        var = s[:dims] ** 2
    signs = np.sign(components[np.argmax(np.abs(components), axis=0), np.arange(components.shape[1])])
    signs[signs == 0] = 1
    components = (components * signs).astype(np.float32)
    return mean, components, (var / total).astype(np.float32)


@dataclass(frozen=True)
class LinearMap:
    """A PCA view as a function: new feature rows [m, C] -> points [m, 2] on the same map.

    Why: a class being drawn with the sliders gets synthesised features many times a
    second; re-running the projection each time would move every point. A PCA map
    places them without touching the others (t-SNE has no such map).
    """

    mean: np.ndarray  # [C]
    components: np.ndarray  # [C, 2]

    def __call__(self, features) -> np.ndarray:
        x = _unit_rows(np.asarray(features, dtype=np.float32))
        return ((x - self.mean) @ self.components).astype(np.float32)


def _unit_rows(x: np.ndarray, in_place: bool = False) -> np.ndarray:
    """L2-normalised rows: distances then reflect direction, which is what the methods compare."""
    norms = np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-8)
    if in_place:
        x /= norms
        return x
    return x / norms


def tsne_threads() -> int:
    """openTSNE's threads: every core but the GUI's, as torch gets (engine/threads.py); it runs on the slow runner."""
    from zsl_desktop.engine.threads import worker_threads

    return worker_threads()


def tsne(
    x: np.ndarray,
    perplexity: float = 30.0,
    iterations: int = ITERATIONS,
    seed: int = 0,
    callback=None,
    cancel=None,
    every: int = 25,
    exaggeration: float = EXAGGERATION,
    threads: int | None = None,
) -> np.ndarray:
    """FFT-accelerated t-SNE of ``x`` [n, d] to 2-D (float32), by openTSNE; ``callback(points, iteration)``.

    ``iterations`` counts both phases: the first ``min(250, iterations // 3)`` with the affinities
    multiplied by ``exaggeration``. ``cancel()`` is asked before the neighbour search, after it and every
    ``every`` steps; True stops early and returns the current layout. The start is the data's first two
    principal components scaled to a tiny spread (openTSNE's advice), so runs are reproducible per ``seed``.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = x.shape[0]
    if n < 4:
        return np.zeros((n, 2), np.float32)
    perplexity = float(min(perplexity, (n - 1) / 3))
    threads = threads or tsne_threads()
    init, _ = pca(x, 2, seed)
    init = (init / max(float(init[:, 0].std()), 1e-12) * 1e-4).astype(np.float64)
    # openTSNE's first import (scikit-learn and scipy with it) holds the GIL ~2 s: not while the user scrolls.
    if (cancel is not None and cancel()) or not import_when_quiet("openTSNE", "openTSNE.affinity", cancelled=cancel):
        return init.astype(np.float32)
    from openTSNE import TSNE
    from openTSNE.affinity import PerplexityBasedNN

    affinities = PerplexityBasedNN(x, perplexity=perplexity, n_jobs=threads, random_state=seed)
    done = [0]

    def step(iteration, error, embedding) -> bool:
        done[0] += every
        if callback is not None and done[0] < iterations:
            callback(np.asarray(embedding, np.float32), done[0])
        return bool(cancel is not None and cancel())

    if cancel is not None and cancel():
        return init.astype(np.float32)
    early = min(250, iterations // 3)
    engine = TSNE(
        perplexity=perplexity,
        early_exaggeration_iter=early,
        early_exaggeration=exaggeration,
        n_iter=iterations - early,
        n_jobs=threads,
        random_state=seed,
        callbacks=step,
        callbacks_every_iters=every,
    )
    return np.asarray(engine.fit(affinities=affinities, initialization=init), np.float32)


def project(
    features,
    labels,
    method: str = "pca",
    cap: int | None = None,
    seed: int = 0,
    rows=None,
    perplexity: float = 30.0,
    iterations: int = ITERATIONS,
    callback=None,
    cancel=None,
    extra=None,
    extra_labels=None,
) -> Projection:
    """Project pooled ``features`` [N, C] (float16 memmap welcome) of a per-class sample of ``rows``.

    ``callback(Projection)`` receives intermediate t-SNE frames (``final=False``). ``extra`` [m, C]
    (e.g. features a generative model synthesised) is projected jointly and returned apart, so
    real and synthetic clusters share one map; it counts towards the cap.
    """
    if method not in METHODS:
        raise ValueError(f"unknown projection {method!r}; choose one of {METHODS}")
    labels = np.asarray(labels)
    pool = np.arange(len(labels)) if rows is None else np.asarray(rows, dtype=np.int64)
    cap = min(cap or PCA_CAP, MAX_CAP)
    m = 0
    if extra is not None:
        extra = np.asarray(extra, dtype=np.float32)
        extra_labels = np.asarray(extra_labels)
        m = min(len(extra), cap // 2)
        if m < len(extra):  # keep a per-class sample of the synthetic points too
            keep = sample_rows(extra_labels, m, seed)
            extra, extra_labels = extra[keep], extra_labels[keep]
    from zsl_desktop.engine.feature_source import release_pages  # torch: not at the app's start-up (issue #19)

    picked = sample_rows(labels, cap - m, seed, pool)
    x = np.empty((len(picked) + m, features.shape[1]), np.float32)  # one copy, normalised in place
    for i in range(0, len(picked), 8192):  # a float16 memory map is read in slices, each then unmapped:
        chunk = picked[i : i + 8192]  # 100,000 pooled rows would otherwise stay resident (256 MB)
        x[i : i + len(chunk)] = features[chunk]
        if len(chunk):
            release_pages(features, int(chunk[0]), int(chunk[-1]) + 1)
    if m:
        x[len(picked) :] = extra
    x = _unit_rows(x, in_place=True)
    total = len(pool)
    n = len(picked)

    def split(points, **kw):
        return Projection(
            points[:n],
            picked,
            method,
            total,
            extra_points=points[n:] if m else None,
            extra_labels=extra_labels if m else None,
            **kw,
        )

    if method == "pca":
        mean, components, ratio = pca_fit(x, 2)
        note = "PCA: " + ", ".join(f"PC{i + 1} {100 * r:.0f}%" for i, r in enumerate(ratio))
        return split(
            (x @ components - mean @ components).astype(np.float32),
            note=note,
            explained=tuple(float(r) for r in ratio),
            linear=LinearMap(mean, components),
        )
    reduced, _ = pca(x, min(50, x.shape[1], max(2, x.shape[0] - 1)))
    del x  # 512 MB at 100,000 images: t-SNE needs only the 50 dimensions
    note = f"t-SNE, perplexity {perplexity:g}"

    def partial(points, iteration):
        if callback is not None:
            callback(split(points, note=f"{note}, step {iteration} of {iterations}", final=False))

    points = tsne(reduced, perplexity=perplexity, iterations=iterations, seed=seed, callback=partial, cancel=cancel)
    return split(points, note=note)
