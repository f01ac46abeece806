"""Start a bench child (``python -m zsl_desktop.bench.ui_children MODE``) and read what it measures, line by line.

A child prints ``NAME`` lines (timed by the parent as they arrive: ``READY`` is the start-up
figure), a JSON line of results, then ``DONE``; the parent stops it there (``run_child``). A child started
with ``--hold`` waits after its READY for a line on its stdin, which the parent sends once its own
``while_held`` work is done (``ui.run`` runs the memory child there).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

DONE = "DONE"  # a child's last line: everything it measures has been printed
CHILD_MODULE = "zsl_desktop.bench.ui_children"  # its ``main`` picks the measurement by MODE


def _child_env(home: str | None = None) -> dict:
    """The children run as an installed app does: with Python's bytecode cache (``pip install`` compiles
    every module once; a checkout writes ``__pycache__`` on first use). With PYTHONDONTWRITEBYTECODE set,
    as some development shells do, every start would compile the app's ~120 modules again (measured:
    about 1 s of CPU on the way to the first predictions), which no user's start pays."""
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if home is not None:
        env["ZSL_DESKTOP_HOME"] = home
    return env


def _stop_group(proc: subprocess.Popen) -> None:
    """Stop a child and every process it started. The first launch's drawing pool outlives a child stopped
    alone and keeps its pipes open, so reading them to the end would wait forever (it did)."""
    if hasattr(os, "killpg"):
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the child's group (start_new_session): it has nothing to save
        except ProcessLookupError:
            pass
    else:
        proc.kill()


def run_child(
    mode: str, *args: str, timeout: float = 600, home: str | None = None, while_held=None
) -> tuple[dict, float]:
    """Run a child; returns (its JSON result, seconds from its start to its READY line).

    ``while_held(so_far)``, when given, runs as the child's READY arrives (``so_far``: its result up to there,
    ``so_far["at"]`` the lines' times); the child (started with ``--hold`` by the caller) waits for it,
    and is released (a line on its stdin) when it returns.

    Every line ``NAME`` the child prints is timed too: ``result["at"][NAME]`` (seconds from the start).
    A child that prints ``DONE`` has measured everything: it is stopped there (SIGTERM) rather than
    waited for, since closing the window cancels the background work the app had under way (the
    opening's thumbnails and projections, a training run) and joins its threads, which measured
    seconds that are part of no figure (a loaded machine: 36 s after a start-up's READY).
    """
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", CHILD_MODULE, mode, *args],
        stdin=subprocess.PIPE if while_held is not None else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_child_env(home),
        start_new_session=True,  # its own process group: stopping it stops the processes it started too
    )
    # stderr is read as it comes: a child held while the parent works must never block on a full pipe.
    errors: list[str] = []
    drain = threading.Thread(target=lambda: errors.extend(proc.stderr), name="bench-child-stderr", daemon=True)
    drain.start()
    at: dict[str, float] = {}
    result: dict = {}
    stopped = False
    for line in proc.stdout:
        if line.startswith("{"):
            result.update(json.loads(line))
        elif line.strip():
            name, *rest = line.split()
            if name not in at:
                at[name] = time.perf_counter() - start
                if rest:  # "READY 2.345": the child's CPU seconds so far, what a busy machine does not inflate
                    result[f"{name.lower()}_cpu_s"] = float(rest[0])
                if name == "READY" and while_held is not None:
                    _hold(proc, while_held, {**result, "at": dict(at)})
            if name == DONE:
                _stop_group(proc)
                stopped = True
                break
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop_group(proc)
        raise
    drain.join(timeout=5)
    if proc.returncode != 0 and not stopped:
        raise RuntimeError(f"bench child {mode} failed: {''.join(errors)[-2000:]}")
    return {**result, "at": at}, at.get("READY", float("nan"))


def _hold(proc: subprocess.Popen, while_held, so_far: dict) -> None:
    """Run ``while_held(so_far)`` while the child waits, then release it, whatever happened."""
    try:
        while_held(so_far)
    finally:
        try:
            proc.stdin.write("go\n")
            proc.stdin.close()
        except OSError:
            pass  # the child has gone: its result (or failure) is read as usual
