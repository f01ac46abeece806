"""Worker-side state: the session, the user's loose photos and their features.

Why apart from the jobs: both runners and the long-job thread share this one
object. It is never touched by a panel; the GUI thread only hands it to jobs.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from zsl_desktop.app.results import LooseAdded, LooseItem, ModelSummary

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}
MAX_LOOSE_PER_DROP = 2000


class EngineContext:
    """Worker-side state: the session and the loose photos' features. Never touched by panels."""

    def __init__(self):
        self.session = None
        self.generation = 0
        self.loose: list[LooseItem] = []
        self._loose_grid: dict[str, np.ndarray] = {}
        self._loose_pooled: dict[str, np.ndarray] = {}
        self._codes_cache: tuple | None = None  # (key, codes [N + L, ...])
        self._backbone = None
        self._backbone_key = None

    # -- codes ----------------------------------------------------------------------
    def model(self):
        session = self.session
        if session is None or session.model is None:
            raise NoModel("no model: train one in the Training panel or load a checkpoint")
        return session.model

    def all_codes(self) -> np.ndarray:
        """Codes of every item: the dataset's (cached by the session) then the loose photos'."""
        state = self.model()
        loose = list(self.loose)  # photos may be added on the other runner meanwhile
        key = (id(state), len(loose))
        cached = self._codes_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        codes = state.codes
        if loose:
            codes = np.concatenate([codes, self._encode_loose(state.method, loose)])
        self._codes_cache = (key, codes)
        return codes

    def _encode_loose(self, method, items) -> np.ndarray:
        import torch

        kind = method.feature_kind
        store = self._loose_grid if kind == "grid" else self._loose_pooled
        rows = np.stack([store[i.path] for i in items]).astype(np.float32)
        with torch.inference_mode():
            return method.encode(torch.from_numpy(rows))

    def item_features(self, item: int, kind: str):
        import torch

        session = self.session
        n = session.dataset.num_samples
        if item < n:
            return session.features.rows(kind, [item])[0]
        path = self.loose[item - n].path
        store = self._loose_grid if kind == "grid" else self._loose_pooled
        return torch.from_numpy(store[path].astype(np.float32))

    def invalidate_codes(self) -> None:
        """The active model changed: the photos' codes are recomputed on the next request."""
        self._codes_cache = None

    def reset_loose(self) -> None:
        """A new dataset: the user's photos start over (their features may come from another backbone)."""
        self.loose = []
        self._loose_grid, self._loose_pooled = {}, {}
        self._codes_cache = None

    def item_path(self, item: int) -> str | None:
        session = self.session
        n = session.dataset.num_samples
        if item >= n:
            return self.loose[item - n].path
        return str(session.dataset.image_path(item)) if session.dataset.has_images else None

    # -- loose photos -------------------------------------------------------------------
    def backbone(self):
        from zsl_desktop.engine.backbones import load_backbone

        session = self.session
        key = (session.backbone, session.device)
        if self._backbone_key != key:
            self._backbone = load_backbone(session.backbone, device=session.device)
            self._backbone_key = key
        return self._backbone

    def add_loose(self, paths, ticket=None) -> LooseAdded:
        """Extract features of new photos (never written into a dataset); returns the added items."""
        import torch

        from zsl_desktop.engine.backbones import preprocess
        from zsl_desktop.engine.images import describe, open_image

        session = self.session
        if session is None:
            raise NoModel("open a dataset first")
        generation = self.generation
        known = {i.path for i in self.loose}
        added, errors = [], []
        todo = [str(p) for p in paths if str(p) not in known]
        model = self.backbone()
        spec = model.spec
        for start in range(0, len(todo), 16):
            batch, batch_paths = [], []
            for path in todo[start:start + 16]:
                try:  # the engine's image gate: pipes, huge and damaged files are refused with a reason
                    batch.append(preprocess(open_image(path), spec, session.input_size))
                    batch_paths.append(path)
                except Exception as exc:  # unreadable file: say which and why, keep going
                    errors.append((path, describe(exc)))
            if not batch:
                continue
            with torch.inference_mode():
                grid, pooled = model(torch.stack(batch))
            if self.generation != generation:  # another dataset was opened meanwhile
                break
            for k, path in enumerate(batch_paths):
                self._loose_grid[path] = grid[k].numpy().astype(np.float16)
                self._loose_pooled[path] = pooled[k].numpy().astype(np.float16)
                item = LooseItem(path=path, name=Path(path).name)
                self.loose.append(item)
                added.append(item)
        self._codes_cache = None
        return LooseAdded(tuple(added), tuple(errors))


class NoModel(RuntimeError):
    """A request needs a model and none is active."""


def summarize(method, header: dict, source: str) -> ModelSummary:
    return ModelSummary(method=str(header.get("method", method.name)), title=type(method).title or method.name,
                        header=dict(header), has_attention=bool(type(method).has_attention),
                        generative=bool(type(method).generative), source=str(source))


def collect_images(paths, limit: int = MAX_LOOSE_PER_DROP) -> tuple[list[str], list[str]]:
    """Image files among ``paths`` (folders searched recursively, sorted); also what was skipped."""
    found, skipped = [], []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for name in sorted(files):
                    if Path(name).suffix.lower() in IMAGE_SUFFIXES:
                        found.append(str(Path(root) / name))
        elif p.suffix.lower() in IMAGE_SUFFIXES:
            found.append(str(p))
        else:
            skipped.append(str(p))
    if len(found) > limit:
        skipped.append(f"{len(found) - limit} more images (at most {limit} at a time)")
        found = found[:limit]
    return found, skipped
