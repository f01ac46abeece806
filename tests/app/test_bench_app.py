"""The app part of ``zsl-desktop bench`` keeps working: its child processes start, measure and report.

On the small built-in birds with a model trained here (the shipped ones fit only the full birds).
The figures are timings of a loaded test machine, so only their plausibility is checked, not targets.
"""

import math

from zsl_desktop.bench.runner import Sizes, bench_app


def test_app_section_on_tiny_sizes(trained_model, tmp_path):
    from zsl_desktop.engine.checkpoints import save_checkpoint

    method, header, _ = trained_model
    checkpoint = tmp_path / "small-msdn.pt"
    save_checkpoint(checkpoint, header, method.state_dict())
    rows = {r.name: r for r in bench_app(Sizes.tiny(), checkpoint)}
    startup = rows["start-up to predictions (median of 1, data prepared)"]
    assert 0 < startup.value < 120 and startup.target == "<= 3"
    gaps = rows["frame gap p95 while training (1 s)"], rows["frame gap max while training"]
    assert all(10 < r.value < 5000 for r in gaps)  # a 16 ms timer ticked while the model trained
    assert gaps[0].value <= gaps[1].value
    memory = rows["peak RSS, 300-image store + window"]
    assert 100 < memory.value < 8000 and math.isfinite(memory.value)
