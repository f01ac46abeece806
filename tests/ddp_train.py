"""Trains methods on a small dataset and saves what they score; run alone or by torchrun (tests/test_distributed.py).

``python tests/ddp_train.py DATASET HOME OUT METHOD [METHOD ...] [--extract-into HOME2]``: for each
method, a short run of the shared trainer (one process, or this rank's part under torchrun) on HOME's
64 px store, its checkpoint written to OUT/<method>.pt, and (rank 0) OUT/<method>.npz with the test
images' scores and the run's figures. With ``--extract-into``, then the CLI's ``extract`` of DATASET
into HOME2's store, as ``zsl-desktop extract`` runs (under torchrun: sharded over the ranks). Several
methods and the extraction in one launch, so that the job pays torch's start-up once (each launch
of 2 ranks starts 3 interpreters that import torch: ~7 CPU-seconds).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

# Few epochs of narrow networks: enough for every part of each method's schedule to run (SGMA's
# second stage and crops, GSMFlow's mining, the generative classifiers) in a second or two.
TINY = {
    "msdn": {"batch_size": 16, "precision": "fp32"},
    "sgma": {"attention_epochs": 1, "batch_size": 16, "crop_size": 32, "kmeans_images": 64},
    "gsmflow": {
        "batch_size": 32,
        "hidden": 64,
        "cond_dim": 64,
        "relation_epochs": 2,
        "relation_hidden": 32,
        "mining_steps": 2,
        "n_synth": 20,
        "cls_epochs": 3,
        "cls_batch": 64,
        "code_pca": 8,
    },
    "ce-gzsl": {
        "batch_size": 32,
        "ngh": 64,
        "ndh": 64,
        "embed_size": 32,
        "outz_size": 16,
        "nhF": 32,
        "n_synth": 20,
        "cls_epochs": 3,
        "cls_batch": 64,
    },
}
TINY["ipce"] = TINY["ce-gzsl"]
EPOCHS = 2
INPUT_SIZE = 64


def main(dataset_dir: str, home: str, out: str, *methods: str, extract_into: str | None = None) -> None:
    os.environ["ZSL_DESKTOP_HOME"] = home
    from zsl_desktop.engine.data import load_dataset
    from zsl_desktop.engine.distributed import context, shutdown
    from zsl_desktop.engine.features import FeatureStore, feature_source
    from zsl_desktop.engine.scoring import encode_rows
    from zsl_desktop.engine.threads import configure
    from zsl_desktop.engine.training import TrainConfig, train

    configure(None)
    dataset = load_dataset(dataset_dir)
    store = FeatureStore.open(dataset, "efficientnet_lite0", INPUT_SIZE)
    if store is None:
        raise SystemExit(f"no features for {dataset_dir} under {home}")
    features = feature_source(dataset, store)
    ctx = context()
    test_rows = np.concatenate([dataset.splits["test_seen"], dataset.splits["test_unseen"]])
    try:
        for method in methods:
            # select="test" (reproduction mode) trains one phase: the cheapest run that uses the whole trainer.
            config = TrainConfig(
                method=method, epochs=EPOCHS, hparams=TINY[method], select="test", input_size=INPUT_SIZE
            )
            checkpoint = Path(out) / f"{method}.pt"
            steps, finished = [], None
            for event in train(dataset, features, config, checkpoint_path=checkpoint):
                if type(event).__name__ == "Step":
                    steps.append(event.losses.get("total", float("nan")))
                finished = event
            trained = finished.method
            scores = trained.score(encode_rows(trained, features, test_rows, "cpu"), dataset.class_attributes)
            if ctx.is_main:
                np.savez(
                    Path(out) / f"{method}.npz",
                    scores=scores,
                    losses=np.asarray(steps, np.float64),
                    metrics=json.dumps(finished.header["metrics"]),
                    world_size=ctx.world_size,
                )
        if extract_into is not None:
            _extract(dataset_dir, extract_into)
    finally:
        shutdown()


def _extract(dataset_dir: str, home: str) -> None:
    """The CLI's ``extract`` in this process, into ``home``'s store; last, as the CLI ends the process group."""
    from zsl_desktop.cli import main as cli_main

    os.environ["ZSL_DESKTOP_HOME"] = home
    code = cli_main(["extract", "--dataset", dataset_dir, "--input-size", str(INPUT_SIZE)])
    if code != 0:
        raise SystemExit(f"zsl-desktop extract exited with {code}")


if __name__ == "__main__":
    args = sys.argv[1:]
    into = None
    if "--extract-into" in args:
        at = args.index("--extract-into")
        into = args[at + 1]
        del args[at : at + 2]
    main(*args, extract_into=into)
