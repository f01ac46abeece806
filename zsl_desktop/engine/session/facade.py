"""Session: the one facade the app and the CLI share, over one dataset.

It owns the dataset, its feature store, the active model (with every image's
code), the user's loose photos, and the one checkpoint policy. The CLI calls
it synchronously; the app calls the same methods from its worker threads.
Results are plain data (numpy arrays, frozen dataclasses from ``results``),
never live tensors: inference uses the model that training handed over at its end.
Opening a dataset (and the model that comes with it) is ``opening.open_session``.

Why one class: each method is a short command of the one owner of this state (the app used to keep a
hidden second session for the loose photos and the live scores). What a command computes lives in a
module of its own, given the state it needs: ``encoding`` (every image's code), ``live_scoring`` (a
slider move), ``evaluating``, ``feature_view``, ``adding_photos``, ``chunked_scores``. Finding and preparing
the feature stores is the mixin ``features_in_use.SessionFeatures``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from zsl_desktop.engine import evaluation as ev
from zsl_desktop.engine.checkpoints import (
    Checkpoint,
    check_compatible,
    load_checkpoint,
    save_checkpoint,
)
from zsl_desktop.engine.data.model import Dataset
from zsl_desktop.engine.events import Control
from zsl_desktop.engine.features import FeatureStore
from zsl_desktop.engine.live_first import LiveFirst
from zsl_desktop.engine.methods.base import Method
from zsl_desktop.engine.paths import data_dir
from zsl_desktop.engine.ranking import LiveRanker, calibration
from zsl_desktop.engine.session import adding_photos, evaluating, feature_stores, training_job
from zsl_desktop.engine.session.chunked_scores import score_in_chunks
from zsl_desktop.engine.session.codes import checkpoint_identity
from zsl_desktop.engine.session.encoding import dataset_codes, encoding_progress
from zsl_desktop.engine.session.feature_view import project_items
from zsl_desktop.engine.session.features_in_use import SessionFeatures
from zsl_desktop.engine.session.live_scoring import live_scores
from zsl_desktop.engine.session.loose import LoosePhotos
from zsl_desktop.engine.session.model_state import ModelState, NoModel
from zsl_desktop.engine.session.photo_routing import PhotoRouting
from zsl_desktop.engine.session.snapshot import SnapshotKeeper, checkpoint_sha256
from zsl_desktop.engine.session.results import (
    AllScores,
    ClassSet,
    DraftCluster,
    Evaluated,
    Explained,
    LiveRequest,
    LiveScores,
    LooseAdded,
    ModelSummary,
    Progress,
    Saved,
)
from zsl_desktop.engine.training import (
    Finished,
    inference_state,
    method_from_checkpoint,
    pick_device,
    resume_path,
    train,
)
from zsl_desktop.engine.userfiles import check_writable

DRAFT_SYNTH = 60  # features synthesised for the class being drawn (generative models, PCA feature view)

__all__ = ["ModelState", "NoModel", "Session"]


class Session(SessionFeatures):
    def __init__(
        self,
        dataset: Dataset,
        backbone: str = "efficientnet_lite0",
        input_size: int = 224,
        device: str | None = None,
        flips: str = "none",
    ):
        self.dataset = dataset
        self.backbone = backbone
        self.input_size = input_size
        self.device = pick_device(device)
        self.flips = flips  # training.TrainConfig.flips; anything but "none" also prepares the mirrored store
        self.store: FeatureStore | None = None
        self.mirrored_store: FeatureStore | None = None  # the same images mirrored left-right (flips)
        self.model: ModelState | None = None
        self.loose = LoosePhotos(backbone, input_size, self.device)
        self.photo_routing = PhotoRouting()  # the out-of-domain warning and the real-bird model, for loose photos
        self._codes_cache: tuple | None = None  # (key, codes [N + L, ...])
        self.ranker = LiveRanker()  # "Rank by edited class": the other classes' log-sum-exp, cached
        self.kept = SnapshotKeeper()  # the active model's scores, kept for the next start-up (issue #19)
        self.live_first = LiveFirst()  # a training run waits between batches while live scores are computed

    # -- models ---------------------------------------------------------------------
    def load_checkpoint(self, path, progress=None) -> ModelState:
        checkpoint = load_checkpoint(path)
        return self.use_checkpoint(checkpoint, progress)

    def load_model(self, path, emit=None) -> ModelSummary:
        """Make the model in ``path`` active; it switches nothing unless everything succeeded.

        With ``emit``, encoding every image reports its count and rate (an ETA) as "model" Progress:
        the first load of an SGMA model runs the backbone on two part crops per image, a minute or more.
        """
        checkpoint = load_checkpoint(path)
        progress = None
        if emit is not None:
            what = f"encoding the images with {Path(path).name}"
            if checkpoint.header.get("method") == "sgma":  # the crops are cached: later loads take seconds
                what = f"first load of {Path(path).name}: the part crops of every image (then cached)"
            progress = encoding_progress(emit, what)
        digest = checkpoint_sha256(path)  # the file's bytes, read again: cheap beside the model's encoding
        state = self.use_checkpoint(checkpoint, progress)
        self.kept.model_from(digest)
        return self.summary(str(path), state)

    def load_model_job(self, path, control, emit):
        """``load_model`` as a long job: a "model" Progress, then the new ModelSummary."""
        yield Progress("model", 0, 1, f"loading {Path(path).name}")
        summary = self.load_model(path, emit)  # CheckpointError reaches the user as is
        yield summary
        # Here, in the worker, rather than on a drawn class's first slider move, and after the model is announced:
        # its first live request draws no class, and IPCE's at 100,000 images takes ~2 CPU s (docs/history/
        # performance.md, session 14). A move that comes sooner does that part itself.
        self.prepare_live()

    def use_checkpoint(self, checkpoint: Checkpoint, progress=None) -> ModelState:
        """Make a checkpoint's model active; on any failure the session is left exactly as it was.

        A model made on other features (backbone, input size) switches the session to their store,
        which must already be extracted. ``progress(done, total)``: images encoded so far (see ``_activate``).
        """
        check_compatible(checkpoint, self.dataset)
        h = checkpoint.header
        backbone, size = h.get("backbone", self.backbone), int(h.get("input_size", self.input_size))
        where = checkpoint.path or "the checkpoint"
        features = (self.backbone, self.input_size)
        store, mirrored = feature_stores.stores_for_model(
            self.dataset, h, where, (self.store, self.mirrored_store), features
        )
        method = method_from_checkpoint(checkpoint).to(self.device)
        return self._activate(method, h, checkpoint_identity(checkpoint), store, backbone, size, progress, mirrored)

    def use_method(self, method: Method, header: dict, cache_key: str | None = None, progress=None) -> ModelState:
        """Make ``method`` the active model: encode every image once (cached per checkpoint file)."""
        return self._activate(
            method, header, cache_key, self.store, self.backbone, self.input_size, progress, self.mirrored_store
        )

    def use_codes(self, method: Method, header: dict, codes: np.ndarray) -> ModelState:
        """Make ``method`` active with codes computed elsewhere (the benchmark's, of any number of items)."""
        self.model = ModelState(method=method, header=header, codes=codes)
        self.kept.model_from(None)
        self._codes_cache = None
        return self.model

    def _activate(
        self, method, header, cache_key, store, backbone, input_size, progress=None, mirrored=None
    ) -> ModelState:
        """Encode every image with ``method`` on ``store``'s features, then (only then) switch to both.

        ``progress(done, total)`` while encoding; never called when the codes come from the cache.
        A model trained with flip test-time averaging (header "flips" tta/both) scores each image with its
        mirror (``mirrored``, the mirrored store); its codes are cached under their own key.
        """
        tta = header.get("flips") in ("tta", "both") and mirrored is not None
        codes = dataset_codes(method, self.dataset, store, mirrored, tta, cache_key, self.device, progress)
        self.store, self.backbone, self.input_size, self.mirrored_store = store, backbone, input_size, mirrored
        self.model = ModelState(method=method, header=header, codes=codes)
        self.kept.model_from(None)  # load_model names the file, if there is one
        self._codes_cache = None  # the photos' codes are recomputed on the next request
        return self.model

    def active(self) -> ModelState:
        if self.model is None:
            raise NoModel("no model: train one in the Training panel or load a checkpoint")
        return self.model

    def summary(self, source: str, state: ModelState | None = None) -> ModelSummary:
        """What the panels may know about the active model (or ``state``)."""
        return (state or self.active()).summary(source)

    def save_model(self, path) -> Saved:
        """Write the active model as a checkpoint, by the one policy: weights without optimiser state."""
        state = self.active()
        save_checkpoint(path, state.header, inference_state(state.method))
        return Saved(str(path))

    def checkpoint_dir(self) -> Path:
        return data_dir() / "checkpoints"

    # -- training -------------------------------------------------------------------------
    def train(self, config, control=None, save_to=None, resume: bool = False):
        """Generator of training events on this session's features; returns the ``Finished`` (or None).

        The one checkpoint policy, the CLI's and the app's: with ``save_to``, the state after every
        epoch goes to a resume file beside it and the finished model (weights without optimiser
        state) to ``save_to``, written atomically, the resume file then removed. A run that was
        cancelled (the app's Stop) removes its resume file too: only a killed run leaves one,
        and ``resume=True`` continues from it.
        """
        if save_to is not None:  # a model that could not be saved is said now, not after the whole run
            check_writable(save_to, "checkpoint")
            check_writable(resume_path(save_to), "resume file")
        control = control or Control()
        control.defer_to(self.live_first)  # slider moves answer first (live_first.py)
        finished = None
        for event in train(self.dataset, self.features, config, control, checkpoint_path=save_to, resume=resume):
            if isinstance(event, Finished):
                finished = event
            yield event
        if save_to is not None and (finished is None or finished.cancelled):
            resume_path(save_to).unlink(missing_ok=True)
        return finished

    def train_and_use(self, config, control, emit, autosave: bool = True):
        """Train, then make the new model active (``training_job``): training events, then a ``TrainDone``."""
        return training_job.train_and_use(self, config, control, emit, autosave)

    # -- scoring ----------------------------------------------------------------------
    def prepare_live(self) -> None:
        """The active model's one-off work for live moves on every item's codes (``Method.prepare_live``)."""
        if self.model is not None:
            self.active().method.prepare_live(self.all_codes())

    def all_codes(self, state: ModelState | None = None) -> np.ndarray:
        """Codes of every item: the dataset's (encoded when the model became active) then the loose photos'.

        ``state``: the model to read (default the active one), for a caller that reads its method too."""
        state = state or self.active()
        loose = list(self.loose.items)  # photos may be added on the other runner meanwhile
        key = (id(state), len(loose))
        cached = self._codes_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        codes = state.codes
        if loose:
            with torch.inference_mode():
                extra = state.method.encode(torch.from_numpy(self.loose.rows(state.method.feature_kind, loose)))
            codes = np.concatenate([codes, extra])
        self._codes_cache = (key, codes)
        return codes

    def scores(self, class_attributes: np.ndarray, rows=None) -> np.ndarray:
        """Raw logits [n, C] of every item (or ``rows``; loose photos after the dataset) against any classes."""
        state = self.active()
        return self.scores_of(state.method, self.all_codes(state), class_attributes, rows)

    @staticmethod
    def scores_of(method, codes, class_attributes: np.ndarray, rows=None) -> np.ndarray:
        """``scores`` for one model's ``method`` and ``codes``, read together by the caller."""
        if rows is not None:
            return np.asarray(method.score(codes[rows], class_attributes), np.float32)
        return score_in_chunks(method.score, codes, class_attributes)

    def live_scores(self, request: LiveRequest, on_page=None, stale=None) -> LiveScores | None:
        """What one slider move needs: the selected item against every class, every item ranked by the draft.

        With ``on_page``, the gallery's page of the ranking first (``live_scoring``); ``stale()`` True (a newer
        move is waiting) stops the whole column: None is returned.
        """
        with self.live_first.urgent():  # a training run in this session waits at its next batch
            return live_scores(self, request, on_page, stale or (lambda: False))

    def all_scores(self, classes: ClassSet, generation: int = 0, gamma: float | None = None) -> AllScores:
        """Every item's scores; with ``gamma``, the gallery's predictions at it too (``AllScores.predicted``).

        With ``gamma`` and no draft, they also prime the live ranker: they are the other classes of a class drawn
        next (``LiveRanker.prime``), which that session's first slider move would otherwise score again."""
        # one model's method, codes and header, read once: the long-job thread may replace the model meanwhile,
        # and the ranker must not keep one model's scores under another's codes (review, session 14)
        active = self.active()
        codes = self.all_codes(active)
        scores = self.scores_of(active.method, codes, classes.matrix)
        if gamma is not None and classes.draft_column is None:
            self.ranker.prime(codes, classes.matrix, calibration(classes.kinds, gamma), scores)
        if self.store is not None and classes.draft_column is None:  # the dataset's rows (loose photos follow)
            header = active.header
            tta = header.get("flips") in ("tta", "both") and self.mirrored_store is not None
            gamma_of_model = float(header.get("gamma", 0.0))
            self.kept.keep(self.store.folder, classes, tta, scores[: self.dataset.num_samples], gamma_of_model)
        predicted = None if gamma is None else ev.gallery_predictions(scores, self.dataset, gamma)
        return AllScores(scores, classes.names, classes.kinds, generation, predicted, gamma)

    def draft_cluster(self, values: np.ndarray, place, generation: int = 0) -> DraftCluster:
        """Features a generative model synthesises for the drawn class, placed on the feature view's map.

        Its own request, after the live scores: synthesis costs up to ~7 ms (GSMFlow), which the
        scores of a slider move should not wait for. The same seed every time, so moving a
        slider moves the cluster rather than re-scattering it.
        """
        row = np.asarray(values, np.float32)[None]
        return DraftCluster(place(self.active().method.synthesize(row, DRAFT_SYNTH, seed=0)), generation, place)

    def evaluate(self, gamma: float | None = None) -> ev.EvaluationReport:
        """The standard test-split evaluation of the loaded model at its training-chosen gamma (or ``gamma``)."""
        return evaluating.evaluate_model(self.active(), self.dataset, self.features, self.store, self.device, gamma)

    def evaluated(self, gamma: float | None = None, generation: int = 0) -> Evaluated:
        report = self.evaluate(gamma)
        return Evaluated(report, report.gamma_source, generation)

    def unreadable_rows(self) -> np.ndarray:
        """Rows whose image file could not be read at extraction (their features are zeros)."""
        return evaluating.unreadable_rows(self.store, self.dataset)

    # -- one item ----------------------------------------------------------------------
    def item_features(self, item: int, kind: str):
        n = self.dataset.num_samples
        if item < n:
            return self.features.rows(kind, [item])[0]
        return torch.from_numpy(self.loose.rows(kind, [self.loose.items[item - n]])[0])

    def item_path(self, item: int) -> str | None:
        n = self.dataset.num_samples
        if item >= n:
            return self.loose.items[item - n].path
        return str(self.dataset.image_path(item)) if self.dataset.has_images else None

    def explain(self, item: int, generation: int = 0) -> Explained:
        """Attention maps (and part boxes and crops, for methods that localise parts) of one item."""
        method = self.active().method
        try:
            features = self.item_features(item, method.feature_kind)
        except ValueError:
            return Explained(item, None, None, generation=generation)
        with torch.inference_mode():  # the image: SGMA crops its parts from it, the others ignore it
            e = method.explain(features, image=self.item_path(item))
        crops = tuple(np.asarray(c, np.uint8) for c in (e.extras or {}).get("crops", ()) or ())
        return Explained(item, e.attribute_scores, e.attention, e.part_boxes, e.part_attention, generation, crops)

    # -- the user's photos -----------------------------------------------------------------
    def add_photos(self, paths, still_wanted=lambda: True, generation: int = 0) -> LooseAdded:
        """The images among ``paths`` (folders searched) get features; what could not be used is listed."""
        return adding_photos.add_photos(self.loose, paths, still_wanted, generation)

    def add_photos_job(
        self, paths, control, emit, generation: int = 0, batch: int | None = None, limit: int | None = None
    ):
        """Whole folders of photos as a long job, each batch shown as it lands (``adding_photos``)."""
        return adding_photos.add_photos_job(self.loose, paths, control, generation, batch, limit)

    # -- the feature view -----------------------------------------------------------------
    def project(
        self, method: str, cap: int | None, seed: int, ticket=None, space: str = "features", synthesize: int = 0
    ):
        """The feature view's 2-D map of the pooled features or of the model's codes (``feature_view``)."""
        pooled = self.features.pooled if space != "codes" else None
        return project_items(
            self.dataset, pooled, self.model, self.all_codes, method, cap, seed, ticket, space, synthesize
        )
