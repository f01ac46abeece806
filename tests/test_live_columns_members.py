"""A drawn class's live column with several final models (``ce_gzsl/side_by_side.py``), against the network itself.

Small generated comparators, no training: the side-by-side pass must give the mean of the models' calibrated
comparator columns (``Comparator.forward``, LeakyReLU and all) to float tolerance, whole, on chosen rows and in
uneven blocks, and its bound must hold for every image.
"""

import numpy as np
import pytest
import torch

from zsl_desktop.engine.methods.ce_gzsl.nets import Comparator
from zsl_desktop.engine.methods.ce_gzsl.side_by_side import ComparatorModel, SideBySide

DIM_H, ATTRIBUTES, HIDDEN, IMAGES, TAU = 12, 7, 16, 300, 0.1


def comparators(count: int, seed: int = 0):
    """(models, reference(h, rows) -> [N, R] mean calibrated column, image halves [N, count x HIDDEN], h)."""
    torch.manual_seed(seed)
    nets = [Comparator(DIM_H, ATTRIBUTES, HIDDEN) for _ in range(count)]
    calibrations = [(1.0 + 0.3 * k, -0.5 + 0.2 * k) for k in range(count)]  # alpha, beta: each model its own
    models = [
        ComparatorModel(
            w2=net.fc2.weight.detach().reshape(-1),
            b2=float(net.fc2.bias.detach()),
            scale=alpha / TAU,
            beta=beta,
            class_half=lambda rows, net=net: net.class_half(torch.from_numpy(np.asarray(rows, np.float32))).detach(),
        )
        for net, (alpha, beta) in zip(nets, calibrations)
    ]
    h = torch.randn(IMAGES, DIM_H)

    @torch.no_grad()
    def reference(rows: np.ndarray) -> np.ndarray:
        a = torch.from_numpy(np.asarray(rows, np.float32))
        columns = [alpha / TAU * net(h, a) + beta for net, (alpha, beta) in zip(nets, calibrations)]
        return torch.stack(columns).mean(0).numpy()

    with torch.no_grad():
        halves = torch.cat([net.image_half(h) for net in nets], 1).contiguous()
    return models, reference, halves


@pytest.mark.parametrize("count", [1, 3])
@pytest.mark.parametrize("block_floats", [1 << 18, 7 * 16])  # one block; many uneven ones
def test_side_by_side_columns_are_the_mean_of_the_models_calibrated_columns(count, block_floats):
    models, reference, halves = comparators(count)
    together = SideBySide(models, block_floats)
    rows = np.random.default_rng(1).uniform(0, 2, (4, ATTRIBUTES)).astype(np.float32)
    expected = reference(rows)
    linear = together.linear_part(halves)
    columns = together.columns(halves, linear, together.class_terms(rows))
    np.testing.assert_allclose(np.stack(columns, 1), expected, rtol=1e-5, atol=1e-4)
    chosen = np.sort(np.random.default_rng(2).choice(IMAGES, 37, replace=False))
    picked = together.columns(halves, linear, together.class_terms(rows), rows=torch.from_numpy(chosen))
    np.testing.assert_allclose(np.stack(picked, 1), expected[chosen], rtol=1e-5, atol=1e-4)


def test_the_bound_holds_for_every_image_and_is_the_mean_of_the_models_bounds():
    models, reference, _ = comparators(3, seed=4)
    together = SideBySide(models, 1 << 18)
    rng = np.random.default_rng(5)
    old = rng.uniform(0, 2, ATTRIBUTES).astype(np.float32)
    for _ in range(10):
        new = old.copy()
        new[rng.integers(ATTRIBUTES)] = rng.uniform(0, 2)
        low, high = together.change(old, new)
        moved = reference(new[None])[:, 0].astype(np.float64) - reference(old[None])[:, 0]
        assert low - 1e-4 <= moved.min() and moved.max() <= high + 1e-4
        terms = [together.class_terms(r[None]) for r in (old, new)]
        assert together.change_between(*terms) == pytest.approx((low, high), rel=1e-6)  # from a move's kept terms
        alone = [SideBySide([m], 1 << 18).change(old, new) for m in models]
        assert low == pytest.approx(np.mean([a[0] for a in alone]), abs=1e-9)
        assert high == pytest.approx(np.mean([a[1] for a in alone]), abs=1e-9)
        old = new


def test_a_stale_request_stops_between_blocks():
    models, _, halves = comparators(3)
    together = SideBySide(models, 7 * 48)  # 7 images a block: many blocks
    rows = np.ones((1, ATTRIBUTES), np.float32)
    asked = []
    stale = lambda: asked.append(1) or len(asked) > 2  # noqa: E731
    assert together.columns(halves, together.linear_part(halves), together.class_terms(rows), stale=stale) is None
    assert len(asked) == 3  # asked between blocks only, and stopped at the first True


def test_the_shipped_ipce_scores_a_drawn_class_alike_on_every_path():
    """The shipped IPCE (five final models since session 11): the whole column, the page's rows read from the cached halves and
    from the codes, and the mean of each model's network (``Comparator.forward``, calibrated) agree."""
    from zsl_desktop.engine.checkpoints import load_checkpoint
    from zsl_desktop.engine.paths import shipped_models_dir
    from zsl_desktop.engine.training import method_from_checkpoint

    path = shipped_models_dir() / "ipce_builtin.pt"
    if not path.is_file():
        pytest.skip("no shipped IPCE model in this checkout")
    method = method_from_checkpoint(load_checkpoint(path))
    models = method._models()
    assert len(models) == 5
    generator = torch.Generator().manual_seed(0)
    codes = method.encode(torch.rand(IMAGES, int(method.info.channels), generator=generator))
    drawn = (np.asarray(method._head["class_rows"]).mean(0) * 1.1).astype(np.float32)  # no classifier knows it
    whole = method.column_whole(codes, drawn)
    dim_h = method._hp("embed_size")
    with torch.no_grad():
        expected = []
        for model, part in zip(models, method._split(codes)):
            a = torch.from_numpy(model.prepare_class_attributes(drawn[None]))
            f = model._F(torch.from_numpy(np.ascontiguousarray(part[:, :dim_h])), a).numpy()[:, 0]
            alpha, beta = model._head["calibration"].tolist()
            expected.append(alpha * f / model._hp("cls_temp") + beta)
    np.testing.assert_allclose(whole, np.mean(expected, 0), rtol=1e-5, atol=1e-4)
    rows = np.sort(np.random.default_rng(0).choice(IMAGES, 40, replace=False))
    np.testing.assert_allclose(method.column_rows(codes, rows, drawn), whole[rows], rtol=1e-6, atol=1e-5)  # cached
    method._column_cache = None
    np.testing.assert_allclose(method.column_rows(codes, rows, drawn), whole[rows], rtol=1e-6, atol=1e-5)  # codes
    np.testing.assert_allclose(method.score(codes, drawn[None])[:, 0], whole, rtol=1e-6, atol=1e-5)


def test_a_slider_move_makes_the_new_rows_class_halves_once(monkeypatch):
    """The bound, the page's chunks, the selected image and the whole column of one move share the new row's class
    terms and the models' comparators (``ColumnCache``): each of the five models computes its class half once."""
    from zsl_desktop.engine.checkpoints import load_checkpoint
    from zsl_desktop.engine.paths import shipped_models_dir
    from zsl_desktop.engine.training import method_from_checkpoint

    path = shipped_models_dir() / "ipce_builtin.pt"
    if not path.is_file():
        pytest.skip("no shipped IPCE model in this checkout")
    method = method_from_checkpoint(load_checkpoint(path))
    generator = torch.Generator().manual_seed(2)
    codes = method.encode(torch.rand(IMAGES, int(method.info.channels), generator=generator))
    method.prepare_live(codes)
    old = (np.asarray(method._head["class_rows"]).mean(0) * 1.1).astype(np.float32)
    method.column_whole(codes, old)  # the reference's column: its terms are kept
    asked = []
    for model in method._models():
        prepare = model.prepare_class_attributes
        monkeypatch.setattr(
            model, "prepare_class_attributes", lambda rows, prepare=prepare: asked.append(1) or prepare(rows)
        )
    new = old.copy()
    new[3] += 0.5
    change = method.column_change(codes, old, new)
    pages = [method.column_rows(codes, np.arange(start, start + 100), new) for start in (0, 100, 200)]
    selected = method.score(codes[5:6], new[None])[0, 0]
    whole = method.column_whole(codes, new)
    assert len(asked) == 5
    np.testing.assert_allclose(np.concatenate(pages), whole, rtol=1e-6, atol=1e-5)
    assert selected == pytest.approx(whole[5], rel=1e-5, abs=1e-5)
    moved = whole.astype(np.float64) - method.column_whole(codes, old)
    assert change.low - 1e-4 <= moved.min() and moved.max() <= change.high + 1e-4
    method._column_cache = None  # without a cache: computed afresh each time, the same numbers
    np.testing.assert_allclose(method.column_rows(codes, np.arange(IMAGES), new), whole, rtol=1e-6, atol=1e-5)
    assert method.column_change(codes, old, new).high == pytest.approx(change.high, rel=1e-6)


def test_a_primed_session_gives_its_first_move_from_the_warm_up_and_ranks_as_from_scratch(monkeypatch):
    """What the app does once a model is live, the warm-up's ``prepare_live`` and every image's scores at γ, leaves a
    session's first move on a drawn class (shipped IPCE) only its own column: no other class scored, no copy of the
    image halves; and its ranking is the non-live one (every column scored, then the calibrated probability)."""
    from pathlib import Path

    from zsl_desktop.engine.checkpoints import load_checkpoint
    from zsl_desktop.engine.data.model import Attribute, Dataset
    from zsl_desktop.engine.paths import shipped_models_dir
    from zsl_desktop.engine.ranking import calibration, log_probability
    from zsl_desktop.engine.session import Session
    from zsl_desktop.engine.session.class_set import saved_classes, with_draft
    from zsl_desktop.engine.session.results import LiveRequest
    from zsl_desktop.engine.training import method_from_checkpoint

    path = shipped_models_dir() / "ipce_builtin.pt"
    if not path.is_file():
        pytest.skip("no shipped IPCE model in this checkout")
    method = method_from_checkpoint(load_checkpoint(path))
    generator = torch.Generator().manual_seed(1)
    features = torch.rand(IMAGES, int(method.info.channels), generator=generator)
    codes = method.encode(features)
    class_rows = np.asarray(method._head["class_rows"], np.float32)  # the classes it was trained on
    dataset = Dataset(
        name="shipped-ipce-classes",
        format="test",
        root=Path("."),
        classes=tuple(f"c{i}" for i in range(len(class_rows))),
        attributes=tuple(Attribute.from_name(name) for name in method.info.attribute_names),
        class_attributes=class_rows,
        labels=np.arange(IMAGES) % len(class_rows),
        splits={k: np.arange(IMAGES) for k in ("trainval", "test_seen", "test_unseen")},
        seen_classes=np.arange(len(class_rows) - 10),
        unseen_classes=np.arange(len(class_rows) - 10, len(class_rows)),
        features=features.numpy(),
    )
    session = Session(dataset, device="cpu")
    session.use_codes(method, {}, codes)
    session.prepare_live()
    saved = saved_classes(dataset, (), np.zeros((0, dataset.num_attributes), np.float32))
    session.all_scores(saved, gamma=0.7)

    copy_halves = method._image_halves

    def halves(rows):
        assert len(rows) < 64, "the move copied every image's halves again"  # one image's row is computed
        return copy_halves(rows)

    monkeypatch.setattr(method, "_image_halves", halves)
    scored_widths = []
    score = method.score
    monkeypatch.setattr(method, "score", lambda c, m: scored_widths.append((len(c), len(m))) or score(c, m))
    values = (dataset.class_attributes.mean(0) * 1.1).astype(np.float32)  # no classifier knows it
    drawn = with_draft(saved, "mine", values, None, True)
    pages: list = []
    live = session.live_scores(LiveRequest(3, drawn, gamma=0.7, first_rows=20), on_page=pages.append)
    assert session.ranker.recomputed == 0  # the other classes came from the every-image scores
    assert all(width == 1 for count, width in scored_widths if count == IMAGES)  # the drawn column only
    monkeypatch.undo()
    full = method.score(codes.copy(), drawn.matrix)  # non-live: every column, from scratch
    expected = log_probability(full, drawn.draft_column, calibration(drawn.kinds, 0.7))
    np.testing.assert_allclose(live.draft_rank, expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(live.scores, full[3], rtol=1e-5, atol=1e-5)
