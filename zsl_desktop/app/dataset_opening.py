"""Opening a dataset in the window: first with the model's kept predictions (before torch), then its live session.

Why apart from ``controller``: an opening arrives in two steps (``DatasetLoaded`` at start-up, proven-current
kept predictions painted before torch is imported; then ``DatasetReady`` with the live session), and a full set
may replace its first chunk (the built-in birds' preview) keeping the selected image; that sequence is one job,
read when the opening changes. ``DatasetOpening`` is a mixin of ``controller.Controller``: it writes the
controller's cross-panel state (``dataset``, ``kept``, ``preview``, ``item``, ``all_scores``, ``live``,
``features_ready``, ``model_loading``, ``_shown_early``) and uses its panels, ``bridge``, ``store``, ``photos``,
``feature_map``, its signals and ``on_model_changed``, ``show_model_state``, ``model_message`` and ``select``.
"""

from __future__ import annotations

from PySide6.QtCore import Slot

from zsl_desktop.app.kept_predictions import kept_for
from zsl_desktop.app.status_words import dataset_status
from zsl_desktop.engine.evaluation import gallery_predictions
from zsl_desktop.engine.session.results import DatasetLoaded, DatasetReady


class DatasetOpening:
    """The controller's slots for ``bridge.dataset_loaded``, ``dataset_ready`` and ``features_ready``."""

    @Slot(object)
    def on_dataset_loaded(self, loaded: DatasetLoaded) -> None:
        """Before torch: the dataset with the model's kept predictions, if proven current; else wait for it.

        At start-up only: a window with a dataset open keeps it, and its model, until the new one is ready.
        """
        if self.dataset is not None:
            return
        kept = kept_for(loaded, self.store)
        if kept is None:
            return
        d = loaded.dataset
        self.store.set_dataset(d)  # first: its "changed" ends kept predictions (on_library_changed)
        self.kept, self.preview, self._shown_early = kept, False, d
        self.dataset, self.features_ready, self.model_loading = d, True, True
        self.item, self.all_scores, self.live = None, None, None
        self.photos.clear()
        self.gallery.set_dataset(d)
        self.image_view.set_dataset(d)
        self.editor.set_dataset(d)
        self.offer_species(d)
        self.features.set_dataset(d, True)
        self.training.set_available(False, "Loading the model…")  # its set_dataset imports torch: on DatasetReady
        self.dataset_changed.emit(d)
        self.show_model_state()
        self.gallery.set_predictions(gallery_predictions(kept.scores, d, kept.model_gamma))
        self.status.emit(f"{d.name}: the model's kept predictions; the model is loading…")

    def offer_species(self, dataset) -> None:
        """Ask the worker for the CUB species of "Start from" unless the editor lists them already (a CSV read)."""
        if not self.editor.species_shown_for(dataset):
            self.bridge.request_species(dataset.attribute_names)

    def end_kept(self) -> None:
        """The kept predictions no longer stand (the classes changed, or no model came): drop them."""
        if self.kept is None:
            return
        self.kept = None
        if self.model is None:
            self.gallery.set_predictions(None)
            self.show_model_state()
            if self.item is not None:
                self.predictions.clear(self.model_message())

    @Slot(object)
    def on_dataset_ready(self, ready: DatasetReady) -> None:
        shown_early, self._shown_early = self._shown_early, None
        if ready.dataset is shown_early and ready.dataset is self.dataset:
            self._dataset_ready_after_kept(ready)
            return
        self.end_kept()
        d = ready.dataset
        keep = self._same_image_in(d) if self.preview else None  # the full set after its first birds
        self.preview = ready.coming > d.num_samples
        self.dataset, self.features_ready = d, ready.features_ready
        self.model_loading = ready.model_coming
        self.item, self.all_scores, self.live = None, None, None
        self.photos.clear()
        self.store.set_dataset(d)
        self.gallery.set_dataset(d)
        self.image_view.set_dataset(d)
        self.editor.set_dataset(d)
        self.offer_species(d)
        self.features.set_dataset(d, ready.features_ready)
        self.training.set_dataset(d)
        waiting = "" if ready.features_ready else "Waiting for the image features…"
        if self.preview:
            waiting = "Training opens once every bird is drawn and extracted."
        self.training.set_available(False, waiting)
        self.dataset_changed.emit(d)
        self.on_model_changed(ready.model)
        for w in ready.warnings:
            self.status.emit(w)
        if keep is not None:
            self.select(keep)
        self.status.emit(dataset_status(d, ready.coming, self.preview))

    def _dataset_ready_after_kept(self, ready: DatasetReady) -> None:
        """The live session of the dataset already shown with kept predictions: the panels and the selection stay."""
        d = ready.dataset
        self.features_ready = ready.features_ready
        self.model_loading = ready.model_coming
        if not ready.features_ready:
            self.features.set_dataset(d, False)
        self.training.set_dataset(d)
        self.training.set_available(False, "" if ready.features_ready else "Waiting for the image features…")
        for w in ready.warnings:
            self.status.emit(w)
        if not ready.model_coming:
            self.end_kept()

    def _same_image_in(self, dataset) -> int | None:
        """The selected image's index in ``dataset`` (the full set replacing its first chunk), if it is there."""
        if self.item is None or self.dataset is None or not self.item < self.dataset.num_samples:
            return None
        try:
            return list(dataset.image_paths or ()).index(self.dataset.image_paths[self.item])
        except (ValueError, TypeError):
            return None

    @Slot()
    def on_features_ready(self) -> None:
        self.features_ready = True
        if self.model is None:
            self.show_model_state()  # "the model loads once the features are ready" is now "loading"
        if self.dataset is not None:
            self.features.set_dataset(self.dataset, True)
            self.feature_map.request()
