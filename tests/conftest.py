"""Shared fixtures. Every test runs offscreen with its user folders in a temp dir."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from zsl_desktop.engine.paths import shared_data_dir


@pytest.fixture(autouse=True)
def _user_home(tmp_path_factory, monkeypatch):
    """Point every per-user file (data, settings, class library) at a fresh temp folder."""
    monkeypatch.setenv("ZSL_DESKTOP_HOME", str(tmp_path_factory.mktemp("home")))


@pytest.fixture(scope="session")
def shared_data():
    path = shared_data_dir()
    if path is None:
        pytest.skip("../shared/zsl_data (real benchmark files) is not beside the checkout")
    return path


@pytest.fixture(scope="session")
def small_birds(tmp_path_factory):
    """The small built-in dataset, generated once per test session."""
    from zsl_desktop.engine.data import load_builtin

    return load_builtin(small=True, root=tmp_path_factory.mktemp("birds") / "builtin_birds_small")


@pytest.fixture(scope="session")
def fresh_builtin(tmp_path_factory):
    """The full built-in birds regenerated from nothing, once per session: every shipped model is checked on it.

    The generator is deterministic, so the regenerated set must carry the checkpoints' fingerprint.
    Drawn as the first launch draws, one process per core (the suite's largest set-up: 3,000 birds);
    tests/test_first_launch.py checks that this drawing equals ``generate()``'s.
    """
    from zsl_desktop.engine.data.builtin_chunks import BirdDrawing
    from zsl_desktop.engine.data.cub import load_cub

    root = tmp_path_factory.mktemp("fresh") / "builtin_birds"
    with BirdDrawing(root) as drawing:
        for _ in drawing.draw(drawing.plan):
            pass
        drawing.install()
    return load_cub(root, name="builtin")


@pytest.fixture(scope="session")
def fresh_test_features(fresh_builtin):
    """(rows, grid, pooled) of its test split, seen then unseen, re-extracted from the images.

    With the default backbone and input size, which every shipped model was made with (each test checks).
    """
    import numpy as np

    from zsl_desktop.engine.extraction import extract_images

    d = fresh_builtin
    rows = np.concatenate([d.splits["test_seen"], d.splits["test_unseen"]])
    grid, pooled, errors = extract_images([d.image_path(int(i)) for i in rows])
    assert not errors
    return rows, grid, pooled
