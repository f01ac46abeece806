"""``bench --only train``: seconds per epoch of each method's ``fit``, against half the official implementations'."""

from __future__ import annotations

import time

import numpy as np

from zsl_desktop.bench.rows import Row, report_rows
from zsl_desktop.bench.sizes import Sizes

# Seconds per epoch of the official implementations on the real CUB subset (641 training images,
# EfficientNet-Lite0 features, this machine's 2 cores), measured for issue #8; the target is half.
OFFICIAL_CUB_SECONDS_PER_EPOCH = {"msdn": 2.0, "gsmflow": 1.47, "ce-gzsl": 29.0, "ipce": 29.0}


def epoch_statistic(epochs: list[float]) -> tuple[float, str]:
    """(seconds per epoch, what that figure is) from the epochs' wall times, the first one included.

    The first epoch holds one-off set-up (GSMFlow's boundary mining, SGMA's crop cache, oneDNN's first calls)
    and is left out when any other was timed (the words do not repeat it). Of the rest the row takes the
    fastest: each epoch does the same work, so what varies is the machine's interference, which only adds
    time (one quiet epoch read 0.66 to 0.83 s for the same GSMFlow code). The words go into the row's name.
    """
    if not epochs:
        return float("nan"), "no epoch"
    timed = list(epochs[1:]) if len(epochs) > 1 else list(epochs)
    if len(timed) == 1:
        return float(timed[0]), "one epoch"
    return float(min(timed)), f"min of {len(timed)} epochs"


def bench_training(dataset, features, sizes: Sizes, label: str, methods=None, official=None, report=None) -> list[Row]:
    """Seconds per epoch of each method's ``fit`` on the dataset's trainval rows (no evaluation).

    ``sizes.train_epochs`` epochs run; the row is ``epoch_statistic`` of their times and says which. The run
    stops at its last epoch's end: the work after it (a final classifier) is not an epoch and no row times it.
    ``sizes.train_hparams``: per method, set-up only (``Sizes.quick``), never what an epoch does.
    """
    from zsl_desktop.engine.methods.base import Control, EpochEnd
    from zsl_desktop.engine.methods import get_method, method_names
    from zsl_desktop.engine.training import TrainConfig, train_data, build_method

    rows = []
    for name in methods or method_names():
        cls = get_method(name)
        if (features.grid if cls.feature_kind == "grid" else features.pooled) is None:
            continue
        method = build_method(
            dataset, features, TrainConfig(method=name, hparams=dict(sizes.train_hparams.get(name, {})))
        )
        data = train_data(dataset, features, dataset.splits["trainval"], dataset.seen_classes, "cpu", 0)
        stamps = [time.perf_counter()]
        run = method.fit(data, Control(), sizes.train_epochs)
        for event in run:
            if isinstance(event, EpochEnd):
                stamps.append(time.perf_counter())
                if len(stamps) > sizes.train_epochs:
                    break  # what follows the last epoch (GSMFlow's final classifier: ~4.6 CPU s) is in no row
        run.close()
        per_epoch, statistic = epoch_statistic(list(np.diff(stamps)))
        reference = (official or {}).get(name)
        if reference is None:
            rows.append(
                Row("train", f"{name} on {label} ({len(data.train_index)} images), {statistic}", per_epoch, "s/epoch")
            )
        else:
            rows.append(
                Row(
                    "train",
                    f"{name} on {label} (official: {reference:g} s), {statistic}",
                    per_epoch,
                    "s/epoch",
                    f"<= {reference / 2:.2f}",
                    per_epoch <= reference / 2,
                )
            )
        report_rows(report, rows[-1:])
    return rows
