"""Warming up after a dataset opens, so the first real scoring and training step do not stall the GUI.

Both run in the worker, after the first predictions (they need none of it).
"""

from __future__ import annotations

import gc

import torch

from zsl_desktop.engine.methods import method_names
from zsl_desktop.engine.methods.base import Control, TrainData
from zsl_desktop.engine.training import TrainConfig, build_method

_PREWARMED: list[bool] = []


def prewarm_imports() -> None:
    """Pay torch's lazy imports (the first optimizer pulls in ~1.4 s of them) before the first training run."""
    if _PREWARMED:
        return
    # The import creates ~300k objects, which set off full garbage collections; each walks every
    # object while holding the GIL (py-spy: ~200 ms GUI stalls), so the collector waits it out.
    collecting = gc.isenabled()
    gc.disable()
    try:
        p = torch.nn.Parameter(torch.zeros(1))
        torch.optim.RMSprop([p])
        torch.optim.Adam([p])
        method_names()
    finally:
        if collecting:
            gc.enable()
    _PREWARMED.append(True)


def prewarmed() -> bool:
    """Whether ``prewarm_imports`` has run in this process (a second call costs nothing)."""
    return bool(_PREWARMED)


def warm_up(session) -> None:
    """One scoring pass, one explanation and one training step, so the first real ones do not stall the GUI."""
    dataset = session.dataset
    with torch.inference_mode():
        if session.model is not None:
            session.scores(dataset.class_attributes, rows=[0])
            session.prepare_live()
            try:
                feats = session.features.rows(session.model.method.feature_kind, [0])[0]
                session.model.method.explain(feats)
            except ValueError:
                pass
    try:
        method = build_method(dataset, session.features, TrainConfig(device=session.device))
    except (ValueError, KeyError):
        return
    rows = dataset.splits["trainval"][:4]
    data = TrainData(
        features=session.features,
        train_index=rows,
        train_labels=dataset.labels[rows],
        class_attributes=dataset.class_attributes,
        seen_classes=dataset.seen_classes,
        unseen_classes=dataset.unseen_classes,
        attribute_names=dataset.attribute_names,
        device=session.device,
        seed=0,
    )
    steps = method.fit(data, Control(), epochs=1)
    try:
        next(steps)
    except StopIteration:
        pass
    finally:
        steps.close()  # type: ignore[attr-defined]  # fit() is a generator; the protocol says Iterator
