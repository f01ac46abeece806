"""Which features a session reads: its feature store found on disk or extracted, the mirrored one for flips, and
the rows a model sees (flip-averaged when it was trained so).

Why apart from ``facade``: finding and preparing the stores is one job, read when extraction or flips change;
the rest of the facade reads ``features``, and switches the stores only when a model made on other features
becomes active (``use_checkpoint``). ``SessionFeatures`` is a mixin of ``facade.Session`` and
expects from it the attributes its ``__init__`` sets, annotated below (no private ones); the extraction itself
is ``feature_stores``.
"""

from __future__ import annotations

from zsl_desktop.engine.data.model import Dataset
from zsl_desktop.engine.features import FeatureStore, feature_source, flips_need_mirrored
from zsl_desktop.engine.methods.base import FeatureSource
from zsl_desktop.engine.session import feature_stores
from zsl_desktop.engine.session.model_state import ModelState


class SessionFeatures:
    """``find_features``, ``changed_images``, ``prepare_features``, ``prepare_mirrored`` and ``features``."""

    dataset: Dataset
    backbone: str
    input_size: int
    device: str
    flips: str  # training.TrainConfig.flips; anything but "none" also prepares the mirrored store
    store: FeatureStore | None
    mirrored_store: FeatureStore | None  # the same images mirrored left-right (flips)
    model: ModelState | None

    def find_features(self, check_images: bool = True) -> bool:
        """Use the dataset's features if they are already extracted (nothing is computed); True when ready.

        ``check_images=False``: the store is used without checking its images on disk; the caller must
        call ``changed_images`` afterwards (``FeatureStore.open``).
        """
        if self.dataset.has_images and self.store is None:
            size, kind = self.input_size, self.backbone
            self.store = FeatureStore.open(self.dataset, kind, size, check_images=check_images)
            if self.store is not None and flips_need_mirrored(self.flips):
                self.mirrored_store = FeatureStore.open(
                    self.dataset, kind, size, mirrored=True, check_images=check_images
                )
                if self.mirrored_store is None:
                    self.store = None  # both are needed: prepare_features extracts the missing one
        return self.features_ready

    def changed_images(self) -> int:
        """The images' check that ``find_features(check_images=False)`` put off: how many images changed on
        disk since their features were extracted. When any did, ``prepare_features`` extracts them again
        (the store and the model stay in use meanwhile) and the model must be loaded again (its codes)."""
        return sum(s.changed_images(self.dataset) for s in (self.store, self.mirrored_store) if s is not None)

    @property
    def features_ready(self) -> bool:
        return self.store is not None or self.dataset.features is not None

    def prepare_features(self, cancel=None):
        """Generator of ExtractProgress; afterwards ``features`` is ready. Reuses a finished store."""
        if not self.dataset.has_images:
            return None
        where = (self.dataset, self.backbone, self.input_size, self.device)
        store = yield from feature_stores.extracted_store(*where, cancel=cancel)
        self.store = store
        if flips_need_mirrored(self.flips):
            self.mirrored_store = yield from feature_stores.extracted_store(*where, cancel=cancel, mirrored=True)
        return store

    def prepare_mirrored(self, flips: str, cancel=None):
        """Generator of "extract" Progress: the mirrored images' store, extracted the first time a run's
        ``flips`` mode asks for it (the app's Flips choice; the CLI extracts it before training)."""
        if not flips_need_mirrored(flips) or self.mirrored_store is not None or self.store is None:
            return
        where = (self.dataset, self.backbone, self.input_size, self.device)
        self.mirrored_store = yield from feature_stores.mirrored_store_job(*where, cancel=cancel)

    @property
    def features(self) -> FeatureSource:
        """The store's features; with the mirrored store, flip-averaged when the active model asks for it."""
        tta = self.model is not None and self.model.header.get("flips") in ("tta", "both")
        return feature_source(self.dataset, self.store, self.mirrored_store, tta)
