"""``zsl-desktop rank-study --refine``: how fast confirming a few images repairs a rough class definition.

The protocol (issue #20, item 4): for each unseen class, start from a deliberately rough definition
("noisy": its true attributes plus Gaussian noise of ``NOISE`` of the value range, clipped; "top10": only
its 10 strongest attributes, the rest at the bottom of the range), rank the test images (seen and unseen
test splits) by the class's calibrated probability against every class (the app's ranking), and confirm,
one at a time, the highest-ranked true positive among the top K that is not yet confirmed; after each
confirmation the class is refined (``engine.refinement.refine``) from the rough definition with every
confirmation so far, as the app does. The class's average precision is reported after 0, 1, 3 and 5
confirmations, twice: over the images not yet marked (what the refinement generalises to) and over all
test images (what the user sees, the confirmed images included). Means over the unseen classes and the
seeds (seeds draw the noise); several checkpoints of one method (training seeds) are averaged too.
When the top K holds no unconfirmed true positive, no confirmation is made at that step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np

from zsl_desktop.engine.classes import value_range as scale_of
from zsl_desktop.engine.ranking import average_precision, log_probability, order_of
from zsl_desktop.engine.refinement import refine

CONFIRMATIONS = (0, 1, 3, 5)
STARTS = ("noisy", "top10")
NOISE = 0.25  # noise sd of the "noisy" start, as a share of the value range
STRONGEST = 10  # attributes kept by the "top10" start


@dataclass(frozen=True)
class RefineResult:
    method: str
    images: int
    classes: int
    seeds: int
    unmarked: dict  # start -> {confirmations: mean AP over the images not marked}
    all_images: dict  # start -> {confirmations: mean AP over every test image}
    confirmed: dict  # start -> {confirmations: mean number of confirmations actually made}
    true_definition: float = float("nan")  # mean AP of the classes' true attribute vectors (no confirmation)
    models: int = 1  # checkpoints averaged (one per training seed)
    unrefined: dict = field(default_factory=dict)  # start -> {confirmations: the rough start's AP, same images}


def rough_start(values: np.ndarray, kind: str, value_range, rng: np.random.Generator) -> np.ndarray:
    """A deliberately rough definition of a class from its true attribute vector."""
    lo, hi = value_range
    values = np.asarray(values, np.float64)
    if kind == "noisy":
        return np.clip(values + rng.normal(0.0, NOISE * (hi - lo), values.shape), lo, hi).astype(np.float32)
    if kind == "top10":
        rough = np.full(values.shape, lo, np.float64)
        keep = order_of(values)[:STRONGEST]
        rough[keep] = values[keep]
        return rough.astype(np.float32)
    raise ValueError(f"unknown rough start {kind!r}; known: {', '.join(STARTS)}")


def simulate(
    score,
    codes,
    labels,
    matrix,
    column,
    start,
    boost,
    value_range,
    k: int = 20,
    confirmations=CONFIRMATIONS,
    from_start: bool = True,
    **refine_options,
):
    """AP of class ``column`` after each count in ``confirmations``: (over unmarked images, over all, made,
    the rough start's AP over the same unmarked images: the control for the confirmed images leaving the set).

    ``score(codes, rows) -> [n, K]``; ``codes`` and ``labels`` the test images; ``matrix`` [C, A] every
    class (``column`` is replaced by ``start``); ``boost`` [C] the calibration of each class. With
    ``from_start`` (the app's rule) each refinement starts from ``start`` with every mark so far, else from
    the previous refinement (``refine_options`` go to ``refine``: the built-in birds' comparison).
    """
    matrix = np.array(matrix, np.float32)
    matrix[column] = start
    relevant = np.asarray(labels) == column
    others = np.delete(matrix, column, axis=0)
    other_boost = np.delete(np.asarray(boost, np.float64), column)
    other_scores = np.asarray(score(codes, others), np.float64)

    def rank_values(row: np.ndarray) -> np.ndarray:
        own = np.asarray(score(codes, row[None]), np.float64)
        full = np.concatenate([own, other_scores], axis=1)
        return log_probability(full, 0, np.concatenate([[boost[column]], other_boost]))

    confirmed: list[int] = []
    unmarked, everything, made, unrefined = {}, {}, {}, {}
    values = rank_values(matrix[column])
    start_values = values  # the control: the rough definition ranked over the same unmarked images
    for count in range(max(confirmations) + 1):
        if count in confirmations:
            keep = np.setdiff1d(np.arange(len(labels)), confirmed)
            unmarked[count] = average_precision(values[keep], relevant[keep])
            unrefined[count] = average_precision(start_values[keep], relevant[keep])
            everything[count] = average_precision(values, relevant)
            made[count] = len(confirmed)
        if count == max(confirmations):
            break
        top = [int(i) for i in order_of(values)[:k] if relevant[i] and int(i) not in confirmed]
        if not top:
            continue  # nothing to confirm in the top k: the user would scroll on; the protocol stops here
        confirmed.append(top[0])
        if from_start:
            matrix[column] = start
        refined = refine(score, codes[confirmed], codes[:0], matrix, column, boost, value_range, **refine_options)
        matrix[column] = refined.values
        values = rank_values(matrix[column])
    return unmarked, everything, made, unrefined


def true_definition_ap(score, codes, labels, class_attributes, unseen_classes, boost) -> float:
    """Mean AP of the unseen classes ranked by their true attribute vectors: what a perfect definition gets."""
    scores = np.asarray(score(codes, np.asarray(class_attributes, np.float32)), np.float64)
    labels = np.asarray(labels)
    return float(
        np.mean([average_precision(log_probability(scores, int(c), boost), labels == c) for c in unseen_classes])
    )


def study(score, codes, labels, class_attributes, unseen_classes, boost, seeds=(0,), k: int = 20, starts=STARTS):
    """Mean AP per start and confirmation count over ``unseen_classes`` and ``seeds``: ``simulate``'s four."""
    class_attributes = np.asarray(class_attributes, np.float32)
    scale = scale_of(class_attributes)
    out: tuple[dict, dict, dict, dict] = ({}, {}, {}, {})
    for start in starts:
        runs = []
        for seed in seeds:
            for c in unseen_classes:
                rng = np.random.default_rng([int(seed), int(c)])
                rough = rough_start(class_attributes[int(c)], start, scale, rng)
                runs.append(simulate(score, codes, labels, class_attributes, int(c), rough, boost, scale, k))
        for table, part in zip(out, zip(*runs)):
            table[start] = {n: float(np.mean([r[n] for r in part])) for n in CONFIRMATIONS}
    return out


def study_checkpoint(path, dataset, seeds=(0,), k: int = 20, device=None) -> RefineResult:
    """Load ``path`` on ``dataset``, encode the test images, run ``study``."""
    from zsl_desktop.engine.checkpoints import load_checkpoint
    from zsl_desktop.engine.session import Session

    checkpoint = load_checkpoint(path)
    h = checkpoint.header
    session = Session(dataset, h.get("backbone", "efficientnet_lite0"), int(h.get("input_size", 224)), device)
    for _ in session.prepare_features() or ():  # reuses the extracted store; extracts once otherwise
        pass
    session.use_checkpoint(checkpoint)
    test = np.concatenate([dataset.splits["test_seen"], dataset.splits["test_unseen"]])
    test = np.setdiff1d(test, session.unreadable_rows())
    codes = np.asarray(session.all_codes()[test])
    gamma = session.model.gamma
    boost = gamma * np.isin(np.arange(dataset.num_classes), dataset.unseen_classes)
    score = partial(score_rows, session.model.method.score)
    labels = np.asarray(dataset.labels)[test]
    unmarked, everything, made, unrefined = study(
        score, codes, labels, dataset.class_attributes, dataset.unseen_classes, boost, seeds, k
    )
    reference = true_definition_ap(score, codes, labels, dataset.class_attributes, dataset.unseen_classes, boost)
    classes = len(dataset.unseen_classes)
    return RefineResult(
        h["method"], len(test), classes, len(seeds), unmarked, everything, made, reference, 1, unrefined
    )


def score_rows(method_score, codes, rows) -> np.ndarray:
    """A method's score with float32 rows (the refinement's perturbed rows arrive as float64)."""
    return np.asarray(method_score(codes, np.asarray(rows, np.float32)), np.float64)


def merge_by_method(results: list[RefineResult]) -> list[RefineResult]:
    """One result per method: the mean over its checkpoints (one per training seed), in first-seen order."""
    groups: dict[str, list[RefineResult]] = {}
    for r in results:
        groups.setdefault(r.method, []).append(r)

    def mean(tables: list[dict]) -> dict:
        return {s: {n: float(np.mean([t[s][n] for t in tables])) for n in tables[0][s]} for s in tables[0]}

    return [
        RefineResult(
            method,
            group[0].images,
            group[0].classes,
            group[0].seeds,
            mean([r.unmarked for r in group]),
            mean([r.all_images for r in group]),
            mean([r.confirmed for r in group]),
            float(np.mean([r.true_definition for r in group])),
            sum(r.models for r in group),
            mean([r.unrefined for r in group]) if all(r.unrefined for r in group) else {},
        )
        for method, group in groups.items()
    ]


def format_table(results: list[RefineResult], k: int) -> str:
    """Markdown: one row per method and rough start, AP after each number of confirmations."""
    counts = " | ".join(f"AP after {n}" for n in CONFIRMATIONS)
    rows = [
        f"| method | rough start | {counts} | rough start, same images | true definition | (all images) |",
        "|---|---|" + "---|" * len(CONFIRMATIONS) + "---|---|---|",
    ]
    for r in results:
        for start in r.unmarked:
            cells = " | ".join(f"{r.unmarked[start][n]:.3f}" for n in CONFIRMATIONS)
            both = " / ".join(f"{r.all_images[start][n]:.3f}" for n in CONFIRMATIONS)
            control = " / ".join(f"{r.unrefined[start][n]:.3f}" for n in CONFIRMATIONS) if r.unrefined else "–"
            rows.append(f"| {r.method} | {start} | {cells} | {control} | {r.true_definition:.3f} | {both} |")
    notes = "; ".join(
        f"{r.method}: {r.models} model(s), {r.images} test images, {r.classes} unseen classes, "
        f"{r.seeds} noise seed(s), confirmations made "
        + ", ".join(f"{r.confirmed[s][max(CONFIRMATIONS)]:.1f}" for s in r.confirmed)
        for r in results
    )
    return "\n".join(rows) + f"\n\n(AP over the images not marked; confirmed among the top {k}. {notes})"


def run(args, load) -> int:
    """The CLI entry (``rank-study --refine``): ``load(args)`` loads the dataset named by ``--dataset``."""
    from zsl_desktop.rank_study import run_study

    device = getattr(args, "device", None)
    return run_study(
        args,
        load,
        lambda path, dataset: study_checkpoint(path, dataset, args.seeds, args.k, device),
        lambda results: format_table(merge_by_method(results), args.k),
    )
