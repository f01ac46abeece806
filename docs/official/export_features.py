"""Export our Lite0 features of a CUB image dataset in the file formats the official code reads.

Why: to run the authors' own MSDN and CE-GZSL/GSMFlow code on exactly the features,
labels and split our engine uses, so that "ours vs theirs" compares methods, not inputs
(recipe: docs/official/README.md, background: shared/design/ANCHORS.md).

Writes into OUT:
  CUB/feature_map_ResNet_101_CUB.hdf5   MSDN's file (the name its loader looks for):
      feature_map N x C x h x w float32, labels 0-based, *_loc 0-based,
      att K x A (each class vector L2-normalised), original_att K x A (percentages),
      w2v_att A x 300
  CUB50/res101.mat, CUB50/att_splits.mat  xlsa17 files for CE-GZSL and GSMFlow:
      features C x N (the pooled features), labels N x 1 1-based, image_files;
      att / original_att A x K, trainval/test_seen/test_unseen/train/val locs 1-based (integers:
      the official loaders index with them directly),
      allclasses_names

The features come from our feature store (extracted once by the app or the CLI);
nothing here extracts or changes them. Usage:

    PYTHONPATH=$PWD python docs/official/export_features.py DATASET_DIR OUT [--w2v FILE]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import h5py
import numpy as np
import scipy.io as sio

from zsl_desktop.engine.data import load_dataset
from zsl_desktop.engine.features import FeatureStore

DEFAULT_W2V = Path("/work/shared/zsl_data/attributes/CUB/CUB_attribute_w2v.npy")


def l2_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row scaled to unit L2 norm (xlsa17's ``att``: one unit vector per class)."""
    return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)


def xlsa17_train_val(dataset, xlsa17_dir: Path):
    """train_loc / val_loc: trainval images split by xlsa17's first class fold (valclasses1.txt).

    Only read by the official code with ``--validation``; written so that flag selects on
    held-out seen classes rather than on test images.
    """
    val_names = set((xlsa17_dir / "valclasses1.txt").read_text().split())
    trainval = dataset.splits["trainval"]
    in_val = np.array([dataset.classes[c] in val_names for c in dataset.labels[trainval]])
    return trainval[~in_val], trainval[in_val]


def export(dataset_dir: Path, out: Path, w2v_file: Path) -> None:
    dataset = load_dataset(dataset_dir)
    store = FeatureStore.open(dataset, "efficientnet_lite0", 224)
    if store is None:
        raise SystemExit(f"no complete Lite0/224 feature store for {dataset_dir}: extract it first")
    grid = np.asarray(store.grid, dtype=np.float32)
    pooled = np.asarray(store.pooled, dtype=np.float32)
    labels = dataset.labels.astype(np.int64)
    percentages = dataset.class_attributes.astype(np.float32)  # K x A, 0..100
    att = l2_rows(percentages)
    w2v = np.load(w2v_file).astype(np.float32)
    if w2v.shape[0] != dataset.num_attributes:
        raise SystemExit(f"{w2v_file}: {w2v.shape[0]} rows, expected {dataset.num_attributes}")
    locs = {name: dataset.splits[name].astype(np.int64) for name in ("trainval", "test_seen", "test_unseen")}

    msdn_dir = out / "CUB"
    msdn_dir.mkdir(parents=True, exist_ok=True)
    path = msdn_dir / "feature_map_ResNet_101_CUB.hdf5"
    tmp = path.with_suffix(".tmp")
    with h5py.File(tmp, "w") as f:
        f["feature_map"] = grid
        f["labels"] = labels
        for name, loc in locs.items():
            f[f"{name}_loc"] = loc
        f["att"] = att
        f["original_att"] = percentages
        f["w2v_att"] = w2v
    tmp.replace(path)

    xlsa17_dir = dataset_dir.parent / "xlsa17" / "CUB"
    if not xlsa17_dir.is_dir():
        raise SystemExit(f"{xlsa17_dir}: xlsa17 class lists not found beside the dataset")
    train_loc, val_loc = xlsa17_train_val(dataset, xlsa17_dir)
    mat_dir = out / "CUB50"
    mat_dir.mkdir(parents=True, exist_ok=True)
    names = np.array(dataset.classes, dtype=object).reshape(-1, 1)
    files = np.array([str(dataset.image_root / p) for p in dataset.image_paths], dtype=object).reshape(-1, 1)
    sio.savemat(mat_dir / "res101.mat", {
        "features": pooled.T.astype(np.float64),
        "labels": (labels + 1).reshape(-1, 1).astype(np.float64),
        "image_files": files,
    })
    sio.savemat(mat_dir / "att_splits.mat", {
        "att": att.T.astype(np.float64),
        "original_att": percentages.T.astype(np.float64),
        "allclasses_names": names,
        **{f"{name}_loc": (loc + 1).reshape(-1, 1).astype(np.int32) for name, loc in locs.items()},
        "train_loc": (train_loc + 1).reshape(-1, 1).astype(np.int32),
        "val_loc": (val_loc + 1).reshape(-1, 1).astype(np.int32),
    })
    print(f"{dataset.name}: {dataset.num_samples} images, {dataset.num_classes} classes "
          f"({len(dataset.seen_classes)} seen / {len(dataset.unseen_classes)} unseen), "
          + ", ".join(f"{k} {len(v)}" for k, v in locs.items())
          + f", grid {grid.shape}, pooled {pooled.shape} -> {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--w2v", type=Path, default=DEFAULT_W2V)
    args = parser.parse_args()
    export(args.dataset, args.out, args.w2v)


if __name__ == "__main__":
    main()
