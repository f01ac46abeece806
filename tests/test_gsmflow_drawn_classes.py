"""GSMFlow and the classes a user draws: prototype columns then a refit classifier, the per-image bound of a
column's move and the live page, the prototype cache (no autograd graph, no inference tensors, more rows than it
keeps), and synthesis in the feature store's space."""

from functools import partial

import numpy as np
import pytest
import torch

from gsmflow_toys import A, D, K, fit_to_end, tiny_data, tiny_gsmflow
from zsl_desktop.engine.live_page import CodeProjection
from zsl_desktop.engine.methods.generative import nearest_class_mean_accuracy
from zsl_desktop.engine.ranking import LiveColumn, LiveRanker, calibration, order_of


def test_new_classes_score_from_prototypes_then_from_a_refit_classifier():
    data, features, labels = tiny_data()
    m = tiny_gsmflow({"mining": False})
    fit_to_end(m, data, 4)
    x = torch.from_numpy(features)
    codes = m.encode(x)
    attributes = data.class_attributes
    # class 5 redrawn by a user (a new row): without a refit it is answered by its flow prototype
    user = attributes[5] + np.float32(0.5)
    matrix = np.concatenate([attributes[:5], user[None]])
    proto = m.score(codes, matrix)
    assert proto.shape == (len(labels), 6) and np.isfinite(proto).all()
    assert m.prototypes(user[None]).shape == (1, D)
    m.refit_classifier(matrix, seen_features=features[labels < 4], seen_labels=labels[labels < 4])
    refit = m.score(codes, matrix)  # the same cached codes are still valid
    assert refit.shape == proto.shape and not np.allclose(refit, proto)
    # the known rows keep their meaning: seen images are still recognised
    seen_rows = labels < 4
    assert (refit[seen_rows][:, :4].argmax(1) == labels[seen_rows]).mean() > 0.8
    # and rows outside the refit matrix still work through prototypes
    assert m.score(codes, attributes).shape == (len(labels), K)
    m.refit_classifier(attributes[[0, 3]])  # no real features: everything synthesised
    assert m.score(codes, attributes[[3, 0]]).shape == (len(labels), 2)


def test_a_drawn_class_column_moves_inside_its_per_image_bound():
    """column_change: c . w + b moves by the mean code's shift plus each image's centre, give or take its radius."""
    data, features, labels = tiny_data()
    m = tiny_gsmflow({"mining": False})
    fit_to_end(m, data, 3)
    codes = m.encode(torch.from_numpy(features))
    rng = np.random.default_rng(1)
    old = data.class_attributes[4] + np.float32(0.5)
    for _ in range(10):
        new = old.copy()
        new[rng.integers(A)] = rng.uniform(0, 100)
        change = m.column_change(codes, old, new)
        moved = m.score(codes, new[None])[:, 0].astype(np.float64) - m.score(codes, old[None])[:, 0]
        assert np.all(moved >= change.low + change.centres() - change.scale * change.spread - 1e-4)
        assert np.all(moved <= change.high + change.centres() + change.scale * change.spread + 1e-4)
        rows = np.array([0, 5, 17, 40])
        np.testing.assert_allclose(m.column_rows(codes, rows, new), m.score(codes, new[None])[rows, 0], 1e-5, 1e-6)
        old = new
    assert m.column_change(codes, data.class_attributes[1], old) is None  # a trained class's row


def test_a_slider_moves_prototype_records_no_autograd_graph_and_is_no_inference_tensor():
    """The flow's inverse for a drawn row runs without gradients (it recorded the graph on every move, since
    ``inference_mode(False)`` turns them back on), and its cached result stays usable for later training."""
    data, features, _ = tiny_data()
    m = tiny_gsmflow({"mining": False})
    fit_to_end(m, data, 1)
    row = (data.class_attributes[4] + 0.5).astype(np.float32)[None]
    with torch.inference_mode():  # as the app's live job asks
        prototype = m._prototype_fn(row)
    assert prototype.grad_fn is None and not prototype.requires_grad
    cached = list(m._proto_cache.values())
    assert cached and all(not p.requires_grad and not p.is_inference() for p in cached)  # no graph kept alive


def test_prepare_live_does_the_codes_one_off_work_before_the_first_move(monkeypatch):
    """The codes' principal directions cost a move ~36 ms at 10,000 codes: the warm-up pays them instead."""
    data, features, _ = tiny_data()
    m = tiny_gsmflow({"mining": False})
    fit_to_end(m, data, 2)
    codes = m.encode(torch.from_numpy(features))
    m.prepare_live(codes)

    def recomputed(*_):
        raise AssertionError("the move computed the codes' directions again")

    monkeypatch.setattr(CodeProjection, "_directions", recomputed)
    new = (data.class_attributes[4] + 0.5).astype(np.float32)
    change = m.column_change(codes, data.class_attributes[4] + 0.25, new)
    assert change is not None and change.centres().shape == (len(codes),)
    with pytest.raises(AssertionError, match="again"):  # a codes array it was not prepared for pays on the move
        m.column_change(codes.copy(), data.class_attributes[4] + 0.25, new)


def test_the_live_page_of_a_drawn_class_is_the_page_of_its_final_ranking(monkeypatch):
    """Slider moves on 3,000 near-duplicate codes: the page ranked first from the per-image bound
    (live_page.CodeProjection, on 2 of the codes' directions: a centre and a radius) is the final
    ranking's page and that of a ranking from scratch."""
    monkeypatch.setattr(CodeProjection, "DIMENSIONS", 2)
    data, features, labels = tiny_data()
    m = tiny_gsmflow({"mining": False})
    fit_to_end(m, data, 3)
    # three epochs leave every prototype alike; a fixed linear stand-in for the flow makes the column move
    mix = torch.from_numpy(np.random.default_rng(3).normal(size=(A, D)).astype(np.float32) / 200)
    monkeypatch.setattr(m, "_prototype_fn", lambda rows: torch.from_numpy(np.asarray(rows, np.float32)) @ mix)
    base = m.encode(torch.from_numpy(features))
    rng = np.random.default_rng(2)
    noise = rng.normal(size=(3000, base.shape[1])).astype(np.float32) * 0.05 * base.std(0)
    codes = np.ascontiguousarray(np.resize(base, (3000, base.shape[1])) + noise)
    matrix = np.vstack([data.class_attributes, data.class_attributes[4] + 0.5]).astype(np.float32)
    boost = calibration(("seen",) * 4 + ("unseen",) * 2 + ("draft",), 0.3)
    ranker, pages = LiveRanker(), []
    column = LiveColumn(
        40,
        None,
        pages.append,
        partial(m.column_change, codes),
        partial(m.column_rows, codes),
        partial(m.column_whole, codes),
    )
    previous, changed = order_of(ranker.rank_page_first(m.score, codes, matrix, 6, boost, column))[:40], 0
    for step in range(12):
        if step % 2:  # a slider moved
            matrix[6, rng.integers(A)] += rng.uniform(-10, 10)
        else:  # a step towards another class: the ranking changes
            matrix[6] += 0.2 * (data.class_attributes[rng.integers(K)] - matrix[6])
        sent = len(pages)
        final = ranker.rank_page_first(m.score, codes, matrix, 6, boost, column)
        top = order_of(final)[:40]
        changed += not np.array_equal(top, previous)
        previous = top
        assert np.array_equal(order_of(LiveRanker().rank(m.score, codes, matrix, 6, boost))[:40], top)
        if len(pages) > sent:  # else the bound was too loose: the whole column came at once
            assert np.array_equal(order_of(pages[-1])[:40], top)  # the page sent first is the final one
            assert np.isneginf(pages[-1]).sum() > len(codes) // 2  # most rows were not scored before the page
    assert ranker.pages >= 8 and changed >= 8  # most moves sent a page first, and they did reorder the images


def test_prototypes_cached_inside_inference_mode_are_ordinary_tensors():
    """The app scores inside ``torch.inference_mode``; the cache outlives it and a refit trains on it."""
    data, features, labels = tiny_data()
    m = tiny_gsmflow({"mining": False})
    fit_to_end(m, data, 2)
    codes = m.encode(torch.from_numpy(features))
    drawn = np.concatenate([data.class_attributes[:5], data.class_attributes[5:] + np.float32(0.5)])
    with torch.inference_mode():
        m.score(codes, drawn)
    assert m._proto_cache and not any(p.is_inference() for p in m._proto_cache.values())
    m.refit_classifier(drawn)  # trains on the cached prototypes
    assert m.score(codes, drawn).shape == (len(labels), K)


def test_more_new_rows_than_the_prototype_cache_keeps_score_in_one_call():
    """The refinement scores 2·A probe rows at once, more than PROTO_CACHE: the call must still answer them all."""
    from zsl_desktop.engine.methods.gsmflow.generator import PROTO_CACHE

    data, features, labels = tiny_data()
    m = tiny_gsmflow({"mining": False})
    fit_to_end(m, data, 1)
    codes = m.encode(torch.from_numpy(features[:4]))
    rng = np.random.default_rng(0)
    rows = np.abs(rng.normal(1, 0.5, (PROTO_CACHE + 20, data.class_attributes.shape[1]))).astype(np.float32)
    scores = m.score(codes, rows)
    assert scores.shape == (4, len(rows)) and np.all(np.isfinite(scores))
    np.testing.assert_allclose(m.score(codes, rows[-3:]), scores[:, -3:], rtol=1e-5, atol=1e-5)
    assert len(m._proto_cache) <= PROTO_CACHE


def test_synthesize_any_class_in_feature_space():
    data, features, labels = tiny_data()
    m = tiny_gsmflow({"mining": False})
    fit_to_end(m, data, 4)
    out = m.synthesize(data.class_attributes[[4, 5]], 30, seed=1)
    assert out.shape == (60, D) and out.dtype == np.float32 and np.isfinite(out).all()
    np.testing.assert_array_equal(out, m.synthesize(data.class_attributes[[4, 5]], 30, seed=1))
    assert not np.array_equal(out, m.synthesize(data.class_attributes[[4, 5]], 30, seed=2))
    # in the feature store's space: same scale as the real features
    assert abs(out.std() - features.std()) < features.std()
    acc = nearest_class_mean_accuracy(out, np.repeat([4, 5], 30), features, labels)
    assert 0.0 <= acc <= 1.0
