"""The glue between the bridge and the panels: what is selected, which classes exist, what to recompute.

Why one controller: selection, the class set (dataset + saved user classes +
the draft on the editor), γ and the loose photos each affect several panels.
Keeping that state here lets every panel stay a plain view, and lets the
live path be explicit: a change marks the state dirty, a ~40 ms timer sends
one request (throttled, trailing edge), the bridge drops stale answers.

The jobs that only read that state are its helpers, each a small module:
``live_requests`` (the throttle and the request), ``photo_intake`` (the
user's photos), ``feature_map_requests`` (the feature view's projections),
``after_first_live`` (what a new model's first scores unlock),
``status_words`` and ``prediction_rows`` (what is said and exported).
The opening of a dataset (kept predictions first, then the live session)
writes that state too and is a mixin of its own, ``dataset_opening``; what is
left here is the model state, the selection, the class set and the results.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal, Slot

from zsl_desktop.app.after_first_live import AfterFirstLive
from zsl_desktop.app.dataset_opening import DatasetOpening
from zsl_desktop.app.feature_map_requests import FeatureMapRequests
from zsl_desktop.app.live_requests import LiveRequests
from zsl_desktop.app.photo_intake import PhotoIntake
from zsl_desktop.app.prediction_rows import every_image_rows
from zsl_desktop.app.status_words import NEEDS_A_MODEL, failure_text, model_status
from zsl_desktop.engine.evaluation import gallery_predictions
from zsl_desktop.engine.session.class_set import saved_classes, with_draft
from zsl_desktop.engine.session.results import (
    AllScores,
    LiveScores,
    Saved,
)

MODEL_JOBS = ("open", "checkpoint")  # long jobs that may bring a model


class Controller(DatasetOpening, QObject):
    status = Signal(str)
    warn = Signal(str, str)  # title, text
    dataset_changed = Signal(object)
    model_state = Signal(object)  # ModelSummary or None

    def __init__(self, bridge, store, gallery, image_view, predictions, editor, training, features, parent=None):
        super().__init__(parent)
        self.bridge, self.store = bridge, store
        self.gallery, self.image_view, self.predictions = gallery, image_view, predictions
        self.editor, self.training, self.features = editor, training, features
        self.dataset = None
        self.model = None
        self.model_loading = False  # a job that will try a model is running (and none is active yet)
        self.features_ready = False
        self.preview = False  # the dataset is the first chunk of the built-in birds; the full set follows
        self.item: int | None = None
        self.all_scores: AllScores | None = None
        self.live: LiveScores | None = None
        self.kept = None  # the model's kept predictions (a PredictionSnapshot proven current) until it loads
        self._shown_early = None  # the dataset shown with kept predictions, whose DatasetReady keeps the panels
        self._selecting = False
        self.live_path = LiveRequests(self, bridge, store, gallery, predictions, features, self)

        bridge.dataset_loaded.connect(self.on_dataset_loaded)
        bridge.dataset_ready.connect(self.on_dataset_ready)
        bridge.features_ready.connect(self.on_features_ready)
        bridge.model_changed.connect(self.on_model_changed)
        bridge.live_scores.connect(self.on_live)
        bridge.all_scores.connect(self.on_all_scores)
        bridge.species.connect(editor.set_species)
        bridge.explained.connect(image_view.set_explanation)
        bridge.image_loaded.connect(image_view.set_image)
        self.feature_map = FeatureMapRequests(self, bridge, features, self)  # projections and the drawn cluster
        self.follow_ups = AfterFirstLive(self, bridge, training, self)  # every image's scores, the evaluation
        self.photos = PhotoIntake(self, bridge, gallery, self)  # the user's photos (bridge.photos_added, folder_batch)
        self.photos.status.connect(self.status)
        self.photos.warn.connect(self.warn)
        bridge.saved.connect(self.on_saved)
        bridge.short_failed.connect(self.on_short_failed)
        bridge.long_started.connect(self.on_long_started)
        bridge.long_finished.connect(self.on_long_finished)
        bridge.thumbnails.connect(gallery.thumbnails_loaded)
        gallery.thumbnail_needed.connect(bridge.request_thumbnail)
        gallery.item_selected.connect(self.select)
        gallery.rank_toggled.connect(self.on_rank_toggled)
        features.item_selected.connect(self.select)
        editor.draft_changed.connect(self.schedule_live)
        store.changed.connect(self.on_library_changed)
        predictions.gamma_changed.connect(self.on_gamma)
        predictions.class_clicked.connect(self.on_class_clicked)

    # -- the model (the dataset's opening: dataset_opening.DatasetOpening) ------------------------------
    @Slot(object)
    def on_model_changed(self, summary) -> None:
        self.model = summary
        self.follow_ups.reset()  # the previous model's
        if summary is not None:
            self.model_loading = False
        kept_badges = self.kept is not None  # the gallery keeps them until the live model's own arrive
        self.kept = None if summary is not None else self.kept
        self.all_scores = None
        self.show_model_state()
        self.training.set_has_model(summary is not None)
        self.features.set_has_model(summary is not None, generative=summary is not None and summary.generative)
        if self.features_ready and self.dataset is not None:
            self.feature_map.request()
        if not kept_badges:
            self.gallery.set_predictions(None)
        self.model_state.emit(summary)
        if summary is None:
            return
        results = model_status(summary)
        if results:
            self.status.emit(results)
        self.follow_ups.arm()
        if self.item is not None:
            self.bridge.request_explain(self.item)
        self.schedule_live()

    def model_message(self) -> str:
        """Why there are no attention maps or scores right now, from the real state (loading / none)."""
        if self.model is not None:
            return "Select an image to see where the model looked."
        if self.model_loading:
            return "Loading the model…" if self.features_ready else "The model loads once the image features are ready."
        return "No model yet: attention maps appear once a model is trained or loaded."

    def show_model_state(self) -> None:
        """The panels' words for the model state; a model's own results replace them as they arrive."""
        self.predictions.set_model(self.model, loading=self.model_loading)
        if self.model is None or self.item is None:
            self.image_view.clear_explanation(self.model_message())

    @Slot(str, str)
    def on_long_started(self, name: str, title: str) -> None:
        if name == "checkpoint" and self.model is None:
            self.model_loading = True
            self.show_model_state()

    @Slot(str, str)
    def on_long_finished(self, name: str, status: str) -> None:
        if name == "open" and self.model is None:
            self.end_kept()  # no model came: its kept predictions are not shown on their own
        if name in MODEL_JOBS and self.model_loading:
            self.model_loading = False  # it ended without a model: say so
            self.show_model_state()
        self.photos.on_long_finished(name, status)
        self.feature_map.on_long_finished(name)

    # -- the class set ------------------------------------------------------------------------------------
    def saved_classes(self):
        """Dataset classes then saved user classes (a ClassSet)."""
        return saved_classes(self.dataset, *self.store.matrix())

    def class_set(self):
        """The saved classes plus the editor's draft (replacing the class it edits), when one is drawn."""
        classes = self.saved_classes()
        draft = self.editor.draft()
        if draft is None or not draft.active:
            return classes
        return with_draft(classes, draft.name, draft.values, draft.replaces, draft.dirty)

    def request_all_scores(self) -> None:
        if self.model is None or self.dataset is None:
            return
        self.bridge.request_all_scores(self.saved_classes(), self.predictions.gamma)

    @Slot()
    def on_library_changed(self) -> None:
        self.end_kept()  # the saved classes changed: the kept scores are not theirs
        if self.dataset is not None and self.store.dataset is self.dataset:
            self.request_all_scores()
            self.schedule_live()

    # -- live scoring ---------------------------------------------------------------------------------------
    @Slot()
    def schedule_live(self) -> None:
        """Throttle with a trailing edge: at most one request per interval, always the latest state."""
        self.live_path.schedule()

    @property
    def live_requests(self) -> int:
        """Live requests sent so far."""
        return self.live_path.sent

    @Slot(object)
    def on_live(self, live: LiveScores) -> None:
        self.live = live
        if live.scores is not None and live.item == self.item:
            self.predictions.set_source(live.predicted_by, live.gamma_offset, live.out_of_domain)
            self.predictions.set_scores(live.scores, live.class_names, live.class_kinds)
            self._update_summary()
        if live.final or live.draft_rank is not None:  # an early answer without a ranking keeps the last one
            self.gallery.set_rank_scores(live.draft_rank)
        self.follow_ups.first_live_in()

    @Slot(bool)
    def on_rank_toggled(self, on: bool) -> None:
        if on and (self.live is None or self.live.draft_rank is None):
            draft = self.editor.draft()
            if draft is None or not draft.active:
                self.status.emit("Edit or pick a class in the class editor to rank the gallery by it.")
        self.schedule_live()

    @Slot(str)
    def on_class_clicked(self, name: str) -> None:
        """A class in the predictions: show its images (dataset class) or open it in the editor (yours)."""
        d = self.dataset
        if d is None:
            return
        if name in d.classes:
            self.gallery.show_class(d.classes.index(name))
            self.status.emit(f"Gallery: images of {name.replace('_', ' ')}")
        elif name in self.store.names():
            self.editor.edit_class(name)

    @Slot(float)
    def on_gamma(self, gamma: float) -> None:
        self._update_gallery_predictions()
        self._update_summary()
        self.schedule_live()  # the ranking is calibrated with γ

    def _update_gallery_predictions(self) -> None:
        a, d = self.all_scores, self.dataset
        if a is None or d is None:
            return
        gamma = self.predictions.gamma
        ready = a.predicted is not None and a.gamma == gamma  # made on the worker with the scores
        self.gallery.set_predictions(a.predicted if ready else gallery_predictions(a.scores, d, gamma))

    # -- selection ----------------------------------------------------------------------------------------------
    @Slot(int)
    def select(self, item: int) -> None:
        if self.dataset is None or self._selecting or not 0 <= item < self.gallery.item_count():
            return
        self.item = item
        if self.sender() is not self.gallery:
            self._selecting = True
            try:
                self.gallery.select_item(item)
            finally:
                self._selecting = False
        g = self.gallery.describe(item)
        in_dataset = item < self.dataset.num_samples
        self.image_view.show_item(item, g.name, g.truth, g.kind, None)
        self.predictions.set_item(g.name, g.truth if in_dataset else None)
        self.features.select_item(item if in_dataset else None)
        if g.path:
            self.bridge.request_image(item, g.path)
        if self.model is not None:
            self.bridge.request_explain(item)
            self.schedule_live()
        elif self.kept is not None and in_dataset:
            self.predictions.show_kept(
                self.kept.scores[item], self.kept.class_names, self.kept.class_kinds, self.kept.model_gamma
            )
            self._update_summary()
            self.image_view.clear_explanation(self.model_message())
        else:
            self.image_view.clear_explanation(self.model_message())

    def _update_summary(self) -> None:
        if self.item is None or self.dataset is None:
            return
        g = self.gallery.describe(self.item)
        self.image_view.set_summary(g.truth, g.kind, self.predictions.top_class())

    # -- loose photos (photo_intake) -------------------------------------------------------------------------
    @property
    def loose(self) -> list:
        """The user's photos added to this dataset's gallery."""
        return self.photos.loose

    def add_photos(self, paths) -> None:
        self.photos.add_photos(paths)

    def add_folder(self, paths) -> None:
        """Thousands of photos: a long job with progress and Cancel; the gallery fills batch by batch."""
        self.photos.add_folder(paths)

    # -- results ---------------------------------------------------------------------------------------------------
    @Slot(object)
    def on_all_scores(self, scores: AllScores) -> None:
        self.all_scores = scores
        self._update_gallery_predictions()

    @Slot(object)
    def on_saved(self, saved: Saved) -> None:
        self.status.emit(f"Saved the model to {saved.path}")

    @Slot(str, str)
    def on_short_failed(self, kind: str, message: str) -> None:
        if kind == "live":
            self.follow_ups.first_live_in()
        if kind in NEEDS_A_MODEL and self.model is None:
            return  # it raced the model going away; the panels already say there is no model
        if kind == "explain":
            self.image_view.clear_explanation(message)
        elif kind == "image":
            self.image_view.show_message(f"Could not open this image: {message}")
        elif kind == "save":
            self.warn.emit("Save model", message)
        elif kind == "loose":
            self.warn.emit("Your photos", message)
        elif kind == "projection":
            self.features.show_status(f"Projection failed: {message}")
        self.status.emit(failure_text(kind, message))

    # -- exports ------------------------------------------------------------------------------------------------------
    def gallery_predictions(self):
        """(image, truth, predicted, kind, probability, correct) per item with the current γ."""
        return every_image_rows(self.all_scores, self.dataset, self.gallery, self.predictions.gamma)
