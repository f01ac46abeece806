"""Session: the one facade the app and the CLI share, over one dataset.

It owns the dataset, its feature store, the active model (with every image's
code), the user's loose photos, and the one checkpoint policy. The CLI calls
it synchronously; the app calls the same methods from its worker threads.
Results are plain data (numpy arrays, frozen dataclasses from ``results``),
never live tensors: inference uses the model that training handed over at its end.
Opening a dataset (and the model that comes with it) is ``opening.open_session``.

Why one class over ~400 lines: each method is a short command of the one
owner of this state; splitting it would put a second owner back (the app used
to keep a hidden second session for the loose photos and the live scores).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch

from zsl_desktop.engine import evaluation as ev
from zsl_desktop.engine.checkpoints import (
    Checkpoint,
    CheckpointError,
    check_compatible,
    load_checkpoint,
    save_checkpoint,
)
from zsl_desktop.engine.data.model import Dataset
from zsl_desktop.engine.events import Control, Message
from zsl_desktop.engine.features import FeatureStore, extract, feature_source, flips_need_mirrored
from zsl_desktop.engine.live_first import LiveFirst
from zsl_desktop.engine.methods.base import FeatureSource, Method
from zsl_desktop.engine.paths import data_dir
from zsl_desktop.engine.photo_files import at_most, find_photos
from zsl_desktop.engine.projection import project as run_projection
from zsl_desktop.engine.ranking import LiveColumn, LiveRanker, calibration
from zsl_desktop.engine.scoring import encode_rows, evaluate_on
from zsl_desktop.engine.session.codes import checkpoint_identity, codes_cache_path, read_codes, write_codes
from zsl_desktop.engine.session.loose import MAX_LOOSE_PER_DROP, LoosePhotos
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
    TrainDone,
)
from zsl_desktop.engine.training import (
    Finished,
    default_checkpoint_path,
    inference_state,
    method_from_checkpoint,
    pick_device,
    resume_path,
    train,
)
from zsl_desktop.engine.userfiles import check_writable

DRAFT_SYNTH = 60  # features synthesised for the class being drawn (generative models, PCA feature view)
SCORE_CHUNK = 4096  # rows scored at once: bounds the memory of scoring every image
LIVE_COLUMNS = 4  # up to this many class rows are scored over every image in one call (a slider's column)
MAX_FOLDER_PHOTOS = 10_000  # each photo's grid features stay in memory (~130 KB with Lite0): ~1.3 GB at most
FOLDER_BATCH = 32  # photos per batch of "Add a folder": each batch reaches the gallery as it lands


class NoModel(RuntimeError):
    """A request needs a model and none is active."""


@dataclass(frozen=True)
class ModelState:
    """The active model and the codes of every dataset image (computed once, for live scoring)."""

    method: Method
    header: dict
    codes: np.ndarray  # [N, ...]

    @property
    def gamma(self) -> float:
        return float(self.header.get("gamma", 0.0))


class Session:
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

    # -- features -----------------------------------------------------------------
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
        store = FeatureStore.open(self.dataset, self.backbone, self.input_size)
        if store is None:
            store = yield from extract(self.dataset, self.backbone, self.input_size, device=self.device, cancel=cancel)
        self.store = store
        if flips_need_mirrored(self.flips):
            mirrored = FeatureStore.open(self.dataset, self.backbone, self.input_size, mirrored=True)
            if mirrored is None:
                mirrored = yield from extract(
                    self.dataset, self.backbone, self.input_size, device=self.device, cancel=cancel, mirrored=True
                )
            self.mirrored_store = mirrored
        return store

    def prepare_mirrored(self, flips: str, cancel=None):
        """Generator of "extract" Progress: the mirrored images' store, extracted the first time a run's
        ``flips`` mode asks for it (the app's Flips choice; the CLI extracts it before training)."""
        if not flips_need_mirrored(flips) or self.mirrored_store is not None or self.store is None:
            return
        mirrored = FeatureStore.open(self.dataset, self.backbone, self.input_size, mirrored=True)
        if mirrored is None:
            what = "extracting the mirrored images' features (once, for flips)"
            yield Message(what)
            extraction = extract(
                self.dataset, self.backbone, self.input_size, device=self.device, cancel=cancel, mirrored=True
            )
            while True:
                try:
                    p = next(extraction)
                except StopIteration as done:
                    mirrored = done.value
                    break
                yield Progress("extract", p.done, p.total, p.message or what, p.images_per_second)
        self.mirrored_store = mirrored

    @property
    def features(self) -> FeatureSource:
        """The store's features; with the mirrored store, flip-averaged when the active model asks for it."""
        tta = self.model is not None and self.model.header.get("flips") in ("tta", "both")
        return feature_source(self.dataset, self.store, self.mirrored_store, tta)

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
        self.prepare_live()  # here, in the worker, rather than on the first slider move (the warm-up ran before)
        yield summary

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
                    f"{self.dataset.name} yet (zsl-desktop extract --backbone {backbone} --input-size {size})"
                )
        if h.get("flips") in ("tta", "both") and mirrored is None and self.dataset.has_images:
            mirrored = FeatureStore.open(self.dataset, backbone, size, mirrored=True)
            if mirrored is None:
                raise CheckpointError(
                    f"{where}: averages each image with its mirror, whose features are not extracted for "
                    f"{self.dataset.name} yet (zsl-desktop extract --backbone {backbone} --input-size {size} "
                    f"--flips tta)"
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
        cache = codes_cache_path(cache_key and (f"{cache_key}-tta" if tta else cache_key), store)
        codes = read_codes(cache, self.dataset.num_samples)
        if codes is None:
            with torch.inference_mode():
                codes = encode_rows(
                    method,
                    feature_source(self.dataset, store, mirrored, tta),
                    np.arange(self.dataset.num_samples),
                    self.device,
                    progress=progress,
                )
            if cache is not None:
                write_codes(cache, codes)
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
        state = state or self.active()
        method, header = state.method, state.header
        return ModelSummary(
            method=str(header.get("method", method.name)),
            title=type(method).title or method.name,
            header=dict(header),
            has_attention=bool(type(method).has_attention),
            generative=bool(type(method).generative),
            source=str(source),
        )

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
        """Train (saved to the default checkpoint file with ``autosave``), then make the new model active.

        Yields the training events (without ``Finished``) and ends with a ``TrainDone``.
        """
        path = default_checkpoint_path(self.dataset, config.method, self.checkpoint_dir()) if autosave else None
        yield from self.prepare_mirrored(config.flips, control)
        finished = None
        for event in self.train(config, control, save_to=path):
            if isinstance(event, Finished):
                finished = event
            else:
                yield event
        if finished is None or finished.cancelled or finished.report is None:
            yield TrainDone(True, None, None)  # the panel says what stays active (it knows whether any model does)
            return
        yield Progress("model", 0, 1, "encoding every image with the new model")
        state = self.use_method(
            finished.method,
            finished.header,
            progress=encoding_progress(emit, "encoding every image with the new model"),
        )
        if finished.checkpoint is not None:  # saved: its scores are kept for the next start, as a loaded model's are
            self.kept.model_from(checkpoint_sha256(finished.checkpoint))
        self.prepare_live()  # as load_model_job does
        source = str(finished.checkpoint) if finished.checkpoint is not None else "trained in this session"
        yield TrainDone(False, self.summary(source, state), finished.report)

    # -- scoring ----------------------------------------------------------------------
    def prepare_live(self) -> None:
        """The active model's one-off work for live moves on every item's codes (``Method.prepare_live``)."""
        if self.model is not None:
            self.active().method.prepare_live(self.all_codes())

    def all_codes(self) -> np.ndarray:
        """Codes of every item: the dataset's (encoded when the model became active) then the loose photos'."""
        state = self.active()
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
        method, codes = self.active().method, self.all_codes()
        if rows is not None:
            return np.asarray(method.score(codes[rows], class_attributes), np.float32)
        return score_in_chunks(method.score, codes, class_attributes)

    def live_scores(self, request: LiveRequest, on_page=None, stale=None) -> LiveScores | None:
        """What one slider move needs: the selected item against every class, every item ranked by the draft.

        The ranking is the draft's calibrated log-probability against every class (engine/ranking.py);
        the ranker caches the other classes' part, so a slider move scores one column. With
        ``request.first_rows`` and ``on_page``, the gallery's page of the ranking is computed first and
        ``on_page`` hears a LiveScores with ``final=False`` (engine/live_page.py); the whole column follows.
        ``stale()`` True (a newer move is waiting) stops the whole column: None is returned.
        """
        with self.live_first.urgent():  # a training run in this session waits at its next batch
            return self._live_scores(request, on_page, stale or (lambda: False))

    def _live_scores(self, request: LiveRequest, on_page, stale) -> LiveScores | None:
        classes, item = request.classes, request.item
        count = len(self.all_codes())
        scores = None
        if item is not None and 0 <= item < count:
            scores = self.scores(classes.matrix, rows=slice(item, item + 1))[0]

        routed: list[LiveScores] = []  # the item's scores, routed once (the page and the whole ranking share them)

        def scored(rank, final: bool = True) -> LiveScores:
            if routed:
                return replace(routed[0], draft_rank=rank, final=final)
            live = LiveScores(
                item if item is not None and scores is not None else -1,
                classes.names,
                classes.kinds,
                scores,
                classes.draft_column,
                rank,
                request.generation,
                final=final,
            )
            if scores is not None and 0 <= live.item - self.dataset.num_samples < len(self.loose.items):
                live = self.photo_routing.route(self, request, live)  # a loose photo: which model predicts it
            routed.append(live)
            return live

        rank = None
        if classes.draft_column is not None:
            method, codes = self.active().method, self.all_codes()
            boost = calibration(classes.kinds, request.gamma)
            score = partial(score_in_chunks, method.score)
            if on_page is None or request.first_rows <= 0 or not method.bounded_columns:
                if on_page is not None:  # no page to rank first: the selected image's scores first
                    on_page(scored(None, final=False))
                rank = self.ranker.rank(score, codes, classes.matrix, classes.draft_column, boost)
            else:
                column = LiveColumn(
                    first=request.first_rows,
                    shown=request.shown,
                    on_page=lambda page: on_page(scored(page, final=False)),
                    change=partial(method.column_change, codes),
                    rows=partial(method.column_rows, codes),
                    whole=partial(method.column_whole, codes),
                    stale=stale,
                )
                rank = self.ranker.rank_page_first(score, codes, classes.matrix, classes.draft_column, boost, column)
                if rank is None:
                    return None
            rank = np.asarray(rank, np.float32)
        return scored(rank)

    def all_scores(self, classes: ClassSet, generation: int = 0, gamma: float | None = None) -> AllScores:
        """Every item's scores; with ``gamma``, the gallery's predictions at it too (``AllScores.predicted``)."""
        scores = self.scores(classes.matrix)
        if self.store is not None and classes.draft_column is None:  # the dataset's rows (loose photos follow)
            header = self.active().header
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
        header = self.active().header
        source = header.get("gamma_source", "fixed") if gamma is None else "given"
        gamma = self.active().gamma if gamma is None else gamma
        d = self.dataset
        unreadable = self.unreadable_rows()
        seen_idx, unseen_idx = (np.setdiff1d(d.splits[k], unreadable) for k in ("test_seen", "test_unseen"))
        skipped = len(d.splits["test_seen"]) + len(d.splits["test_unseen"]) - len(seen_idx) - len(unseen_idx)
        if len(unseen_idx) == 0:
            raise ValueError(
                f"{d.name}: none of the {len(d.splits['test_unseen'])} unseen test images could be "
                f"read; nothing to evaluate"
            )
        report = evaluate_on(
            self.active().method,
            d,
            self.features,
            seen_idx,
            unseen_idx,
            d.seen_classes,
            d.unseen_classes,
            gamma,
            None,
            self.device,
            source,
            codes=self.active().codes if len(self.active().codes) == d.num_samples else None,  # encoded once
        )
        return replace(report, skipped=skipped)

    def evaluated(self, gamma: float | None = None, generation: int = 0) -> Evaluated:
        report = self.evaluate(gamma)
        return Evaluated(report, report.gamma_source, generation)

    def unreadable_rows(self) -> np.ndarray:
        """Rows whose image file could not be read at extraction (their features are zeros)."""
        if self.store is None or not self.store.failed or not self.dataset.has_images:
            return np.zeros(0, np.int64)
        failed = set(self.store.failed)
        return np.array([i for i, p in enumerate(self.dataset.image_paths or ()) if p in failed], np.int64)

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
        found, skipped = find_photos(paths)
        found, over = at_most(found, MAX_LOOSE_PER_DROP)
        added = self.loose.add(found, still_wanted)
        return LooseAdded(added.items, added.errors + tuple((s, "not an image") for s in skipped) + over, generation)

    def add_photos_job(
        self, paths, control, emit, generation: int = 0, batch: int | None = None, limit: int | None = None
    ):
        """Whole folders of photos as a long job: features batch by batch, each batch shown as it lands.

        Yields ``LooseAdded`` per batch (its unreadable files among ``errors``) and "photos"
        ``Progress`` with a rate (an ETA); a cancel keeps the photos added so far.
        """
        batch, limit = batch or FOLDER_BATCH, limit or MAX_FOLDER_PHOTOS
        found, skipped = find_photos(paths)
        found, over = at_most(found, limit)
        errors = tuple((s, "not an image") for s in skipped) + over
        if errors:
            yield LooseAdded((), errors, generation)
        start = time.perf_counter()
        yield Progress("photos", 0, len(found), f"{len(found):,} photos")
        for i in range(0, len(found), batch):
            if control.cancelled:
                return
            added = self.loose.add(found[i : i + batch])
            yield LooseAdded(added.items, added.errors, generation)
            done = min(i + batch, len(found))
            rate = done / max(time.perf_counter() - start, 1e-9)
            yield Progress("photos", done, len(found), f"{done:,} of {len(found):,} photos", rate)

    # -- the feature view -----------------------------------------------------------------
    def project(
        self, method: str, cap: int | None, seed: int, ticket=None, space: str = "features", synthesize: int = 0
    ):
        """Project the dataset's pooled backbone features, or the model's per-image codes (``space="codes"``).

        The codes (MSDN: one score per attribute) are the space the classes are compared in, so
        classes separate there much more than in raw backbone features, where the background dominates.
        With a generative model and ``synthesize`` > 0, that many features per unseen class are
        synthesised from the class attributes and projected together with the real ones.
        """
        dataset = self.dataset
        n = dataset.num_samples
        extra = extra_labels = None
        if space == "codes":
            data = self.all_codes()[:n].reshape(n, -1)
        else:
            data = self.features.pooled
            if data is None:
                raise ValueError(f"{dataset.name} has no pooled features to project")
            model = self.model
            if synthesize and model is not None and type(model.method).generative:
                classes = np.asarray(dataset.unseen_classes)
                extra = model.method.synthesize(dataset.class_attributes[classes], synthesize, seed=seed)
                extra_labels = np.repeat(classes, synthesize)
        callback = ticket.partial if ticket is not None else None
        cancel = ticket.stale if ticket is not None else None
        projection = run_projection(
            data,
            dataset.labels,
            method,
            cap,
            seed,
            callback=callback,
            cancel=cancel,
            extra=extra,
            extra_labels=extra_labels,
        )
        return replace(projection, space=space)


def score_in_chunks(score, codes: np.ndarray, class_attributes: np.ndarray) -> np.ndarray:
    """``score(codes, classes)`` [n, C] in SCORE_CHUNK rows at a time: bounds the memory of scoring every image.

    A few class rows (the edited class's column) are scored in one call: the output is small, and the
    methods' caches of per-codes work (CE-GZSL's and IPCE's comparator state, keyed by the codes array)
    then hit on every slider move; chunks are new arrays each time, so with 100,000 images every move
    recomputed them (CE-GZSL: ~135 ms of CPU per move, 25 chunk copies of a 200 MB array).
    """
    if len(class_attributes) <= LIVE_COLUMNS:
        return np.asarray(score(codes, class_attributes), np.float32)
    out = np.empty((len(codes), len(class_attributes)), np.float32)
    for i in range(0, len(codes), SCORE_CHUNK):
        out[i : i + SCORE_CHUNK] = score(codes[i : i + SCORE_CHUNK], class_attributes)
    return out


def encoding_progress(emit, message: str, every: float = 0.25):
    """A ``progress(done, total)`` for encoding every image that emits "model" Progress with a rate (at most 4/s)."""
    start = time.perf_counter()
    last = [start]

    def report(done: int, total: int) -> None:
        now = time.perf_counter()
        if done < total and now - last[0] < every:
            return
        last[0] = now
        emit(Progress("model", int(done), int(total), message, done / max(now - start, 1e-6)))

    return report
