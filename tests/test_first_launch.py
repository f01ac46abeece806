"""The first launch on the built-in birds (issue 19, item 1): predictions on a first chunk before the full set,
the rest drawn and extracted behind it, and nothing half-written when it is stopped: a re-launch completes it.

On the small birds (80 images, a first chunk of 32), with a model trained here for them.
"""

import filecmp

import pytest
from PIL import Image

from zsl_desktop.engine.data import builtin_chunks
from zsl_desktop.engine.data.builtin_birds import generate, is_generated
from zsl_desktop.engine.data.builtin_chunks import BirdDrawing, partial_folder
from zsl_desktop.engine.errors import JobCancelled
from zsl_desktop.engine.methods.base import Control
from zsl_desktop.engine.paths import builtin_dataset_dir
from zsl_desktop.engine.session.opening import DatasetSpec, open_session
from zsl_desktop.engine.session.results import DatasetReady, ModelSummary, Notice, Progress


@pytest.fixture(scope="module")
def small_model(small_birds, tmp_path_factory):
    """MSDN after one epoch on the small birds, saved: the model a first launch of the small birds loads."""
    from zsl_desktop.engine.checkpoints import save_checkpoint
    from zsl_desktop.engine.events import run_to_end
    from zsl_desktop.engine.features import extract_all
    from zsl_desktop.engine.training import TrainConfig, train

    folder = tmp_path_factory.mktemp("small-model")
    features = extract_all(small_birds, root=folder / "features").source()
    finished = run_to_end(train(small_birds, features, TrainConfig(method="msdn", epochs=1, seed=0)))
    path = folder / "msdn-small.pt"
    save_checkpoint(path, finished.header, finished.method.state_dict())
    return path


def first_launch(checkpoint, stop_when=None, events=None):
    """Run the app's opening of the small birds; ``stop_when(event)`` True cancels it there.

    Returns the events (also appended to ``events``, which keeps them when the run is cancelled).
    """
    control = Control()
    events = [] if events is None else events
    spec = DatasetSpec(source="builtin", small=True, checkpoints=(str(checkpoint),), warm_up=False)
    for event in open_session(spec, control, events.append):
        events.append(event)
        if stop_when is not None and stop_when(event):
            control.cancel()
    return events


def test_drawing_in_processes_writes_the_same_files_as_the_generator(tmp_path):
    reference = generate(tmp_path / "reference", small=True)
    with BirdDrawing(tmp_path / "chunked", small=True, workers=2) as drawing:
        first = drawing.first_chunk()
        assert {p.c for p in first} == set(range(8))
        list(drawing.draw(first))
        assert drawing.drawn == len(first) < drawing.total
        list(drawing.draw(drawing.plan))
        drawing.install()
    assert is_generated(tmp_path / "chunked", small=True)
    assert not partial_folder(tmp_path / "chunked").exists()
    compared = filecmp.dircmp(reference, tmp_path / "chunked")
    assert _all_same(compared), "the chunked drawing differs from generate()"


def _all_same(cmp: filecmp.dircmp) -> bool:
    _, mismatch, errors = filecmp.cmpfiles(cmp.left, cmp.right, cmp.common_files, shallow=False)
    if mismatch or errors or cmp.left_only or cmp.right_only:
        return False
    return all(_all_same(sub) for sub in cmp.subdirs.values())


def test_the_first_chunk_has_predictions_before_the_full_set_arrives(small_model, monkeypatch):
    monkeypatch.setattr(builtin_chunks, "default_workers", lambda: 0)  # in this thread: a fast test
    events = first_launch(small_model)
    kinds = [type(e).__name__ for e in events if not isinstance(e, Progress)]
    assert kinds[:3] == ["DatasetReady", "FeaturesReady", "ModelSummary"]  # the preview, ready to predict
    ready = [e for e in events if isinstance(e, DatasetReady)]
    preview, full = ready
    assert preview.coming == 80 and preview.dataset.num_samples == 32
    assert set(preview.dataset.labels.tolist()) == set(range(8))  # every species in the first chunk
    assert full.coming == 0 and full.dataset.num_samples == 80 and full.features_ready
    at = {id(e): i for i, e in enumerate(events)}
    models = [e for e in events if isinstance(e, ModelSummary)]
    assert len(models) == 2 and at[id(models[0])] < at[id(full)] < at[id(models[1])]
    drawing_rest = [e for e in events if isinstance(e, Progress) and e.stage == "generate"]
    assert drawing_rest and at[id(models[0])] < at[id(drawing_rest[0])]  # the rest is drawn after the predictions
    assert drawing_rest[-1].done == drawing_rest[-1].total == 80 and any(e.rate > 0 for e in drawing_rest)
    steps = {(e.stage, e.step, e.steps) for e in events if isinstance(e, Progress) and e.steps}
    assert steps == {("preview", 1, 4), ("generate", 2, 4), ("extract", 3, 4), ("model", 4, 4)}
    assert is_generated(builtin_dataset_dir(small=True), small=True)
    assert not partial_folder(builtin_dataset_dir(small=True)).exists()


def test_stopping_mid_way_leaves_whole_files_and_a_relaunch_completes(small_model, monkeypatch, tmp_path):
    monkeypatch.setattr(builtin_chunks, "default_workers", lambda: 0)
    root = builtin_dataset_dir(small=True)
    partial = partial_folder(root)

    def while_drawing_the_rest(event):
        return isinstance(event, Progress) and event.stage == "generate" and 32 < event.done < 80

    with pytest.raises(JobCancelled):
        first_launch(small_model, stop_when=while_drawing_the_rest)
    assert not root.exists() and partial.is_dir()  # the dataset is never there half-drawn
    images = sorted((partial / "images").rglob("*.jpg"))
    assert 32 < len(images) < 80
    for path in images:  # every image under its name is whole
        with Image.open(path) as image:
            image.load()
    assert not list(partial.rglob(".*.tmp-*"))

    def while_extracting(event):
        return isinstance(event, Progress) and event.stage == "extract" and 0 < event.done < event.total

    second: list = []
    with pytest.raises(JobCancelled):
        first_launch(small_model, stop_when=while_extracting, events=second)
    resumed = [e for e in second if isinstance(e, Progress) and e.stage == "generate"]
    assert resumed[0].done == len(images)  # the birds drawn before the stop were not drawn again
    assert any(isinstance(e, Notice) and "continues" in e.text for e in second)

    events = first_launch(small_model)  # the third launch finishes
    assert any(isinstance(e, Progress) and e.message.startswith("resuming") for e in events)
    assert [e.dataset.num_samples for e in events if isinstance(e, DatasetReady)][-1] == 80
    assert isinstance([e for e in events if not isinstance(e, Progress)][-1], ModelSummary)
    assert is_generated(root, small=True) and not partial.exists()
    reference = generate(tmp_path / "reference", small=True)
    assert _all_same(filecmp.dircmp(reference, root))
