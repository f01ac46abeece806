"""The app's part of ``zsl-desktop bench``, its parent side: start-up, smoothness while training, memory.

Each measurement runs the real main window in a child process (offscreen, ``ui_children``),
so the bench process itself never creates a QApplication; this module starts them and makes their rows:

- ``startup``: process start -> window shown with predictions, data prepared: on this second start the
  model's kept scores (written beforehand by the bench, ``prepare_kept_predictions``), then the live model's;
- ``smooth``: a 16 ms timer probe while MSDN trains (gaps between ticks);
- ``memory``: peak RSS with a 10,000-image feature store open and the window up (the store is
  written beforehand by the bench itself, ``prepare_memory_store``, so its writing does not count);
- ``scale``: start-up, gallery scrolling and peak RSS with 100,000 images (``scale.py``).

The memory child runs while the smooth child, its start-up timed, loads its live model and finishes its opening
(``--hold``: it starts training only when the parent releases it), so neither timed part overlaps another process.
"""

from __future__ import annotations

import numpy as np

from zsl_desktop.bench.children import run_child
from zsl_desktop.bench.rows import measured


FIRST_PREDICTIONS_TARGET = 15.0  # seconds from an empty user folder to predictions on screen (issue 19)


def run(sizes, checkpoint=None, report=None) -> list[dict]:
    """The app rows; with ``sizes.small`` the children open the small built-in birds with ``checkpoint``
    (the shipped models fit only the full dataset), which is what the test suite runs.

    ``report(row)`` hears each row as soon as it is measured.
    """
    options = ("--small", "--checkpoint", str(checkpoint)) if sizes.small else ()
    rows: list[dict] = []

    def add(*new: dict) -> None:
        rows.extend(new)
        for row in new:
            if report is not None:
                report(row)

    if sizes.first_launch:  # first: the home is empty and the OS cache holds none of its files
        add(*first_launch_rows(sizes, options))
    prepare_kept_predictions(sizes.small, checkpoint)  # a second start shows them: here, once, as a session leaves them
    cold = run_child("startup", *options)[1] if sizes.cold_startup_run else None  # warms the OS file cache
    # The last start-up goes on to the frame probe while MSDN trains (one child: its opening is the one timed).
    starts = [run_child("startup", *options)[0] for _ in range(sizes.startup_runs - 1)]
    held: list[dict] = []

    def while_held(smooth_start: dict) -> None:
        """The smooth child has shown its first predictions (timed) and goes on loading its live model and finishing
        its opening (untimed; the probe waits for it and for this): the memory child, whose figure is a peak RSS,
        not a time, runs meanwhile. The live model's time is then the unheld start-ups' alone."""
        held.append(smooth_start)
        add(*startup_rows([*starts, smooth_start], cold, live_from=starts))
        add(memory_row(sizes, checkpoint, options))

    smooth_args = ("smooth", "--seconds", str(sizes.smooth_seconds), "--hold", *options)
    smooth = run_child(*smooth_args, while_held=while_held)[0]
    if not held:  # the child said no READY (a stand-in child): the same rows, one after the other
        while_held(smooth)
    add(
        measured(
            "app", f"frame gap p95 while training ({sizes.smooth_seconds:.0f} s)", smooth["p95"], "ms", at_most=20
        ),
        measured("app", "frame gap max while training", smooth["max"], "ms", at_most=50),
    )
    return rows


def startup_rows(starts: list[dict], cold: float | None, live_from: list[dict] | None = None) -> list[dict]:
    """The start-up rows from the start-up children's results (``run_child``): the median seconds to the first
    predictions shown (READY: kept ones on a second start, ``child_startup``) and its CPU seconds, the median
    seconds to the live model's (LIVE) over ``live_from`` (default ``starts``; none: no row), and the cold-cache
    run when there was one."""
    median = lambda values: float(np.median(values))  # noqa: E731
    ready = median([s["at"].get("READY", float("nan")) for s in starts])
    cpu = median([s.get("ready_cpu_s", float("nan")) for s in starts])
    live_from = starts if live_from is None else live_from
    ready_name = f"start-up to predictions (median of {len(starts)}, data prepared; kept scores while the model loads)"
    rows = [
        measured("app", ready_name, ready, "s", at_most=3),
        measured("app", "CPU seconds up to those predictions, every thread", cpu, "s"),
    ]
    if live_from:
        live = median([s["at"].get("LIVE", float("nan")) for s in live_from])
        rows.append(
            measured("app", f"start-up to the live model's predictions (median of {len(live_from)})", live, "s")
        )
    if cold is not None:
        rows.append(measured("app", "first of the runs above (cold file cache)", cold, "s"))
    return rows


def memory_row(sizes, checkpoint=None, options=()) -> dict:
    """Peak RSS of the memory child (its own process: ``child_window.own_peak_rss_mb``) with the window up."""
    cached = sizes.memory_codes_cached
    prepare_memory_store(sizes.memory_images, sizes.small, checkpoint, cached)  # here, once: no child pays for it
    memory, _ = run_child(
        "memory", "--images", str(sizes.memory_images), *(("--cached-codes",) if cached else ()), *options
    )
    name = f"peak RSS, {sizes.memory_images}-image store + window" + (
        " (codes cached, as every opening after the first)" if cached else ""
    )
    return measured("app", name, memory["peak_rss_mb"], "MB", at_most=2048)


def first_launch_rows(sizes, options=()) -> list[dict]:
    """The app from an empty user folder: seconds to the first predictions (on the first birds) and,
    unless ``sizes.first_launch_complete`` is off, to every bird drawn, extracted and predicted."""
    import tempfile

    complete = sizes.first_launch_complete
    with tempfile.TemporaryDirectory(prefix="zsl-first-launch-") as home:
        result, first = run_child("startup", *options, *(("--until-complete",) if complete else ()), home=home)
    rows = [measured("app", "first launch, empty user folder: first predictions", first, "s", FIRST_PREDICTIONS_TARGET)]
    if complete:
        done = result["at"].get("COMPLETE", float("nan"))
        rows.append(measured("app", "first launch: every image drawn, extracted, predicted", done, "s"))
    return rows


def prepare_kept_predictions(small: bool = False, checkpoint=None) -> None:
    """The kept predictions the start-up children's second start shows (``kept.keep_builtin_predictions``):
    written by the session's producer in the bench's own process, once (a later bench only checks them)."""
    from zsl_desktop.bench.kept import keep_builtin_predictions

    keep_builtin_predictions(small, checkpoint)


def prepare_memory_store(n_images: int, small: bool = False, checkpoint=None, cached: bool = False) -> None:
    """Write the memory child's store (``memory.repeated_builtin_store``) once, and with ``cached`` its model
    file and codes cache (``memory.prepare_cached_codes``): in the bench's own process, as ``scale.run`` does
    for its store, so the child's peak RSS and time are the app's alone. Plain file writes: the bench's RSS
    does not take the 1.25 GB grid either. Once written, a later bench only checks the files (a child did
    that before: a Python start and torch's import, ~3 s, for nothing)."""
    from zsl_desktop.bench.memory import prepare_cached_codes, repeated_builtin_store

    if cached:
        prepare_cached_codes(n_images, small, checkpoint)
    else:
        repeated_builtin_store(n_images, small)
