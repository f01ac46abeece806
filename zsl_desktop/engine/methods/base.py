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
import threading
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterator

import numpy as np
import torch


class Cancelled(Exception):
    """Raised inside ``fit`` when the user cancels; the trainer keeps the best state so far."""


class Control:
    """Cancel and pause tokens shared between a worker and whoever drives it (thread-safe)."""

    def __init__(self):
        self._cancel = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def cancel(self) -> None:
        self._cancel.set()
        self._running.set()  # wake a paused worker so it can stop

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def is_set(self) -> bool:  # lets a Control stand in for a threading.Event cancel token
        return self._cancel.is_set()

    def check(self) -> None:
        """Call between batches: wait while paused, raise Cancelled when cancelled."""
        while not self._running.wait(0.1):
            pass
        if self._cancel.is_set():
            raise Cancelled()


# -- events -------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """One optimisation step: ``step`` of ``total`` in the whole run, and its loss terms."""

    step: int
    total: int
    epoch: int
    losses: dict


@dataclass(frozen=True)
class EpochEnd:
    epoch: int  # 1-based
    epochs: int


@dataclass(frozen=True)
class Message:
    text: str


# -- what fit receives ----------------------------------------------------------
@dataclass
class FeatureSource:
    """Rows of the feature store a method may read.

    ``grid`` is [N, C, h, w] and ``pooled`` is [N, C] (float16 memory maps,
    or plain arrays); either may be None when the backbone or the dataset
    cannot provide it (xlsa17 files carry pooled features only).
    """

    grid: Any = None
    pooled: Any = None
    images: Any = None  # crops.ImageAccess: the rows' original images, for methods that re-encode crops (SGMA)
    # The same images mirrored left-right (a FeatureSource of the same shape), or None. Its rows are
    # addressed as rows N..2N-1 of this source (``mirrored_rows``), so a method trains on flipped copies
    # by being handed their row numbers and reads them like any other row.
    mirrored: Any = None
    tta: bool = False  # score each image as the mean of its codes and its mirror's (scoring.encode_rows)

    @property
    def num_rows(self) -> int:
        array = self.grid if self.grid is not None else self.pooled
        return 0 if array is None else len(array)

    def mirrored_rows(self, index) -> np.ndarray:
        """The row numbers of the mirrored copies of rows ``index``."""
        if self.mirrored is None:
            raise ValueError("no mirrored features: extract them with --flips (zsl-desktop extract --flips both)")
        return np.asarray(index, np.int64) + self.num_rows

    def rows(self, kind: str, index, device="cpu") -> torch.Tensor:
        index = np.asarray(index, np.int64)
        n = self.num_rows
        if self.mirrored is not None and index.size and index.max() >= n:
            upper = index >= n
            plain = self.rows(kind, index[~upper], device) if (~upper).any() else None
            flipped = self.mirrored.rows(kind, index[upper] - n, device)
            out = flipped.new_empty((len(index), *flipped.shape[1:]))
            out[torch.from_numpy(np.flatnonzero(upper)).to(out.device)] = flipped
            if plain is not None:
                out[torch.from_numpy(np.flatnonzero(~upper)).to(out.device)] = plain
            return out
        array = self.grid if kind == "grid" else self.pooled
        if array is None:
            raise ValueError(f"no {kind} features available")
        order = np.argsort(index)  # memmaps read faster in order
        block = np.asarray(array[index[order]], dtype=np.float32)
        if len(index):
            release_pages(array, int(index[order[0]]), int(index[order[-1]]) + 1)
        out = np.empty_like(block)
        out[order] = block
        return torch.from_numpy(out).to(device)


def release_pages(array, first: int, stop: int) -> None:
    """Unmap rows ``first:stop`` of a file memory map from this process (the OS keeps them cached).

    Why: every page of a memory map once read or written counts in the process's
    resident memory; encoding a 10,000-image grid store would leave 1.25 GB of it
    there. Dropping the mapping costs a cheap re-map on the next read. Shared file
    maps ("r", "r+", "w+") lose nothing (dirty pages stay in the OS cache, to be
    written); copy-on-write maps ("c") would, so they are left alone.
    """
    import mmap

    handle = getattr(array, "_mmap", None)
    if handle is None or getattr(array, "mode", "r") == "c" or not hasattr(mmap, "MADV_DONTNEED"):
        return
    row_bytes = array.itemsize * int(np.prod(array.shape[1:], dtype=np.int64))
    base = getattr(array, "offset", 0) % mmap.ALLOCATIONGRANULARITY  # numpy maps from the aligned offset
    start = base + first * row_bytes
    end = min(len(handle), base + stop * row_bytes)
    start -= start % mmap.PAGESIZE
    if end > start:
        try:
            handle.madvise(mmap.MADV_DONTNEED, start, end - start)
        except (OSError, ValueError):
            pass


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
    # For methods that go back to the pixels (SGMA re-encodes part crops): every
    # feature-store row's image file, the backbone that made the features, and a
    # folder for caches keyed by the dataset. None for feature-only datasets.
    image_paths: tuple | None = None
    backbone: str = "efficientnet_lite0"
    input_size: int = 224
    cache_dir: Any = None
    dataset_fingerprint: str = ""
    # Under torchrun: wraps a trainable module in DistributedDataParallel (None alone).
    wrap: Any = None

    def parallel(self, module: torch.nn.Module) -> torch.nn.Module:
        """The module to call in training: DDP-wrapped under torchrun, itself otherwise."""
        return self.wrap(module) if self.wrap is not None else module


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


class Method(abc.ABC):
    """Base class of every ZSL method. See the module docstring for the contract."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    feature_kind: ClassVar[str] = "grid"  # which features fit/encode read
    default_hparams: ClassVar[dict] = {}
    generative: ClassVar[bool] = False
    has_attention: ClassVar[bool] = False
    # True when fit() runs its trainable modules through ``data.parallel`` (torchrun/DDP ready).
    supports_distributed: ClassVar[bool] = False

    def __init__(self, info: ModelInfo, hparams: dict | None = None):
        unknown = set(hparams or {}) - set(self.default_hparams)
        if unknown:
            raise ValueError(f"{self.name}: unknown hyper-parameters {sorted(unknown)}; "
                             f"known: {sorted(self.default_hparams)}")
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

    def prepare_class_attributes(self, class_attributes: np.ndarray) -> np.ndarray:
        """Raw dataset-scale attributes -> what ``score`` multiplies with (default: L2 rows)."""
        a = np.asarray(class_attributes, dtype=np.float32)
        a = np.clip(a, 0.0, None)
        norm = np.linalg.norm(a, axis=1, keepdims=True)
        return a / np.maximum(norm, 1e-8)

    def explain(self, features: torch.Tensor) -> Explanation:
        """Explanation for one image's features (grid [C, h, w] or pooled [C])."""
        return Explanation()

    def synthesize(self, class_attributes: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
        raise NotImplementedError(f"{self.name} is not generative")

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


def method_names() -> list[str]:
    _load_builtin_methods()
    return sorted(_REGISTRY)


def get_method(name: str) -> type[Method]:
    _load_builtin_methods()
    try:
        return _REGISTRY[name.lower()]
    except KeyError:
        raise KeyError(f"unknown method {name!r}; available: {', '.join(sorted(_REGISTRY))}") from None


def _load_builtin_methods() -> None:
    from zsl_desktop.engine import methods  # noqa: F401  (imports register the built-ins)
