"""The session's feature stores: found on disk, extracted when missing, the mirrored one for flips, a model's.

A store is what ``features.extract`` writes once per dataset, backbone and input size; a model trained
with flips also needs the store of the same images mirrored left-right. These functions find or
extract them and say what is missing; the session keeps the stores it gets back.
"""

from __future__ import annotations

from zsl_desktop.engine.checkpoints import CheckpointError
from zsl_desktop.engine.events import Message
from zsl_desktop.engine.features import FeatureStore, extract
from zsl_desktop.engine.session.results import Progress


def extracted_store(dataset, backbone: str, input_size: int, device, cancel=None, mirrored: bool = False):
    """Generator of ExtractProgress; returns the store (of the mirrored images, with ``mirrored``), reusing a
    finished one and extracting it when missing."""
    store = FeatureStore.open(dataset, backbone, input_size, mirrored=mirrored)
    if store is None:
        store = yield from extract(dataset, backbone, input_size, device=device, cancel=cancel, mirrored=mirrored)
    return store


def mirrored_store_job(dataset, backbone: str, input_size: int, device, cancel=None):
    """Generator of "extract" Progress (after a Message saying why); returns the mirrored images' store,
    extracted the first time a run's flips mode asks for it."""
    mirrored = FeatureStore.open(dataset, backbone, input_size, mirrored=True)
    if mirrored is None:
        what = "extracting the mirrored images' features (once, for flips)"
        yield Message(what)
        extraction = extract(dataset, backbone, input_size, device=device, cancel=cancel, mirrored=True)
        while True:
            try:
                p = next(extraction)
            except StopIteration as done:
                mirrored = done.value
                break
            yield Progress("extract", p.done, p.total, p.message or what, p.images_per_second)
    return mirrored


def stores_for_model(dataset, header: dict, where, session_stores: tuple, session_features: tuple[str, int]):
    """(store, mirrored store) a checkpoint's model scores on; CheckpointError when they are not extracted.

    ``session_stores`` (store, mirrored) serve a model made on the session's features
    (``session_features``: backbone, input size); a model made on others switches to their store.
    A model averaging each image with its mirror (header "flips" tta/both) needs the mirrored store.
    """
    backbone, size = header.get("backbone", session_features[0]), int(header.get("input_size", session_features[1]))
    store, mirrored = session_stores
    if (backbone, size) != session_features:
        store, mirrored = FeatureStore.open(dataset, backbone, size), None
        if store is None and dataset.has_images:
            raise CheckpointError(
                f"{where}: made with {backbone} features at {size} px, which are not extracted for "
                f"{dataset.name} yet (zsl-desktop extract --backbone {backbone} --input-size {size})"
            )
    if header.get("flips") in ("tta", "both") and mirrored is None and dataset.has_images:
        mirrored = FeatureStore.open(dataset, backbone, size, mirrored=True)
        if mirrored is None:
            raise CheckpointError(
                f"{where}: averages each image with its mirror, whose features are not extracted for "
                f"{dataset.name} yet (zsl-desktop extract --backbone {backbone} --input-size {size} "
                f"--flips tta)"
            )
    return store, mirrored
