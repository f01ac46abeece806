"""The app part of ``zsl-desktop bench`` keeps working: its child processes start, measure and report.

On the small built-in birds with a model trained here (the shipped ones fit only the full birds).
The figures are timings of a loaded test machine, so only their plausibility is checked, not targets.
"""

import math
from dataclasses import replace

from zsl_desktop.bench.runner import bench_app
from zsl_desktop.bench.sizes import Sizes


def test_app_section_on_tiny_sizes(trained_model, tmp_path):
    from zsl_desktop.engine.checkpoints import save_checkpoint

    method, header, _ = trained_model
    checkpoint = tmp_path / "small-msdn.pt"
    save_checkpoint(checkpoint, header, method.state_dict())
    # Two start-ups: the frame probe's, held from its first predictions on (the memory child runs), and one
    # that goes on unheld to the live model's predictions.
    rows = {r.name: r for r in bench_app(replace(Sizes.tiny(), startup_runs=2), checkpoint)}
    startup = rows["start-up to predictions (median of 2, data prepared; kept scores while the model loads)"]
    assert 0 < startup.value < 120 and startup.target == "<= 3"
    live = rows["start-up to the live model's predictions (median of 1)"]
    assert 0 < live.value < 120 and math.isfinite(live.value)  # the unheld child went on to the live model
    assert 0 < rows["CPU seconds up to those predictions, every thread"].value < 120
    assert kept_snapshots(checkpoint)  # the bench wrote them before the start-up, through the session's producer
    gaps = rows["frame gap p95 while training (1 s)"], rows["frame gap max while training"]
    assert all(10 < r.value < 5000 for r in gaps)  # a 16 ms timer ticked while the model trained
    assert gaps[0].value <= gaps[1].value
    memory = rows["peak RSS, 300-image store + window"]
    assert 100 < memory.value < 8000 and math.isfinite(memory.value)


def kept_snapshots(checkpoint) -> list:
    """The kept predictions on the small birds' store (``engine/session/snapshot``)."""
    from zsl_desktop.engine.data import load_builtin
    from zsl_desktop.engine.session.snapshot import PREFIX
    from zsl_desktop.engine.store_names import plain_store_folder

    folder = plain_store_folder(load_builtin(small=True), "efficientnet_lite0", 224)
    return sorted(folder.glob(f"{PREFIX}*.npz")) if folder is not None else []
