"""The active model's last scores on a feature store, kept so a later start can show them at once (issue #19).

Why: with 100,000 images most of a start-up is importing torch (~2 s of CPU) and loading the model, yet
the scores of one model on one store's features against one set of classes never change. A snapshot of
them, read with numpy alone, lets the window show real predictions while torch loads; the live engine
takes over once it is ready.

A snapshot is shown only when it is proven current, so a stale or damaged one is never shown:
- its name and its content carry a key over everything the scores depend on: the checkpoint file's
  bytes, the store (its folder, which names the dataset's fingerprint and the backbone, its manifest and
  which rows are extracted), the classes scored (names, kinds, attributes) and the test-time flips;
- the scores carry their own SHA-256, checked on every read;
- it is written atomically (temp file + ``os.replace``) and read through the user-file gate (kind
  ``"predictions"``), as a plain ``.npz`` with ``allow_pickle=False``;
- re-extracting any image deletes the store's snapshots (``features._forget_rows``), as it does the codes;
- a store keeps its ``KEEP_NEWEST`` newest snapshots: every saved class or other model makes a new key
  (~20 MB at 100,000 images), and only the last one is read at the next start.
Any mismatch, truncation or damage reads as "no snapshot": the caller then waits for the live engine.

No torch here: the app's start-up reads a snapshot before torch is imported.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zsl_desktop.engine.atomic import atomic_write_bytes
from zsl_desktop.engine.session.results import ClassSet
from zsl_desktop.engine.userfiles import UserFileError, read_bytes

FORMAT = 2  # bump when the content changes meaning: every older snapshot then reads as stale
PREFIX = "predictions-"
FIELDS = ("format", "key", "digest", "scores", "class_names", "class_kinds", "model_gamma")
KEEP_NEWEST = 2  # snapshots per store: the last model's and one before it (switching back and forth stays fast)
STORE_FILES = {"manifest.json": "json", "done.u8": "table"}  # the store's state (gate kinds): which rows hold what


@dataclass(frozen=True)
class PredictionSnapshot:
    """Raw scores of every item against ``class_names`` ([N, C] float32), as the live engine made them."""

    key: str
    scores: np.ndarray
    class_names: tuple[str, ...]
    class_kinds: tuple[str, ...]
    model_gamma: float = 0.0  # the model's calibration (its header's γ), for the panels before the model loads


def checkpoint_sha256(path) -> str | None:
    """SHA-256 of a checkpoint file's bytes (through the gate), or None when it cannot be read."""
    try:
        return hashlib.sha256(read_bytes(path, "checkpoint")).hexdigest()
    except (UserFileError, OSError):
        return None


def snapshot_key(checkpoint_digest: str | None, store_folder, classes: ClassSet, tta: bool = False) -> str | None:
    """The key over everything the scores depend on; None when one part is unknown (then nothing is kept)."""
    if not checkpoint_digest:
        return None
    folder = Path(store_folder)
    h = hashlib.sha256()
    h.update(f"format {FORMAT}\0checkpoint {checkpoint_digest}\0tta {bool(tta)}\0store {folder.name}\0".encode())
    for name, kind in STORE_FILES.items():
        try:
            h.update(name.encode() + b"\0" + read_bytes(folder / name, kind) + b"\0")
        except (UserFileError, OSError):
            return None
    h.update("\n".join(classes.names).encode() + b"\0" + "\n".join(classes.kinds).encode() + b"\0")
    matrix = np.ascontiguousarray(classes.matrix, dtype=np.float64)
    h.update(str(matrix.shape).encode() + b"\0" + matrix.tobytes())
    return h.hexdigest()[:32]


def snapshot_path(key: str, store_folder) -> Path:
    return Path(store_folder) / f"{PREFIX}{key}.npz"


def scores_digest(scores: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(scores, dtype=np.float32).tobytes()).hexdigest()


def write_snapshot(path, key: str, scores: np.ndarray, classes: ClassSet, model_gamma: float = 0.0) -> bool:
    """Keep ``scores`` [N, C] of ``classes`` under ``key``; False when it could not be written (it only costs time)."""
    scores = np.ascontiguousarray(scores, dtype=np.float32)
    if scores.ndim != 2 or scores.shape[1] != len(classes.names):
        raise ValueError(f"scores {scores.shape} do not match {len(classes.names)} classes")
    buffer = io.BytesIO()
    np.savez(
        buffer,
        format=np.array(FORMAT, np.int64),
        key=np.array(key),
        digest=np.array(scores_digest(scores)),
        scores=scores,
        class_names=np.array(classes.names, dtype=str),
        class_kinds=np.array(classes.kinds, dtype=str),
        model_gamma=np.array(float(model_gamma), np.float64),
    )
    try:
        atomic_write_bytes(path, buffer.getvalue())
    except OSError:
        return False
    return True


def read_snapshot(path, key: str | None, num_items: int) -> PredictionSnapshot | None:
    """The snapshot at ``path`` if it is whole and current for ``key`` and ``num_items``; else None."""
    if key is None:
        return None
    try:
        data = read_bytes(path, "predictions")
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            fields = {name: npz[name] for name in FIELDS}
    except Exception:  # noqa: BLE001 - missing, truncated or damaged in any way: no snapshot, never an error
        return None
    scores = fields["scores"]
    names, kinds = tuple(str(n) for n in fields["class_names"]), tuple(str(k) for k in fields["class_kinds"])
    whole = (
        int(fields["format"]) == FORMAT
        and str(fields["key"]) == key
        and scores.dtype == np.float32
        and scores.shape == (num_items, len(names))
        and len(kinds) == len(names)
        and str(fields["digest"]) == scores_digest(scores)
    )
    return PredictionSnapshot(key, scores, names, kinds, float(fields["model_gamma"])) if whole else None


def find_snapshot(checkpoint_digest: str | None, store_folder, classes: ClassSet, num_items: int):
    """The current snapshot of the model with ``checkpoint_digest`` on ``store_folder`` for ``classes``, or None.

    Both flip modes are tried: the checkpoint's header (read with torch) decides which one its scores used,
    and each mode has its own key, so at most one of them can be on disk and current.
    """
    if store_folder is None:
        return None
    for tta in (False, True):
        key = snapshot_key(checkpoint_digest, store_folder, classes, tta)
        if key is not None and snapshot_path(key, store_folder).is_file():
            return read_snapshot(snapshot_path(key, store_folder), key, num_items)
    return None


class SnapshotKeeper:
    """The session's producer: keeps the scores of a model loaded from a checkpoint file, once per key."""

    def __init__(self):
        self.checkpoint_digest: str | None = None  # of the active model's file (None: no file behind it)
        self.written: set[str] = set()

    def model_from(self, checkpoint_digest: str | None) -> None:
        self.checkpoint_digest = checkpoint_digest

    def keep(self, store_folder, classes: ClassSet, tta: bool, scores: np.ndarray, model_gamma: float) -> Path | None:
        """Write ``scores`` (every dataset item's, [N, C]) unless this key was written already; the path, or None."""
        key = snapshot_key(self.checkpoint_digest, store_folder, classes, tta)
        if key is None or key in self.written:
            return None
        path = snapshot_path(key, store_folder)
        if not write_snapshot(path, key, scores, classes, model_gamma):
            return None
        self.written.add(key)
        prune_snapshots(store_folder, keep=path)
        return path


def prune_snapshots(store_folder, keep: Path, newest: int = KEEP_NEWEST) -> list[Path]:
    """Delete all but the ``newest`` snapshots in ``store_folder`` (``keep`` always stays); the deleted paths."""
    kept = Path(keep)
    others = [p for p in Path(store_folder).glob(f"{PREFIX}*.npz") if p != kept and p.is_file()]
    others.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    gone = []
    for path in others[max(newest - 1, 0) :]:
        try:
            path.unlink()
            gone.append(path)
        except OSError:  # already gone, or read-only: only disk space is at stake
            pass
    return gone
