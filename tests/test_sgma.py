"""SGMA: losses on hand-computed cases, the boxcar mask, shapes, training (stages, crops, cache), persistence."""

import io
import math

import numpy as np
import pytest
import torch

from zsl_desktop.engine.methods.sgma import crops as crops_module
from zsl_desktop.engine.methods.sgma.crops import (
    CropCache,
    CropEncoder,
    crop_images,
    dequantise,
    quantise,
    square_boxes,
    view_to_image_box,
)
from zsl_desktop.engine.feature_source import ImageAccess
from zsl_desktop.engine.methods.base import (
    FEW_SEEN_CLASSES,
    Cancelled,
    Control,
    EpochEnd,
    Message,
    ModelInfo,
    Step,
    TrainData,
)
from zsl_desktop.engine.methods import get_method
from zsl_desktop.engine.methods.sgma import SGMA, part_localisation
from zsl_desktop.engine.methods.sgma.evaluation import box_iou, coverage, random_boxes, region_box
from zsl_desktop.engine.methods.sgma.parts import (
    CROP,
    GLOBAL,
    GRID,
    attribute_maps,
    box_fit_loss,
    boxcar_mask,
    channel_peaks,
    class_centre_triplet_loss,
    compactness_loss,
    diversity_loss,
    embedding_softmax_loss,
    kmeans,
    normalise_maps,
)

from sgma_toys import toy_problem


def t64(x):
    return torch.tensor(np.asarray(x, dtype=np.float64))


def sig(z):
    return 1 / (1 + math.exp(-z))


# -- attention losses ---------------------------------------------------------------------------------
def test_compactness_is_the_spread_around_the_peak():
    # One map over a 1x3 grid, values (1, 1, 0): P = (1/2, 1/2, 0); the peak is the first maximum
    # (x = 1/6); the second cell is 1/3 away: 1/2 * (1/3)^2 = 1/18.
    maps = t64([[[[1.0, 1.0, 0.0]]]])
    assert compactness_loss(maps).item() == pytest.approx(1 / 18)
    # A one-hot map is perfectly compact; two parts add up; the batch is averaged.
    one_hot = t64([[[[0.0, 1.0, 0.0]]]])
    assert compactness_loss(one_hot).item() == 0.0
    two = torch.cat([maps, one_hot], 1)
    assert compactness_loss(two).item() == pytest.approx(1 / 18)
    batch = torch.cat([maps, one_hot], 0)
    assert compactness_loss(batch).item() == pytest.approx(1 / 36)
    # 2x2 map, all mass equal, peak at the top-left centre (1/4, 1/4): distances^2 0, 1/4, 1/4, 1/2 -> 1/4.
    assert compactness_loss(torch.ones(1, 1, 2, 2, dtype=torch.float64)).item() == pytest.approx(0.25)


def test_compactness_gradient_pulls_mass_to_the_peak():
    maps = t64([[[[1.0, 0.5, 0.2]]]]).requires_grad_()
    compactness_loss(maps).backward()
    assert maps.grad[0, 0, 0, 2] > maps.grad[0, 0, 0, 1] > maps.grad[0, 0, 0, 0]


def test_diversity_with_margin_by_hand():
    # M1 = (1, .5), M2 = (.5, 1): part 1: mean(1 * (.5-.2), .5 * (1-.2)) = .35; part 2 the same.
    maps = t64([[[[1.0, 0.5]], [[0.5, 1.0]]]])
    assert diversity_loss(maps, 0.2).item() == pytest.approx(0.7)
    # margin .6: only M1 cell 2 (.5 * .4) and M2 cell 1 -> .1 each -> .2
    assert diversity_loss(maps, 0.6).item() == pytest.approx(0.2)
    # Overlap below the margin costs nothing; so do disjoint maps and a single part.
    assert diversity_loss(t64([[[[1.0, 0.1, 0.0]], [[0.0, 0.1, 1.0]]]]), 0.2).item() == 0.0
    # ... but a faint map under another's peak does: .1 * (1 - .2) / 2 cells, both ways.
    assert diversity_loss(t64([[[[1.0, 0.1]], [[0.1, 1.0]]]]), 0.2).item() == pytest.approx(0.08)
    assert diversity_loss(t64([[[[1.0, 0.0]], [[0.0, 1.0]]]]), 0.2).item() == 0.0
    assert diversity_loss(maps[:, :1], 0.2).item() == 0.0
    # Three parts: the max over the OTHER maps counts.
    three = t64([[[[1.0]], [[0.5]], [[0.9]]]])
    expected = 1.0 * (0.9 - 0.2) + 0.5 * (1.0 - 0.2) + 0.9 * (1.0 - 0.2)  # one cell: the mean is the value
    assert diversity_loss(three, 0.2).item() == pytest.approx(expected)


def test_normalise_maps_is_min_max():
    out = normalise_maps(t64([[2.0, 4.0], [3.0, 6.0]]))
    np.testing.assert_allclose(out.numpy(), [[0.0, 0.5], [0.25, 1.0]], atol=1e-6)


# -- the boxcar mask ----------------------------------------------------------------------------------
def test_boxcar_mask_values_with_k_10():
    # A box of one cell centred on the middle cell of a 3x3 grid: per axis the middle cell gets
    # sigmoid(5) - sigmoid(-5), a neighbour sigmoid(-5) - sigmoid(-15).
    box = t64([[0.5, 0.5, 1 / 3]])
    v = boxcar_mask(box, (3, 3), k=10.0)[0].numpy()
    inner, outer = sig(5) - sig(-5), sig(-5) - sig(-15)
    assert v[1, 1] == pytest.approx(inner * inner, rel=1e-9)
    assert v[1, 0] == pytest.approx(inner * outer, rel=1e-9)
    assert v[0, 0] == pytest.approx(outer * outer, rel=1e-9)
    assert v[1, 1] == pytest.approx(0.973408, abs=1e-6)  # (0.9866143)^2
    # k counts per cell of ``cells``: on a 6x6 grid of the same 3x3 cells, the sub-cell centred at
    # 1.25 cells sees the box edges at 1 and 2: sigmoid(2.5) - sigmoid(-7.5).
    fine = boxcar_mask(box, (6, 6), k=10.0, cells=(3, 3))[0].numpy()
    assert fine[2, 2] == pytest.approx((sig(2.5) - sig(-7.5)) ** 2, rel=1e-9)
    # A non-square grid and batch shapes: [..., H, W]
    assert boxcar_mask(torch.rand(4, 2, 3), (5, 7)).shape == (4, 2, 5, 7)


def test_boxcar_mask_is_differentiable_in_the_box():
    box = t64([[0.4, 0.5, 0.3]]).requires_grad_()
    target = torch.zeros(7, 7, dtype=torch.float64)
    target[3, 4] = 1  # mass to the right of the box centre
    (boxcar_mask(box, (7, 7))[0] * target).sum().backward()
    assert box.grad[0, 0] > 0 and box.grad[0, 2] > 0  # move right, grow


def test_box_fit_prefers_the_box_on_the_attention():
    prob = torch.zeros(1, 1, 7, 7, dtype=torch.float64)
    prob[0, 0, 1, 5] = 1.0
    on = t64([[[5.5 / 7, 1.5 / 7, 0.3]]])
    off = t64([[[1.5 / 7, 5.5 / 7, 0.3]]])
    assert box_fit_loss(prob, on).item() < box_fit_loss(prob, off).item()
    # -mass + area * side^2, with the mass read through the mask.
    mass = (boxcar_mask(on[0], (7, 7))[0] * prob[0, 0]).sum().item()
    assert box_fit_loss(prob, on, area_weight=2.0).item() == pytest.approx(-mass + 2.0 * 0.09)


# -- embedding losses ---------------------------------------------------------------------------------
def test_class_centre_triplet_by_hand():
    centres = t64([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    # On its centre, 2 away from the nearest other: max(0, .8 + 0 - 2) = 0.
    assert class_centre_triplet_loss(t64([[3.0, 0.0]]), centres, torch.tensor([0])).item() == 0.0
    # Halfway between centres 0 and 1: both at 2 - sqrt(2); the hardest negative ties -> the margin.
    e = t64([[1.0, 1.0]])
    assert class_centre_triplet_loss(e, centres, torch.tensor([0])).item() == pytest.approx(0.8)
    # Embeddings and centres are unit-normalised first: scaling changes nothing.
    assert class_centre_triplet_loss(5 * e, 3 * centres, torch.tensor([0])).item() == pytest.approx(0.8)
    # On the wrong centre: d_pos = 2 (to [1,0] from [0,1]), nearest other = 0 -> .8 + 2.
    assert class_centre_triplet_loss(t64([[0.0, 1.0]]), centres, torch.tensor([0])).item() == pytest.approx(2.8)
    # The batch is averaged.
    batch = class_centre_triplet_loss(t64([[3.0, 0.0], [0.0, 1.0]]), centres, torch.tensor([0, 0]))
    assert batch.item() == pytest.approx(1.4)
    # margin is a parameter
    assert class_centre_triplet_loss(e, centres, torch.tensor([0]), margin=0.2).item() == pytest.approx(0.2)


def test_embedding_softmax_is_cross_entropy_of_the_compatibilities():
    rng = np.random.default_rng(0)
    e, phi, y = rng.normal(size=(5, 4)), rng.normal(size=(3, 4)), np.array([0, 2, 1, 1, 0])
    s = e @ phi.T
    p = np.exp(s - s.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    expected = -np.mean(np.log(p[np.arange(5), y]))
    assert embedding_softmax_loss(t64(e), t64(phi), torch.tensor(y)).item() == pytest.approx(expected)


# -- channel grouping ---------------------------------------------------------------------------------
def test_channel_peaks_and_kmeans():
    grid = np.zeros((2, 3, 3, 3), np.float32)
    grid[0, 0, 1, 2] = 1  # channel 0 on image 0 peaks at row 1, column 2
    grid[1, 0, 0, 0] = 1
    grid[:, 1, 2, 1] = 1
    # channel 2 never fires: the centre
    peaks = channel_peaks(grid)
    assert peaks.shape == (3, 4)  # [C, (x of each image) + (y of each image)]
    np.testing.assert_allclose(peaks[0], [2.5 / 3, 0.5 / 3, 1.5 / 3, 0.5 / 3])
    np.testing.assert_allclose(peaks[2], [0.5, 0.5, 0.5, 0.5])
    rng = np.random.default_rng(1)
    points = np.concatenate([rng.normal(0, 0.05, (20, 2)), rng.normal(1, 0.05, (30, 2))])
    labels = kmeans(points, 2, seed=3)
    assert len(set(labels[:20])) == 1 and len(set(labels[20:])) == 1 and labels[0] != labels[20]
    np.testing.assert_array_equal(labels, kmeans(points, 2, seed=3))


def test_attribute_maps_are_distributions():
    part_maps = np.zeros((2, 2, 2), np.float32)
    part_maps[0, 0, 0] = 1
    part_maps[1, 1, 1] = 1
    scores = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, -1.0], [0.0, 0.0, 1.0]])  # global, part 1, part 2
    maps = attribute_maps(scores, part_maps)
    np.testing.assert_allclose(maps.reshape(3, -1).sum(1), 1.0, rtol=1e-6)
    assert maps[0, 0, 0] == pytest.approx(1.0)  # only part 1 supports attribute 0
    np.testing.assert_allclose(maps[1], 0.25)  # nothing supports attribute 1: uniform
    assert maps[2, 1, 1] == pytest.approx(0.5 + 0.125) and maps[2, 0, 0] == pytest.approx(0.125)


# -- crop geometry and the cache ------------------------------------------------------------------------
def test_boxes_quantise_and_map_to_the_original_image():
    boxes = square_boxes([0.05, 0.5], [0.5, 0.98], [0.3, 0.2])
    assert (boxes >= 0).all() and (boxes <= 1).all()
    np.testing.assert_allclose(boxes[0], [0.0, 0.35, 0.3, 0.65])
    q = quantise(boxes, 32)
    assert q.dtype == np.int32
    np.testing.assert_allclose(dequantise(q, 32), boxes, atol=1 / 64 + 1e-9)
    # A 200x100 image: the view is its centre 100x100 square, x from 50 to 150.
    assert view_to_image_box([0.0, 0.0, 0.5, 1.0], (200, 100)) == (50.0, 0.0, 100.0, 100.0)


def test_crop_images_cut_the_view_box(tmp_path):
    from PIL import Image

    array = np.zeros((100, 200, 3), np.uint8)
    array[:, 105:] = 255  # white from x = 105; the view is x 50..150
    path = tmp_path / "half.png"
    Image.fromarray(array).save(path)
    left, right = crop_images(path, [[0.0, 0.0, 0.5, 0.5], [0.65, 0.5, 1.0, 0.85]], size=8)
    assert left.shape == (8, 8, 3) and left.max() == 0 and right.min() == 255
    assert crop_images(path, [[0.0, 0.0, 0.5, 0.5]])[0].shape == (50, 50, 3)  # own pixel size


def test_crop_cache_persists_in_chunks_and_merges(tmp_path, monkeypatch):
    cache = CropCache(tmp_path / "c", 3)
    cache.put(np.array([[1, 2, 3, 4]]), np.array([[1.0, 2.0, 3.0]]))
    cache.put(np.array([[5, 6, 7, 8], [9, 9, 9, 9]]), np.ones((2, 3)))
    again = CropCache(tmp_path / "c", 3)
    out, found = again.get(np.array([[1, 2, 3, 4], [0, 0, 0, 0], [9, 9, 9, 9]]))
    assert found.tolist() == [True, False, True]
    np.testing.assert_array_equal(out[0], [1, 2, 3])
    monkeypatch.setattr(crops_module, "MERGE_AT", 1)
    merged = CropCache(tmp_path / "c", 3)
    assert len(list((tmp_path / "c").glob("chunk-*.npz"))) == 1 and len(merged) == 3
    assert len(CropCache(None, 3)) == 0  # in memory only


HP = {"batch_size": 16, "epochs": 4, "attention_epochs": 2, "kmeans_images": 40}


def _losses(events):
    return [e.losses["total"] for e in events if isinstance(e, Step)]


def test_registered_with_its_metadata():
    assert get_method("sgma") is SGMA
    assert SGMA.feature_kind == "grid" and SGMA.has_attention
    assert SGMA.default_hparams["parts"] == 2 and SGMA.default_hparams["box_k"] == 10.0
    assert SGMA.default_hparams["div_margin"] == 0.2 and SGMA.default_hparams["cct_margin"] == 0.8
    with pytest.raises(ValueError):
        SGMA(toy_problem()[0], {"nonsense": 1})


def test_shapes_of_codes_scores_and_explanations():
    info, data = toy_problem()
    m = SGMA(info, HP)
    list(m.fit(data, Control(), epochs=1))
    x = data.features.rows("grid", np.arange(5))
    codes = m.encode(x)
    assert codes.shape == (5, 8) and codes.dtype == np.float32
    scores = m.score(codes, data.class_attributes)
    assert scores.shape == (5, 6)
    assert m.score(codes, data.class_attributes[:3]).shape == (5, 3)  # any class matrix
    e = m.explain(x[0])
    assert e.part_attention.shape == (2, 4, 4) and e.attention.shape == (8, 4, 4)
    assert e.attribute_scores.shape == (8,)
    np.testing.assert_allclose(e.attribute_scores, codes[0], rtol=1e-5, atol=1e-6)
    boxes = e.part_boxes
    assert boxes.shape == (2, 4) and (boxes >= 0).all() and (boxes <= 1).all()
    assert (boxes[:, 2] > boxes[:, 0]).all()
    np.testing.assert_allclose(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1], atol=1e-6)  # squares
    side = boxes[:, 2] - boxes[:, 0]
    assert (side >= HP.get("min_side", 0.25) - 1e-6).all() and (side <= 0.6 + 1e-6).all()
    assert e.extras["part_features"] == "grid"
    assert m.boxes(x).shape == (5, 2, 4)
    with pytest.raises(ValueError):
        m.encode(torch.zeros(2, 16, 3, 3))  # another grid size


def test_fit_runs_both_stages_and_lowers_the_loss():
    info, data = toy_problem()
    m = SGMA(info, {**HP, "batch_size": 8})
    events = list(m.fit(data, Control(), epochs=8))
    steps = [e for e in events if isinstance(e, Step)]
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == list(range(1, 9))
    assert isinstance(events[0], Message) and "part groups" in events[0].text
    assert len(steps) == 8 * 8 and [s.step for s in steps] == list(range(1, 65))
    assert set(steps[0].losses) == {"total", "cls", "cct", "cpt", "div", "box"}  # stage 1
    assert set(steps[-1].losses) == {"total", "cls", "cct"}  # stage 2: heads only
    assert all(math.isfinite(v) for s in steps for v in s.losses.values())
    losses = _losses(events)
    assert np.mean(losses[-8:]) < np.mean(losses[:8])
    # Without images there are no crops: the crop streams stay untrained.
    assert m._net.trained.tolist() == [8.0, 8.0, 0.0]
    codes = m.encode(data.features.rows("grid", data.train_index))
    predicted = m.score(codes, data.class_attributes)[:, :4].argmax(1)
    assert np.mean(predicted == data.train_labels) > 0.8


def test_stage_2_freezes_attention_and_boxes():
    info, data = toy_problem()
    m = SGMA(info, HP)
    gen = m.fit(data, Control(), epochs=4)
    for event in gen:
        if isinstance(event, EpochEnd) and event.epoch == 2:
            break
    x = data.features.rows("grid", np.arange(6))
    boxes, heads = m.boxes(x), m._net.heads.detach().clone()
    list(gen)
    np.testing.assert_array_equal(m.boxes(x), boxes)
    assert not torch.equal(m._net.heads, heads)


def test_fit_is_seeded_and_cancel_raises():
    info, data = toy_problem()
    a, b = SGMA(info, HP), SGMA(info, HP)
    assert _losses(a.fit(data, Control(), 3)) == _losses(b.fit(data, Control(), 3))
    control = Control()
    gen = SGMA(info, HP).fit(data, control, epochs=3)
    next(gen)
    control.cancel()
    with pytest.raises(Cancelled):
        list(gen)


def _round_trip(state):
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_state_round_trip_through_a_weights_only_file_gives_identical_scores():
    info, data = toy_problem()
    m = SGMA(info, HP)
    list(m.fit(data, Control(), epochs=3))
    state = m.state_dict()
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    assert any(k.startswith("optim.") for k in state)
    other = SGMA(info, HP)
    other.load_state_dict(_round_trip(state))
    x = data.features.rows("grid", np.arange(10))
    np.testing.assert_array_equal(
        other.score(other.encode(x), data.class_attributes), m.score(m.encode(x), data.class_attributes)
    )
    np.testing.assert_array_equal(other.explain(x[0]).part_boxes, m.explain(x[0]).part_boxes)
    wrong = ModelInfo(
        attribute_names=info.attribute_names, num_classes=6, feature_kind="grid", channels=12, grid_size=(4, 4)
    )
    with pytest.raises(ValueError):
        SGMA(wrong, HP).load_state_dict(state)


def test_resume_continues_exactly_where_the_run_stopped():
    info, data = toy_problem()
    straight = SGMA(info, HP)
    straight_losses = _losses(straight.fit(data, Control(), epochs=4))
    for stop in (1, 3):  # inside stage 1, and inside stage 2
        first = SGMA(info, HP)
        first_losses = _losses(first.fit(data, Control(), epochs=stop))
        resumed = SGMA(info, HP)
        resumed.load_state_dict(_round_trip(first.state_dict()))
        events = list(resumed.fit(data, Control(), epochs=4, start_epoch=stop))
        assert [e.epoch for e in events if isinstance(e, EpochEnd)] == list(range(stop + 1, 5))
        np.testing.assert_allclose(first_losses + _losses(events), straight_losses, rtol=1e-5)
        for key, value in straight.state_dict().items():
            torch.testing.assert_close(resumed.state_dict()[key], value, rtol=1e-5, atol=1e-6)


# -- with real images: crops, the cache, the trainer ----------------------------------------------------
@pytest.fixture(scope="module")
def birds_store(small_birds, tmp_path_factory):
    from zsl_desktop.engine.features import extract_all

    store = extract_all(small_birds, root=tmp_path_factory.mktemp("sgma_store"), input_size=64)
    return small_birds, store


def _with_images(dataset, store):
    """What the proposed protocol change gives: a FeatureSource that reaches the original images."""
    source = store.source()
    source.images = ImageAccess.for_store(dataset, store)
    return source


CROP_HP = {"batch_size": 16, "attention_epochs": 1, "crop_size": 64, "kmeans_images": 64}


def _train_data(dataset, source):
    index = dataset.splits["trainval"]
    return TrainData(
        features=source,
        train_index=index,
        train_labels=dataset.labels[index],
        class_attributes=dataset.class_attributes,
        seen_classes=dataset.seen_classes,
        unseen_classes=dataset.unseen_classes,
        attribute_names=dataset.attribute_names,
        seed=3,
    )


def _info(dataset, store):
    return ModelInfo(
        attribute_names=dataset.attribute_names,
        num_classes=dataset.num_classes,
        feature_kind="grid",
        channels=int(store.grid.shape[1]),
        grid_size=tuple(store.grid.shape[2:]),
    )


def test_fit_with_images_trains_the_crop_streams_and_caches_the_crops(birds_store):
    dataset, store = birds_store
    source = _with_images(dataset, store)
    m = SGMA(_info(dataset, store), CROP_HP)
    events = list(m.fit(_train_data(dataset, source), Control(), epochs=2))
    assert any(isinstance(e, Message) and "part crops" in e.text for e in events)
    assert m._net.trained.tolist() == [2.0, 2.0, 1.0]
    folder = store.folder / "sgma-crops-64-q32"
    assert list(folder.glob("chunk-*.npz"))
    rows = dataset.splits["test_unseen"]
    with_crops = m.encode_rows(source, rows)
    assert with_crops.shape == (len(rows), dataset.num_attributes) and np.isfinite(with_crops).all()
    grid_only = m.encode_rows(store.source(), rows)  # no images: the grid fallback, = encode
    np.testing.assert_array_equal(grid_only, m.encode(store.source().rows("grid", rows)))
    assert not np.allclose(with_crops, grid_only)
    # A second pass reads every crop from the cache; so does a new process-like fresh cache.
    encoder = m._crop_encoder(source.images, "cpu")
    before = encoder.computed
    np.testing.assert_array_equal(m.encode_rows(source, rows), with_crops)
    assert encoder.computed == before
    fresh = CropEncoder(source.images, m.info.channels, 64, 32)
    fresh.cache._index.clear()
    fresh.cache._seen_chunks.clear()
    fresh.cache.refresh()
    boxes = m.boxes(store.source().rows("grid", rows))
    np.testing.assert_array_equal(fresh.features(rows, boxes), encoder.features(rows, boxes))
    assert fresh.computed == 0
    # The round trip through a weights-only file scores identically, crops included.
    other = SGMA(_info(dataset, store), CROP_HP)
    other.load_state_dict(_round_trip(m.state_dict()))
    np.testing.assert_array_equal(other.encode_rows(source, rows), with_crops)
    # explain with the image gives the crops and crop-based scores equal to encode_rows'.
    row = int(rows[0])
    e = m.explain(store.source().rows("grid", [row])[0], image=dataset.image_path(row))
    assert e.extras["part_features"] == "crops" and len(e.extras["crops"]) == 2
    assert e.extras["crops"][0].ndim == 3 and e.extras["crops"][0].dtype == np.uint8
    np.testing.assert_allclose(e.attribute_scores, with_crops[0], rtol=1e-4, atol=1e-4)


def test_the_shared_trainer_runs_sgma_and_its_checkpoint_loads(birds_store, tmp_path):
    """The trainer's scoring goes through ``method.encode_rows`` (crops) for SGMA (engine/scoring.py)."""
    from zsl_desktop.engine.checkpoints import load_checkpoint
    from zsl_desktop.engine.training import Finished, TrainConfig, method_from_checkpoint, train
    from zsl_desktop.engine.events import run_to_end

    dataset, store = birds_store
    source = _with_images(dataset, store)
    config = TrainConfig(method="sgma", epochs=2, seed=1, hparams=CROP_HP)
    events = []
    finished = run_to_end(train(dataset, source, config, checkpoint_path=tmp_path / "s.pt"), events.append)
    assert isinstance(finished, Finished) and not finished.cancelled
    checkpoint = load_checkpoint(tmp_path / "s.pt")
    assert not any(k.startswith("optim.") for k in checkpoint.state)
    method = method_from_checkpoint(checkpoint)
    rows = dataset.splits["test_seen"]
    np.testing.assert_array_equal(method.encode_rows(source, rows), finished.method.encode_rows(source, rows))
    assert 0 <= checkpoint.header["metrics"]["h"] <= 1


def test_part_localisation_scores_and_helpers(birds_store):
    dataset, store = birds_store
    m = SGMA(_info(dataset, store), {**CROP_HP, "crops": False})
    list(m.fit(_train_data(dataset, store.source()), Control(), epochs=1))
    test = np.concatenate([dataset.splits["test_seen"], dataset.splits["test_unseen"]])
    score = part_localisation(m, dataset, store.source(), test, 64, draws=5)
    values = score.as_dict()
    for key in ("peak_hits", "peak_uniform", "head_coverage", "head_coverage_random", "tail_iou_random"):
        assert 0.0 <= values[key] <= 1.0
    assert score.images == len(test) and score.head_images > 0
    assert set(score.nearest) == {0, 1}
    assert "random crops" in score.format()
    # helpers by hand
    np.testing.assert_allclose(region_box(np.array([[0.2, 0.3], [0.4, 0.5]]), pad=0.1), [0.1, 0.2, 0.5, 0.6])
    assert box_iou(np.array([0, 0, 1, 1.0]), np.array([0, 0, 0.5, 1.0])) == pytest.approx(0.5)
    pts = np.array([[0.1, 0.1], [0.9, 0.9]])
    assert coverage(np.array([[0, 0, 0.5, 0.5]]), pts).tolist() == [0.5]
    rb = random_boxes(np.array([0.3, 0.5]), 100, np.random.default_rng(0))
    np.testing.assert_allclose(rb[..., 2] - rb[..., 0], [[0.3, 0.5]] * 100)
    assert (rb >= 0).all() and (rb <= 1).all()


def test_stream_kinds_index_the_heads():
    info, _ = toy_problem()
    net = SGMA(info, HP)._net
    assert net.stream_ids(GLOBAL) == [0] and net.stream_ids(GRID) == [1, 2] and net.stream_ids(CROP) == [3, 4]
    assert net.heads.shape == (5, 16, 8) and net.centres.shape == (5, 6, 8)


def test_few_seen_classes_centre_the_codes_on_the_training_rows():
    info, data = toy_problem()  # 4 seen classes: under FEW_SEEN_CLASSES, "auto" centres
    m = SGMA(info, HP)
    assert m.centres_codes(4) and not m.centres_codes(FEW_SEEN_CLASSES)  # CUB's 40, the birds' 40: no change
    list(m.fit(data, Control(), epochs=3))
    codes = m.encode(data.features.rows("grid", data.train_index))
    scale = np.abs(codes).mean()
    assert np.abs(codes.mean(0)).max() < 0.02 * scale  # the training rows' mean code is subtracted (float16 rows)
    assert np.abs(m._code_mean[0].numpy()).max() > 0.1 * scale and (m._code_mean[1] == 0).all()  # no crops here
    plain = SGMA(info, {**HP, "centre_codes": False})
    list(plain.fit(data, Control(), epochs=3))
    assert (plain._code_mean == 0).all()
    x = data.features.rows("grid", np.arange(10))  # same training otherwise: codes differ by the mean only
    np.testing.assert_allclose(m.encode(x), plain.encode(x) - m._code_mean[0].numpy(), rtol=1e-5, atol=1e-4)
    with m.scored_as("off"):  # centre_codes=validation scores a centred fold model as the uncentred one (exact)
        np.testing.assert_allclose(m.encode(x), plain.encode(x), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(m.encode(x), plain.encode(x) - m._code_mean[0].numpy(), rtol=1e-5, atol=1e-4)  # restored
    other = SGMA(info, HP)
    other.load_state_dict(_round_trip(m.state_dict()))
    np.testing.assert_array_equal(other.encode(x), m.encode(x))
    older = {k: v for k, v in m.state_dict().items() if k != "code_mean"}  # shipped models, older checkpoints
    other.load_state_dict(older)
    assert (other._code_mean == 0).all()  # uncentred, as before
    np.testing.assert_allclose(other.encode(x), m.encode(x) + m._code_mean[0].numpy(), rtol=1e-5, atol=1e-4)
