"""The words for a long job's progress: what it is doing, how far it is, and how long it has left.

Why apart from the window: the first launch (drawing the built-in birds, extracting their features,
loading the model) and SGMA's first load take minutes on a CPU, and a bar alone does not say whether
to wait or give up. Plain functions, so the wording is tested without a window.
"""

from __future__ import annotations

from zsl_desktop.engine.session.results import Progress

STAGES = {
    "preview": "Showing the first birds",
    "generate": "Drawing the built-in birds",
    "load": "Reading the dataset",
    "extract": "Extracting features",
    "model": "Loading the model",
    "warmup": "Warming up",
    "photos": "Adding your photos",
}
ONCE = "This happens once: later launches reuse the images and their features."


def duration(seconds: float) -> str:
    """ "45 s", "3 min 20 s", "1 h 05 min": an ETA a person reads at a glance."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def status_line(event: Progress) -> str:
    """One line for the status bar: "Step 1 of 3 · Drawing the built-in birds 1,200/3,000 · about 40 s left"."""
    step = f"Step {event.step} of {event.steps} · " if event.steps > 1 else ""
    count = f" {event.done:,}/{event.total:,}" if event.total > 1 else ""
    what = STAGES.get(event.stage, event.stage)
    if event.stage == "model" and event.total > 1 and event.message:  # which model, and why it takes a while
        what = event.message[:1].upper() + event.message[1:]
    return f"{step}{what}{count}{eta_text(event)}"


def eta_text(event: Progress) -> str:
    """ " · about 2 min 10 s left", once 2% is done (the first batches pay one-off costs: a wild first guess)."""
    eta = event.eta_seconds
    settled = event.total > 0 and event.done >= max(1, 0.02 * event.total)
    return f" · about {duration(eta)} left" if eta is not None and eta >= 1 and settled else ""


def waiting_text(event: Progress) -> str:
    """The text in the empty image area while a dataset opens: the stage, its percentage, the why."""
    step = f"Step {event.step} of {event.steps} · " if event.steps > 1 else ""
    stage = STAGES.get(event.stage, event.stage)
    pct = f" — {100 * event.fraction:.0f}%" if event.total > 1 else ""
    detail = event.message if event.message.lower() != stage.lower() else ""  # no "Drawing…" twice
    text = f"{step}{stage}{pct}\n\n" + f"{detail}{eta_text(event)}".removeprefix(" · ")
    if event.steps > 1 and event.stage in ("preview", "generate", "extract"):
        text += f"\n\n{ONCE}"
    return text
