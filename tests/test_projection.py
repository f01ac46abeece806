"""Feature projections (engine/projection.py): sample caps, PCA, t-SNE (openTSNE)."""

import numpy as np
import pytest

from zsl_desktop.engine.projection import MAX_CAP, pca, project, sample_rows, tsne


def _clusters(n, k=4, d=32, seed=0, spread=4.0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * spread
    labels = rng.integers(0, k, n)
    return (centres[labels] + rng.normal(size=(n, d))).astype(np.float32), labels


def _knn_purity(points, labels):
    d = ((points[:, None] - points[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return float((labels[d.argmin(1)] == labels).mean())


def test_sample_rows_caps_and_keeps_every_class():
    labels = np.r_[np.zeros(1000, int), np.ones(10, int), np.full(500, 2)]
    rows = sample_rows(labels, 300, seed=1)
    assert len(rows) == 300 and np.all(np.diff(rows) > 0)
    counts = np.bincount(labels[rows])
    assert counts[1] == 10  # the small class is kept whole
    assert abs(counts[0] - counts[2]) <= 1  # the rest is shared evenly
    np.testing.assert_array_equal(rows, sample_rows(labels, 300, seed=1))
    assert not np.array_equal(rows, sample_rows(labels, 300, seed=2))
    np.testing.assert_array_equal(sample_rows(labels, 5000), np.arange(len(labels)))


def test_pca_matches_svd_small_and_large():
    for n, d in ((50, 8), (3000, 300)):
        x, _ = _clusters(n, d=d)
        scores, ratio = pca(x, 2)
        c = x - x.mean(0)
        _, s, vt = np.linalg.svd(c.astype(np.float64), full_matrices=False)
        ref = c @ vt[:2].T
        for i in range(2):
            assert abs(np.corrcoef(ref[:, i], scores[:, i])[0, 1]) > 0.999
        np.testing.assert_allclose(ratio, (s[:2] ** 2) / (s**2).sum(), rtol=1e-3)
        assert scores.dtype == np.float32


def test_pca_is_deterministic():
    x, _ = _clusters(500, d=100)
    a, _ = pca(x)
    b, _ = pca(x)
    np.testing.assert_array_equal(a, b)


def test_tsne_separates_clusters_and_reports_progress():
    x, labels = _clusters(300, k=5, d=20)
    frames = []
    y = tsne(x, perplexity=20, iterations=300, seed=0, callback=lambda p, it: frames.append(it))
    assert y.shape == (300, 2) and np.isfinite(y).all()
    assert _knn_purity(y, labels) > 0.95
    assert frames == list(range(25, 300, 25))
    np.testing.assert_array_equal(y, tsne(x, perplexity=20, iterations=300, seed=0))


def _many_weak_clusters(k=50, per=10, d=50, seed=0, noise=0.5):
    """Like CUB backbone features: many small classes, a decaying variance spectrum, weak separation."""
    rng = np.random.default_rng(seed)
    scale = 1 / np.sqrt(np.arange(1, d + 1))
    centres = rng.standard_normal((k, d)) * scale
    x = np.repeat(centres, per, 0) + noise * rng.standard_normal((k * per, d)) * scale
    return x.astype(np.float32), np.repeat(np.arange(k), per)


def _axis_ratio(points):
    """Second singular value over the first: near 0 when a map has collapsed into a line."""
    s = np.linalg.svd(points - points.mean(0), compute_uv=False)
    return float(s[1] / s[0])


def test_tsne_keeps_two_dimensions_on_weakly_clustered_data():
    # Our former exact t-SNE with an exaggeration of 12 made this map a line (ratio 0.004) during the
    # exaggeration phase: the first half of the frames the feature view animates.
    x, labels = _many_weak_clusters()
    ratios = []
    y = tsne(x, iterations=300, seed=0, callback=lambda p, it: ratios.append(_axis_ratio(p)))
    assert min(ratios) > 0.3, ratios
    assert _axis_ratio(y) > 0.5
    assert _knn_purity(y, labels) > 0.5  # and the classes stay together


def test_tsne_cancel_stops_early():
    x, _ = _clusters(200)
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) >= 10

    tsne(x, iterations=500, cancel=cancel)
    assert len(calls) == 10


def test_project_pca_and_tsne_caps():
    x, labels = _clusters(3000, k=6, d=64)
    p = project(x.astype(np.float16), labels, "pca", cap=1000)
    assert p.points.shape == (1000, 2) and p.total == 3000 and p.final
    assert "showing 1,000 of 3,000 images" in p.caption and "PC1" in p.note
    assert _knn_purity(p.points, labels[p.rows]) > 0.9
    frames = []
    t = project(x, labels, "tsne", cap=400, iterations=250, callback=frames.append)
    assert t.points.shape == (400, 2) and t.method == "tsne"
    assert frames and not frames[0].final and frames[0].rows is t.rows
    assert _knn_purity(t.points, labels[t.rows]) > 0.95


def test_project_tsne_shows_every_row_up_to_the_cap():
    labels = np.arange(3000) % 7  # above the old t-SNE-only cap of 2,000 points
    x = np.random.default_rng(0).normal(size=(3000, 4)).astype(np.float32)
    p = project(x, labels, "tsne", cap=10_000, iterations=2, rows=np.arange(2500))
    assert len(p.rows) == 2500 and p.points.shape == (2500, 2)  # no t-SNE-only cap any more
    assert len(project(x, labels, "tsne", cap=MAX_CAP + 1, iterations=2).rows) == 3000


def test_project_rejects_unknown_method():
    with pytest.raises(ValueError, match="unknown projection"):
        project(np.zeros((3, 2)), np.zeros(3), "umap")


def test_extra_points_are_projected_with_the_real_ones():
    x, labels = _clusters(600, k=4, d=16, seed=3)
    # "synthetic" features: fresh draws around the same centres for classes 2 and 3
    fake, fake_labels = _clusters(200, k=4, d=16, seed=3)
    keep = np.isin(fake_labels, [2, 3])
    p = project(x, labels, "pca", cap=500, extra=fake[keep], extra_labels=fake_labels[keep])
    assert len(p.rows) + len(p.extra_points) == 500
    assert len(p.extra_points) == len(p.extra_labels) <= 250
    for c in (2, 3):  # each synthetic cluster lands on its real cluster
        real = p.points[labels[p.rows] == c].mean(0)
        synth = p.extra_points[p.extra_labels == c].mean(0)
        others = [p.points[labels[p.rows] == o].mean(0) for o in (0, 1)]
        assert np.linalg.norm(real - synth) < min(np.linalg.norm(synth - o) for o in others)
    plain = project(x, labels, "pca", cap=500)
    assert plain.extra_points is None and len(plain.rows) == 500


def test_a_pca_view_places_new_rows_where_the_projection_put_them():
    x, labels = _clusters(800, k=4, d=24, seed=5)
    p = project(x, labels, "pca", cap=400)
    np.testing.assert_allclose(p.linear(x[p.rows]), p.points, atol=1e-4)  # the same map, as a function
    fresh, fresh_labels = _clusters(200, k=4, d=24, seed=5)  # other draws from the same clusters
    placed = p.linear(fresh[fresh_labels == 1])
    centres = {c: p.points[labels[p.rows] == c].mean(0) for c in range(4)}
    nearest = min(centres, key=lambda c: np.linalg.norm(placed.mean(0) - centres[c]))
    assert nearest == 1
    assert project(x, labels, "tsne", cap=60, iterations=30).linear is None  # t-SNE has no such map


def test_project_tsne_on_300_points_returns_each_and_cancels_after_a_frame():
    x, labels = _clusters(300, k=5, d=40, seed=2)
    frames = []
    p = project(x, labels, "tsne", callback=frames.append, cancel=lambda: len(frames) >= 1)
    assert p.points.shape == (300, 2) and np.isfinite(p.points).all() and len(p.rows) == 300
    assert len(frames) == 1 and "step 25 of 750" in frames[0].note  # stopped at the first frame, not the end
