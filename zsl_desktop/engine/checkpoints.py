"""Checkpoint files: a JSON header plus tensors, loaded without executing code.

The file is a ``torch.save`` of ``{"format": str, "header": <json text>, "state": {name: tensor}}``.
It is read with ``torch.load(weights_only=True)``, which refuses anything but
tensors and plain containers, so a file carrying a pickle payload is refused
before the payload can run. Writes go through a temp file and ``os.replace``.

Integrity: the header's ``checksums`` hold a SHA-256 of every tensor (dtype,
shape and bytes), so a file whose bytes changed after it was written (a bad
copy, a flipped bit, an edit) is refused instead of evaluated. Files written
before checksums existed (the shipped ``trained/*.pt`` among them) still load;
for every file the header's types are checked and weights holding NaN or
infinity are refused. (safetensors was considered: it would add a dependency
for what ``weights_only`` loading and these checksums already give.)
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from zsl_desktop.engine.atomic import atomic_write_bytes
from zsl_desktop.engine.errors import ZslError
from zsl_desktop.engine.userfiles import (
    MAX_JSON_DEPTH,
    ZIP_MAGIC,
    check_file,
    file_head,
    json_depth,
    looks_like_text,
    shown_path,
)

FORMAT = "zsl-desktop-checkpoint/1"
FORMAT_FAMILY = "zsl-desktop-checkpoint/"


class CheckpointError(ZslError):
    """A checkpoint is missing, damaged, hostile or made for other data; the message says which."""


@dataclass(frozen=True)
class Checkpoint:
    header: dict
    state: dict
    path: Path | None = None

    @property
    def method(self) -> str:
        return self.header["method"]


def save_checkpoint(path, header: dict, state: dict) -> Path:
    """Write atomically: an interrupted save leaves the previous file intact. Adds the tensors' checksums."""
    state = _to_cpu(state)
    header = {**header, "checksums": tensor_checksums(state)}
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "header": json.dumps(header), "state": state}, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def tensor_checksums(state: dict) -> dict:
    """Dotted tensor name -> SHA-256 (first 32 hex digits) of its dtype, shape and bytes."""
    return {name: _digest(t) for name, t in _tensors(state)}


def _tensors(state, prefix=""):
    if isinstance(state, torch.Tensor):
        yield prefix, state
    elif isinstance(state, dict):
        for k, v in state.items():
            yield from _tensors(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(state, (list, tuple)):
        for i, v in enumerate(state):
            yield from _tensors(v, f"{prefix}.{i}" if prefix else str(i))


def _digest(tensor: torch.Tensor) -> str:
    t = tensor.detach().cpu().contiguous()
    h = hashlib.sha256(f"{t.dtype}{tuple(t.shape)}".encode())
    if t.numel():
        h.update(t.reshape(-1).view(torch.uint8).numpy().data)  # the tensor's own bytes, not copied
    return h.hexdigest()[:32]


def _checkpoint_error(path, problem: str) -> CheckpointError:
    return CheckpointError(f"{shown_path(path)}: {problem}")


def load_checkpoint(path) -> Checkpoint:
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{shown_path(path)}: no such checkpoint file")
    if check_file(path, "checkpoint", _checkpoint_error) == 0:  # the gate: no pipes, devices or folders
        raise CheckpointError(f"{shown_path(path)}: the file is empty")
    foreign = _foreign_kind(path)
    if foreign:
        raise CheckpointError(f"{shown_path(path)}: not a checkpoint: this is {foreign}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for damaged or hostile files
        text = str(exc)
        if "Weights only load failed" in text or "Unsupported global" in text:
            raise CheckpointError(
                f"{shown_path(path)}: refused: the file contains Python objects other than tensors "
                f"(it could run code when loaded), so it was not opened"
            ) from None
        raise CheckpointError(
            f"{shown_path(path)}: not a readable checkpoint (truncated or corrupt: {type(exc).__name__})"
        ) from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        found = blob.get("format") if isinstance(blob, dict) else None
        if isinstance(found, str) and found.startswith(FORMAT_FAMILY):
            raise CheckpointError(
                f"{shown_path(path)}: made by another version of ZSL Desktop (checkpoint format {found!r}; this version "
                f"reads {FORMAT!r}): open it with the version that wrote it, or train the model again"
            )
        raise CheckpointError(
            f"{shown_path(path)}: a PyTorch file but not a ZSL Desktop checkpoint (format {FORMAT} expected; "
            f"a bare state dict or another program's model?): train one with the app or zsl-desktop train"
        )
    try:
        text = blob["header"]
        if not isinstance(text, str) or json_depth(text.encode("utf-8", "replace")) > MAX_JSON_DEPTH:
            raise ValueError
        header = json.loads(text)  # NaN is let through here so check_header names the field
        state = blob["state"]
        header["method"]
    except (KeyError, TypeError, ValueError, RecursionError):
        raise CheckpointError(f"{shown_path(path)}: the checkpoint header is damaged") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{shown_path(path)}: the checkpoint header is damaged")
    if not isinstance(state, dict):
        raise CheckpointError(f"{shown_path(path)}: the checkpoint has no weights")
    check_header(header, path)
    check_weights(header, state, path)
    return Checkpoint(header=header, state=state, path=path)


def _foreign_kind(path: Path) -> str | None:
    """Words for a file that is plainly no PyTorch file (text, NumPy, safetensors, HDF5, a zip of other files),
    from its first bytes and, for a zip, its member names; None for anything torch should judge.

    Without this, ``torch.load`` refuses a text file as "weights only load failed", which the message
    above would report as a file that could run code.
    """
    head = file_head(path)
    if head.startswith(ZIP_MAGIC):
        import zipfile

        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError, ValueError):
            return None  # a torch file cut short: torch's own words (truncated or corrupt)
        if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
            return None
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "") if names else "nothing"
        return f"a zip archive of other files ({shown}), not a PyTorch file"
    if head.startswith(b"\x93NUMPY"):
        return "a NumPy array file (.npy)"
    if head.startswith(b"\x89HDF"):
        return "an HDF5 file (a Keras .h5 model or a MATLAB v7.3 file?)"
    if len(head) > 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < (100 << 20):
        return "a safetensors file (weights without ZSL Desktop's header); timm backbones take it as --backbone-weights"
    if looks_like_text(head):
        return "a text file"
    return None


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# field -> (test, what it must be)
_HEADER_TYPES = {
    "method": (lambda v: isinstance(v, str) and v != "", "a method name"),
    "dataset": (lambda v: isinstance(v, str), "text"),
    "dataset_fingerprint": (lambda v: isinstance(v, str), "text"),
    "backbone": (lambda v: isinstance(v, str), "a backbone name"),
    "feature_kind": (lambda v: v in ("grid", "pooled"), "'grid' or 'pooled'"),
    "input_size": (lambda v: _is_int(v) and 16 <= v <= 4096, "a whole number of pixels from 16 to 4096"),
    "flips": (lambda v: v in ("none", "train", "tta", "both"), "one of none, train, tta, both"),
    "channels": (lambda v: _is_int(v) and v > 0, "a positive whole number"),
    "grid_size": (
        lambda v: isinstance(v, list) and all(_is_int(x) and x > 0 for x in v),
        "a list of positive whole numbers",
    ),
    "attribute_names": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v), "a list of names"),
    "class_names": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v), "a list of names"),
    "seen_classes": (lambda v: isinstance(v, list) and all(_is_int(x) and x >= 0 for x in v), "a list of class ids"),
    "unseen_classes": (lambda v: isinstance(v, list) and all(_is_int(x) and x >= 0 for x in v), "a list of class ids"),
    "gamma": (_is_number, "a finite number"),
    "epochs": (lambda v: _is_int(v) and v >= 0, "a whole number of epochs"),
    "seed": (_is_int, "a whole number"),
    "threads": (lambda v: _is_int(v) and v > 0, "a positive whole number"),
    "hparams": (lambda v: isinstance(v, dict), "an object of hyper-parameters"),
    "checksums": (
        lambda v: isinstance(v, dict) and all(isinstance(x, str) for x in v.values()),
        "an object of checksums",
    ),
}


def check_header(header: dict, where) -> None:
    """Refuse a header field of the wrong type or value (a string input size, a NaN gamma), naming it."""
    for name, (test, words) in _HEADER_TYPES.items():
        if name in header and not test(header[name]):
            shown = repr(header[name])
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            raise CheckpointError(f"{where}: header field {name!r} must be {words}, found {shown}")
    bad = [k for k, v in header.get("hparams", {}).items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        raise CheckpointError(f"{where}: header hyper-parameter {bad[0]!r} is not a finite number")


def check_weights(header: dict, state: dict, where) -> None:
    """Refuse weights whose bytes changed since they were saved, or that hold NaN or infinity."""
    sums = header.get("checksums")
    tensors = dict(_tensors(state))
    if sums is not None:
        missing = sorted(set(sums) - set(tensors))
        extra = sorted(set(tensors) - set(sums))
        if missing or extra:
            name = (missing or extra)[0]
            raise CheckpointError(
                f"{where}: tensor {name!r} is {'missing' if missing else 'not in the checksums'}; "
                f"the file was changed after it was written"
            )
        for name, tensor in tensors.items():
            if _digest(tensor) != sums[name]:
                raise CheckpointError(
                    f"{where}: tensor {name!r} does not match its checksum: the file's bytes "
                    f"changed after it was written (a damaged copy?); refused"
                )
    for name, tensor in tensors.items():
        # the largest magnitude is NaN or infinite exactly when some value is (max propagates NaN);
        # ten times faster than isfinite(...).all() on float16 weights
        if tensor.is_floating_point() and tensor.numel() and not bool(torch.isfinite(tensor.abs().max())):
            raise CheckpointError(f"{where}: tensor {name!r} holds NaN or infinite values; refused")


def check_compatible(checkpoint: Checkpoint, dataset) -> None:
    """Refuse a checkpoint made for other data, with a message saying what differs."""
    header = checkpoint.header
    where = checkpoint.path or "checkpoint"
    names = tuple(header.get("attribute_names", ()))
    if names != dataset.attribute_names:
        raise CheckpointError(
            f"{where}: made for {len(names)} attributes of {header.get('dataset', '?')!r}, "
            f"but {dataset.name!r} has {dataset.num_attributes} different ones"
        )
    if header.get("dataset_fingerprint") != dataset.fingerprint:
        raise CheckpointError(
            f"{where}: trained on dataset {header.get('dataset', '?')!r} "
            f"(fingerprint {header.get('dataset_fingerprint')}), not on {dataset.name!r} "
            f"(fingerprint {dataset.fingerprint}): its classes, images or split differ"
        )


def _to_cpu(state):
    if isinstance(state, torch.Tensor):
        return state.detach().cpu()
    if isinstance(state, dict):
        return {k: _to_cpu(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_to_cpu(v) for v in state)
    return state
