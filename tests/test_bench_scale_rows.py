"""The scale section's rows when its probe saw no frame gap (a window that drew under two frames on a loaded
machine): n/a and not met, not a numpy error that stops the whole bench."""

import math

from zsl_desktop.bench import children, scale
from zsl_desktop.bench.sizes import Sizes


def test_a_scrolling_probe_without_gaps_gives_not_met_rows(monkeypatch):
    monkeypatch.setattr(scale, "scaled_cub", lambda n_images: None)
    result = {"gaps": [], "gui_cpu_ms_per_frame": 0.0, "peak_rss_mb": 900.0, "at": {"READY": 5.0}}
    monkeypatch.setattr(children, "run_child", lambda *args, **kwargs: (result, 5.0))
    rows = {row["name"]: row for row in scale.run(Sizes.quick())}
    p95 = rows["gallery scrolling frame gap p95, 100,000 images"]
    assert math.isnan(p95["value"]) and p95["ok"] is False
    assert math.isnan(rows["gallery scrolling frame gap max"]["value"])
    assert rows["peak RSS, 100,000 images + window + scrolling"]["value"] == 900.0
