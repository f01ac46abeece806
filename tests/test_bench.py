"""`zsl-desktop bench` keeps working: every section runs on tiny sizes and reports finite figures."""

import math
from dataclasses import replace

import pytest

from zsl_desktop.bench.rows import format_markdown, format_table
from zsl_desktop.bench.runner import run
from zsl_desktop.bench.sizes import Sizes
from zsl_desktop.engine.features import extract_all


@pytest.fixture(autouse=True)
def _the_workers_threads(monkeypatch):
    """The bench gives torch every core for extraction and training (``threads.configure(threads.cores())``): under
    pytest-xdist, "every core" is here the worker's share (OMP_NUM_THREADS, tests/conftest.py), which
    tests/conftest.py also restores after each test. Before, two threads spun against the other workers and the
    count stayed for the worker's next tests: at -n 1 this file's six tests took 56.9 CPU-s, now 12.1 (busy 2-core
    machine, side by side; docs/history/performance.md). The checks are the rows', not their speed.
    """
    import os

    from zsl_desktop.engine import threads

    share = os.environ.get("OMP_NUM_THREADS", "")
    if os.environ.get("PYTEST_XDIST_WORKER") and share.isdigit():
        monkeypatch.setattr(threads, "cores", lambda: int(share))


def test_bench_sections_on_tiny_sizes(small_birds, tmp_path):
    from ddp_train import TINY  # narrow networks: every method's training row still runs its whole fit

    features = extract_all(small_birds, root=tmp_path, input_size=64).source()
    heard, said = [], []
    rows = run(
        sizes=replace(Sizes.tiny(), train_hparams=TINY),
        sections=["rescore", "extract", "train"],
        dataset=small_birds,
        features=features,
        real_cub=False,
        report=heard.append,
        say=said.append,
    )
    assert heard == rows and len(said) == 3  # each figure was reported as it was measured, each section announced
    sections = {r.section for r in rows}
    assert sections == {"rescore", "extract", "train"}
    from zsl_desktop.engine.methods import method_names

    for name in method_names():  # every method scores, the generative ones after a stand-in training
        assert any(r.name.startswith(f"{name} p95 until the first") and r.target == "<= 8" for r in rows), name
        assert any(r.name.startswith(f"{name} p95 until every image's score is final") for r in rows), name
    for name in method_names():  # a training row per method (SGMA's and the generative ones' included)
        assert any(r.section == "train" and r.name.startswith(f"{name} on ") for r in rows), name
    for r in rows:
        assert math.isfinite(r.value) and r.value >= 0, r
    table = format_table(rows)
    assert "fraction of the compute bound" in table
    markdown = format_markdown(rows).splitlines()
    assert markdown[0] == "| section | measure | value | target |" and len(markdown) == len(rows) + 2


@pytest.mark.parametrize("baselines", [True, False])
def test_bench_live_scores_while_training_on_tiny_sizes(small_birds, tmp_path, baselines):
    """Issue #19 item 3: the section trains MSDN beside the live jobs and reports each condition
    (``--quick``: the target's condition only, the trainer deferring)."""
    features = extract_all(small_birds, root=tmp_path, input_size=64).source()
    rows = run(
        sizes=replace(Sizes.tiny(), livetrain_baselines=baselines),
        sections=["livetrain"],
        dataset=small_birds,
        features=features,
        real_cub=False,
        methods=["msdn"],
    )
    names = [r.name for r in rows]
    target = [r for r in rows if r.target == "<= 8"]
    assert len(target) == 1 and target[0].name.startswith("msdn p95 until the first")  # what the user sees
    assert "while MSDN trains" in target[0].name
    assert any(n.startswith("msdn p95 until every score is final") for n in names)
    baseline_rows = [n for n in names if "not deferring" in n or "no training" in n]
    assert len(baseline_rows) == (4 if baselines else 0)
    assert len(rows) == (11 if baselines else 7)
    cold = [r for r in rows if "a new session's first move" in r.name]  # timed apart: in no p95 of the drags
    assert len(cold) == 1 and not cold[0].target
    assert all(math.isfinite(r.value) and r.value >= 0 for r in rows), rows


def test_the_scale_bench_store_opens_with_its_model_and_cached_codes(shared_data):
    """Issue #19 item 2's data, at 2,000 rows: a complete store, a compatible model, every row's codes cached."""
    import numpy as np

    import shutil
    from pathlib import Path

    import appdirs

    from zsl_desktop.bench.scale import scaled_cub
    from zsl_desktop.engine.checkpoints import load_checkpoint
    from zsl_desktop.engine.data.cub import load_cub
    from zsl_desktop.engine.features import FeatureStore
    from zsl_desktop.engine.paths import APP_NAME
    from zsl_desktop.engine.session import Session

    cub = load_cub(shared_data / "CUB_200_2011")
    extracted = FeatureStore.folder_for(
        cub, "efficientnet_lite0", 224, Path(appdirs.user_data_dir(APP_NAME)) / "features"
    )
    if not (extracted / "manifest.json").is_file():
        pytest.skip("the CUB subset's features are not extracted in this user's folder (zsl-desktop extract)")
    here = FeatureStore.folder_for(cub, "efficientnet_lite0", 224)  # a copy in the test's home; the pooled
    here.mkdir(parents=True)  # model reads no grid, so the copy's grid is a sparse file of the same size
    for name in ("manifest.json", "pooled.f16", "done.u8", "sources.npy"):
        if (extracted / name).is_file():
            shutil.copy(extracted / name, here / name)
    with open(here / "grid.f16", "wb") as grid:
        grid.truncate((extracted / "grid.f16").stat().st_size)
    dataset, model_path = scaled_cub(2000)
    assert dataset.num_samples == 2000 and dataset.name == "CUB-x2"
    session = Session(dataset, device="cpu")
    assert session.find_features() and session.store.pooled.shape[0] == 2000
    calls = []
    state = session.use_checkpoint(load_checkpoint(model_path), progress=lambda done, total: calls.append(done))
    assert calls == [], "the codes come from the cache, not from encoding every image"
    assert len(state.codes) == 2000
    np.testing.assert_array_equal(state.codes[:1000], state.codes[1000:])  # the rows repeat, so do their codes
    from zsl_desktop.engine.session.class_set import saved_classes
    from zsl_desktop.engine.session.snapshot import PREFIX, checkpoint_sha256, find_snapshot

    classes = saved_classes(dataset, [], np.zeros((0, dataset.num_attributes), np.float32))
    kept = find_snapshot(checkpoint_sha256(model_path), session.store.folder, classes, 2000)
    assert kept is not None, "the start-up's kept predictions are prepared, current for the app's classes"
    np.testing.assert_allclose(kept.scores, session.scores(classes.matrix), rtol=1e-5, atol=1e-5)
    scaled_cub(2000)  # a second bench: the current snapshot stays as it is
    assert len(list(session.store.folder.glob(f"{PREFIX}*.npz"))) == 1


def test_the_memory_bench_store_opens_with_its_model_and_cached_codes():
    """--quick's memory row: the tiled built-in store, a model file for it and its codes cached, so the app's
    opening reads the codes and encodes nothing; they are the codes encoding would give."""
    import numpy as np

    from zsl_desktop.bench.memory import prepare_cached_codes
    from zsl_desktop.engine.checkpoints import load_checkpoint, save_checkpoint
    from zsl_desktop.engine.data import load_builtin
    from zsl_desktop.engine.events import run_to_end
    from zsl_desktop.engine.paths import data_dir
    from zsl_desktop.engine.session import Session
    from zsl_desktop.engine.training import TrainConfig, train

    base = load_builtin(small=True)  # in this test's home, as the bench (ui.prepare_memory_store) finds it
    features = extract_all(base).source()
    finished = run_to_end(train(base, features, TrainConfig(method="msdn", epochs=1, seed=0)))
    model = data_dir() / "msdn-small.pt"
    save_checkpoint(model, finished.header, finished.method.state_dict())
    n = 2 * base.num_samples + 3
    dataset, model_path = prepare_cached_codes(n, small=True, checkpoint=model)
    assert dataset.num_samples == n and model_path.is_file()
    session = Session(dataset, device="cpu")
    assert session.find_features()
    calls = []
    state = session.use_checkpoint(load_checkpoint(model_path), progress=lambda done, total: calls.append(done))
    assert calls == [], "the codes come from the cache, not from encoding every image"
    fresh = Session(base, device="cpu")
    assert fresh.find_features()
    encoded = fresh.use_checkpoint(load_checkpoint(model)).codes
    take = np.resize(np.arange(base.num_samples), n)
    np.testing.assert_allclose(state.codes, encoded[take], rtol=1e-5, atol=1e-6)


def test_the_live_sections_encode_each_models_base_codes_once(small_birds, monkeypatch):
    """rescore, scale and livetrain time the same models on the same images: their codes are encoded once
    per bench run and model (the key is the weights: another model is encoded afresh)."""
    import numpy as np

    from zsl_desktop.bench import live_edits
    from zsl_desktop.bench.trained import trained_method

    encoded = []
    real = live_edits.base_codes
    monkeypatch.setattr(live_edits, "_BASE_CODES", {})
    monkeypatch.setattr(live_edits, "base_codes", lambda *args: encoded.append(args) or real(*args))
    first, _ = trained_method("msdn", small_birds)
    again, _ = trained_method("msdn", small_birds)  # a second load of the same model
    other, _ = trained_method("msdn", small_birds, seed=1)
    codes, origin = live_edits.cached_base_codes(first, small_birds)
    same, _ = live_edits.cached_base_codes(again, small_birds)
    assert len(encoded) == 1 and np.array_equal(codes, same) and same is not codes
    live_edits.cached_base_codes(other, small_birds)
    assert len(encoded) == 2


def test_extraction_bench_times_the_app_batch_against_matmuls_of_the_same_rounds(small_birds, monkeypatch):
    """The bench times extract_all's CPU batch, and the fraction is a median batch against a median matmul
    (not the best matmul): one lucky matmul among many slow ones does not move the bound."""
    from zsl_desktop.bench import runner
    from zsl_desktop.engine.features import CPU_BATCH_SIZE

    calls = []

    def rates(size=1024, repeats=5):
        calls.append(repeats)
        return [1000.0] + [100.0] * (repeats - 1)  # one lucky run, then the typical speed

    monkeypatch.setattr(runner, "matmul_rates", rates)
    rows = {
        r.name.split(" (")[0]: r
        for r in runner.bench_extraction(small_birds, replace(Sizes.tiny(), extract_images=CPU_BATCH_SIZE))
    }
    assert len(calls) == runner.EXTRACT_ROUNDS  # matmuls in every round, between the batches
    backbone = next(r for name, r in rows.items() if name.startswith("backbone images/s"))
    assert f"batch {CPU_BATCH_SIZE}," in backbone.name
    bound = rows["compute bound"]
    from zsl_desktop.engine.backbones import load_backbone

    assert bound.value == pytest.approx(100e9 / load_backbone().flops_per_image(224))  # the median, not the best
    fraction = rows["fraction of the compute bound"]
    assert fraction.value == pytest.approx(backbone.value / bound.value) and fraction.ok == (fraction.value >= 0.5)
