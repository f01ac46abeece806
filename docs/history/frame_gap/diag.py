"""Run the smooth child in-process with a watchdog: stacks of the GUI thread in long gaps, gc timings,
GUI-thread CPU per gap, trainer thread CPU. Usage: python diag.py OUT.json [seconds]"""

import gc
import json
import os
import sys
import threading
import time
import traceback

out = sys.argv[1]
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 8.0
LATE = 0.035
state = {"last": None, "probing": False, "gaps": [], "samples": {}, "gc": [], "cpu_at_tick": []}
main_id = threading.main_thread().ident
GUI_TID = threading.get_native_id()
SCHED = f"/proc/self/task/{GUI_TID}/schedstat"
if os.environ.get("SWI"):
    import zsl_desktop.app.main as _m

    _m.share_the_gil = lambda interval=0: sys.setswitchinterval(float(os.environ["SWI"]))

from zsl_desktop.bench import perf

state["calls"] = []


def timed(cls, name, label):
    orig = getattr(cls, name)

    def wrapper(*a, **k):
        if not state["probing"]:
            return orig(*a, **k)
        w, c = time.perf_counter(), time.thread_time()
        try:
            return orig(*a, **k)
        finally:
            state["calls"].append(
                (
                    label,
                    round(w, 4),
                    round((time.perf_counter() - w) * 1000, 2),
                    round((time.thread_time() - c) * 1000, 2),
                )
            )

    setattr(cls, name, wrapper)


import pyqtgraph as pg
from zsl_desktop.app.widgets import training_curves as _tc

timed(_tc.TrainingCurves, "redraw", "redraw")
timed(pg.GraphicsView, "paintEvent", "paint")
timed(pg.AxisItem, "paint", "axis")
from zsl_desktop.app import bridge as _br

timed(
    _br.Bridge if hasattr(_br, "Bridge") else _br.__dict__[[k for k in _br.__dict__ if k.endswith("Bridge")][0]],
    "_on_long_event",
    "event",
)
orig_tick = perf.FrameProbe._tick


def tick(self):
    now = time.perf_counter()
    if not state["probing"] and PROF is not None:
        PROF.enable()
    if not state["probing"]:
        lp = state["window"].training.last_progress
        state["step0"] = (lp.step if lp is not None else 0, time.perf_counter())
    state["probing"] = True
    last = state["last"]
    cpu = time.thread_time()
    with open(SCHED) as f:
        run_ns, wait_ns, _ = map(int, f.read().split())
    if last is not None:
        gap = now - last[0]
        state["gaps"].append(
            (
                round(last[0], 4),
                round(gap * 1000, 2),
                round((cpu - last[1]) * 1000, 2),
                round((wait_ns - last[2]) / 1e6, 2),
            )
        )
    state["last"] = (now, cpu, wait_ns)
    return orig_tick(self)


perf.FrameProbe._tick = tick
orig_stop = perf.FrameProbe.stop


def stop(self):
    state["probing"] = False
    if PROF is not None:
        PROF.disable()
        PROF.dump_stats(out + ".prof")
    return orig_stop(self)


perf.FrameProbe.stop = stop

import cProfile

PROF = cProfile.Profile() if os.environ.get("PROF") else None
gc_start = {}


def gc_cb(phase, info):
    t = time.perf_counter()
    tid = threading.get_ident()
    if phase == "start":
        gc_start[tid] = t
    elif tid in gc_start:
        t0 = gc_start.pop(tid)
        state["gc"].append(
            (round(t0, 4), round((t - t0) * 1000, 2), info["generation"], info["collected"], tid == main_id)
        )


gc.callbacks.append(gc_cb)


def thread_cpu():
    res = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                s = f.read()
            name = s[s.index("(") + 1 : s.rindex(")")]
            parts = s[s.rindex(")") + 2 :].split()
            res[f"{tid}:{name}"] = int(parts[11]) + int(parts[12])
        except OSError:
            pass
    return res


def watchdog():
    while True:
        time.sleep(0.004)
        if not state["probing"] or state["last"] is None:
            continue
        last = state["last"][0]
        late = time.perf_counter() - last
        if late > LATE:
            kstate = []
            for part in ("stat", "wchan", "syscall"):
                try:
                    with open(f"/proc/self/task/{GUI_TID}/{part}") as f:
                        txt = f.read()
                    kstate.append(
                        txt[txt.rindex(")") + 2 :].split()[0]
                        if part == "stat"
                        else txt.split()[0]
                        if txt.split()
                        else ""
                    )
                except OSError:
                    kstate.append("?")
            frames = sys._current_frames()
            frame = frames.get(main_id)
            stack = "".join(traceback.format_stack(frame, limit=25)) if frame else "?"
            stack += "\n## " + " ".join(kstate)
            known = {t.ident: t.name for t in threading.enumerate()}
            for ident, f in frames.items():
                name = known.get(ident, "qthread")
                if ident in (main_id, threading.get_ident()) or name in ("sampler", "bench-hold"):
                    continue
                stack += (
                    "\n@@ "
                    + name
                    + " "
                    + " | ".join(
                        l.strip().split("\n")[0][-100:] + " :: " + l.strip().split("\n")[-1][:60]
                        for l in traceback.format_stack(f, limit=3)
                    )
                )
            state["samples"].setdefault(str(round(last, 4)), []).append((round(late * 1000, 1), stack))


threading.Thread(target=watchdog, daemon=True, name="watchdog").start()

cpu0 = {}


def sampler():
    while True:
        time.sleep(0.5)
        if state["probing"] and not cpu0:
            cpu0.update(thread_cpu())
            cpu0["_t"] = time.perf_counter()


threading.Thread(target=sampler, daemon=True, name="sampler").start()

from zsl_desktop.bench import child_window

orig_finish = child_window.finish


def finish(app, window, payload=None):
    cpu1 = thread_cpu()
    t = time.perf_counter() - cpu0.get("_t", 0)
    delta = {k: v - cpu0.get(k, 0) for k, v in cpu1.items() if v - cpu0.get(k, 0) > 0}
    res = {
        "payload": payload,
        "gaps": state["gaps"],
        "samples": state["samples"],
        "gc": state["gc"],
        "thread_ticks": delta,
        "calls": state["calls"],
        "wall": t,
        "load": os.getloadavg(),
        "epochs": getattr(window.training, "last_progress", None).__repr__()[:300],
        "steps": (window.training.last_progress.step - state["step0"][0], time.perf_counter() - state["step0"][1]),
    }
    with open(out, "w") as f:
        json.dump(res, f)
    return orig_finish(app, window, payload)


child_window.finish = finish
from zsl_desktop.bench import ui_children

_orig_probe = ui_children._probe_while_training


def _probe(app, window, *a, **k):
    state["window"] = window
    return _orig_probe(app, window, *a, **k)


ui_children._probe_while_training = _probe
ui_children.finish = finish
sys.exit(ui_children.child_smooth(seconds))
