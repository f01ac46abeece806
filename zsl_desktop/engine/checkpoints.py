"""Checkpoint files: a JSON header plus tensors, loaded without executing code.

The file is a ``torch.save`` of ``{"format": str, "header": <json text>, "state": {name: tensor}}``.
It is read with ``torch.load(weights_only=True)``, which refuses anything but
tensors and plain containers, so a file carrying a pickle payload is refused
before the payload can run. Writes go through a temp file and ``os.replace``.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from zsl_desktop.engine.atomic import atomic_write_bytes

FORMAT = "zsl-desktop-checkpoint/1"


class CheckpointError(Exception):
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
    """Write atomically: an interrupted save leaves the previous file intact."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "header": json.dumps(header), "state": _to_cpu(state)}, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def load_checkpoint(path) -> Checkpoint:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: the file is empty")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for damaged or hostile files
        text = str(exc)
        if "Weights only load failed" in text or "Unsupported global" in text:
            raise CheckpointError(
                f"{path}: refused: the file contains Python objects other than tensors "
                f"(it could run code when loaded), so it was not opened"
            ) from None
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or corrupt: {type(exc).__name__})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a ZSL Desktop checkpoint (format {FORMAT} expected)")
    try:
        header = json.loads(blob["header"])
        state = blob["state"]
        header["method"]
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"{path}: the checkpoint header is damaged") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: the checkpoint has no weights")
    return Checkpoint(header=header, state=state, path=path)


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
