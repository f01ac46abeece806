"""A 10,000-image dataset for the memory benchmark: the built-in birds repeated, with a ready store.

The feature rows are the real built-in features, tiled; the store is written
once under the benchmark's key and reused. Only for ``zsl-desktop bench``.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np


def tiled(base, n_images: int, name: str):
    """``base`` with its rows repeated to ``n_images`` (same classes, split proportions and photos)."""
    take = np.resize(np.arange(base.num_samples), n_images)
    splits = {key: np.flatnonzero(np.isin(take, rows)) for key, rows in base.splits.items()}
    pick = lambda array: None if array is None else array[take]  # noqa: E731
    dataset = dataclasses.replace(
        base,
        name=name,
        labels=base.labels[take],
        splits=splits,
        image_paths=tuple(base.image_paths[i] for i in take),
        image_attributes=pick(base.image_attributes),
        part_locations=pick(base.part_locations),
        boxes=pick(base.boxes),
    )
    return dataset, take


def open_tiled_store(dataset, take: np.ndarray, base_store):
    """The complete store of ``dataset`` (``tiled`` from ``base_store``'s dataset by ``take``), or None.

    Its images are the base dataset's, each repeated, and ``base_store`` was opened (its images checked) just
    before: when the stamps this store recorded are the base store's, tiled, its images are unchanged too, and
    the check that stats every row's file (100,000 stats: ~1 s of CPU in ``scale.scaled_cub``, a busy 2-core
    machine) is skipped. Any other case (no stamps yet, a photo changed since) is checked as before.
    """
    from zsl_desktop.engine.features import FeatureStore
    from zsl_desktop.engine.image_stamps import read_sources

    base_stamps = read_sources(base_store.folder, len(base_store.pooled))
    stamps = read_sources(FeatureStore.folder_for(dataset, "efficientnet_lite0", 224), dataset.num_samples)
    current = (
        base_stamps is not None
        and stamps is not None
        and np.array_equal(stamps[:, [0, 2]], base_stamps[take][:, [0, 2]])  # size and content hash, as checked
    )
    return FeatureStore.open(dataset, "efficientnet_lite0", 224, check_images=not current)


def repeated_builtin_store(n_images: int = 10_000, small: bool = False):
    """The dataset of ``n_images`` rows (the built-in birds repeated), its feature store written once.

    The parent bench calls this before the memory child starts, so the child's peak RSS is the app's
    alone: written through a memory map (as it was, in the child), the 1.25 GB grid counted in the
    child's RSS (measured: 2,235 MB on the run that wrote it, 1,272 MB on the next). Plain file writes
    map nothing; the base store's pages read here are unmapped after each block.
    """
    from zsl_desktop.engine.data import load_builtin
    from zsl_desktop.engine.feature_source import release_pages
    from zsl_desktop.engine.features import FeatureStore, extract_all

    base = load_builtin(small=small)
    base_store = FeatureStore.open(base, "efficientnet_lite0", 224) or extract_all(base)
    dataset, take = tiled(base, n_images, f"builtin-x{-(-n_images // base.num_samples)}")
    folder = FeatureStore.folder_for(dataset, "efficientnet_lite0", 224)
    if open_tiled_store(dataset, take, base_store) is None:
        folder.mkdir(parents=True, exist_ok=True)
        for name, array in (("grid.f16", base_store.grid), ("pooled.f16", base_store.pooled)):
            with open(folder / name, "wb") as out:
                for start in range(0, n_images, 1000):
                    out.write(np.ascontiguousarray(array[take[start : start + 1000]], np.float16).tobytes())
                    release_pages(array, 0, len(array))
        mark_tiled_store_complete(folder, base_store, dataset, n_images)
    return dataset


def repeated_builtin_dataset(n_images: int = 10_000, small: bool = False, checkpoint=None):
    """(dataset of ``n_images`` rows, (method, header, source)) from the built-in birds and their model.

    ``checkpoint`` defaults to the shipped MSDN model (full birds); the small birds need one of their own.
    """
    from zsl_desktop.engine.checkpoints import load_checkpoint
    from zsl_desktop.engine.training import method_from_checkpoint
    from zsl_desktop.engine.session.opening import shipped_checkpoint

    dataset = repeated_builtin_store(n_images, small)
    loaded = load_checkpoint(checkpoint or shipped_checkpoint())
    header = {**loaded.header, "dataset": dataset.name, "dataset_fingerprint": dataset.fingerprint}
    return dataset, (method_from_checkpoint(loaded), header, f"{loaded.header['method']} (benchmark copy)")


def mark_tiled_store_complete(folder, base_store, dataset, n_images: int) -> None:
    """Mark a store whose rows were copied from ``base_store`` as complete for ``dataset``.

    Every row is done; the manifest is the base store's, re-keyed to the tiled dataset and written last
    (atomically), so a bench interrupted while copying leaves a store that is not opened.
    """
    from zsl_desktop.engine.atomic import atomic_write_text
    from zsl_desktop.engine.features import STORE_VERSION, store_key

    np.ones(n_images, np.uint8).tofile(folder / "done.u8")
    manifest = {
        **base_store.manifest,
        "version": STORE_VERSION,
        "key": store_key(dataset, "efficientnet_lite0", 224),
        "dataset": dataset.name,
        "fingerprint": dataset.fingerprint,
        "num_images": n_images,
        "status": "complete",
        "failed": {},
    }
    atomic_write_text(folder / "manifest.json", json.dumps(manifest))


def cached_model_path(dataset):
    """The memory child's model file with codes cached (``--quick``): the shipped model re-stamped for ``dataset``."""
    from zsl_desktop.engine.paths import data_dir

    return data_dir() / "bench" / f"memory-model_{dataset.name}.pt"


def prepare_cached_codes(n_images: int = 10_000, small: bool = False, checkpoint=None):
    """The store of ``repeated_builtin_store``, a model file for it and that model's codes cache, written once.

    As ``scale.scaled_cub`` does for 100,000 images: the codes are the base images' codes, tiled (the rows
    are identical, so that is what encoding them gives), written where the app's first open would write
    them; the memory child then opens the store as every opening after the first does.
    """
    import torch

    from zsl_desktop.engine.checkpoints import load_checkpoint
    from zsl_desktop.engine.data import load_builtin
    from zsl_desktop.engine.features import FeatureStore
    from zsl_desktop.engine.methods.base import FeatureSource
    from zsl_desktop.engine.scoring import encode_rows
    from zsl_desktop.engine.session.codes import checkpoint_identity, codes_cache_path, write_codes
    from zsl_desktop.engine.session.opening import shipped_checkpoint

    dataset = repeated_builtin_store(n_images, small)
    model_path = cached_model_path(dataset)
    loaded = load_checkpoint(checkpoint or shipped_checkpoint())
    method = model_for(dataset, loaded, model_path)
    store = FeatureStore.open(dataset, "efficientnet_lite0", 224, check_images=False)  # checked just now, above
    cache = codes_cache_path(checkpoint_identity(load_checkpoint(model_path)), store)
    drop_stale_codes(cache)
    if cache is not None and not cache.is_file():
        base = load_builtin(small=small)
        base_store = FeatureStore.open(base, "efficientnet_lite0", 224)
        kind = method.feature_kind
        source = FeatureSource(grid=base_store.grid) if kind == "grid" else FeatureSource(pooled=base_store.pooled)
        with torch.inference_mode():
            codes = encode_rows(method, source, np.arange(base.num_samples), "cpu")
        take = np.resize(np.arange(base.num_samples), n_images)
        write_codes(cache, np.ascontiguousarray(codes[take]))
    return dataset, model_path


SOURCE_FIELD = "bench_source"  # a bench model file's header: the content hash of the checkpoint it was made from


def model_for(dataset, loaded, model_path):
    """The method of checkpoint ``loaded``, saved at ``model_path`` as ``dataset``'s model (the app opens a
    generated store with a model made for it).

    The file is written once and reused by later runs while it was made from this very checkpoint (its
    header names the checkpoint's content hash): a retrained shipped model is re-stamped, so the bench
    never times a stale copy, and the codes cached for the old file (keyed by its hash) are not read.
    """
    from zsl_desktop.engine.checkpoints import save_checkpoint
    from zsl_desktop.engine.session.codes import checkpoint_identity
    from zsl_desktop.engine.training import inference_state, method_from_checkpoint

    method = method_from_checkpoint(loaded)
    source = checkpoint_identity(loaded)
    if source is None or saved_source(model_path) != source:
        header = {
            **loaded.header,
            "dataset": dataset.name,
            "dataset_fingerprint": dataset.fingerprint,
            SOURCE_FIELD: source,
        }
        model_path.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(model_path, header, inference_state(method))
    return method


def drop_stale_codes(cache) -> None:
    """Delete the codes caches beside ``cache`` in a store the bench generated (those of model files it has
    since re-stamped: up to 400 MB each at 100,000 images), keeping ``cache`` itself."""
    if cache is None:
        return
    for old in cache.parent.glob("codes-*.npy"):
        if old.name != cache.name:
            old.unlink(missing_ok=True)


def saved_source(model_path):
    """The source hash in the header of the bench model file at ``model_path``; None when absent or unreadable."""
    from zsl_desktop.engine.checkpoints import CheckpointError, load_checkpoint

    if not model_path.is_file():
        return None
    try:
        return load_checkpoint(model_path).header.get(SOURCE_FIELD)
    except CheckpointError:
        return None
