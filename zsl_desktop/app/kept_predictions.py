"""The model's kept predictions, found for a dataset read before torch (issue #19).

Why: at 100,000 images a start-up spends seconds importing torch and loading the model, yet the model's
scores on this store for these classes were kept by the last session (``engine/session/snapshot``). The
classes are the dataset's plus the user's saved ones, as the live engine scores them; a snapshot is
found only when its key proves it current for all of that, so a stale one is never shown.
"""

from __future__ import annotations

from zsl_desktop.engine.session.class_set import saved_classes
from zsl_desktop.engine.session.results import DatasetLoaded
from zsl_desktop.engine.session.snapshot import PredictionSnapshot, find_snapshot


def kept_for(loaded: DatasetLoaded, store) -> PredictionSnapshot | None:
    """The current snapshot for ``loaded`` and the saved classes of ``store`` (a LibraryStore), or None."""
    d = loaded.dataset
    names, matrix = store.classes_for(d.attribute_names)
    classes = saved_classes(d, names, matrix)
    return find_snapshot(loaded.checkpoint_digest, loaded.store_folder, classes, d.num_samples)
