"""Kill writers with SIGKILL at random moments and report what was left on disk.

A fork server: it imports what the writer needs once, then forks a child per
kill, so each kill costs milliseconds rather than an interpreter start-up.
The parent never runs torch kernels itself (OpenMP does not survive a fork).

    python crash_writer.py file KIND TARGET KILLS SEED
        KIND in text | checkpoint | library | settings. The child rewrites TARGET in a
        loop, alternating version 1 and version 0; after each kill the parent classifies
        TARGET as 0, 1 or "corrupt: ...".
    python crash_writer.py extract DATASET HOME KILLS SEED
        children run `zsl-desktop extract` (committing every batch); killed at random
        moments until KILLS kills have landed mid-way, then one run to the end.
    python crash_writer.py train STORE_HOME DATASET OUT KILLS SEED
        children run train(..., resume=True) and are killed after the resume file appears.

The last line of stdout is a JSON report.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sys
import time
from pathlib import Path


def _fork(fn) -> int:
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            if "torch" in sys.modules:  # one thread: the same arithmetic in every child, and no
                sys.modules["torch"].set_num_threads(1)  # spinning threads fighting for 2 busy cores
            code = fn() or 0
        except BaseException as exc:  # report and leave without running atexit hooks
            print(f"child failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        finally:
            os._exit(code)
    return pid


def _kill(pid: int) -> bool:
    """SIGKILL ``pid``; True if it was still running (the kill landed)."""
    done, _ = os.waitpid(pid, os.WNOHANG)
    if done:
        return False
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return True


# -- rewriting one file -------------------------------------------------------------------------------------


def _writers(kind: str, target: Path):
    """(write(version), classify(path) -> 0 | 1 | 'corrupt: ...') for one kind of file."""
    if kind == "text":
        from zsl_desktop.engine.atomic import atomic_write_text

        texts = [json.dumps({"version": v, "rows": [[v] * 64] * 4000}) for v in (0, 1)]  # ~0.8 MB

        def classify(path):
            text = path.read_text(encoding="utf-8")
            return texts.index(text) if text in texts else f"corrupt: {len(text)} characters"

        return (lambda v: atomic_write_text(target, texts[v])), classify

    if kind == "checkpoint":
        import torch

        from zsl_desktop.engine.checkpoints import load_checkpoint, save_checkpoint

        # Built from Python lists: no torch kernel (and so no OpenMP pool) runs in the parent.
        states = [{"w": torch.tensor([float(v)] * 1_000_000), "b": torch.tensor([v, v + 1])} for v in (0, 1)]

        def classify(path):
            try:
                ck = load_checkpoint(path)
            except Exception as exc:
                return f"corrupt: {exc}"
            v = ck.header.get("version")
            ok = v in (0, 1) and all(
                ck.state[k].numpy().tobytes() == states[v][k].numpy().tobytes() for k in states[v]
            )  # numpy: no torch kernel in the parent
            return v if ok else f"corrupt: header {v} with other weights"

        return (lambda v: save_checkpoint(target, {"method": "msdn", "version": v}, states[v])), classify

    if kind == "library":
        from zsl_desktop.engine.class_json import read_library
        from zsl_desktop.engine.classes import ClassLibrary, UserClass

        names = [f"attr_{i}" for i in range(312)]
        values = [[[float((i + j + v) % 100) for j in range(312)] for i in range(40)] for v in (0, 1)]

        def write_library(v):
            """Version v's 40 classes as edits, then save: a library with no edits of its own would keep what
            the other version wrote (a save merges another app's file: tests/reliability/test_two_apps_one_library.py)."""
            lib = ClassLibrary(target)
            for i, row in enumerate(values[v]):
                lib.put("identity", UserClass(name=f"class {i}", values=tuple(row)), names, "birds")
            lib.save()

        def classify(path):
            try:
                sets = read_library(path)
                got = [list(c.values) for c in sets["identity"]["classes"].values()]
            except Exception as exc:
                return f"corrupt: {exc}"
            return values.index(got) if got in values else "corrupt: other values"

        return write_library, classify

    if kind == "settings":
        from PySide6.QtCore import QByteArray

        from zsl_desktop.app.settings import Settings

        blobs = [QByteArray(bytes([65 + v]) * 200_000) for v in (0, 1)]

        def write(v):
            s = Settings(target)
            s.set("version", v)
            s.set("window/state", blobs[v])
            s.set("dirs/images", f"/photos/{v}")
            s.sync()

        def classify(path):
            s = Settings(path)
            v = s.value("version", None, int)
            if v not in (0, 1):
                return f"corrupt: version {v!r}"
            ok = s.bytes("window/state") == blobs[v] and s.value("dirs/images") == f"/photos/{v}"
            return v if ok else "corrupt: keys from different versions"

        return write, classify

    raise SystemExit(f"unknown kind {kind}")


def rewrite(kind: str, target: str, kills: int, seed: int) -> dict:
    target = Path(target)
    write, classify = _writers(kind, target)
    rng = random.Random(seed)
    start = time.perf_counter()
    for v in (0, 1, 0):
        write(v)
    cycle = (time.perf_counter() - start) / 3
    outcomes, landed = [], 0

    def loop():
        i = 1
        while True:
            write(i % 2)
            i += 1

    def inode():
        try:
            return target.stat().st_ino
        except OSError:
            return None

    for _ in range(kills):
        before = inode()
        pid = _fork(loop)
        # From the child's first replace of the file (a new inode), not from the fork: on a busy
        # machine a child can take longer to get going than the whole random delay.
        deadline = time.perf_counter() + 10
        while inode() == before and time.perf_counter() < deadline:
            time.sleep(0.0002)
        time.sleep(rng.uniform(0.2, 3.0) * cycle + 0.002)
        landed += _kill(pid)
        outcomes.append(classify(target))
    temps = sorted(p.name for p in target.parent.iterdir() if p.name.endswith(".tmp"))
    return {
        "kind": kind,
        "kills": kills,
        "landed": landed,
        "cycle_ms": round(cycle * 1000, 2),
        "outcomes": outcomes,
        "temp_files_left": len(temps),
    }


# -- extraction ---------------------------------------------------------------------------------------------


def extract(dataset: str, home: str, kills: int, seed: int) -> dict:
    import numpy as np

    import zsl_desktop.engine.features as features
    from zsl_desktop.cli import main

    features.FLUSH_SECONDS = 0.0  # commit every batch, so any moment is a moment between two commits
    rng = random.Random(seed)
    args = ["extract", "--dataset", dataset, "--input-size", "32"]
    store_root = Path(home) / "data" / "features"

    def run(log: Path, env_home: str):
        def child():
            os.environ["ZSL_DESKTOP_HOME"] = env_home
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 2)
            os.dup2(fd, 1)
            return main(args)

        return _fork(child)

    def store_folder():
        folders = list(store_root.glob("*")) if store_root.exists() else []
        return folders[0] if folders else None

    def done_rows() -> int:
        folder = store_folder()
        try:
            return int(np.fromfile(folder / "done.u8", np.uint8).sum()) if folder else 0
        except (OSError, ValueError):
            return 0

    # A clean run first, in a home of its own: the reference.
    t0 = time.perf_counter()
    pid = run(Path(home) / "clean.log", str(Path(home) / "clean"))
    os.waitpid(pid, 0)
    duration = time.perf_counter() - t0
    # Then runs killed once the store holds more than a random number of rows, plus a random
    # fraction of a batch's time: the kill lands anywhere in load / forward / write / flush / manifest.
    n = int(np.fromfile(next((Path(home) / "clean" / "data" / "features").glob("*")) / "done.u8", np.uint8).size)
    rates = re.findall(r"([\d.]+) img/s", (Path(home) / "clean.log").read_text(errors="replace"))
    batch_seconds = 4 / float(rates[-1]) if rates and float(rates[-1]) > 0 else duration / n * 4
    targets = sorted(rng.sample(range(1, n - 12), kills))
    history = []
    for k, target in enumerate(targets):
        pid = run(Path(home) / f"kill{k}.log", home)
        exited = False
        while done_rows() < target and not exited:
            exited = bool(os.waitpid(pid, os.WNOHANG)[0])
            time.sleep(0.002)
        if not exited:  # somewhere in the next batch (extraction got fast: 80 small images take 0.2 s)
            time.sleep(rng.uniform(0.0, batch_seconds))
        landed = not exited and _kill(pid)
        manifest = json.loads((store_folder() / "manifest.json").read_text())  # must always parse
        history.append({"target": target, "landed": landed, "status": manifest["status"], "done": done_rows()})
    pid = run(Path(home) / "final.log", home)
    _, code = os.waitpid(pid, 0)
    return {
        "clean_seconds": round(duration, 2),
        "kills": history,
        "final_exit": os.waitstatus_to_exitcode(code),
        "final_log": (Path(home) / "final.log").read_text(errors="replace"),
    }


# -- training -----------------------------------------------------------------------------------------------


def train_runs(store_home: str, dataset: str, out: str, kills: int, seed: int) -> dict:
    import torch._dynamo  # noqa: F401  (imported by the first optimiser: once here, not in every child)

    from zsl_desktop.engine.checkpoints import load_checkpoint
    from zsl_desktop.engine.data import load_dataset
    from zsl_desktop.engine.data.word_vectors import attribute_vectors
    from zsl_desktop.engine.features import FeatureStore
    from zsl_desktop.engine.methods.base import Message
    from zsl_desktop.engine.training import TrainConfig, train
    from zsl_desktop.engine.resume import resume_path
    from zsl_desktop.engine.events import run_to_end

    os.environ["ZSL_DESKTOP_HOME"] = store_home
    rng = random.Random(seed)
    out = Path(out)
    data = load_dataset(Path(dataset))
    attribute_vectors(data.attribute_names)  # cached for the children
    config = TrainConfig(method="msdn", epochs=2, seed=3, hparams={"batch_size": 32}, input_size=32)

    def child(path: Path, log: Path):
        def go():
            store = FeatureStore.open(data, "efficientnet_lite0", 32)
            texts = []
            finished = run_to_end(
                train(data, store.source(), config, checkpoint_path=path, resume=True),
                lambda e: texts.append(e.text) if isinstance(e, Message) else None,
            )
            log.write_text(json.dumps({"messages": texts, "cancelled": finished.cancelled}))
            return 0

        return _fork(go)

    def resume_file_id():
        try:
            st = resume_path(out).stat()
            return st.st_ino, st.st_mtime_ns
        except FileNotFoundError:
            return None

    started = time.perf_counter()
    pid = child(out.with_name("clean.pt"), out.with_name("clean.json"))  # uninterrupted reference
    os.waitpid(pid, 0)
    epoch_seconds = (time.perf_counter() - started) / 6  # 2 + 2 epochs and their evaluations, roughly
    history = []
    for k in range(kills):
        before = resume_file_id()
        pid = child(out, out.with_name(f"run{k}.json"))
        exited = False
        while not exited and resume_file_id() in (before, None):  # wait for this run's next epoch...
            exited = bool(os.waitpid(pid, os.WNOHANG)[0])
            time.sleep(0.002)
        if not exited:
            time.sleep(rng.uniform(0.0, epoch_seconds))  # ...then kill at a random moment of the one after
        landed = not exited and _kill(pid)
        header = load_checkpoint(resume_path(out)).header if resume_path(out).exists() else {}  # always loads
        history.append({"landed": landed, "phase": header.get("resume_phase"), "epoch": header.get("resume_epoch")})
        if not landed:
            break
    pid = child(out, out.with_name("final.json"))
    _, code = os.waitpid(pid, 0)
    final = out.with_name("final.json")
    return {
        "kills": history,
        "final_exit": os.waitstatus_to_exitcode(code),
        "final": json.loads(final.read_text()) if final.exists() else None,
    }


if __name__ == "__main__":
    what, *rest = sys.argv[1:]
    if what == "file":
        report = rewrite(rest[0], rest[1], int(rest[2]), int(rest[3]))
    elif what == "extract":
        report = extract(rest[0], rest[1], int(rest[2]), int(rest[3]))
    elif what == "train":
        report = train_runs(rest[0], rest[1], rest[2], int(rest[3]), int(rest[4]))
    else:
        raise SystemExit(__doc__)
    print(json.dumps(report))
