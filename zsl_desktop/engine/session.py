"""Session: the one owner of the dataset, its features, the active model and the user's classes.

The CLI calls it synchronously; the GUI calls it from a worker through the
bridge. Results are plain data (numpy arrays, dataclasses), never live
tensors: inference uses the model that training handed over at its end.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from zsl_desktop.engine import evaluation as ev
from zsl_desktop.engine.checkpoints import Checkpoint, CheckpointError, check_compatible, load_checkpoint
from zsl_desktop.engine.data.model import Dataset
from zsl_desktop.engine.features import FeatureStore, extract, feature_source, flips_need_mirrored
from zsl_desktop.engine.methods.base import FeatureSource, Method
from zsl_desktop.engine.scoring import encode_rows, evaluate_on
from zsl_desktop.engine.training import method_from_checkpoint, pick_device


@dataclass(frozen=True)
class ModelState:
    method: Method
    header: dict
    codes: np.ndarray  # [N, ...] codes of every image of the dataset, for live scoring

    @property
    def gamma(self) -> float:
        return float(self.header.get("gamma", 0.0))


class Session:
    def __init__(self, dataset: Dataset, backbone: str = "efficientnet_lite0", input_size: int = 224,
                 device: str | None = None, flips: str = "none"):
        self.dataset = dataset
        self.backbone = backbone
        self.input_size = input_size
        self.device = pick_device(device)
        self.flips = flips  # training.TrainConfig.flips; anything but "none" also prepares the mirrored store
        self.store: FeatureStore | None = None
        self.mirrored_store: FeatureStore | None = None
        self.model: ModelState | None = None

    # -- features -----------------------------------------------------------------
    def prepare_features(self, cancel=None):
        """Generator of ExtractProgress; afterwards ``features`` is ready. Reuses a finished store."""
        if not self.dataset.has_images:
            return None
        store = FeatureStore.open(self.dataset, self.backbone, self.input_size)
        if store is None:
            store = yield from extract(self.dataset, self.backbone, self.input_size, device=self.device,
                                       cancel=cancel)
        self.store = store
        if flips_need_mirrored(self.flips):
            mirrored = FeatureStore.open(self.dataset, self.backbone, self.input_size, mirrored=True)
            if mirrored is None:
                mirrored = yield from extract(self.dataset, self.backbone, self.input_size, device=self.device,
                                              cancel=cancel, mirrored=True)
            self.mirrored_store = mirrored
        return store

    @property
    def features(self) -> FeatureSource:
        """The store's features; with the mirrored store, flip-averaged when the active model asks for it."""
        tta = self.model is not None and self.model.header.get("flips") in ("tta", "both")
        return feature_source(self.dataset, self.store, self.mirrored_store, tta)

    # -- models ---------------------------------------------------------------------
    def load_checkpoint(self, path, progress=None) -> ModelState:
        checkpoint = load_checkpoint(path)
        return self.use_checkpoint(checkpoint, progress)

    def use_checkpoint(self, checkpoint: Checkpoint, progress=None) -> ModelState:
        """Make a checkpoint's model active; on any failure the session is left exactly as it was.

        A model made on other features (backbone, input size) switches the session to their store,
        which must already be extracted. ``progress(done, total)``: images encoded so far (see ``_activate``).
        """
        check_compatible(checkpoint, self.dataset)
        h = checkpoint.header
        backbone, size = h.get("backbone", self.backbone), int(h.get("input_size", self.input_size))
        store, mirrored = self.store, self.mirrored_store
        where = checkpoint.path or "the checkpoint"
        if (backbone, size) != (self.backbone, self.input_size):
            store, mirrored = FeatureStore.open(self.dataset, backbone, size), None
            if store is None and self.dataset.has_images:
                raise CheckpointError(
                    f"{where}: made with {backbone} features at {size} px, which are not extracted for "
                    f"{self.dataset.name} yet (zsl-desktop extract --backbone {backbone} --input-size {size})")
        tta = h.get("flips") in ("tta", "both")
        if tta and mirrored is None and self.dataset.has_images:
            mirrored = FeatureStore.open(self.dataset, backbone, size, mirrored=True)
            if mirrored is None:
                raise CheckpointError(
                    f"{where}: averages each image with its mirror, whose features are not extracted for "
                    f"{self.dataset.name} yet (zsl-desktop extract --backbone {backbone} --input-size {size} "
                    f"--flips tta)")
        method = method_from_checkpoint(checkpoint).to(self.device)
        return self._activate(method, h, _checkpoint_identity(checkpoint), store, backbone, size, progress,
                              mirrored)

    def use_method(self, method: Method, header: dict, cache_key: str | None = None, progress=None) -> ModelState:
        """Make ``method`` the active model: encode every image once (cached per checkpoint file)."""
        return self._activate(method, header, cache_key, self.store, self.backbone, self.input_size, progress,
                              self.mirrored_store)

    def _activate(self, method, header, cache_key, store, backbone, input_size, progress=None,
                  mirrored=None) -> ModelState:
        """Encode every image with ``method`` on ``store``'s features, then (only then) switch to both.

        ``progress(done, total)`` while encoding; never called when the codes come from the cache.
        SGMA's first load runs the backbone on two part crops of every image: a minute or more.
        """
        tta = header.get("flips") in ("tta", "both") and mirrored is not None
        cache = self._codes_cache_path(cache_key and (f"{cache_key}-tta" if tta else cache_key), store)
        codes = _read_codes(cache, self.dataset.num_samples)
        if codes is None:
            with torch.inference_mode():
                codes = encode_rows(method, feature_source(self.dataset, store, mirrored, tta),
                                    np.arange(self.dataset.num_samples), self.device, progress=progress)
            if cache is not None:
                _write_codes(cache, codes)
        self.store, self.backbone, self.input_size, self.mirrored_store = store, backbone, input_size, mirrored
        self.model = ModelState(method=method, header=header, codes=codes)
        return self.model

    @staticmethod
    def _codes_cache_path(cache_key: str | None, store: FeatureStore | None) -> Path | None:
        """Codes depend on the model and on the features: key them by both."""
        if cache_key is None or store is None:
            return None
        return store.folder / f"codes-{cache_key}.npy"

    # -- scoring ----------------------------------------------------------------------
    def scores(self, class_attributes: np.ndarray, rows=None) -> np.ndarray:
        """Logits of the dataset's images (all, or ``rows``) against any class matrix."""
        if self.model is None:
            raise ValueError("no model loaded")
        codes = self.model.codes if rows is None else self.model.codes[rows]
        return self.model.method.score(codes, class_attributes)

    def evaluate(self, gamma: float | None = None) -> ev.EvaluationReport:
        """The standard test-split evaluation of the loaded model at its training-chosen gamma (or ``gamma``)."""
        if self.model is None:
            raise ValueError("no model loaded")
        header = self.model.header
        source = header.get("gamma_source", "fixed") if gamma is None else "given"
        gamma = self.model.gamma if gamma is None else gamma
        d = self.dataset
        unreadable = self.unreadable_rows()
        seen_idx, unseen_idx = (np.setdiff1d(d.splits[k], unreadable) for k in ("test_seen", "test_unseen"))
        skipped = len(d.splits["test_seen"]) + len(d.splits["test_unseen"]) - len(seen_idx) - len(unseen_idx)
        if len(unseen_idx) == 0:
            raise ValueError(f"{d.name}: none of the {len(d.splits['test_unseen'])} unseen test images could be "
                             f"read; nothing to evaluate")
        report = evaluate_on(self.model.method, d, self.features, seen_idx, unseen_idx,
                             d.seen_classes, d.unseen_classes, gamma, None, self.device, source)
        return replace(report, skipped=skipped)

    def unreadable_rows(self) -> np.ndarray:
        """Rows whose image file could not be read at extraction (their features are zeros)."""
        if self.store is None or not self.store.failed or not self.dataset.has_images:
            return np.zeros(0, np.int64)
        failed = set(self.store.failed)
        return np.array([i for i, p in enumerate(self.dataset.image_paths) if p in failed], np.int64)

    def checkpoint_dir(self) -> Path:
        from zsl_desktop.engine.paths import data_dir

        return data_dir() / "checkpoints"


def _checkpoint_identity(checkpoint: Checkpoint) -> str | None:
    """A content hash of the checkpoint file: a retrained file at the same path gets new codes."""
    import hashlib

    if checkpoint.path is None:
        return None
    try:
        return hashlib.sha256(Path(checkpoint.path).read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def _read_codes(path: Path | None, num_samples: int):
    if path is None or not path.is_file():
        return None
    try:
        codes = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None  # a damaged cache is recomputed, never trusted
    return codes if codes.shape[:1] == (num_samples,) else None


def _write_codes(path: Path, codes: np.ndarray) -> None:
    import io

    from zsl_desktop.engine.atomic import atomic_write_bytes

    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(codes), allow_pickle=False)
    try:
        atomic_write_bytes(path, buffer.getvalue())
    except OSError:
        pass  # a cache that cannot be written only costs time
