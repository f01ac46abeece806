"""Reproduction mode (``select="test"``): the epoch chosen on the TEST split, for published tables only."""

from __future__ import annotations

from zsl_desktop.engine.scoring import evaluate_on

from .events import Phase
from .finish import Chosen
from .phases import Run, evaluator


def select_on_test(run: Run, epochs: int, saved: dict | None):
    """Reproduction mode: one phase on trainval, evaluated on the TEST split every epoch, the best H kept.
    Yields events; returns a ``Chosen``, or None if cancelled."""
    dataset = run.dataset
    on_test = evaluator(run, _test_metrics, dataset=dataset, features=run.features)
    yield Phase("test-selected", "selecting the epoch on the TEST split (reproduction mode)", epochs)
    best = yield from run.phase(
        "test-selected", dataset.splits["trainval"], dataset.seen_classes, epochs, on_test, saved, keep_best_state=True
    )
    if best is None:
        return None
    method = run.trained
    method.load_state_dict(best["state"])
    selection = {"best_epoch": best["epoch"], "test": best["metrics"]}
    return Chosen(method, best["epoch"], best["metrics"]["gamma"], "test", selection)


def _test_metrics(method, dataset, features, device) -> dict:
    """The test split's figures at the best gamma (reproduction mode only)."""
    splits = dataset.splits
    return evaluate_on(
        method,
        dataset,
        features,
        splits["test_seen"],
        splits["test_unseen"],
        dataset.seen_classes,
        dataset.unseen_classes,
        None,
        None,
        device,
        "test",
    ).as_dict()
