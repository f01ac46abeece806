"""The method protocol every ZSL method implements, and the registry.

Why this shape:
- ``fit`` is a generator of events, so the same code runs in the CLI (a
  progress bar), in the GUI worker thread (signals) and in tests (a list).
  It calls ``control.check()`` every batch: that blocks while paused and
  raises ``Cancelled`` when cancelled. It yields an ``EpochEnd`` after each
  epoch; the trainer evaluates on validation data while the generator waits.
- ``encode`` holds the expensive image-side work; ``score`` must be cheap
  (milliseconds for 10k images) for ANY class-attribute matrix, because the
  app calls it on every slider move for classes the user just drew.
- Class attributes arrive raw, in the dataset's own scale (CUB: 0-100); each
  method normalises them its own way in ``prepare_class_attributes``.
- Scores are returned without any seen/unseen bias: calibration (gamma) is
  applied by the evaluator and the app, the same way for every method.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, ClassVar, ContextManager, Iterator

import numpy as np
import torch

# The protocol's vocabulary, defined below the engine's modules and named here for the methods.
from zsl_desktop.engine.events import Cancelled as Cancelled
from zsl_desktop.engine.events import Control as Control
from zsl_desktop.engine.events import EpochEnd as EpochEnd
from zsl_desktop.engine.events import Message as Message
from zsl_desktop.engine.events import Step as Step
from zsl_desktop.engine.events import is_out_of_memory
from zsl_desktop.engine.feature_source import FeatureSource as FeatureSource
from zsl_desktop.engine.live_page import ColumnChange
from zsl_desktop.engine.sharding import Shards

# Under this many seen classes a method may switch to its small-data recipe ("auto" hyper-parameters:
# MSDN's gamma_transfer, SGMA's centre_codes); CUB (40+) and the built-in birds (40) are above it.
FEW_SEEN_CLASSES = 8
# The values of an on/off/"auto" switch (text typed in the CLI or the app, or a bool); None is "auto".
# "validation" fits like "auto" (on under FEW_SEEN_CLASSES), but the trainer chooses on or off for the final
# model on the fold models' validation (``switch_variants``, engine.variants).
SWITCH_VALUES = {
    "auto": None,
    "validation": None,
    "on": True,
    "true": True,
    "1": True,
    "off": False,
    "false": False,
    "0": False,
}


def few_seen_switch(method: str, name: str, value, seen_classes: int) -> bool:
    """An on / off / "auto" hyper-parameter (MSDN's and SGMA's ``centre_codes``): "auto" is on with fewer than
    ``FEW_SEEN_CLASSES`` seen classes. ValueError naming the method and the parameter for any other value."""
    chosen = SWITCH_VALUES.get(str(value).strip().lower(), "unknown")
    if chosen == "unknown":
        raise ValueError(f"{method}: {name} must be auto, validation, on or off, not {value!r}")
    return seen_classes < FEW_SEEN_CLASSES if chosen is None else bool(chosen)


def switch_variants(name: str, value, seen_classes: int) -> dict[str, dict]:
    """``Method.validation_variants`` of an on/off switch set to "validation": with fewer than FEW_SEEN_CLASSES
    seen classes, off and on (off first: a tie keeps the model as it was without the switch); with more, off
    alone (fixed, nothing to choose: CUB and the built-in birds train as with "off"). Any other value: none."""
    if str(value).strip().lower() != "validation":
        return {}
    if seen_classes >= FEW_SEEN_CLASSES:
        return {"off": {name: "off"}}
    return {"off": {name: "off"}, "on": {name: "on"}}


@dataclass
class TrainData:
    """Everything ``fit`` needs, in plain arrays. Class ids are dataset-wide."""

    features: FeatureSource
    train_index: np.ndarray  # rows of the feature store to learn from
    train_labels: np.ndarray  # their class ids
    class_attributes: np.ndarray  # raw [K, A], all classes
    seen_classes: np.ndarray  # classes with training images
    unseen_classes: np.ndarray  # every other class (its attributes are known, its images are not)
    attribute_names: tuple
    attribute_vectors: np.ndarray | None = None  # [A, 300] word vectors, when known
    device: str = "cpu"
    seed: int = 0
    final: bool = False  # a final model's fit (its last epoch's model is kept), not a fold model scored every epoch
    # For methods that go back to the pixels (SGMA re-encodes part crops): every
    # feature-store row's image file, the backbone that made the features, and a
    # folder for caches keyed by the dataset. None for feature-only datasets.
    image_paths: tuple | None = None
    backbone: str = "efficientnet_lite0"
    input_size: int = 224
    cache_dir: Any = None
    dataset_fingerprint: str = ""
    # Under torchrun: this rank's part of every batch and the gradient sums (alone: no-ops).
    shards: Shards = field(default_factory=Shards)


@dataclass(frozen=True)
class Explanation:
    """Why a method scored an image the way it did; every field optional."""

    attribute_scores: np.ndarray | None = None  # [A]
    attention: np.ndarray | None = None  # [A, h, w] per-attribute maps on the feature grid
    part_attention: np.ndarray | None = None  # [P, h, w]
    part_boxes: np.ndarray | None = None  # [P, 4] x0, y0, x1, y1 in [0, 1] image coordinates
    extras: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ModelInfo:
    """What a model was built for; written into every checkpoint header."""

    attribute_names: tuple
    num_classes: int
    feature_kind: str  # "grid" or "pooled"
    channels: int
    grid_size: tuple | None = None


CALIBRATION_RATES = ("expected", "best")  # calibration_rate: engine.readout's aim, or the best fold-mean H's rate


class Method(abc.ABC):
    """Base class of every ZSL method. See the module docstring for the contract."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    feature_kind: ClassVar[str] = "grid"  # which features fit/encode read
    default_hparams: ClassVar[dict] = {}
    # a hyper-parameter whose default changed after files without it were written: the value those files ran
    # with (a resume of such a file must not continue under the new default; engine.resume)
    hparams_before: ClassVar[dict] = {}
    generative: ClassVar[bool] = False
    has_attention: ClassVar[bool] = False
    # True when encode_rows goes back to the pixels (SGMA's part crops): mirrored feature rows
    # (training.with_flips, scoring.encode_rows) do not apply to such a method.
    reencodes_images: ClassVar[bool] = False
    # Where the final model's gamma comes from under validation selection (engine.training):
    # "calibration": a tenth of each seen class is kept out of the final run, and gamma rejects the
    # chosen share of those images; "folds": the final run trains on all of trainval and takes the
    # fold models' mean gamma at the chosen epoch and share; "training_share": the final run trains on all
    # of trainval and gamma sends as large a share of its own training images to unseen classes as the
    # fold models sent of theirs at the chosen epoch and share. A method may let a hyper-parameter choose
    # (``transfer_for``).
    gamma_transfer: ClassVar[str] = "calibration"
    # Validation selection's epoch: 0 takes the best epoch of the smoothed fold-mean curve; k > 0 the
    # earliest epoch within k standard errors of it (engine.selection.choose_operating_point).
    epoch_tolerance: ClassVar[float] = 0.0
    # ``column_change`` gives a bound: live ranking computes the gallery's page first (engine/live_page.py).
    bounded_columns: ClassVar[bool] = False

    @classmethod
    def last_epochs_window(cls, hparams: dict) -> int:
        """Validation selection: 0 chooses the final run's epoch on the folds' curves; k > 0 trains every
        epoch, validates the folds on their last k epochs only and reads the rejection rate off those
        (``engine.selection.choose_operating_point``'s ``last_epochs``). A method opts in by overriding."""
        return 0

    @classmethod
    def transfer_for(cls, hparams: dict, seen_classes: int | None = None) -> str:
        """The gamma transfer of a run with these hyper-parameters (and, where a method's choice depends on
        it, this many seen classes): the ``gamma_transfer`` hyper-parameter where the method has one (GSMFlow,
        CE-GZSL, IPCE), else the class's ``gamma_transfer``. Overridable (MSDN's "auto")."""
        if "gamma_transfer" not in cls.default_hparams:
            return cls.gamma_transfer
        return str({**cls.default_hparams, **(hparams or {})}["gamma_transfer"])

    @classmethod
    def aims_for_readout(cls, hparams: dict) -> bool:
        """``gamma_transfer = "calibration"``: True aims the final model at the rate whose expected fold-mean H
        is best when gamma is read off its few calibration images (``engine.readout``), False at the rate of
        the best fold-mean H. A method with a ``calibration_rate`` hyper-parameter ("expected" or "best") says it
        there; the word is checked here for every such method. Overridable."""
        if "calibration_rate" not in cls.default_hparams:
            return False
        chosen = str({**cls.default_hparams, **(hparams or {})}["calibration_rate"]).strip().lower()
        if chosen not in CALIBRATION_RATES:
            raise ValueError(f"{cls.name}: calibration_rate must be one of {CALIBRATION_RATES}, not {chosen!r}")
        return chosen == "expected"

    @classmethod
    def calibrates_each_model(cls, hparams: dict) -> bool:
        """``gamma_transfer = "calibration"`` with several final models: True gives each final model its own
        calibration images and the run the mean of their gammas (``engine.training.calibration_splits``), False
        one shared split read on the average. Overridable."""
        return False

    @classmethod
    def calibration_fraction(cls, hparams: dict) -> float | None:
        """``gamma_transfer = "calibration"``: the share of each seen class the final run keeps aside to place
        gamma: the ``calibration`` hyper-parameter where the method has one; None (or 0): the trainer's default
        (``engine.training.CALIBRATION_FRACTION``). Overridable."""
        if "calibration" not in cls.default_hparams:
            return None
        return float({**cls.default_hparams, **(hparams or {})}["calibration"]) or None

    @classmethod
    def validation_variants(cls, hparams: dict, seen_classes: int) -> dict[str, dict]:
        """Variants of a run that validation chooses between: name -> hyper-parameters that make it. None (the
        default): nothing to choose. One: fixed for the whole run. Several: the fold models train with
        ``hparams`` as given, are scored as each variant (``scored_as``) every epoch, and the variant with the
        higher best fold-mean validation H trains the final model(s) (engine.variants)."""
        return {}

    def scored_as(self, variant: str) -> ContextManager[None]:
        """A context in which this trained fold model scores as if trained as ``variant`` (of
        ``validation_variants``). Only needed by a method that declares several variants."""
        raise NotImplementedError(f"{self.name} declares no validation variants")

    def __init__(self, info: ModelInfo, hparams: dict | None = None):
        unknown = set(hparams or {}) - set(self.default_hparams)
        if unknown:
            raise ValueError(
                f"{self.name}: unknown hyper-parameters {sorted(unknown)}; known: {sorted(self.default_hparams)}"
            )
        self.info = info
        self.hparams = {**self.default_hparams, **(hparams or {})}
        self.device = "cpu"

    def _hp(self, key: str):
        """A hyper-parameter as the type of its default (values typed in the CLI or the app arrive as text)."""
        value, default = self.hparams[key], self.default_hparams[key]
        if isinstance(default, bool):
            return value.strip().lower() in ("1", "true", "yes", "on") if isinstance(value, str) else bool(value)
        if isinstance(default, (int, float, str)):
            return type(default)(value)
        return value

    # -- training -------------------------------------------------------------
    @abc.abstractmethod
    def fit(self, data: TrainData, control: Control, epochs: int, start_epoch: int = 0) -> Iterator:
        """Yield ``Step``/``EpochEnd``/``Message`` events; call ``control.check()`` every batch."""

    # -- inference ------------------------------------------------------------
    @abc.abstractmethod
    def encode(self, features: torch.Tensor) -> np.ndarray:
        """Per-image codes [N, ...] from features of ``feature_kind`` (the expensive part, cached)."""

    @abc.abstractmethod
    def score(self, codes: np.ndarray, class_attributes: np.ndarray) -> np.ndarray:
        """Logits [N, K] for any raw class-attribute matrix [K, A]. Must be cheap."""

    # -- one class's column, for live ranking (engine/live_page.py) ----------------------------
    def column_change(self, codes: np.ndarray, old_row: np.ndarray, new_row: np.ndarray) -> ColumnChange | None:
        """A bound of how far the column of every code moves when one class row becomes another; None: none cheap.

        Methods whose column is costly for many images give one and set ``bounded_columns`` (the gallery's
        page is then ranked first). MSDN's and SGMA's columns (codes @ rows, 59-312 numbers a code) cost
        less than keeping the reference: measured at 100,000 images, bounding them made a move slower.
        """
        return None

    def column_rows(self, codes: np.ndarray, rows: np.ndarray, class_row: np.ndarray) -> np.ndarray:
        """Scores [len(rows)] of the codes at ``rows`` for one raw class row."""
        return np.asarray(self.score(codes[rows], np.asarray(class_row)[None]), np.float32)[:, 0]

    def prepare_live(self, codes: np.ndarray) -> None:
        """Do now the work a slider move would otherwise pay once per codes array (the session's warm-up calls
        it in the worker); nothing by default."""
        return None

    def column_whole(self, codes: np.ndarray, class_row: np.ndarray, stale=lambda: False) -> np.ndarray | None:
        """Scores [N] of every code for one raw class row; None when ``stale()`` stopped it (methods that check)."""
        return np.asarray(self.score(codes, np.asarray(class_row)[None]), np.float32)[:, 0]

    def prepare_class_attributes(self, class_attributes: np.ndarray) -> np.ndarray:
        """Raw dataset-scale attributes -> what ``score`` multiplies with (default: L2 rows)."""
        a = np.asarray(class_attributes, dtype=np.float32)
        a = np.clip(a, 0.0, None)
        norm = np.linalg.norm(a, axis=1, keepdims=True)
        return a / np.maximum(norm, 1e-8)

    def encode_rows(self, features: FeatureSource, index, device="cpu", chunk: int = 512, progress=None) -> np.ndarray:
        """Codes of many feature-store rows, in chunks so a 10k-image store never sits in memory as float32.

        Out of memory halves the chunk (down to one row) before giving up. A method that
        needs more than the feature rows (SGMA re-encodes part crops) overrides this.
        ``progress(done, total)``, in rows, after each chunk.
        """
        index = np.asarray(index)
        out, i = [], 0
        while i < len(index):
            try:
                out.append(self.encode(features.rows(self.feature_kind, index[i : i + chunk], device)))
            except Exception as exc:  # only out-of-memory is retried
                if chunk == 1 or not is_out_of_memory(exc):
                    raise
                chunk = max(1, chunk // 2)
                if str(device).startswith("cuda"):
                    torch.cuda.empty_cache()
                continue
            i += chunk
            if progress is not None:
                progress(min(i, len(index)), len(index))
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)

    def explain(self, features: torch.Tensor, image=None) -> Explanation:
        """Explanation for one image's features (grid [C, h, w] or pooled [C]).

        ``image`` (a path or PIL image) is the picture itself, for methods that look at its
        pixels again (SGMA crops its parts); the others ignore it.
        """
        return Explanation()

    def synthesize(self, class_attributes: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
        raise NotImplementedError(f"{self.name} is not generative")

    # -- several final models (validation selection) --------------------------------
    def final_models(self) -> int:
        """How many final models the trainer trains, each with its own seed, and averages (engine.training)."""
        return 1

    def adopt_members(self, trained: "Method") -> None:
        """Keep ``trained``'s model(s) as members averaged with this one's (only when ``final_models() > 1``)."""
        raise NotImplementedError(f"{self.name} does not average several models")

    def single_models(self) -> list["Method"]:
        """Each final model alone, in training order (model 0 first), each scoring by itself: what
        ``calibrates_each_model`` reads every model's own gamma with. One model: itself."""
        return [self]

    # -- persistence ------------------------------------------------------------
    @abc.abstractmethod
    def state_dict(self) -> dict:
        """Tensors only (plus plain numbers), so a checkpoint loads with weights_only=True."""

    @abc.abstractmethod
    def load_state_dict(self, state: dict) -> None: ...

    def to(self, device) -> "Method":
        self.device = str(device)
        return self


# -- registry -------------------------------------------------------------------
_REGISTRY: dict[str, type[Method]] = {}


def move_optimizer_state(optimizer, device) -> None:
    """Move an optimizer's per-parameter tensors to ``device``, all but ``step``.

    Why not ``step``: torch's Adam and RMSprop expect it on the CPU unless built
    ``capturable``; a CUDA step fails at the next ``optimizer.step()``.
    """
    if optimizer is None:
        return
    for per_param in optimizer.state.values():
        for key, value in per_param.items():
            if isinstance(value, torch.Tensor) and key != "step":
                per_param[key] = value.to(device)


def register(cls: type[Method]) -> type[Method]:
    """Class decorator: ``@register class MSDN(Method): name = "msdn"``."""
    _REGISTRY[cls.name] = cls
    return cls


def registered() -> dict[str, type[Method]]:
    """Every method registered so far, by name (``methods/__init__.py`` imports the built-ins)."""
    return dict(_REGISTRY)
