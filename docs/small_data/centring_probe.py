"""Validation probe: per epoch, ZSL on pseudo-unseen seen classes from raw codes and from centred codes.

Why: MSDN on all 178 digit scans a class sends most unseen test images to one class (a per-class offset, as
SGMA had before ``centre_codes``). Whether centring the codes on the training images' mean code would help has
to be asked of seen classes only. Build a folder dataset from the real split's SEEN classes alone, a few of
them marked unseen (the pseudo-unseen group), and train on it with ``--select test``: that set's "test" images
are seen-class images of the real split, never its unseen ones. Each epoch this prints the pseudo-unseen ZSL
from the raw codes and from codes minus the mean code of the set's trainval images.
Developer tool (not shipped); it wraps the per-epoch evaluate_on of engine.training.reproduction for the run.
usage: ZSL_DESKTOP_HOME=... python docs/small_data/centring_probe.py train --dataset PSEUDO --method msdn \
       --select test --epochs 20 --threads 1
"""

import sys

import numpy as np

from zsl_desktop import cli
from zsl_desktop.engine.training import reproduction
from zsl_desktop.engine.scoring import encode_rows

evaluate_on = reproduction.evaluate_on
epochs_seen = [0]


def per_class_accuracy(pred, labels):
    return float(np.mean([np.mean(pred[labels == c] == c) for c in np.unique(labels)])) * 100


def evaluate_and_probe(method, dataset, features, seen_idx, unseen_idx, seen, unseen, gamma=None, *args, **kwargs):
    """The trainer's evaluation, plus the raw-vs-centred ZSL line on the per-epoch (gamma-free) evaluation."""
    report = evaluate_on(method, dataset, features, seen_idx, unseen_idx, seen, unseen, gamma, *args, **kwargs)
    if gamma is None:
        epochs_seen[0] += 1
        device = kwargs.get("device", args[1] if len(args) > 1 else "cpu")
        unseen = np.asarray(unseen)
        codes = encode_rows(method, features, unseen_idx, device)
        mean_code = encode_rows(method, features, dataset.splits["trainval"], device).mean(0)
        labels, rows = dataset.labels[unseen_idx], dataset.class_attributes[unseen]
        raw, centred = (
            per_class_accuracy(unseen[method.score(c, rows).argmax(1)], labels) for c in (codes, codes - mean_code)
        )
        print(f"PROBE epoch {epochs_seen[0]} ZSL raw {raw:.1f} centred {centred:.1f}", flush=True)
    return report


if __name__ == "__main__":
    reproduction.evaluate_on = evaluate_and_probe
    sys.exit(cli.main(sys.argv[1:]))
