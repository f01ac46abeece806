"""``zsl-desktop rank-study``: which ranking function finds an unseen class's images first.

For each checkpoint, every test image (seen and unseen test splits) is scored
against all the dataset's classes; for each unseen class, the images are ranked
by each function of ``engine.ranking.RANKERS`` and the ranking is measured by
precision@K and average precision (the class's own images are the relevant ones).
The figures are means over the unseen classes. Nothing is selected on these
figures except which function the app ranks by.

    zsl-desktop rank-study --dataset D --checkpoint A.pt [--checkpoint B.pt ...] [--k 20] [--json FILE]
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from zsl_desktop.engine.ranking import RANKERS, average_precision, precision_at


@dataclass(frozen=True)
class StudyResult:
    method: str
    gamma: float
    images: int
    classes: int
    precision: dict  # ranker name -> mean precision@k over the unseen classes
    average_precision: dict  # ranker name -> mean AP over the unseen classes


def study(scores: np.ndarray, labels: np.ndarray, unseen_classes, boost: np.ndarray, k: int = 20):
    """Mean precision@k and mean AP per ranker over ``unseen_classes``: (precision, ap) dicts.

    ``scores`` [N, C] raw logits of the test images, ``labels`` [N] their class ids
    (column indices of ``scores``), ``boost`` [C] the calibration added to each class.
    """
    precision, ap = {}, {}
    for name, rank in RANKERS.items():
        p, a = [], []
        for c in unseen_classes:
            values = rank(scores, int(c), boost)
            relevant = labels == c
            p.append(precision_at(values, relevant, k))
            a.append(average_precision(values, relevant))
        precision[name], ap[name] = float(np.mean(p)), float(np.mean(a))
    return precision, ap


def study_checkpoint(path, load_dataset_for, k: int = 20, device=None) -> StudyResult:
    """Load ``path`` on its dataset (``load_dataset_for(header)``), score the test images, run ``study``."""
    from zsl_desktop.engine.checkpoints import load_checkpoint
    from zsl_desktop.engine.session import Session

    checkpoint = load_checkpoint(path)
    h = checkpoint.header
    dataset = load_dataset_for(h)
    session = Session(dataset, h.get("backbone", "efficientnet_lite0"), int(h.get("input_size", 224)), device)
    for _ in session.prepare_features() or ():  # reuses the extracted store; extracts once otherwise
        pass
    session.use_checkpoint(checkpoint)
    test = np.concatenate([dataset.splits["test_seen"], dataset.splits["test_unseen"]])
    test = np.setdiff1d(test, session.unreadable_rows())
    scores = np.asarray(session.scores(dataset.class_attributes, rows=test), np.float64)
    gamma = session.model.gamma
    boost = gamma * np.isin(np.arange(dataset.num_classes), dataset.unseen_classes)
    precision, ap = study(scores, np.asarray(dataset.labels)[test], dataset.unseen_classes, boost, k)
    return StudyResult(h["method"], gamma, len(test), len(dataset.unseen_classes), precision, ap)


def format_table(results: list[StudyResult], k: int) -> str:
    """Markdown: one row per ranking function, P@k and AP per method."""
    head = "| ranking function | " + " | ".join(f"{r.method} P@{k} | {r.method} AP" for r in results) + " |"
    rule = "|---|" + "---|---|" * len(results)
    rows = [head, rule]
    for name in RANKERS:
        cells = " | ".join(f"{r.precision[name]:.3f} | {r.average_precision[name]:.3f}" for r in results)
        rows.append(f"| {name} | {cells} |")
    notes = ", ".join(
        f"{r.method}: {r.images} test images, {r.classes} unseen classes, γ {r.gamma:.2f}" for r in results
    )
    return "\n".join(rows) + f"\n\n({notes}; means over the unseen classes)"


def run(args, load) -> int:
    """The CLI entry: ``load(args)`` loads the dataset named by ``--dataset``."""
    device = getattr(args, "device", None)
    return run_study(
        args,
        load,
        lambda path, dataset: study_checkpoint(path, lambda header: dataset, args.k, device),
        lambda results: format_table(results, args.k),
    )


def run_study(args, load, study, table) -> int:
    """What both study commands do: check ``--json`` is writable before the work, load the dataset,
    ``study(path, dataset)`` each ``--checkpoint``, print ``table(results)``, write the results as JSON."""
    if args.json:
        from zsl_desktop.engine.userfiles import check_writable

        check_writable(args.json, "--json output")
    dataset = load(args)
    results = []
    for path in args.checkpoint:
        results.append(study(path, dataset))
        print(f"{results[-1].method}: done", flush=True)
    print(table(results))
    if args.json:
        from zsl_desktop.engine.atomic import atomic_write_text

        atomic_write_text(args.json, json.dumps([r.__dict__ for r in results], indent=1))
    return 0
