"""The feature view's map: the dataset's pooled features, or the active model's codes, projected to 2-D."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from zsl_desktop.engine.projection import project as run_projection
from zsl_desktop.engine.session.model_state import ModelState


def project_items(
    dataset,
    pooled: np.ndarray | None,
    model: ModelState | None,
    all_codes,
    method: str,
    cap: int | None,
    seed: int,
    ticket=None,
    space: str = "features",
    synthesize: int = 0,
):
    """Project the dataset's pooled backbone features (``pooled``), or the model's per-image codes
    (``space="codes"``: ``all_codes()``, the session's codes of every item).

    The codes (MSDN: one score per attribute) are the space the classes are compared in, so
    classes separate there much more than in raw backbone features, where the background dominates.
    With a generative ``model`` and ``synthesize`` > 0, that many features per unseen class are
    synthesised from the class attributes and projected together with the real ones.
    """
    n = dataset.num_samples
    extra = extra_labels = None
    if space == "codes":
        data = all_codes()[:n].reshape(n, -1)
    else:
        data = pooled
        if data is None:
            raise ValueError(f"{dataset.name} has no pooled features to project")
        if synthesize and model is not None and type(model.method).generative:
            classes = np.asarray(dataset.unseen_classes)
            extra = model.method.synthesize(dataset.class_attributes[classes], synthesize, seed=seed)
            extra_labels = np.repeat(classes, synthesize)
    callback = ticket.partial if ticket is not None else None
    cancel = ticket.stale if ticket is not None else None
    projection = run_projection(
        data,
        dataset.labels,
        method,
        cap,
        seed,
        callback=callback,
        cancel=cancel,
        extra=extra,
        extra_labels=extra_labels,
    )
    return replace(projection, space=space)
