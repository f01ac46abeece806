"""Plain payloads the session hands out: what crosses from the worker threads to the panels (no Qt, no tensors).

Why frozen dataclasses: a result may be read by several panels on the GUI
thread while the worker already computes the next one; immutability makes
that safe without locks, and it keeps tensors (and the models that own them)
on the worker side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zsl_desktop.engine.data.model import Dataset

# Item ids: 0..N-1 are the dataset's images, N.. are the user's loose photos (in the order added).


@dataclass(frozen=True)
class ModelSummary:
    """What the panels may know about the active model."""

    method: str
    title: str
    header: dict
    has_attention: bool
    generative: bool
    source: str  # a file path, "trained in this session", ...

    @property
    def gamma(self) -> float:
        return float(self.header.get("gamma", 0.0))

    @property
    def metrics(self) -> dict:
        return dict(self.header.get("metrics") or {})

    @property
    def label(self) -> str:
        return f"{self.title or self.method} · {Path(self.source).name if '/' in self.source else self.source}"


@dataclass(frozen=True)
class Progress:
    """A long job's progress: ``stage`` is preview / generate / extract / model / warmup / train."""

    stage: str
    done: int
    total: int
    message: str = ""
    rate: float = 0.0  # units per second, for an ETA
    step: int = 0  # this stage's place among the opening's slow stages (1-based; 0: not one of them)
    steps: int = 0  # how many slow stages this opening has (4 on the first launch: first birds, draw, extract, model)

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    @property
    def eta_seconds(self) -> float | None:
        if self.rate <= 0 or self.total <= 0:
            return None
        return max(0.0, (self.total - self.done) / self.rate)


@dataclass(frozen=True)
class DatasetLoaded:
    """The dataset is read and torch not yet imported: the window may show it with the model's kept
    predictions (``session/snapshot``) while torch and the model load (issue #19). ``DatasetReady`` follows."""

    dataset: Dataset
    generation: int
    store_folder: Path | None  # the store the opening looks in (None: not known without torch)
    checkpoint_digest: str | None  # SHA-256 of the checkpoint file the opening tries first


@dataclass(frozen=True)
class DatasetReady:
    """The dataset is loaded: the gallery and the class editor can start. Features and a model follow."""

    dataset: Dataset
    model: ModelSummary | None
    features_ready: bool
    warnings: tuple[str, ...] = ()
    generation: int = 0
    model_coming: bool = False  # the job will try a model (injected or a checkpoint file that exists)
    coming: int = 0  # a first chunk (first launch): the images the whole dataset will have; 0: this is all of it
    session: object = field(default=None, repr=False, compare=False)  # for the bridge only; never for a panel


@dataclass(frozen=True)
class FeaturesReady:
    """The dataset's features are extracted (training and the feature view can start)."""

    generation: int = 0


@dataclass(frozen=True)
class Notice:
    """Something the user should know that is not an error (e.g. a checkpoint that did not fit)."""

    text: str


@dataclass(frozen=True)
class TrainProgress:
    """Steps since the last emit, coalesced by the worker (at most ~15 per second)."""

    phase: str
    step: int
    total: int
    epoch: int
    rate: float
    steps: np.ndarray  # [n] global step numbers of the new points
    losses: dict  # name -> [n] values


@dataclass(frozen=True)
class TrainDone:
    cancelled: bool
    model: ModelSummary | None
    report: object | None  # evaluation.EvaluationReport (plain numpy inside)
    message: str = ""


@dataclass(frozen=True)
class ClassSet:
    """Every class an image is scored against: the dataset's, the user's saved ones, and the draft being drawn."""

    names: tuple[str, ...]
    kinds: tuple[str, ...]  # "seen" | "unseen" | "user" | "draft"
    matrix: np.ndarray  # [C, A] raw class attributes
    draft_column: int | None = None  # the draft's row in ``matrix`` (None: no draft)


@dataclass(frozen=True)
class LiveRequest:
    """Score ``item`` (None: no image selected) against ``classes``, and rank every item by the draft."""

    item: int | None
    classes: ClassSet
    generation: int = 0
    gamma: float = 0.0  # the calibration the ranking uses (the predictions panel's γ)
    real_bird_classes: tuple = ((), None)  # (names, [U, 312]) the user's classes on CUB's attributes, for a photo
    # The gallery's page first (engine/live_page.py): how many rows of the ranking it needs final first
    # (0: none, the whole ranking at once) among which items (its filters; None: every item).
    first_rows: int = 0
    shown: np.ndarray | None = None


@dataclass(frozen=True)
class LiveScores:
    """Scores of the selected item against every class in the request, and of every item against the draft."""

    item: int
    class_names: tuple[str, ...]
    class_kinds: tuple[str, ...]  # "seen" | "unseen" | "user" | "draft"
    scores: np.ndarray | None  # [C] raw scores of ``item`` (None when no item is selected)
    draft_column: int | None
    draft_rank: np.ndarray | None  # [N + L] log p(draft | item), calibrated against every class: the ranking
    generation: int = 0
    predicted_by: str = ""  # "" = the active model; else the model that scored this photo (the real-bird one)
    gamma_offset: float = 0.0  # that model's γ minus the active model's: the γ slider keeps its meaning
    out_of_domain: bool = False  # the photo is far from everything the predicting model was trained on
    final: bool = True  # False: sent before the whole column, only the gallery's page of ``draft_rank`` is final


@dataclass(frozen=True)
class RefineRequest:
    """Refine the draft (``classes.draft_column``) from ``start`` with images marked "is this" / "is not this"."""

    classes: ClassSet
    start: np.ndarray  # [A] the definition the marks refine (the user's own, before any refinement)
    positives: tuple[int, ...]  # item ids marked "is this"
    negatives: tuple[int, ...]  # item ids marked "is not this"
    value_range: tuple[float, float]
    generation: int = 0
    gamma: float = 0.0  # the ranking's calibration (the predictions panel's γ)


@dataclass(frozen=True)
class RefinedClass:
    """The refined attribute vector of the draft and the marks it came from."""

    values: np.ndarray  # [A] within the value range
    start: np.ndarray  # [A] what it was refined from
    positives: tuple[int, ...]
    negatives: tuple[int, ...]
    objective_before: float
    objective_after: float
    generation: int = 0


@dataclass(frozen=True)
class DraftCluster:
    """The drawn class's synthesised features [m, 2], placed on the feature view's current map."""

    points: np.ndarray
    generation: int = 0
    placed_on: object = None  # the map used: a result for a map the view has since replaced is dropped


@dataclass(frozen=True)
class AllScores:
    """Raw scores of every item [N + L, C] against the dataset classes followed by the saved user classes."""

    scores: np.ndarray
    class_names: tuple[str, ...]
    class_kinds: tuple[str, ...]
    generation: int = 0
    # ``evaluation.gallery_predictions`` at ``gamma``, made on the worker when asked for (100,000 images: ~30 ms
    # of CPU that held up a frame of the GUI thread); None when not asked for.
    predicted: np.ndarray | None = None
    gamma: float | None = None


@dataclass(frozen=True)
class Explained:
    item: int
    attribute_scores: np.ndarray | None  # [A]
    attention: np.ndarray | None  # [A, h, w] on the feature grid
    part_boxes: np.ndarray | None = None  # [P, 4] in [0, 1] of the model's view square (SGMA)
    part_attention: np.ndarray | None = None
    generation: int = 0
    crops: tuple = ()  # uint8 RGB crops of the parts, when the method makes them


@dataclass(frozen=True)
class ImageData:
    item: int
    rgb: np.ndarray  # uint8 [H, W, 3]
    path: str
    original_size: tuple[int, int]  # (width, height) on disk, for part coordinates
    generation: int = 0


@dataclass(frozen=True)
class LooseItem:
    path: str
    name: str


@dataclass(frozen=True)
class LooseAdded:
    items: tuple[LooseItem, ...]
    errors: tuple[tuple[str, str], ...] = ()  # (path, problem)
    generation: int = 0


@dataclass(frozen=True)
class Evaluated:
    report: object  # evaluation.EvaluationReport
    gamma_source: str = ""
    generation: int = 0


@dataclass(frozen=True)
class Saved:
    """The active model was written to ``path``."""

    path: str
    generation: int = 0


@dataclass(frozen=True)
class JobFailed:
    name: str
    message: str
    details: str = field(default="", repr=False)
