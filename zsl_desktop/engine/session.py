"""Session: the one owner of the dataset, its features, the active model and the user's classes.

The CLI calls it synchronously; the GUI calls it from a worker through the
bridge. Results are plain data (numpy arrays, dataclasses), never live
tensors: inference uses the model that training handed over at its end.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from zsl_desktop.engine import evaluation as ev
from zsl_desktop.engine.checkpoints import Checkpoint, check_compatible, load_checkpoint
from zsl_desktop.engine.data.model import Dataset
from zsl_desktop.engine.features import FeatureStore, extract, feature_source
from zsl_desktop.engine.methods.base import FeatureSource, Method
from zsl_desktop.engine.training import encode_rows, evaluate_on, method_from_checkpoint, pick_device


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
                 device: str | None = None):
        self.dataset = dataset
        self.backbone = backbone
        self.input_size = input_size
        self.device = pick_device(device)
        self.store: FeatureStore | None = None
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
        return store

    @property
    def features(self) -> FeatureSource:
        return feature_source(self.dataset, self.store)

    # -- models ---------------------------------------------------------------------
    def load_checkpoint(self, path) -> ModelState:
        checkpoint = load_checkpoint(path)
        return self.use_checkpoint(checkpoint)

    def use_checkpoint(self, checkpoint: Checkpoint) -> ModelState:
        check_compatible(checkpoint, self.dataset)
        h = checkpoint.header
        if h.get("backbone", self.backbone) != self.backbone or int(h.get("input_size", self.input_size)) != self.input_size:
            self.backbone, self.input_size = h["backbone"], int(h["input_size"])
            self.store = FeatureStore.open(self.dataset, self.backbone, self.input_size)
        method = method_from_checkpoint(checkpoint).to(self.device)
        return self.use_method(method, h)

    def use_method(self, method: Method, header: dict) -> ModelState:
        with torch.inference_mode():
            codes = encode_rows(method, self.features, np.arange(self.dataset.num_samples), self.device)
        self.model = ModelState(method=method, header=header, codes=codes)
        return self.model

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
        return evaluate_on(self.model.method, d, self.features, d.splits["test_seen"], d.splits["test_unseen"],
                           d.seen_classes, d.unseen_classes, gamma, None, self.device, source)

    def checkpoint_dir(self) -> Path:
        from zsl_desktop.engine.paths import data_dir

        return data_dir() / "checkpoints"
