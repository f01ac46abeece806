"""The shared training loop: selection on validation, checkpoints, cancel and resume."""

import pytest
import torch

from zsl_desktop.engine.checkpoints import check_compatible, load_checkpoint
from zsl_desktop.engine.features import extract_all
from zsl_desktop.engine.methods.base import Control, EpochEnd, Step
from zsl_desktop.engine.session import Session
from zsl_desktop.engine.training import Finished, Phase, TrainConfig, Validation, train
from zsl_desktop.engine.resume import resume_path
from zsl_desktop.engine.events import run_to_end


@pytest.fixture(scope="module")
def birds_features(small_birds, tmp_path_factory):
    store = extract_all(small_birds, root=tmp_path_factory.mktemp("store"), input_size=64)
    return small_birds, store.source()


def _events(dataset, features, config, **kwargs):
    events = []
    run_to_end(train(dataset, features, config, **kwargs), events.append)
    return events


def test_validation_selection_then_final_retrain(birds_features, tmp_path):
    dataset, features = birds_features
    # "folds" named: the small birds' 6 seen classes would take "calibration" (msdn.FEW_SEEN_CLASSES)
    config = TrainConfig(method="msdn", epochs=3, seed=1, hparams={"batch_size": 16, "gamma_transfer": "folds"})
    events = _events(dataset, features, config, checkpoint_path=tmp_path / "m.pt")
    folds = config.folds
    phases = [e.name for e in events if isinstance(e, Phase)]
    assert phases == ["select"] * folds + ["final"] * 5  # MSDN averages five final models
    validations = [e for e in events if isinstance(e, Validation)]
    assert [(v.fold, v.epoch) for v in validations] == [(k, e) for k in range(folds) for e in (1, 2, 3)]
    assert all(v.split == "validation" and v.folds == folds for v in validations)
    done = events[-1]
    assert isinstance(done, Finished) and not done.cancelled
    header = load_checkpoint(tmp_path / "m.pt").header
    assert header["gamma_source"] == "validation" and header["select"] == "validation"
    selection = header["selection"]
    groups = [set(g) for g in selection["folds"]]
    assert len(groups) == folds and len(set.union(*groups)) == sum(map(len, groups))  # disjoint
    assert not set.union(*groups) & set(dataset.unseen_classes.tolist())  # pseudo-unseen are seen classes
    assert 1 <= header["epochs"] <= 3 and 0.0 <= selection["seen_rejection"] <= 1.0
    assert len(selection["fold_h"]) == folds
    # MSDN's final model trains on every trainval image and takes the fold models' mean gamma.
    assert selection["gamma_transfer"] == "folds" and selection["calibration_images"] == 0
    assert selection["epoch_tolerance"] == 1.0  # the earliest epoch within one standard error of the best
    assert (
        header["gamma"] == pytest.approx(sum(selection["fold_gamma"]) / folds) and len(selection["fold_gamma"]) == folds
    )
    assert selection["final_seeds"] == [1, 1001, 2001, 3001, 4001]
    members = {k.split(".")[0] for k in load_checkpoint(tmp_path / "m.pt").state if k.startswith("member")}
    assert members == {f"member{i}" for i in range(4)}
    final = events.index(next(e for e in events if isinstance(e, Phase) and e.name == "final"))
    final_steps = [e for e in events[final:] if isinstance(e, Step)]
    per_model = header["epochs"] * -(-len(dataset.splits["trainval"]) // 16)
    assert final_steps[-1].total == per_model and len(final_steps) == 5 * per_model
    assert 0 <= header["metrics"]["zsl_t1"] <= 1
    assert not resume_path(tmp_path / "m.pt").exists()
    check_compatible(load_checkpoint(tmp_path / "m.pt"), dataset)


def test_calibration_transfer_holds_images_out_of_the_final_run(birds_features, monkeypatch):
    from zsl_desktop.engine.methods.msdn import MSDN

    dataset, features = birds_features
    monkeypatch.setattr(MSDN, "gamma_transfer", "calibration")
    config = TrainConfig(method="msdn", epochs=1, seed=1, hparams={"batch_size": 16}, folds=1)
    events = _events(dataset, features, config)
    selection = events[-1].header["selection"]
    assert selection["gamma_transfer"] == "calibration" and selection["calibration_images"] > 0
    final = events.index(next(e for e in events if isinstance(e, Phase) and e.name == "final"))
    steps = [e for e in events[final:] if isinstance(e, Step)]
    held_out = len(dataset.splits["trainval"]) - selection["calibration_images"]
    assert steps[-1].total == -(-held_out // 16)  # one epoch over trainval minus the calibration images


def test_training_share_transfer_places_gamma_on_the_final_models_own_training_images(birds_features, monkeypatch):
    from zsl_desktop.engine.methods.msdn import MSDN
    from zsl_desktop.engine.scoring import gamma_for_rejection_rate

    dataset, features = birds_features
    monkeypatch.setattr(MSDN, "gamma_transfer", "training_share")
    monkeypatch.setattr(MSDN, "final_models", lambda self: 1)
    config = TrainConfig(method="msdn", epochs=2, seed=1, hparams={"batch_size": 16}, folds=2)
    events = _events(dataset, features, config)
    done = events[-1]
    selection = done.header["selection"]
    assert selection["gamma_transfer"] == "training_share" and selection["calibration_images"] == 0
    shares = selection["fold_training_share"]
    assert len(shares) == 2 and all(0.0 <= s <= 1.0 for s in shares)
    rows = selection["fold_rows"]
    assert len(rows) == 2 and all(len(r["training_share"]) == len(r["h"]) == len(r["gamma"]) for r in rows)
    final = events.index(next(e for e in events if isinstance(e, Phase) and e.name == "final"))
    steps = [e for e in events[final:] if isinstance(e, Step)]
    assert steps[-1].total == done.header["epochs"] * -(-len(dataset.splits["trainval"]) // 16)  # all trainval
    trainval, seen, unseen = dataset.splits["trainval"], dataset.seen_classes, dataset.unseen_classes
    expected = gamma_for_rejection_rate(done.method, dataset, features, trainval, seen, unseen, sum(shares) / 2)
    assert done.header["gamma"] == pytest.approx(expected)


def test_training_share_transfer_survives_a_resume_in_the_second_fold(birds_features, tmp_path, monkeypatch):
    from zsl_desktop.engine.methods.msdn import MSDN

    dataset, features = birds_features
    monkeypatch.setattr(MSDN, "gamma_transfer", "training_share")
    config = TrainConfig(method="msdn", epochs=2, seed=4, hparams={"batch_size": 16, "final_models": 1}, folds=2)
    straight = run_to_end(train(dataset, features, config, checkpoint_path=tmp_path / "s.pt"), lambda e: None)
    path, control = tmp_path / "r.pt", Control()

    def stop_in_the_second_fold(event):
        if isinstance(event, Validation) and (event.fold, event.epoch) == (1, 1):
            control.cancel()

    assert run_to_end(
        train(dataset, features, config, control, checkpoint_path=path), stop_in_the_second_fold
    ).cancelled
    events = _events(dataset, features, config, checkpoint_path=path, resume=True)
    assert any("resumed select1 phase after epoch 1" in getattr(e, "text", "") for e in events)
    resumed = events[-1]
    selection = resumed.header["selection"]
    assert selection["fold_training_share"] == straight.header["selection"]["fold_training_share"]
    assert selection["fold_rows"] == straight.header["selection"]["fold_rows"]
    assert resumed.header["gamma"] == straight.header["gamma"]


def test_cancel_stops_at_the_next_batch(birds_features):
    dataset, features = birds_features
    control = Control()
    seen_steps = []

    def on_event(event):
        if isinstance(event, Step):
            seen_steps.append(event)
            control.cancel()

    finished = run_to_end(train(dataset, features, TrainConfig(epochs=5, hparams={"batch_size": 8}), control), on_event)
    assert finished.cancelled and len(seen_steps) == 1


def test_resume_continues_after_the_last_finished_epoch(birds_features, tmp_path):
    dataset, features = birds_features
    config = TrainConfig(method="msdn", epochs=3, seed=2, hparams={"batch_size": 16})
    path = tmp_path / "r.pt"
    control = Control()

    def stop_after_two_epochs(event):
        if isinstance(event, EpochEnd) and event.epoch == 2:
            control.cancel()

    assert run_to_end(train(dataset, features, config, control, checkpoint_path=path), stop_after_two_epochs).cancelled
    assert resume_path(path).exists() and not path.exists()
    events = _events(dataset, features, config, checkpoint_path=path, resume=True)
    texts = [getattr(e, "text", "") for e in events]
    assert any("resumed select phase after epoch 2" in t for t in texts)
    assert [(e.fold, e.epoch) for e in events if isinstance(e, Validation)][:2] == [(0, 3), (1, 1)]
    assert path.exists() and isinstance(events[-1], Finished) and not events[-1].cancelled


def test_resume_inside_the_second_final_model_keeps_the_first(birds_features, tmp_path):
    dataset, features = birds_features
    config = TrainConfig(method="msdn", epochs=2, seed=3, hparams={"batch_size": 16, "final_models": 3}, folds=1)
    straight = run_to_end(train(dataset, features, config, checkpoint_path=tmp_path / "s.pt"), lambda e: None)
    path, control, finals = tmp_path / "r.pt", Control(), []

    def stop_in_the_second_final_model(event):
        if isinstance(event, Phase) and event.name == "final":
            finals.append(event)
        if len(finals) == 2 and isinstance(event, EpochEnd):  # the resume file is now the second model's
            control.cancel()

    assert run_to_end(train(dataset, features, config, control, checkpoint_path=path), stop_in_the_second_final_model)
    assert resume_path(path).exists() and not path.exists()
    events = _events(dataset, features, config, checkpoint_path=path, resume=True)
    described = [e.description for e in events if isinstance(e, Phase)]
    assert len(described) == 2 and "model 2 of 3, seed 1003" in described[0]  # the first is not trained again
    resumed = load_checkpoint(path).state
    for key, value in load_checkpoint(tmp_path / "s.pt").state.items():
        torch.testing.assert_close(resumed[key], value, rtol=0, atol=0)
    assert straight.report.as_dict() == events[-1].report.as_dict()


def test_test_selection_is_labelled(birds_features, tmp_path):
    dataset, features = birds_features
    config = TrainConfig(epochs=2, select="test", hparams={"batch_size": 16})
    events = _events(dataset, features, config, checkpoint_path=tmp_path / "t.pt")
    assert [e.name for e in events if isinstance(e, Phase)] == ["test-selected"]
    assert load_checkpoint(tmp_path / "t.pt").header["gamma_source"] == "test"
    assert events[-1].report.gamma_source == "test"


def test_grid_method_on_feature_only_data_says_why(birds_features):
    from zsl_desktop.engine.methods.base import FeatureSource

    dataset, features = birds_features
    with pytest.raises(ValueError, match="attention methods need images"):
        run_to_end(train(dataset, FeatureSource(pooled=features.pooled), TrainConfig(epochs=1)))


def test_a_checkpoint_that_cannot_be_used_leaves_the_session_as_it_was(birds_features, tmp_path):
    """Refused before anything switched: other features not extracted, or weights that do not load."""
    from zsl_desktop.engine.checkpoints import CheckpointError, save_checkpoint

    dataset, _ = birds_features
    session = Session(dataset, input_size=64)
    run_to_end(session.prepare_features())  # the session's own store, at 64 px
    config = TrainConfig(epochs=1, hparams={"batch_size": 16, "final_models": 1}, folds=1)  # any model will do
    finished = run_to_end(train(dataset, session.features, config))
    state = session.use_method(finished.method, finished.header)
    before = (session.store, session.backbone, session.input_size, session.model)

    other_size = dict(finished.header, input_size=96)  # never extracted at 96 px
    save_checkpoint(tmp_path / "other.pt", other_size, finished.method.state_dict())
    with pytest.raises(CheckpointError, match="not extracted"):
        session.load_checkpoint(tmp_path / "other.pt")
    assert (session.store, session.backbone, session.input_size, session.model) == before

    broken = {k: v for k, v in finished.method.state_dict().items() if not k.startswith("W_1")}
    save_checkpoint(tmp_path / "broken.pt", dict(finished.header, input_size=64), broken)  # the store's size
    with pytest.raises(CheckpointError, match="cannot be used"):
        session.load_checkpoint(tmp_path / "broken.pt")
    assert session.model is state and (session.store, session.backbone, session.input_size) == before[:3]


def test_out_of_memory_in_fit_halves_the_batch_and_goes_on_from_the_last_epoch(birds_features, monkeypatch):
    """A fake allocator that fails for batches over 8 rows from the second epoch on (as a GPU would)."""
    from zsl_desktop.engine.methods.base import Message
    from zsl_desktop.engine.methods.msdn import MSDNNet

    dataset, features = birds_features
    real_forward = MSDNNet.forward
    armed = []  # set once the first epoch has ended

    def forward(self, grid, *args, **kwargs):
        if armed and torch.is_grad_enabled() and grid.shape[0] > 8:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_forward(self, grid, *args, **kwargs)

    def on_event(event):
        events.append(event)
        if isinstance(event, EpochEnd):
            armed.append(True)

    monkeypatch.setattr(MSDNNet, "forward", forward)
    # One final model: the final phase only has to show it kept the smaller batch.
    config = TrainConfig(method="msdn", epochs=3, seed=1, hparams={"batch_size": 32, "final_models": 1}, folds=1)
    events = []
    run_to_end(train(dataset, features, config), on_event)
    notes = [e.text for e in events if isinstance(e, Message) and e.text.startswith("out of memory")]
    assert len(notes) == 2 and "batches of 16 (were 32)" in notes[0] and "batches of 8 (were 16)" in notes[1]
    assert "in epoch 2" in notes[0] and "back to the end of epoch 1" in notes[0]  # epoch 1 was kept
    validations = [e.epoch for e in events if isinstance(e, Validation)]
    assert validations[:3] == [1, 2, 3]  # each epoch validated once: epoch 2 was redone, not skipped
    done = events[-1]
    assert isinstance(done, Finished) and not done.cancelled
    assert int(done.header["hparams"]["batch_size"]) == 8  # the final phase kept the smaller batch


def test_out_of_memory_on_the_cpu_at_batch_one_is_an_error(birds_features, monkeypatch):
    from zsl_desktop.engine.methods.msdn import MSDNNet

    dataset, features = birds_features

    def forward(self, grid, *args, **kwargs):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(MSDNNet, "forward", forward)
    with pytest.raises(MemoryError, match="even with batches of 1"):
        _events(dataset, features, TrainConfig(method="msdn", epochs=1, hparams={"batch_size": 2}, folds=1))


def test_only_the_final_models_fits_are_told_they_are_final(birds_features, monkeypatch):
    """TrainData.final (CE-GZSL's final_draws reads it): True in each final model's fit, False in a fold model's."""
    from zsl_desktop.engine.methods.msdn import MSDN

    dataset, features = birds_features
    seen: list[bool] = []
    original = MSDN.fit

    def recording(self, data, *args, **kwargs):
        seen.append(data.final)
        return original(self, data, *args, **kwargs)

    monkeypatch.setattr(MSDN, "fit", recording)
    config = TrainConfig(method="msdn", epochs=1, seed=2, hparams={"batch_size": 16, "final_models": 2}, folds=1)
    run_to_end(train(dataset, features, config))
    assert seen == [False, True, True]  # one fold model, then two final models
