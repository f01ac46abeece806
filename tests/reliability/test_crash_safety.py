"""Crash safety: SIGKILL at random moments of a write never leaves a corrupt file; killed work resumes.

The writers run in a fork server (crash_writer.py) so that more than a hundred kills
take seconds. Every kill is checked: the file is exactly the old or the new version.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

HELPER = Path(__file__).with_name("crash_writer.py")
FILE_KILLS = {"text": 40, "checkpoint": 30, "library": 30, "settings": 30}
EXTRACT_KILLS = 5
TRAIN_KILLS = 2

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the kill tests fork (POSIX only)")


def _start(*args) -> subprocess.Popen:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, str(HELPER), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _report(proc: subprocess.Popen, timeout: float = 180) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-4000:]
    return json.loads(out.strip().splitlines()[-1])


def test_sigkill_during_writes_never_leaves_a_corrupt_file(tmp_path):
    """Text/JSON (atomic_write_text), checkpoints, the class library and the app's settings file."""
    procs = {}
    for seed, (kind, kills) in enumerate(FILE_KILLS.items()):
        folder = tmp_path / kind
        folder.mkdir()
        procs[kind] = _start("file", kind, folder / f"target.{kind}", kills, seed)
    total = 0
    for kind, proc in procs.items():
        report = _report(proc)
        outcomes = Counter(map(str, report["outcomes"]))
        print(
            f"{kind}: {report['kills']} kills, write cycle {report['cycle_ms']} ms, found {dict(outcomes)}, "
            f"{report['temp_files_left']} temp files left by killed writers"
        )
        assert report["landed"] == FILE_KILLS[kind], "every kill hit a running writer"
        assert set(outcomes) <= {"0", "1"}, f"{kind}: corrupt after a kill: {report['outcomes']}"
        assert outcomes["0"] and outcomes["1"], f"{kind}: kills all landed at one point of the cycle"
        total += report["kills"]
    assert total == sum(FILE_KILLS.values()) == 130


def test_temp_files_of_killed_writers_are_cleared_after_an_hour(tmp_path):
    from zsl_desktop.engine.atomic import atomic_write_text

    target = tmp_path / "settings.json"
    stale, fresh, other = (
        tmp_path / ".settings.json.abc123.tmp",
        tmp_path / ".settings.json.def456.tmp",
        tmp_path / ".other.json.abc123.tmp",
    )
    for p in (stale, fresh, other):
        p.write_text("half a file")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    atomic_write_text(target, "{}")
    assert not stale.exists() and fresh.exists() and other.exists()


# -- interrupted extraction -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def killed_extraction(small_birds, tmp_path_factory):
    """`zsl-desktop extract` on the small birds, killed at 5 random moments, then run to the end."""
    home = tmp_path_factory.mktemp("killed-extraction")
    report = _report(_start("extract", small_birds.root, home, EXTRACT_KILLS, 7))
    return report, home


def _store(home: Path) -> Path:
    (folder,) = (home / "data" / "features").glob("*")
    return folder


def test_interrupted_extraction_resumes_to_the_same_store(killed_extraction, small_birds):
    report, home = killed_extraction
    kills = report["kills"]
    print(
        f"extraction killed {len(kills)} times at rows {[k['done'] for k in kills]} of {small_birds.num_samples}; "
        f"a clean run takes {report['clean_seconds']} s"
    )
    assert len(kills) == EXTRACT_KILLS and all(k["landed"] for k in kills)
    assert all(k["status"] == "partial" for k in kills)
    done = [k["done"] for k in kills]
    assert done == sorted(done) and 0 < done[-1] < small_birds.num_samples, "each run went on from the last"
    assert report["final_exit"] == 0
    assert f"resuming: {done[-1]} of {small_birds.num_samples} already extracted" in report["final_log"]

    resumed, clean = _store(home), _store(home / "clean")
    manifest = json.loads((resumed / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["failed"] == {}
    for name in ("grid.f16", "pooled.f16", "done.u8"):
        a, b = (resumed / name).read_bytes(), (clean / name).read_bytes()
        assert a == b, f"{name}: the resumed store differs from a clean extraction"
    assert np.fromfile(resumed / "done.u8", np.uint8).all()


def test_a_failure_found_before_a_kill_is_still_recorded(tmp_path):
    """A bad image's zero row is committed with its reason: a resumed run does not forget it."""
    from corpus_datasets import make_folder_dataset
    from zsl_desktop.engine import features
    from zsl_desktop.engine.data import load_dataset

    root = make_folder_dataset(tmp_path)
    (root / "images" / "crow" / "1.jpg").write_bytes(b"")
    dataset = load_dataset(root)
    gen = features.extract(dataset, input_size=32, root=tmp_path / "store", batch_size=2)
    old = features.FLUSH_SECONDS
    features.FLUSH_SECONDS = 0.0
    try:
        for _ in range(3):  # two batches committed, then the process "dies": no status written at the end
            next(gen)
    finally:
        features.FLUSH_SECONDS = old
    gen.close()
    manifest = json.loads(next((tmp_path / "store").glob("*/manifest.json")).read_text())
    assert manifest["status"] == "partial" and manifest["failed"] == {"crow/1.jpg": "the file is empty (0 bytes)"}
    store = features.extract_all(dataset, input_size=32, root=tmp_path / "store", batch_size=2)
    assert store.failed == {"crow/1.jpg": "the file is empty (0 bytes)"}
    assert not np.asarray(store.pooled[1]).any() and np.asarray(store.pooled[0]).any()


def test_a_damaged_feature_store_is_extracted_again(tmp_path):
    """A store damaged outside the app (disk trouble, a half copy) is rebuilt, never memory-mapped short."""
    from corpus_datasets import make_folder_dataset
    from zsl_desktop.engine.data import load_dataset
    from zsl_desktop.engine.features import FeatureStore, extract_all

    dataset = load_dataset(make_folder_dataset(tmp_path))
    store = extract_all(dataset, input_size=32, root=tmp_path / "store")
    reference, folder = np.asarray(store.pooled, np.float32).copy(), store.folder
    damages = {
        "truncated rows": lambda: (folder / "pooled.f16").write_bytes((folder / "pooled.f16").read_bytes()[:100]),
        "manifest cut short": lambda: (folder / "manifest.json").write_text('{"version": 1, "status": "compl'),
        "manifest not an object": lambda: (folder / "manifest.json").write_text("[1, 2, 3]"),
        "grid file deleted": lambda: (folder / "grid.f16").unlink(),
    }
    for name, damage in damages.items():
        del store
        damage()
        assert FeatureStore.open(dataset, "efficientnet_lite0", 32, root=tmp_path / "store") is None, name
        store = extract_all(dataset, input_size=32, root=tmp_path / "store")
        assert store.manifest["status"] == "complete", name
        np.testing.assert_array_equal(np.asarray(store.pooled, np.float32), reference, err_msg=name)


# -- interrupted training -------------------------------------------------------------------------------------


def test_interrupted_training_resumes_to_the_same_model(killed_extraction, small_birds, tmp_path):
    """train() killed twice (after random epochs), resumed each time: the same weights as an unbroken run."""
    from zsl_desktop.engine.checkpoints import load_checkpoint
    from zsl_desktop.engine.resume import resume_path

    _, home = killed_extraction
    out = tmp_path / "model.pt"
    report = _report(_start("train", home / "clean", small_birds.root, out, TRAIN_KILLS, 11))
    print(f"training killed after {[(k['phase'], k['epoch']) for k in report['kills']]}; then {report['final']}")
    assert len(report["kills"]) == TRAIN_KILLS and all(k["landed"] for k in report["kills"])
    assert report["final_exit"] == 0 and not report["final"]["cancelled"]
    assert any(t.startswith("resumed ") and " phase after epoch " in t for t in report["final"]["messages"])
    assert out.exists() and not resume_path(out).exists()
    resumed, clean = load_checkpoint(out), load_checkpoint(tmp_path / "clean.pt")
    assert resumed.header["metrics"] == clean.header["metrics"]
    assert resumed.state.keys() == clean.state.keys()
    assert all(torch.equal(resumed.state[k], clean.state[k]) for k in clean.state)


def test_cli_train_resume_flag(killed_extraction, small_birds, tmp_path, monkeypatch, cli):
    """`zsl-desktop train --resume` picks up a run that stopped after its first epoch."""
    from zsl_desktop.engine.data import load_dataset
    from zsl_desktop.engine.features import FeatureStore
    from zsl_desktop.engine.methods.base import Control, EpochEnd
    from zsl_desktop.engine.training import TrainConfig, train
    from zsl_desktop.engine.resume import resume_path
    from zsl_desktop.engine.events import run_to_end

    _, home = killed_extraction
    monkeypatch.setenv("ZSL_DESKTOP_HOME", str(home / "clean"))
    dataset = load_dataset(small_birds.root)
    out = tmp_path / "run.pt"
    control = Control()
    config = TrainConfig(method="msdn", epochs=2, seed=0, hparams={"batch_size": 32}, input_size=32)
    source = FeatureStore.open(dataset, "efficientnet_lite0", 32).source()
    run_to_end(
        train(dataset, source, config, control, checkpoint_path=out),
        lambda e: control.cancel() if isinstance(e, EpochEnd) else None,
    )
    assert resume_path(out).exists()
    code, stdout, err = cli(
        "train",
        "--dataset",
        small_birds.root,
        "--input-size",
        32,
        "--epochs",
        2,
        "--set",
        "batch_size=32",
        "--out",
        out,
        "--resume",
    )
    assert code == 0, err
    assert "resumed select phase after epoch 1" in stdout
    assert out.exists() and not resume_path(out).exists()
