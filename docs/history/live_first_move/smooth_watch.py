"""The bench's smooth child with a watchdog: any GUI-thread gap over STALL_S dumps every thread's Python stack."""

import faulthandler
import sys
import time

STALL_S = float(sys.argv[1]) if len(sys.argv) > 1 else 0.035
out = open(sys.argv[2] if len(sys.argv) > 2 else "/tmp/live14/stalls.txt", "w")
from zsl_desktop.bench import perf

original_tick, original_stop = perf.FrameProbe._tick, perf.FrameProbe.stop
last = [None]


def tick(self):
    now = time.perf_counter()
    if last[0] is not None and now - last[0] > STALL_S:
        out.write(f"=== GAP {1000 * (now - last[0]):.1f} ms ending at {now:.3f}\n")
        out.flush()
    last[0] = now
    faulthandler.dump_traceback_later(STALL_S, repeat=False, file=out)
    original_tick(self)


def stop(self):
    faulthandler.cancel_dump_traceback_later()
    original_stop(self)


perf.FrameProbe._tick = tick
perf.FrameProbe.stop = stop
from zsl_desktop.bench.ui_children import main

sys.exit(main(["smooth", "--seconds", "20"]))
