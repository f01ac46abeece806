"""Classes 3 and 8 of issue 16: nothing the user made is overwritten silently, and an output that cannot be
written is refused before any work starts (not after a whole training run with a raw Errno).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

from corpus_datasets import make_folder_dataset
from reliability_corpus import assert_clear_refusal
from zsl_desktop.engine.data import load_dataset
from zsl_desktop.engine.training import default_checkpoint_path
from zsl_desktop.engine.userfiles import UserFileError, check_writable

SIX = {c: [f"{i}.jpg" for i in range(6)] for c in ("crow", "robin", "cardinal")}


# -- class 3: default checkpoint names -------------------------------------------------------------------------


def test_two_datasets_with_the_same_folder_name_get_different_default_checkpoints(tmp_path):
    a = load_dataset(make_folder_dataset(tmp_path / "a"))
    b_root = make_folder_dataset(tmp_path / "b")
    (b_root / "images" / "crow" / "extra.jpg").write_bytes((b_root / "images" / "crow" / "0.jpg").read_bytes())
    b = load_dataset(b_root)
    assert a.name == b.name == "birds" and a.fingerprint != b.fingerprint
    pa, pb = default_checkpoint_path(a, "msdn"), default_checkpoint_path(b, "msdn")
    assert pa != pb and pa.parent == pb.parent
    assert pa.name == f"birds-{a.fingerprint[:8]}-msdn.pt"
    assert default_checkpoint_path(a, "msdn") == pa, "the same dataset and method: the same name (a rerun resumes)"


def test_default_names_are_safe_file_names(tmp_path):
    a = load_dataset(make_folder_dataset(tmp_path / "a"))
    odd = dataclasses.replace(a, name="../x y/z")
    path = default_checkpoint_path(odd, "msdn", tmp_path)
    assert path.parent == tmp_path and "/" not in path.name and path.name.startswith(".._x_y_z-")


def test_cli_train_without_out_does_not_overwrite_another_datasets_model(tmp_path, cli):
    from zsl_desktop.engine.paths import data_dir

    first = make_folder_dataset(tmp_path / "a", images=SIX)
    code, out, err = cli("train", "--dataset", first, "--method", "msdn", "--epochs", 1, "--input-size", 32)
    assert code == 0, err
    (model_a,) = (data_dir() / "checkpoints").glob("birds-*-msdn.pt")
    before = model_a.read_bytes()
    second = make_folder_dataset(tmp_path / "b", images={**SIX, "crow": [f"{i}.jpg" for i in range(7)]})
    code, out, err = cli("train", "--dataset", second, "--method", "msdn", "--epochs", 1, "--input-size", 32)
    assert code == 0, err
    models = sorted((data_dir() / "checkpoints").glob("birds-*-msdn.pt"))
    assert len(models) == 2 and model_a.read_bytes() == before, "the first dataset's model is untouched"


def _app_train_job(root):
    from zsl_desktop.engine.methods.base import Control
    from zsl_desktop.engine.session import Session
    from zsl_desktop.engine.training import TrainConfig
    from zsl_desktop.engine.events import run_to_end

    session = Session(load_dataset(root), "efficientnet_lite0", 32, "cpu")
    run_to_end(session.prepare_features())
    config = TrainConfig(method="msdn", epochs=1, input_size=32)
    return session, lambda: list(session.train_and_use(config, Control(), lambda *a: None))


def test_the_apps_autosave_does_not_overwrite_another_datasets_model(tmp_path):
    from zsl_desktop.engine.session.results import TrainDone

    session, run = _app_train_job(make_folder_dataset(tmp_path / "a", images=SIX))
    other = default_checkpoint_path(
        dataclasses.replace(session.dataset, image_paths=session.dataset.image_paths[:-1]),
        "msdn",
        session.checkpoint_dir(),
    )
    other.parent.mkdir(parents=True, exist_ok=True)
    other.write_bytes(b"another dataset's model")
    done = [e for e in run() if isinstance(e, TrainDone)][-1]
    mine = default_checkpoint_path(session.dataset, "msdn", session.checkpoint_dir())
    assert done.model.source == str(mine) and mine.is_file()
    assert other.read_bytes() == b"another dataset's model"


def test_the_apps_trained_model_keeps_its_predictions_for_the_next_start(tmp_path):
    """As a loaded model's: the next start finds them for the saved file, before torch (engine/session/snapshot)."""
    from zsl_desktop.engine.session.class_set import saved_classes
    from zsl_desktop.engine.session.snapshot import checkpoint_sha256, find_snapshot

    session, run = _app_train_job(make_folder_dataset(tmp_path / "a", images=SIX))
    run()
    d = session.dataset
    classes = saved_classes(d, [], np.zeros((0, d.num_attributes), np.float32))
    scores = session.all_scores(classes).scores
    saved = default_checkpoint_path(session.dataset, "msdn", session.checkpoint_dir())
    kept = find_snapshot(checkpoint_sha256(saved), session.store.folder, classes, session.dataset.num_samples)
    assert kept is not None and kept.class_names == classes.names
    assert kept.scores.tobytes() == scores[: session.dataset.num_samples].astype("float32").tobytes()


def test_the_apps_training_refuses_an_unwritable_checkpoint_folder_before_training(tmp_path):
    session, run = _app_train_job(make_folder_dataset(tmp_path / "a", images=SIX))
    folder = session.checkpoint_dir()
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.write_text("a file where the folder should be")
    with pytest.raises(UserFileError, match="is a file, not a folder"):
        run()


def test_a_read_only_feature_store_folder_is_said_before_extracting(tmp_path, cli, monkeypatch):
    import tempfile

    from zsl_desktop.engine.paths import feature_store_dir

    root = make_folder_dataset(tmp_path)
    store = feature_store_dir()
    store.mkdir(parents=True, exist_ok=True)  # the user's store folder, on a disk that became read-only
    real = tempfile.mkstemp

    def refuse(*args, dir=None, **kwargs):  # what a read-only disk answers (root ignores permission bits)
        if dir is not None and Path(dir).resolve().is_relative_to(store.resolve()):
            raise PermissionError(13, "Permission denied")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    code, out, err = cli("extract", "--dataset", root, "--input-size", 32)
    assert code == 2
    assert_clear_refusal(code, err, "manifest.json", "cannot write the feature store in .*: Permission denied")


# -- class 8: unusable outputs, said before starting -------------------------------------------------------------


def test_out_that_is_a_folder_is_refused_before_training(tmp_path, cli):
    root = make_folder_dataset(tmp_path, images=SIX)
    (tmp_path / "out.pt").mkdir()
    code, out, err = cli(
        "train", "--dataset", root, "--method", "msdn", "--epochs", 1, "--input-size", 32, "--out", tmp_path / "out.pt"
    )
    assert code == 2
    assert_clear_refusal(code, err, "out.pt", "is a folder; give a file name")
    assert "features" not in err and "phase" not in out, "nothing was extracted or trained"
    assert (tmp_path / "out.pt").is_dir() and not any((tmp_path / "out.pt").iterdir())


def test_out_under_a_file_is_refused_before_training(tmp_path, cli):
    root = make_folder_dataset(tmp_path, images=SIX)
    (tmp_path / "notes.txt").write_text("mine")
    code, out, err = cli("train", "--dataset", root, "--method", "msdn", "--out", tmp_path / "notes.txt" / "m.pt")
    assert code == 2
    assert_clear_refusal(code, err, "m.pt", "is a file, not a folder")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_read_only_output_folder_is_refused_before_training(tmp_path, cli, monkeypatch):
    root = make_folder_dataset(tmp_path, images=SIX)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.access(ro, os.W_OK):  # root ignores permission bits: make the write itself fail as it would
        import tempfile

        real = tempfile.mkstemp

        def refuse(*args, dir=None, **kwargs):
            if dir is not None and Path(dir) == ro:
                raise PermissionError(13, "Permission denied")
            return real(*args, dir=dir, **kwargs)

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
    code, out, err = cli("train", "--dataset", root, "--method", "msdn", "--out", ro / "m.pt")
    assert code == 2
    assert_clear_refusal(code, err, "m.pt", "cannot write the checkpoint .* in .*ro: Permission denied")
    assert "phase" not in out


def test_eval_json_that_is_a_folder_is_refused_before_evaluating(tmp_path, cli, small_birds):
    from corpus_checkpoints import valid_checkpoint_parts
    from zsl_desktop.engine.checkpoints import save_checkpoint

    model = save_checkpoint(tmp_path / "m.pt", *valid_checkpoint_parts(small_birds))
    (tmp_path / "figures.json").mkdir()
    code, out, err = cli(
        "eval", "--checkpoint", model, "--dataset", small_birds.root, "--json", tmp_path / "figures.json"
    )
    assert code == 2
    assert_clear_refusal(code, err, "figures.json", "is a folder")
    assert "ZSL T1" not in out


def test_check_writable_leaves_nothing_behind(tmp_path):
    check_writable(tmp_path / "new" / "deeper" / "m.pt")
    assert list(tmp_path.iterdir()) == [], "no folder or probe file is left"
    with pytest.raises(UserFileError, match="is a folder"):
        check_writable(tmp_path)


def test_the_app_and_the_cli_save_a_trained_model_by_one_policy(tmp_path):
    """The app's autosave goes through Session.train as the CLI's does: weights without optimiser
    state, written atomically, and no resume file left once the run has finished."""
    from zsl_desktop.engine.checkpoints import load_checkpoint
    from zsl_desktop.engine.session.results import TrainDone
    from zsl_desktop.engine.training import resume_path

    session, run = _app_train_job(make_folder_dataset(tmp_path / "a", images=SIX))
    done = [e for e in run() if isinstance(e, TrainDone)][-1]
    saved = Path(done.model.source)
    state = load_checkpoint(saved).state
    assert state and not any(k.startswith("optim.") for k in state), "no optimiser state in a finished model"
    assert not resume_path(saved).exists()
    assert session.model.header["method"] == "msdn"


def test_a_cancelled_training_run_leaves_no_resume_file(tmp_path):
    from zsl_desktop.engine.methods.base import Control, Step
    from zsl_desktop.engine.training import TrainConfig, resume_path

    session, _ = _app_train_job(make_folder_dataset(tmp_path / "a", images=SIX))
    out = tmp_path / "out" / "model.pt"
    control = Control()
    finished = None
    events = session.train(TrainConfig(method="msdn", epochs=3, input_size=32), control, save_to=out)
    while True:
        try:
            event = next(events)
        except StopIteration as stop:
            finished = stop.value
            break
        if isinstance(event, Step) and resume_path(out).exists() and not control.cancelled:
            control.cancel()  # the Stop button, once an epoch's resume file was written
    assert control.cancelled and finished is not None and finished.cancelled
    assert not out.exists() and not resume_path(out).exists()
