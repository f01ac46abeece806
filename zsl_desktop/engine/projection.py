"""2-D projections of pooled image features for the feature view (PCA, exact t-SNE), with sample caps.

Why caps: a scatter plot redraw costs ~8 ms at 10k points and ~75 ms at 50k
on this class of machine (UI.md 3.3), and exact t-SNE is O(n^2) in time and
memory. Rows are subsampled per class (every class keeps some points),
seeded, and the result says "showing n of N".

t-SNE here is the exact algorithm of van der Maaten & Hinton (2008) with
a mild early exaggeration (see EXAGGERATION) and adaptive gains, written in numpy so the
app needs no scikit-learn; it is meant for at most ~2,000 points and is
applied after a PCA to 50 dimensions, as is customary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PCA_CAP = 10_000
TSNE_CAP = 2_000
# Early exaggeration 4, not the customary 12: while the affinities are exaggerated, t-SNE's updates act
# like a power iteration, and on weakly clustered data (CUB backbone features: 50 species of 20 images)
# both coordinates converge to the same leading direction. With 12 the map was a line (second/first
# singular value 0.001) for the whole exaggeration phase, half of the animation; with 4 the ratio stayed
# >= 0.38 and the final map was as good (5-NN species accuracy in 2-D 0.665 vs 0.661; 0.677 in the 50-D
# input). Measured on the 1,000 images of the CUB subset (perplexity 30, 500 steps, seeds 0 and 1).
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
    return ((x - mean) @ components).astype(np.float32), ratio


def pca_fit(x: np.ndarray, dims: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean [d], components [d, dims], explained variance ratio [dims]) of ``x`` [n, d].

    Small inputs use an exact SVD; large ones a seeded randomised subspace
    iteration (Halko et al. 2011), which finds the leading components of a
    10k x 1280 matrix in a fraction of a second instead of seconds. The sign
    of each axis is fixed (largest loading positive) so results are reproducible.
    """
    x = np.asarray(x, dtype=np.float32)
    mean = x.mean(axis=0)
    x = x - mean[None]
    n, d = x.shape
    dims = min(dims, n, d)
    total = max(float(np.square(x, dtype=np.float64).sum()), 1e-12)
    if min(n, d) <= 4 * dims + 64:
        _, s, vt = np.linalg.svd(x.astype(np.float64), full_matrices=False)
        components = vt[:dims].T
        var = s[:dims] ** 2
    else:
        rng = np.random.default_rng(seed)
        k = min(dims + 10, d)
        basis = rng.standard_normal((d, k)).astype(np.float32)
        for _ in range(4):  # power iterations sharpen the spectrum; QR keeps the basis well conditioned
            basis, _ = np.linalg.qr(x.T @ (x @ basis))
        small = (x @ basis).astype(np.float64)
        _, s, vt = np.linalg.svd(small, full_matrices=False)
        components = basis.astype(np.float64) @ vt[:dims].T
        var = s[:dims] ** 2
    signs = np.sign(components[np.argmax(np.abs(components), axis=0), np.arange(components.shape[1])])
    signs[signs == 0] = 1
    components = (components * signs).astype(np.float32)
    return mean.astype(np.float32), components, (var / total).astype(np.float32)


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


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """L2-normalised rows: distances then reflect direction, which is what the methods compare."""
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-8)


def _conditional_p(d2: np.ndarray, perplexity: float, tol: float = 1e-4, steps: int = 64) -> np.ndarray:
    """Row-wise Gaussian affinities with the given perplexity (vectorised binary search on beta)."""
    n = d2.shape[0]
    target = np.log(perplexity)
    beta = np.ones(n)
    lo = np.full(n, -np.inf)
    hi = np.full(n, np.inf)
    off = ~np.eye(n, dtype=bool)
    # Shift each row by its smallest off-diagonal distance (cancels in the normalisation; avoids underflow).
    shifted = d2 - np.min(np.where(off, d2, np.inf), axis=1, keepdims=True)
    shifted[~off] = 0.0
    for _ in range(steps):
        p = np.exp(-shifted * beta[:, None])
        p[~off] = 0.0
        sum_p = p.sum(axis=1)
        entropy = np.log(sum_p) + beta * (shifted * p).sum(axis=1) / sum_p
        diff = entropy - target
        if np.all(np.abs(diff) < tol):
            break
        up = diff > 0  # entropy too high: sharpen
        lo = np.where(up, beta, lo)
        hi = np.where(up, hi, beta)
        beta = np.where(
            up, np.where(np.isinf(hi), beta * 2, (beta + hi) / 2), np.where(np.isinf(lo), beta / 2, (beta + lo) / 2)
        )
    return p / p.sum(axis=1, keepdims=True)


def tsne(
    x: np.ndarray,
    perplexity: float = 30.0,
    iterations: int = 500,
    seed: int = 0,
    callback=None,
    cancel=None,
    every: int = 25,
    exaggeration: float = EXAGGERATION,
) -> np.ndarray:
    """Exact t-SNE of ``x`` [n, d] to 2-D (float32). ``callback(points, iteration)`` every ``every`` steps.

    ``cancel()`` returning True stops early and returns the current layout.
    ``exaggeration`` multiplies the affinities for the first half (at most 250 steps); see EXAGGERATION.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    if n < 3:
        return np.zeros((n, 2), np.float32)
    perplexity = float(min(perplexity, (n - 1) / 3))
    sq = (x * x).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    d2 /= max(float(np.median(d2)), 1e-12)  # scale-free: the perplexity search starts near the answer
    p = _conditional_p(d2, perplexity)
    p = (p + p.T) / (2 * n)
    p = np.maximum(p, 1e-12)
    del d2

    init, _ = pca(x, 2)
    init = init.astype(np.float64)
    rng = np.random.default_rng(seed)
    init += rng.normal(scale=1e-6, size=init.shape)
    y = (init / max(float(init[:, 0].std()), 1e-12) * 1e-4).astype(np.float32)
    p = p.astype(np.float32)
    p_ex = p * np.float32(exaggeration)
    velocity = np.zeros_like(y)
    gains = np.ones_like(y)
    lr = np.float32(max(n / 12.0 / 4.0, 50.0))
    exaggeration_steps = min(250, iterations // 2)
    num = np.empty((n, n), np.float32)
    tmp = np.empty((n, n), np.float32)
    diag = np.arange(n)
    for it in range(iterations):
        if it == exaggeration_steps:
            p_ex = p
        momentum = np.float32(0.5 if it < exaggeration_steps else 0.8)
        # Student-t kernel num = 1 / (1 + |y_i - y_j|^2), zero diagonal, in place (float32).
        # Explicit per-coordinate broadcasting: BLAS is slow for these thin (n x 2) products.
        np.subtract(y[:, 0, None], y[None, :, 0], out=num)
        np.square(num, out=num)
        np.subtract(y[:, 1, None], y[None, :, 1], out=tmp)
        np.square(tmp, out=tmp)
        num += tmp
        num += 1.0
        np.reciprocal(num, out=num)
        num[diag, diag] = 0.0
        z = num.sum()
        # Gradient 4 * sum_j (p_ij - q_ij) num_ij (y_i - y_j), with q = num / z.
        np.multiply(num, np.float32(1.0 / z), out=tmp)
        np.subtract(p_ex, tmp, out=tmp)
        tmp *= num
        row = tmp.sum(1)
        grad = np.empty_like(y)
        for k in range(2):
            grad[:, k] = 4.0 * (row * y[:, k] - (tmp * y[None, :, k]).sum(1))
        same = np.sign(grad) == np.sign(velocity)
        gains = np.where(same, gains * 0.8, gains + 0.2).clip(0.01, None).astype(np.float32)
        velocity = momentum * velocity - lr * gains * grad
        y = y + velocity
        y -= y.mean(axis=0)
        if callback is not None and (it + 1) % every == 0 and it + 1 < iterations:
            callback(y.copy(), it + 1)
        if cancel is not None and cancel():
            break
    return y.astype(np.float32)


def project(
    features,
    labels,
    method: str = "pca",
    cap: int | None = None,
    seed: int = 0,
    rows=None,
    perplexity: float = 30.0,
    iterations: int = 500,
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
    cap = cap or (PCA_CAP if method == "pca" else TSNE_CAP)
    if method == "tsne":
        cap = min(cap, TSNE_CAP)
    m = 0
    if extra is not None:
        extra = np.asarray(extra, dtype=np.float32)
        extra_labels = np.asarray(extra_labels)
        m = min(len(extra), cap // 2)
        if m < len(extra):  # keep a per-class sample of the synthetic points too
            keep = sample_rows(extra_labels, m, seed)
            extra, extra_labels = extra[keep], extra_labels[keep]
    picked = sample_rows(labels, cap - m, seed, pool)
    x = np.asarray(features[picked], dtype=np.float32)
    if m:
        x = np.concatenate([x, extra])
    x = _unit_rows(x)
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
            ((x - mean) @ components).astype(np.float32),
            note=note,
            explained=tuple(float(r) for r in ratio),
            linear=LinearMap(mean, components),
        )
    reduced, _ = pca(x, min(50, x.shape[1], max(2, x.shape[0] - 1)))
    note = f"t-SNE, perplexity {perplexity:g}"

    def partial(points, iteration):
        if callback is not None:
            callback(split(points, note=f"{note}, iteration {iteration}", final=False))

    points = tsne(reduced, perplexity=perplexity, iterations=iterations, seed=seed, callback=partial, cancel=cancel)
    return split(points, note=note)
