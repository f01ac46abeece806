"""The window comes up without importing torch (issue #19: torch's import is ~2 s of CPU, most of a start-up).

Torch arrives with the opening job, on its worker thread; the window's modules, building it, opening a
dataset and the app's thread settings must not import it on the GUI thread, or the first predictions wait
for it there. A fresh interpreter checks, since this test session imported torch long before.
"""

from __future__ import annotations

import os

from fresh_interpreter import run_watching_torch

BUILD_THE_WINDOW_THEN_OPEN = """
    import time
    from zsl_desktop.app import theme
    from zsl_desktop.app.main_window import MainWindow
    from zsl_desktop.engine.session import snapshot  # what a start-up reads kept predictions with
    from zsl_desktop.engine.session.spec import DatasetSpec
    app = QApplication(["zsl-desktop-test"])
    theme.apply(app)
    window = MainWindow(freeze_gc=True)
    window.show()
    app.processEvents()
    print("window:", "TORCH" if "torch" in sys.modules else "NO-TORCH")
    window.bridge.open_dataset(DatasetSpec(source="path", path=sys.argv[1], warm_up=False))  # fails
    deadline = time.monotonic() + 180
    while window.bridge.busy and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    print("imported on the GUI thread:", importers)
    window.close()
    import torch
    print("threads:", torch.get_num_threads())
    """


def test_the_window_and_opening_leave_torch_to_the_job_thread_with_the_app_thread_count(tmp_path):
    from zsl_desktop.engine.threads import worker_threads

    env = {**os.environ, "ZSL_DESKTOP_HOME": str(tmp_path)}
    env.pop("OMP_NUM_THREADS", None)
    done = run_watching_torch(BUILD_THE_WINDOW_THEN_OPEN, str(tmp_path / "no such dataset"), env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [
        line
        for line in done.stdout.splitlines()
        if line.split(":")[0] in ("window", "imported on the GUI thread", "threads")
    ]
    assert lines == [
        "window: NO-TORCH",
        "imported on the GUI thread: []",  # a dataset that cannot be read fails before torch (test_kept_predictions:
        # with a model, torch comes once, on the opening's thread)
        f"threads: {worker_threads()}",  # OMP_NUM_THREADS from configure_torch, not every core
    ], done.stdout + done.stderr[-2000:]
