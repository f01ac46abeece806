"""Measure out-of-domain scores: AUROC of real CUB photos vs the procedural birds, and of non-bird photos vs birds.

Reproduce (one thread; the built-in birds are generated and extracted into ZSL_DESKTOP_HOME on first use,
the CUB subset's features are read from an existing store, never written):

    ZSL_DESKTOP_HOME=/tmp/ood-home OMP_NUM_THREADS=1 python docs/out_of_domain/measure.py \
        --cub ../shared/zsl_data/CUB_200_2011 --cub-features ~/.local/share/zsl-desktop/features \
        --models trained/msdn_builtin.pt trained/sgma_builtin.pt trained/gsmflow_builtin.pt trained/ipce_builtin.pt \
                 trained/ce-gzsl_cub.pt --markdown ood.md --json ood.json

For each model, "in domain" is its own dataset's test images (never trained on; never used to choose the
threshold), the reference is its training rows and the threshold comes from its trainval calibration rows
(``engine/out_of_domain.py``). "Other birds" is the other dataset's images (real CUB photos for a model of
the procedural birds, procedural birds for the real-bird model); "non-birds" are the photos that ship in
scikit-image's wheel (cat, coffee, astronaut, rocket, ... : every colour or grey image in skimage/data).
Scores compared: the k-NN cosine distance (what the app uses), the distance to the nearest class mean,
a Mahalanobis distance in the top 64 principal directions, and the energy (-logsumexp) and the negative top
softmax probability of the model's calibrated logits over its dataset's classes (SGMA's logits need part
crops of every image and are left out).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

from zsl_desktop.engine import out_of_domain as ood
from zsl_desktop.engine.checkpoints import load_checkpoint
from zsl_desktop.engine.data import load_builtin, load_dataset
from zsl_desktop.engine.extraction import extract_images
from zsl_desktop.engine.features import FeatureStore, extract_all
from zsl_desktop.engine.training import method_from_checkpoint

SKIMAGE_SKIP = {"lbpcascade_frontalface_opencv.xml", "lfw_subset.npy", "motorcycle_disp.npz"}


def skimage_photos() -> list[Path]:
    import skimage

    folder = Path(skimage.__file__).parent / "data"
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in {".png", ".jpg", ".gif", ".tif"} and p.name not in SKIMAGE_SKIP
    )


def dataset_features(dataset, root=None):
    store = FeatureStore.open(dataset, "efficientnet_lite0", 224, root)
    if store is None:
        if root is not None:
            sys.exit(f"{dataset.name}: no complete feature store under {root}")
        store = extract_all(dataset, backbone="efficientnet_lite0", input_size=224)
    return store.source()


def rows(source, kind, index) -> np.ndarray:
    return source.rows(kind, np.asarray(index)).numpy()


class Domain:
    """One dataset's images: grid and pooled features of its trainval and test rows."""

    def __init__(self, dataset, source):
        self.dataset, self.source = dataset, source
        self.test = np.concatenate([dataset.splits["test_seen"], dataset.splits["test_unseen"]])
        self.all = np.arange(dataset.num_samples)


def other_scores(train, calib, labels, queries):
    """The feature-distance scores other than the k-NN one: nearest class mean, PCA Mahalanobis."""
    unit = ood.unit_rows(train)
    means = ood.unit_rows(np.stack([unit[labels == c].mean(0) for c in np.unique(labels)]))
    mu = train.mean(0)
    _, sv, vt = np.linalg.svd(train - mu, full_matrices=False)
    basis, var = vt[:64], (sv[:64] ** 2) / (len(train) - 1)
    out = {}
    for name, q in queries.items():
        qu = ood.unit_rows(q)
        z = (q - mu) @ basis.T
        out[name] = {"centroid": 1 - (qu @ means.T).max(1), "mahalanobis-pca64": np.sqrt((z * z / var).sum(1))}
    return out


def logit_scores(method, header, dataset, features: dict) -> dict:
    """energy and -max softmax of the calibrated logits over the dataset's classes, per query set."""
    gamma = float(header.get("gamma", 0.0))
    boost = np.isin(np.arange(dataset.num_classes), dataset.unseen_classes).astype(np.float32) * gamma
    out = {}
    with torch.inference_mode():
        for name, x in features.items():
            codes = np.concatenate([method.encode(torch.from_numpy(x[i : i + 256])) for i in range(0, len(x), 256)])
            z = torch.from_numpy(method.score(codes, dataset.class_attributes) + boost).double()
            out[name] = {
                "energy": (-torch.logsumexp(z, 1)).numpy(),
                "neg-max-softmax": (-torch.softmax(z, 1).max(1).values).numpy(),
            }
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cub", required=True, help="the CUB subset folder (CUB_200_2011)")
    parser.add_argument("--cub-features", default=None, help="feature-store root holding its Lite0 features")
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--markdown")
    parser.add_argument("--json")
    args = parser.parse_args(argv)

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    cub = load_dataset(Path(args.cub))
    domains = {
        "cub": Domain(cub, dataset_features(cub, Path(args.cub_features).expanduser() if args.cub_features else None)),
        "builtin": None,
    }
    builtin = load_builtin()
    domains["builtin"] = Domain(builtin, dataset_features(builtin))
    photos = skimage_photos()
    sk_grid, sk_pooled, errors = extract_images([str(p) for p in photos])
    good = [i for i, p in enumerate(photos) if str(p) not in errors]
    sk_grid, sk_pooled = sk_grid[good], sk_pooled[good]
    print(f"non-bird photos: {len(good)} of {len(photos)} ({', '.join(photos[i].stem for i in good)})")

    results = []
    for path in args.models:
        checkpoint = load_checkpoint(path)
        h = checkpoint.header
        own_name = "cub" if h["dataset_fingerprint"] == cub.fingerprint else "builtin"
        own, other = domains[own_name], domains["builtin" if own_name == "cub" else "cub"]
        d, src = own.dataset, own.source
        reference = ood.DomainReference.from_checkpoint(h, checkpoint.state)
        source = "checkpoint"
        if reference is None:
            reference, source = ood.reference_for_dataset(d, src, int(h.get("seed", 0))), "dataset"
        train, held = ood.calibration_split(d, int(h.get("seed", 0)))
        pooled = {
            "in": rows(src, "pooled", own.test),
            "other": rows(other.source, "pooled", other.all),
            "nonbird": sk_pooled,
        }
        scores = {name: {"knn-cosine": ood.out_of_domain_score(reference, x)} for name, x in pooled.items()}
        extra = other_scores(rows(src, "pooled", train), rows(src, "pooled", held), d.labels[train], pooled)
        for name in scores:
            scores[name].update(extra[name])
        if h["method"] != "sgma":
            method = method_from_checkpoint(checkpoint)
            kind = method.feature_kind
            feats = (
                pooled
                if kind == "pooled"
                else {
                    "in": rows(src, "grid", own.test),
                    "other": rows(other.source, "grid", other.all),
                    "nonbird": sk_grid,
                }
            )
            for name, part in logit_scores(method, h, d, feats).items():
                scores[name].update(part)
        row = {
            "model": Path(path).name,
            "method": h["method"],
            "dataset": own_name,
            "reference": source,
            "threshold": reference.threshold,
            "in": len(pooled["in"]),
            "other": len(pooled["other"]),
            "nonbird": len(pooled["nonbird"]),
            "auroc": {},
            "flagged": {},
        }
        for score in scores["in"]:
            row["auroc"][score] = {
                pair: ood.auroc(scores["in"][score], scores[pair][score]) for pair in ("other", "nonbird")
            }
        knn = {name: s["knn-cosine"] for name, s in scores.items()}
        row["flagged"] = {name: float((v > reference.threshold).mean()) for name, v in knn.items()}
        n_seen = len(d.splits["test_seen"])
        row["flagged"]["in_seen"] = float((knn["in"][:n_seen] > reference.threshold).mean())
        row["flagged"]["in_unseen"] = float((knn["in"][n_seen:] > reference.threshold).mean())
        results.append(row)
        print(json.dumps(row))

    lines = ["| model | score | real vs procedural birds | non-birds vs birds |", "|---|---|---|---|"]
    for row in results:
        for score, pairs in row["auroc"].items():
            lines.append(f"| {row['model']} | {score} | {pairs['other']:.3f} | {pairs['nonbird']:.3f} |")
    lines += [
        "",
        "| model | threshold (from) | in-domain test images flagged (seen / unseen classes) | "
        "other birds flagged | non-birds flagged |",
        "|---|---|---|---|---|",
    ]
    for row in results:
        f = row["flagged"]
        lines.append(
            f"| {row['model']} | {row['threshold']:.4f} ({row['reference']}) | {f['in']:.1%} of {row['in']} "
            f"({f['in_seen']:.1%} / {f['in_unseen']:.1%}) | {f['other']:.1%} of {row['other']} "
            f"| {f['nonbird']:.1%} of {row['nonbird']} |"
        )
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
