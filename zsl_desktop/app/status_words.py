"""The status line's words: a dataset opened, a model's results, a failed worker request.

Why apart: the controller decides when to say something; what it says is plain text made from the
dataset, the model summary or the request's internal name.
"""

from __future__ import annotations

# What each worker request does, in the user's words (the request names are internal).
REQUEST_TITLES = {
    "live": "Scoring this image",
    "draft": "Placing your class in the feature space",
    "all": "Scoring every image",
    "explain": "Explaining this image",
    "image": "Opening this image",
    "projection": "Drawing the feature space",
    "evaluate": "Evaluating the model",
    "refine": "Refining your class from the marked images",
    "save": "Saving the model",
    "loose": "Adding your photos",
}
NEEDS_A_MODEL = ("live", "draft", "all", "explain", "evaluate", "refine")


def failure_text(kind: str, message: str) -> str:
    """The status line for a failed request of ``kind``."""
    return f"{REQUEST_TITLES.get(kind, 'A background task')} failed: {message}"


def dataset_status(d, coming: int, preview: bool) -> str:
    """A dataset is open: its size and classes, or (``preview``) how many of its birds are drawn so far."""
    if preview:
        return (
            f"The first {d.num_samples:,} of {coming:,} birds, every species: "
            "the others are drawn meanwhile and join the gallery when ready."
        )
    return (
        f"{d.name}: {d.num_samples:,} images, {d.num_classes} classes "
        f"({len(d.seen_classes)} seen, {len(d.unseen_classes)} unseen), "
        f"{d.num_attributes} attributes"
    )


def model_status(summary) -> str | None:
    """A model became active: its test results, when its checkpoint has them (None otherwise)."""
    metrics = summary.metrics
    if not metrics:
        return None
    return (
        f"Model: {summary.title} — test H {100 * metrics.get('h', 0):.1f}%, ZSL {100 * metrics.get('zsl_t1', 0):.1f}%"
    )
