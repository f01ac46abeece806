"""The bench's closing rows: its own wall time (a target for ``--quick`` of every section) and CPU seconds.

Why: issue #19's target 5 (``bench --quick`` within 90 s on a quiet 2-core machine) was read from
``/usr/bin/time`` beside the bench; now the bench says it. The time runs from the process's start (Python's
start and the imports before ``main`` included, as ``/usr/bin/time`` counts them) to the table; only the
process's exit after it is left out.
"""

from __future__ import annotations

import os
import time

from zsl_desktop.bench.rows import Row

QUICK_WHOLE_TARGET_S = 90.0  # issue #19, target 5: the whole of `bench --quick`, quiet 2-core machine
EVERY_SECTION = ("rescore", "livetrain", "scale", "extract", "train", "app")


def process_age_s(stat_path: str = "/proc/self/stat", uptime_path: str = "/proc/uptime") -> float | None:
    """Seconds since this process started (Linux ``/proc``), or None where that cannot be read."""
    try:
        with open(stat_path, encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        with open(uptime_path, encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22 of stat: start time, clock ticks after boot
    except (OSError, ValueError, IndexError, AttributeError):
        return None
    return max(0.0, uptime - started)


def whole_rows(
    wall_s: float, cpu_s: float, quick: bool, sections=None, methods=None, cores: int | None = None
) -> list[Row]:
    """The bench's wall time and CPU seconds (with its children) as rows. The wall time has its target only on a
    ``--quick`` run of every section and method, the run the target is about; any other run prints it without."""
    whole = quick and set(sections or EVERY_SECTION) == set(EVERY_SECTION) and not methods
    name = "bench --quick wall time, every section" if whole else "bench wall time, the sections run"
    name += f" ({cores} cores)" if cores else ""
    target = dict(target=f"<= {QUICK_WHOLE_TARGET_S:g}", ok=wall_s <= QUICK_WHOLE_TARGET_S) if whole else {}
    return [
        Row("whole", name, wall_s, "s", **target),
        Row("whole", "CPU seconds, the bench and its child processes", cpu_s, "s"),
    ]


def bench_wall_s(main_started: float) -> float:
    """Wall seconds of this bench so far: from the process's start where ``/proc`` says it, else from ``main``'s
    start (``main_started``, a ``time.perf_counter()``)."""
    age = process_age_s()
    return age if age is not None else time.perf_counter() - main_started
