"""FeatureStore: run the frozen backbone once per (dataset, backbone, input size), memory-map after.

A second, optional store per key holds the same images mirrored left-right (key suffix ``-hflip``):
extra training rows (flip augmentation, extracted once instead of every epoch) and the second view
of flip test-time averaging. The unmirrored key is what it always was, so existing stores are read.

The store's files and why they are made the way they are: ``store_files``.

Why ``sources.npy``: the folder is keyed by the dataset's name and listing,
which say nothing about the pixels. Each image's size, modification time and
a cheap hash (BLAKE2b of its first and last 16 KB and its size) are recorded;
on every open the files are stat'ed, a file whose size or time changed is
hashed again, and a row whose content changed (an image fixed, replaced, or
another dataset with the same name and listing) is extracted again, alone.
A store written before ``sources.npy`` existed is adopted as it is (its
stamps recorded on first open). The app's opening puts this check off until
its first predictions are shown (``FeatureStore.open(check_images=False)``,
then ``changed_images``): at 100,000 images it is a stat of 100,000 files.
Feature-only datasets (xlsa17 ``res101.mat``) need no store: their pooled
features are served straight from the dataset.

What lives beside it: the images' stamps in ``image_stamps``, what a method reads in ``feature_source``,
and the backbone's out-of-memory fallbacks in ``extraction``.
"""

from __future__ import annotations

import logging
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from zsl_desktop.engine import paths
from zsl_desktop.engine.data.model import Dataset
from zsl_desktop.engine.distributed import context as dist_context
from zsl_desktop.engine.backbones import load_backbone, preprocess, spec_for, store_name
from zsl_desktop.engine.events import prefetch, run_to_end
from zsl_desktop.engine.extraction import BackboneRunner, ExtractionCancelled, default_device
from zsl_desktop.engine.feature_source import FeatureSource, ImageAccess
from zsl_desktop.engine.flip_modes import FLIP_MODES as FLIP_MODES
from zsl_desktop.engine.image_stamps import changed_rows, image_stamps, read_sources, write_sources
from zsl_desktop.engine.images import describe, open_image
from zsl_desktop.engine.store_files import (
    STORE_VERSION,
    commit_rows,
    map_rows,
    read_manifest,
    start_store,
    write_status,
)
from zsl_desktop.engine.store_names import store_key_with
from zsl_desktop.engine.userfiles import check_writable

log = logging.getLogger(__name__)

# The CPU batch: the backbone runs its early stages 4 images at a time and the late ones on all 16
# (``EfficientNetLite.fused_features``). Issue #19, CPU time per image (busy 2-core Xeon, one thread): whole
# batches of 4/8/16/32 ran at 88-99/85-99/86-88/73-76 img/s (AVX2 only: 57-59/55-65/58-60/49-51), so more than
# 4 at once never helped on its own; 16 with the early stages in fours against 4, the whole backbone,
# alternated, medians of 8: 15.1 vs 16.6 ms an image (AVX2 only: 19.1 vs 22.0); two threads, nearly quiet
# (load 0.6-0.9), wall time, three runs of 8 pairs: 7.8/9.8/10.3 vs 9.5/10.3/12.2 ms. Progress comes per batch;
# the first launch's 200 preview birds are 13 batches.
CPU_BATCH_SIZE = 16
GPU_BATCH_SIZE = 64
FLUSH_SECONDS = 2.0  # a kill loses at most this much work; flushing every batch cost more than the model


@dataclass(frozen=True)
class ExtractProgress:
    done: int
    total: int
    images_per_second: float
    message: str = ""


def store_key(dataset: Dataset, backbone: str, input_size: int, mirrored: bool = False) -> str:
    """``<dataset>-<fingerprint>-<backbone>-<input size>[-hflip]``: one store per way of making features."""
    return store_key_with(dataset, store_name(backbone), input_size, mirrored)


def flips_need_mirrored(flips: str) -> bool:
    """Whether a flip mode reads the mirrored store (every mode but "none")."""
    if flips not in FLIP_MODES:
        raise ValueError(f"flips must be one of {', '.join(FLIP_MODES)}, not {flips!r}")
    return flips != "none"


class FeatureStore:
    """Read access to extracted features; use ``open_or_extract`` / ``extract`` to make one."""

    def __init__(self, folder: Path, manifest: dict):
        self.folder = Path(folder)
        self.manifest = manifest
        n = manifest["num_images"]
        self.grid = np.memmap(self.folder / "grid.f16", np.float16, "r", shape=(n, *manifest["grid_shape"]))
        self.pooled = np.memmap(self.folder / "pooled.f16", np.float16, "r", shape=(n, manifest["channels"]))

    @property
    def failed(self) -> dict:
        """Relative image path -> why it could not be read (its rows are zeros)."""
        return self.manifest.get("failed", {})

    def source(self) -> FeatureSource:
        return FeatureSource(grid=self.grid, pooled=self.pooled)

    @property
    def mirrored(self) -> bool:
        """True for a store of left-right mirrored images (stores from before flips have no such field)."""
        return bool(self.manifest.get("mirrored", False))

    @staticmethod
    def folder_for(
        dataset: Dataset, backbone: str, input_size: int, root: Path | None = None, mirrored: bool = False
    ) -> Path:
        return Path(root or paths.feature_store_dir()) / store_key(dataset, backbone, input_size, mirrored)

    @classmethod
    def open(
        cls,
        dataset: Dataset,
        backbone: str,
        input_size: int,
        root: Path | None = None,
        mirrored: bool = False,
        check_images: bool = True,
    ):
        """The complete store for this key whose images are unchanged on disk, or None (then extract).

        ``check_images=False`` skips the images' check (a stat of every file: ~0.4 s at 100,000 images),
        trusting the store for now: the caller checks later with ``changed_images`` (the app's opening
        does, once the first predictions are on screen).
        """
        folder = cls.folder_for(dataset, backbone, input_size, root, mirrored)
        manifest = read_manifest(folder)
        if manifest is None or manifest.get("status") != "complete":
            return None
        if manifest.get("key") != store_key(dataset, backbone, input_size, mirrored):
            return None
        if check_images and len(changed_rows(dataset, folder)):
            return None  # ``extract`` re-reads just those images
        return cls(folder, manifest)

    def changed_images(self, dataset: Dataset) -> int:
        """How many of ``dataset``'s images changed on disk since this store's features were extracted."""
        return len(changed_rows(dataset, self.folder))


def _forget_rows(folder: Path, dataset: Dataset, manifest: dict, rows: np.ndarray, done) -> dict:
    """Mark changed images for extraction again; drop what was derived from their old pixels."""
    done[rows] = 0
    done.flush()
    paths = dataset.image_paths or ()
    names = {paths[int(i)] for i in rows}
    failed = {k: v for k, v in manifest.get("failed", {}).items() if k not in names}
    for cache in [*folder.glob("codes-*.npy"), *folder.glob("predictions-*.npz")]:  # codes, scores of the old features
        cache.unlink(missing_ok=True)
    for crops in folder.glob("sgma-crops-*"):  # crop features of the old pixels
        shutil.rmtree(crops, ignore_errors=True)
    manifest = write_status(folder, manifest, failed, "partial")
    write_sources(folder, image_stamps(dataset, read_sources(folder, dataset.num_samples)))
    return manifest


def feature_source(
    dataset: Dataset, store: FeatureStore | None, mirrored: FeatureStore | None = None, tta: bool = False
) -> FeatureSource:
    """Features for a method: the store's, or the dataset's own pooled features (xlsa17).

    ``mirrored``: the store of the same images mirrored (rows N..2N-1 of the source, see FeatureSource);
    ``tta``: average each image's codes with its mirror's when scoring.
    """
    if store is not None:
        source = store.source()
        source.images = ImageAccess.for_store(dataset, store) if dataset.has_images else None
        if mirrored is not None:
            source.mirrored = mirrored.source()
            source.tta = bool(tta)
        return source
    if dataset.features is not None:
        return FeatureSource(grid=None, pooled=dataset.features)
    raise ValueError(f"{dataset.name}: features have not been extracted yet")


def extract(
    dataset: Dataset,
    backbone: str = "efficientnet_lite0",
    input_size: int | None = None,
    root: Path | None = None,
    device: str | None = None,
    batch_size: int | None = None,
    cancel=None,
    mirrored: bool = False,
):
    """Generator: extract (or resume) the store, yielding ExtractProgress; returns the FeatureStore.

    ``mirrored``: the store of every image mirrored left-right (its own key, see the module docstring).
    Use ``store = yield from extract(...)`` or :func:`extract_all`.
    """
    if not dataset.has_images:
        raise ValueError(f"{dataset.name} has precomputed features only; nothing to extract")
    spec = spec_for(backbone)
    input_size = input_size or spec.default_input_size
    device = device or default_device()
    batch_size = batch_size or (GPU_BATCH_SIZE if device.startswith("cuda") else CPU_BATCH_SIZE)
    folder = FeatureStore.folder_for(dataset, backbone, input_size, root, mirrored)
    key = store_key(dataset, backbone, input_size, mirrored)
    n = dataset.num_samples

    existing = read_manifest(folder)
    changed = np.zeros(0, np.int64)
    if existing is not None and existing.get("key") == key:
        changed = changed_rows(dataset, folder, write=not dist_context().active)
        if existing.get("status") == "complete" and len(changed) == 0:
            yield ExtractProgress(n, n, 0.0, "features already extracted")
            return FeatureStore(folder, existing)
    check_writable(folder / "manifest.json", "feature store")  # a read-only disk: said now, in words

    dist = dist_context()
    if dist.active and device == default_device():
        device = dist.device
    model = load_backbone(backbone, device=device)
    spec = model.spec  # a timm backbone knows its channels and stride once built
    fresh = existing is None or existing.get("key") != key
    if dist.active and not dist.is_main:
        # Under torchrun rank 0 creates (or keeps) the files; the others open them afterwards.
        dist.barrier()
        existing, fresh = read_manifest(folder), False
        dist.barrier()
    if not fresh:
        if existing is None:  # another rank's store that cannot be read
            raise OSError(f"{folder}: the feature store's manifest is missing or damaged")
        manifest = existing
    else:
        manifest = start_store(folder, _new_manifest(dataset, key, backbone, input_size, mirrored, spec))
    grid_shape = _grid_shape(spec, input_size)
    grid, pooled, done = map_rows(folder, n, grid_shape, spec.channels, fresh, dist.is_main)
    if fresh and dist.is_main:
        write_sources(folder, image_stamps(dataset))  # what the rows will be extracted from
    if len(changed) and not fresh and dist.is_main:
        manifest = _forget_rows(folder, dataset, manifest, changed, done)
        yield ExtractProgress(n - len(changed), n, 0.0, f"{len(changed)} images changed on disk: extracting them again")
    if dist.active and dist.is_main:
        grid.flush()
        dist.barrier()  # files exist: the other ranks may open them
        dist.barrier()  # ... and have opened them
    todo = np.flatnonzero(done == 0)
    if dist.active:
        todo = dist.shard_rows(todo)  # rank r takes rows r, r+N, ... (DistributedSampler order)
    if len(todo) < n:
        yield ExtractProgress(n - len(todo), n, 0.0, f"resuming: {n - len(todo)} of {n} already extracted")

    writer = _StoreWriter(folder, manifest, grid, pooled, done, dataset.image_paths or (), dist.is_main)
    loader = _ImageLoader(dataset, spec, input_size, mirrored)
    count = yield from _run_backbone(BackboneRunner(model, batch_size), loader, writer, todo, batch_size, cancel)
    return _finish(dataset, backbone, writer, count)


def _grid_shape(spec, input_size: int) -> list[int]:
    h = w = spec.grid_size(input_size)
    return [spec.channels, h, w]


def _new_manifest(dataset: Dataset, key: str, backbone: str, input_size: int, mirrored: bool, spec) -> dict:
    """The manifest of a store about to be extracted: nothing done yet, nothing failed."""
    return {
        "version": STORE_VERSION,
        "key": key,
        "dataset": dataset.name,
        "fingerprint": dataset.fingerprint,
        "backbone": backbone,
        "input_size": input_size,
        "mirrored": bool(mirrored),
        "num_images": dataset.num_samples,
        "channels": spec.channels,
        "grid_shape": _grid_shape(spec, input_size),
        "status": "partial",
        "failed": {},
    }


class _ImageLoader:
    """One row's image, preprocessed (and mirrored for a mirrored store), or zeros and why it was unreadable."""

    def __init__(self, dataset: Dataset, spec, input_size: int, mirrored: bool):
        self.dataset, self.spec, self.input_size, self.mirrored = dataset, spec, input_size, mirrored

    def __call__(self, i):
        try:
            x = preprocess(open_image(self.dataset.image_path(int(i))), self.spec, self.input_size)
            return (x.flip(-1) if self.mirrored else x), None
        except Exception as exc:  # any unreadable image: record it, keep going
            return torch.zeros(3, self.input_size, self.input_size), describe(exc)


class _StoreWriter:
    """A store being written: its manifest, the unreadable images so far, and the three memory-mapped arrays."""

    def __init__(self, folder: Path, manifest: dict, grid, pooled, done, image_paths, is_main: bool):
        self.folder, self.manifest, self.is_main = folder, manifest, is_main
        self.grid, self.pooled, self.done = grid, pooled, done
        self.image_paths = image_paths
        self.failed = dict(manifest.get("failed", {}))
        self.unflushed: list = []

    def write(self, rows, g, p, loaded) -> None:
        """Put one batch's features in their rows; an unreadable image's row is zeros, its reason kept."""
        for i, (_, err) in zip(rows, loaded):
            if err:
                self.failed[self.image_paths[int(i)]] = err
        bad = np.array([err is not None for _, err in loaded])
        g = g.float().cpu().numpy()
        p = p.float().cpu().numpy()
        g[bad] = 0
        p[bad] = 0
        self.grid[rows] = g.astype(np.float16)
        self.pooled[rows] = p.astype(np.float16)
        self.unflushed.append(rows)

    def commit(self) -> None:
        # Failures are recorded before their rows are marked done: after a kill, a zero row
        # that is marked done always has its reason in the manifest.
        if self.is_main and self.failed != self.manifest.get("failed", {}):
            self.manifest = write_status(self.folder, self.manifest, self.failed, "partial")
        commit_rows(self.grid, self.pooled, self.done, self.unflushed)

    def set_status(self, status: str) -> None:
        self.manifest = write_status(self.folder, self.manifest, self.failed, status)


def _run_backbone(runner: BackboneRunner, loader: _ImageLoader, writer: _StoreWriter, todo, batch_size: int, cancel):
    """Generator: extract the rows ``todo``, yielding ExtractProgress; returns how many rows it extracted.

    Images are read on two threads while the backbone runs; rows are committed every ``FLUSH_SECONDS``.
    """
    n = len(writer.done)
    start, count = time.perf_counter(), 0
    last_flush = start
    batches = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
    with ThreadPoolExecutor(max_workers=2) as pool, torch.inference_mode():
        for rows, loaded in zip(batches, prefetch(pool, lambda b: [loader(i) for i in b], batches)):
            if cancel is not None and cancel.is_set():
                writer.commit()
                if writer.is_main:
                    writer.set_status("partial")
                raise ExtractionCancelled(
                    f"extraction cancelled after {n - int((writer.done == 0).sum())} of {n} images"
                )
            g, p = runner(torch.stack([t for t, _ in loaded]))
            writer.write(rows, g, p, loaded)
            if time.perf_counter() - last_flush > FLUSH_SECONDS:
                writer.commit()
                last_flush = time.perf_counter()
            count += len(rows)
            rate = count / max(time.perf_counter() - start, 1e-9)
            yield ExtractProgress(n - len(todo) + count, n, rate, runner.take_message())
    writer.commit()
    return count


def _finish(dataset: Dataset, backbone: str, writer: _StoreWriter, count: int) -> FeatureStore:
    """Mark the store complete (rank 0, with every rank's unreadable images) and open it for reading."""
    dist = dist_context()
    failed = writer.failed
    if dist.active:
        # Every rank's failures go into the one manifest that rank 0 writes.
        gathered: list = [None] * dist.world_size
        torch.distributed.all_gather_object(gathered, failed)
        for part in gathered:
            failed.update(part)
    if dist.is_main:
        writer.set_status("complete")
        log.info(
            "extracted %d images of %s with %s in %s (%d unreadable)",
            count,
            dataset.name,
            backbone,
            writer.folder,
            len(failed),
        )
    dist.barrier()
    manifest = writer.manifest
    if not dist.is_main:
        manifest = read_manifest(writer.folder) or manifest
    return FeatureStore(writer.folder, manifest)


def extract_all(dataset: Dataset, progress=None, **kwargs) -> FeatureStore:
    """Run :func:`extract` to the end, calling ``progress(ExtractProgress)`` on each step."""
    return run_to_end(extract(dataset, **kwargs), progress)
