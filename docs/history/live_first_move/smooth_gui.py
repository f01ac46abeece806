"""The bench's smooth child, timing the GUI thread's handlers that may make a long frame (thread CPU and wall)."""

import json
import os
import sys
import threading
import time

if os.environ.get("SWITCH_S"):
    sys.setswitchinterval(float(os.environ["SWITCH_S"]))
records = {}


def switches():
    with open("/proc/thread-self/status") as f:
        text = f.read()
    v = int(text.split("voluntary_ctxt_switches:")[1].split()[0])
    n = int(text.split("nonvoluntary_ctxt_switches:")[1].split()[0])
    return v, n


switch_rows = {}


def timed(owner, name, label):
    original = getattr(owner, name)

    def wrapper(*a, **k):
        if threading.current_thread() is not threading.main_thread():
            return original(*a, **k)
        v0, n0 = switches()
        c, w = time.thread_time(), time.perf_counter()
        try:
            return original(*a, **k)
        finally:
            records.setdefault(label, []).append((1000 * (time.perf_counter() - w), 1000 * (time.thread_time() - c), w))
            v1, n1 = switches()
            switch_rows.setdefault(label, []).append(
                (1000 * (time.perf_counter() - w), 1000 * (time.thread_time() - c), v1 - v0, n1 - n0)
            )

    setattr(owner, name, wrapper)


from pyqtgraph.widgets.GraphicsView import GraphicsView

timed(GraphicsView, "paintEvent", "pyqtgraph paintEvent")
from zsl_desktop.app import gui_gc, bridge

timed(gui_gc.GuiThreadCollector, "collect_due", "gc collect_due")
timed(bridge.EngineBridge, "_on_long_event", "bridge _on_long_event")
from zsl_desktop.app.panels import training as training_panel

for name in ("on_event",):
    if hasattr(training_panel.TrainingPanel, name):
        timed(training_panel.TrainingPanel, name, "training.on_event")
from zsl_desktop.bench import perf

original_tick = perf.FrameProbe._tick
gaps = []
cpu_at = []


def tick(self):
    now = time.perf_counter()
    gaps.append(now)
    cpu_at.append(time.thread_time())
    original_tick(self)


perf.FrameProbe._tick = tick


def report():
    out = {}
    for label, rows in records.items():
        rows = sorted(rows, key=lambda r: -r[0])
        out[label] = dict(
            n=len(rows),
            wall_sum=round(sum(r[0] for r in rows)),
            top_wall=[(round(r[0], 1), round(r[1], 1)) for r in rows[:8]],
        )
    # long gaps and what GUI handler overlapped them
    big = [(gaps[i] - gaps[i - 1], gaps[i]) for i in range(1, len(gaps)) if gaps[i] - gaps[i - 1] > 0.030]
    over = []
    for g, end in sorted(big, reverse=True)[:15]:
        inside = [
            (l, round(r[0], 1), round(r[1], 1))
            for l, rows in records.items()
            for r in rows
            if end - g - 0.001 <= r[2] <= end
        ]
        over.append((round(1000 * g, 1), inside))
    out["gaps>30ms"] = over
    by_cpu = sorted(
        ((cpu_at[i] - cpu_at[i - 1], gaps[i] - gaps[i - 1], gaps[i]) for i in range(1, len(gaps))), reverse=True
    )[:12]
    out["most GUI CPU between ticks"] = []
    for c, g, end in by_cpu:
        inside = [
            (l, round(r[0], 1), round(r[1], 1))
            for l, rows in records.items()
            for r in rows
            if end - g - 0.001 <= r[2] <= end
        ]
        out["most GUI CPU between ticks"].append((round(1000 * c, 1), round(1000 * g, 1), inside))
    for label, rows in switch_rows.items():
        rows = sorted(rows, key=lambda r: -r[0])
        out["switches " + label] = dict(
            n=len(rows),
            total_voluntary=sum(r[2] for r in rows),
            total_involuntary=sum(r[3] for r in rows),
            top=[(round(r[0], 1), round(r[1], 1), r[2], r[3]) for r in rows[:10]],
        )
    out["switchinterval"] = sys.getswitchinterval()
    sys.stderr.write("GUIREPORT " + json.dumps(out) + "\n")


from zsl_desktop.bench.ui_children import main
import zsl_desktop.bench.child_window as cw

original_finish = cw.finish


def finish(*a, **k):
    report()
    return original_finish(*a, **k)


cw.finish = finish
import zsl_desktop.bench.ui_children as uc

uc.finish = finish
sys.exit(main(["smooth", "--seconds", sys.argv[1] if len(sys.argv) > 1 else "20"]))
