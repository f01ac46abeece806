"""The first launch says what it is doing, how far it is and how long it has left (issue 14, item 8)."""

from zsl_desktop.app import progress_text
from zsl_desktop.engine.session.results import Progress


def test_progress_words_give_the_step_the_count_and_the_time_left():
    event = Progress("generate", 1200, 3000, "drawing the built-in birds", rate=20.0, step=1, steps=3)
    assert (
        progress_text.status_line(event)
        == "Step 1 of 3 · Drawing the built-in birds 1,200/3,000 · about 1 min 30 s left"
    )
    waiting = progress_text.waiting_text(event)
    assert waiting.startswith("Step 1 of 3 · Drawing the built-in birds — 40%") and progress_text.ONCE in waiting
    model = Progress("model", 0, 1, "loading msdn_builtin.pt")  # a one-step opening: no step, no count, no ETA
    assert progress_text.status_line(model) == "Loading the model"
    sgma = Progress(
        "model", 904, 3000, "first load of sgma_builtin.pt: the part crops of every image (then cached)", rate=7.0
    )
    assert progress_text.status_line(sgma) == (
        "First load of sgma_builtin.pt: the part crops of every image (then cached) 904/3,000 · about 4 min 59 s left"
    )
    assert "left" not in progress_text.status_line(Progress("model", 8, 3000, "x", rate=0.5))  # too early to say
    assert progress_text.duration(3725) == "1 h 02 min" and progress_text.duration(59.6) == "1 min 00 s"


def test_the_first_launch_numbers_its_slow_steps_and_reports_rates(monkeypatch):
    """Generate the small birds and extract their features as on a first launch, through the app's job."""
    from zsl_desktop.engine.session.opening import DatasetSpec, open_session
    from zsl_desktop.engine.methods.base import Control
    from zsl_desktop.engine.paths import data_dir

    (data_dir() / "features").unlink()  # this test's home: no shared features, as on a first launch
    events = []
    for event in open_session(DatasetSpec(source="builtin", small=True, warm_up=False), Control(), events.append):
        events.append(event)
    progress = [e for e in events if isinstance(e, Progress)]
    steps = {(e.stage, e.step, e.steps) for e in progress if e.total > 1}
    # The small birds ship no model: the first birds, then the others, then every image's features.
    assert steps == {("preview", 1, 3), ("generate", 2, 3), ("extract", 3, 3)}
    for stage in ("preview", "generate", "extract"):
        counted = [e for e in progress if e.stage == stage and e.total > 1]
        assert counted[-1].done == counted[-1].total and any(e.rate > 0 for e in counted), stage


def test_the_waiting_text_does_not_repeat_the_stage():
    event = Progress("generate", 300, 3000, "drawing the built-in birds", rate=30.0, step=1, steps=3)
    assert progress_text.waiting_text(event).split("\n\n")[1] == "about 1 min 30 s left"
    extract = Progress("extract", 300, 3000, "resuming: 300 of 3000 already extracted", rate=10.0, step=2, steps=3)
    assert (
        progress_text.waiting_text(extract).split("\n\n")[1]
        == "resuming: 300 of 3000 already extracted · about 4 min 30 s left"
    )
