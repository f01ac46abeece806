"""Feature stores' names, without torch: which folder holds a dataset's features (issue #19).

Why its own module: ``features`` imports torch (~2 s of CPU), yet the app's start-up must find a
store's folder before that, to show the model's kept predictions (``session/snapshot``) while torch
loads. A timm backbone's store name includes its weights' digest, found through torch: such a store
has no torch-free folder here (``plain_store_folder`` says None), and its start-up simply waits.
"""

from __future__ import annotations

from pathlib import Path

from zsl_desktop.engine import paths
from zsl_desktop.engine.data.model import Dataset

MIRRORED_SUFFIX = "-hflip"
TIMM_PREFIX = "timm:"  # as timm_backbone.PREFIX, which imports torch


def store_key_with(dataset: Dataset, backbone_name: str, input_size: int, mirrored: bool = False) -> str:
    """``<dataset>-<fingerprint>-<backbone>-<input size>[-hflip]``, ``backbone_name`` being the backbone's
    store name (``backbones.store_name``)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in dataset.name)[:80]
    while len(safe.encode()) > 80:  # a folder name stops at 255 bytes
        safe = safe[:-1]
    backbone = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in backbone_name)[:100]
    return f"{safe}-{dataset.fingerprint}-{backbone}-{input_size}" + (MIRRORED_SUFFIX if mirrored else "")


def plain_store_folder(dataset: Dataset, backbone: str, input_size: int, root: Path | None = None) -> Path | None:
    """The folder of ``dataset``'s store for a built-in backbone, found without torch; None for a timm one."""
    if backbone.startswith(TIMM_PREFIX):
        return None
    return Path(root or paths.feature_store_dir()) / store_key_with(dataset, backbone, input_size)
