"""First redraws of the training curves: CPU of redraw and of the paint that follows, per frame."""

import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
import numpy as np
from PySide6.QtWidgets import QApplication

app = QApplication([])
from zsl_desktop.app import theme

theme.apply(app)
from zsl_desktop.app.panels.training import TrainingPanel

names = ("total", "ce_av", "ce_va", "sc_av", "sc_va", "distill")
rows = []
for rep in range(int(sys.argv[1]) if len(sys.argv) > 1 else 3):
    panel = TrainingPanel()
    panel.resize(900, 600)
    panel.show()
    panel.build_plots()
    for _ in range(5):
        app.processEvents()
    c = panel.curves
    c.start()
    step = 0
    frame = []
    for f in range(12):
        n = 20
        c.add_losses(
            np.arange(step, step + n),
            {k: 2 - 0.001 * np.arange(step, step + n) + 0.02 * np.random.rand(n) for k in names},
        )
        step += n
        if f == 4:
            c.add_validation(1, {"h": 0.3, "u": 0.2, "s": 0.5, "zsl_t1": 0.4})
        t0 = time.thread_time()
        c.redraw()
        t1 = time.thread_time()
        app.processEvents()
        t2 = time.thread_time()
        frame.append(((t1 - t0) * 1000, (t2 - t1) * 1000))
    c.stop()
    rows.append(frame)
    panel.close()
    panel.deleteLater()
    app.processEvents()
a = np.array(rows)  # rep, frame, (redraw, paint)
for f in range(a.shape[1]):
    print(
        f"frame {f:2d}: redraw {np.median(a[:, f, 0]):5.1f}  paint {np.median(a[:, f, 1]):5.1f}  (max sum {a[:, f].sum(1).max():5.1f})"
    )
