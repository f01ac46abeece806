"""App test fixtures: offscreen Qt, an isolated home, a real (briefly trained) MSDN model, thread checks."""

from __future__ import annotations

import contextlib
import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@contextlib.contextmanager
def gui_thread_budget():
    """As the app does at start-up (``app.main.configure_torch``): leave a core to the GUI thread.

    With the default pools (all cores) torch's and OpenBLAS's workers spin against the GUI and the
    runners (a generative-model test took 84 s instead of 6). Restored afterwards, so the engine
    tests of the same session keep their own settings.
    """
    import torch

    from zsl_desktop.engine.threads import limit_blas_threads, worker_threads

    torch_before = torch.get_num_threads()
    blas_before = limit_blas_threads(worker_threads())
    torch.set_num_threads(worker_threads())
    try:
        yield
    finally:
        torch.set_num_threads(torch_before)
        if blas_before:
            limit_blas_threads(blas_before)


@pytest.fixture(scope="session", autouse=True)
def _frozen_start_up_heap():
    """As the app does once it has opened (main_window, gc.freeze): the imports' objects leave the collector's walk.

    Every bridge's shutdown runs a full collection on the GUI thread (app/gui_gc.py), once a test. The modules the
    app tests import anyway are imported here first, so that the freeze holds them: torch (with torch._dynamo, which
    the first optimiser step imports, sympy with it), pyqtgraph, openTSNE (scikit-learn, scipy) and the window's.
    Frozen before them (as it was until session 16), each collection walked ~240k objects, ~0.15 CPU s a test;
    now ~10k (docs/history/performance.md, session 16).
    Not unfrozen at the end: pytest's last collections (five, unraisableexception) then walked ~490k objects,
    ~1.3 CPU s a worker, for garbage nobody waits for.
    """
    import gc

    import openTSNE.affinity  # noqa: F401
    import pyqtgraph  # noqa: F401
    import torch._dynamo  # noqa: F401

    import zsl_desktop.app.main_window  # noqa: F401

    gc.collect()
    gc.freeze()


@pytest.fixture(scope="module", autouse=True)
def _gui_thread_budget():
    with gui_thread_budget():
        yield


@pytest.fixture(scope="session")
def feature_home(tmp_path_factory, small_birds):
    """A data folder holding the small birds' extracted features, shared by every app test."""
    from zsl_desktop.engine.session import Session
    from zsl_desktop.engine.events import run_to_end

    home = tmp_path_factory.mktemp("feature_home")
    mp = pytest.MonkeyPatch()
    mp.setenv("ZSL_DESKTOP_HOME", str(home))
    try:
        with gui_thread_budget():
            session = Session(small_birds)
            run_to_end(session.prepare_features())
    finally:
        mp.undo()
    return home / "data" / "features"


@pytest.fixture(autouse=True)
def _shared_features(feature_home, monkeypatch, tmp_path):
    """Each test gets its own empty home (from tests/conftest.py) but reuses the extracted features."""
    from zsl_desktop.engine.paths import data_dir

    target = data_dir() / "features"
    if not target.exists():
        target.symlink_to(feature_home, target_is_directory=True)
    yield


@pytest.fixture(scope="session")
def trained_model(small_birds, feature_home):
    """MSDN trained for two epochs on the small birds: a real model, fast to make."""
    from zsl_desktop.engine.session import Session
    from zsl_desktop.engine.training import TrainConfig, train
    from zsl_desktop.engine.events import run_to_end

    mp = pytest.MonkeyPatch()
    mp.setenv("ZSL_DESKTOP_HOME", str(feature_home.parent.parent))
    try:
        with gui_thread_budget():
            session = Session(small_birds)
            run_to_end(session.prepare_features())
            finished = run_to_end(train(small_birds, session.features, TrainConfig(method="msdn", epochs=2, seed=0)))
    finally:
        mp.undo()
    return finished.method, finished.header, "test model (2 epochs)"


_QUICK_MODELS: dict = {}  # one training per (method, epochs, hparams) in a session, as ``trained_model`` is


@pytest.fixture
def train_quickly(small_birds):
    """``train_quickly(method, epochs)``: a real model after a couple of epochs on the small birds.

    The same arguments give the same model, trained once a session (two GSMFlow tests each paid
    for its own training).
    """
    from zsl_desktop.engine.session import Session
    from zsl_desktop.engine.training import TrainConfig, train
    from zsl_desktop.engine.events import run_to_end

    def make(method: str, epochs: int = 2, **hparams):
        key = (method, epochs, tuple(sorted(hparams.items())))
        if key not in _QUICK_MODELS:
            _QUICK_MODELS[key] = train_once(method, epochs, **hparams)
        return _QUICK_MODELS[key]

    def train_once(method: str, epochs: int, **hparams):
        session = Session(small_birds)
        run_to_end(session.prepare_features())
        config = TrainConfig(method=method, epochs=epochs, hparams=hparams)
        finished = run_to_end(train(small_birds, session.features, config))
        return finished.method, finished.header, f"test {method} ({epochs} epochs)"

    return make


@pytest.fixture(autouse=True)
def _no_running_threads(qapp):
    """Fail (after cleaning up) any test that leaves one of our QThreads running.

    A QThread collected while running aborts the whole pytest process without a summary.
    """
    yield
    from PySide6.QtCore import QThreadPool

    from zsl_desktop.app.bridge import LIVE_BRIDGES

    running = []
    for bridge in list(LIVE_BRIDGES):
        try:
            for thread in bridge.threads():
                if thread.isRunning():
                    running.append(type(thread).__name__)
            bridge.shutdown()
        except RuntimeError:  # its C++ side is gone: it was shut down and deleted with its window
            pass
        LIVE_BRIDGES.discard(bridge)
    QThreadPool.globalInstance().waitForDone(5000)
    assert not running, f"threads still running after the test: {running}"
    assert QThreadPool.globalInstance().activeThreadCount() == 0


@pytest.fixture
def make_window(qtbot, small_birds, trained_model):
    """Build a main window on the small birds (with or without the model); closes it at teardown."""
    from zsl_desktop.app import theme
    from zsl_desktop.app.main_window import MainWindow

    windows = []

    def make(with_model: bool = True, open_dataset: bool = True, wait: bool = True, model=None):
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance()
        if app.styleSheet() != theme.STYLE:  # once a session, as the app applies it once: again, it re-polished
            theme.apply(app)  # every widget still alive (the last test's window awaiting deletion), ~0.2 CPU s
        window = MainWindow()
        qtbot.addWidget(window)
        if window.settings.bytes("window/geometry") is None:
            window.resize(1400, 900)
        window.show()
        windows.append(window)
        if open_dataset:
            with qtbot.waitSignal(window.bridge.dataset_ready, timeout=60000):
                window.open_dataset_object(small_birds, model=model or (trained_model if with_model else None))
            if wait:
                qtbot.waitUntil(window.bridge.idle, timeout=30000)
        return window

    yield make
    for window in windows:
        window.close()
