"""The model's kept predictions on a store, written before an app child starts (``engine/session/snapshot``).

Why: a second start of the app shows the kept scores of the model that last scored every image while torch
and the model load. The bench times that start, so it first makes sure the snapshot exists, written by the
session's own producer exactly as a real session leaves it, never by a bench shortcut.
"""

from __future__ import annotations


def keep_predictions(dataset, model_path) -> None:
    """The model's kept predictions on the store, as a real session leaves them: the session's own producer
    writes them when every image's scores are made, for the saved classes the app scores (the dataset's and
    the user's). Once: a current snapshot is left as it is."""
    from zsl_desktop.engine.classes import ClassLibrary, attribute_identity
    from zsl_desktop.engine.session import Session
    from zsl_desktop.engine.session.class_set import saved_classes
    from zsl_desktop.engine.session.snapshot import checkpoint_sha256, find_snapshot
    from zsl_desktop.engine.store_names import plain_store_folder

    names, matrix = ClassLibrary.load().matrix(attribute_identity(dataset.attribute_names), dataset.num_attributes)
    classes = saved_classes(dataset, names, matrix)
    folder = plain_store_folder(dataset, "efficientnet_lite0", 224)
    if find_snapshot(checkpoint_sha256(model_path), folder, classes, dataset.num_samples) is not None:
        return
    session = Session(dataset)
    session.find_features(check_images=False)
    session.load_model(model_path)  # its codes come from the codes cache when there is one
    session.all_scores(classes)


def keep_builtin_predictions(small: bool = False, checkpoint=None) -> None:
    """The built-in birds' store (extracted if need be: the start-up rows time a prepared store) and the kept
    predictions of ``checkpoint`` (default: the shipped MSDN model the start-up child opens) on it."""
    from zsl_desktop.engine.data import load_builtin
    from zsl_desktop.engine.features import FeatureStore, extract_all
    from zsl_desktop.engine.session.opening import shipped_checkpoint

    dataset = load_builtin(small=small)
    if FeatureStore.open(dataset, "efficientnet_lite0", 224) is None:
        extract_all(dataset)
    keep_predictions(dataset, checkpoint or shipped_checkpoint())
