"""Drawing the built-in birds in chunks, on one process per core, resumably: the first launch's drawing.

Why: drawing the 3,000 birds one after another took about 33 s of the 52 s first launch on a
quiet 2-core machine (11 ms a bird, one core, holding the GIL that the window also needs).
Here the birds are drawn by a pool of processes, the first chunk (a few training and test
images of every species) before the rest, so the app can show predictions on it within
seconds while the others are drawn.

Nothing is ever half-written under a name that is read back: everything goes into one
stable folder beside the dataset (``.builtin_birds.partial``); each image is written to a
temporary name and renamed, and each chunk's records (the values, box and parts the tables
need) are written atomically after its images. A re-launch reads the records and draws only
the missing birds. When every bird is drawn, the CUB tables are written and the folder is
renamed into place in one step (``builtin_birds.install``). The files are byte-identical to
``builtin_birds.generate``'s (a test checks it).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path

from zsl_desktop.engine.atomic import atomic_write_text
from zsl_desktop.engine.data.builtin_birds import (
    GENERATOR_VERSION,
    GenerationCancelled,
    PlannedImage,
    draw_image,
    image_plan,
    install,
    species_table,
    write_tables,
)
from zsl_desktop.engine.data.cub import load_cub
from zsl_desktop.engine.data.model import Dataset

CHUNK = 25  # birds per task: ~0.3 s of drawing, so a cancel or a close waits at most that long
PLAN_FILE = "drawing.json"  # which configuration the partial folder holds
RECORDS = "records"  # one JSON file per finished chunk
PREVIEW_FEATURES = "preview-features"  # the first chunk's feature store (removed before the rename)
DRAWING_NICENESS = 4  # as the app's long-job thread: the window comes first

log = logging.getLogger(__name__)


def partial_folder(out_dir: Path) -> Path:
    return out_dir.parent / f".{out_dir.name}.partial"


def default_workers() -> int:
    """One drawing process per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class BirdDrawing:
    """The birds of one configuration being drawn into ``partial_folder(out_dir)``; see the module docstring.

    ``workers`` processes draw (0: in the calling thread, as the tests and a machine without
    process support do). Call ``close`` (or use it as a context manager) to stop the processes.
    """

    def __init__(self, out_dir, small: bool = False, seed: int = 0, workers: int | None = None):
        self.out_dir = Path(out_dir)
        self.small, self.seed = small, seed
        self.folder = partial_folder(self.out_dir)
        self.table = species_table(small=small, seed=seed)
        self.plan = image_plan(small, seed, self.table)
        self.workers = default_workers() if workers is None else workers
        self.records: dict[int, dict] = {}
        self._pool: ProcessPoolExecutor | None = None
        self._open()

    # -- the partial folder -------------------------------------------------------------------------
    def _open(self) -> None:
        """Resume the partial folder when it holds this configuration, else start it afresh."""
        wanted = {"generator_version": GENERATOR_VERSION, "seed": self.seed, "small": bool(self.small)}
        try:
            found = json.loads((self.folder / PLAN_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            found = None
        if found != wanted:
            shutil.rmtree(self.folder, ignore_errors=True)
            (self.folder / RECORDS).mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.folder / PLAN_FILE, json.dumps(wanted))
            return
        for path in sorted((self.folder / RECORDS).glob("*.json")):
            try:
                chunk = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # written atomically, so only a foreign file can fail: draw its birds again
            for record in chunk if isinstance(chunk, list) else ():
                if isinstance(record, dict) and (self.folder / "images" / self._rel(record.get("id"))).is_file():
                    self.records[int(record["id"])] = record

    def _rel(self, image_id) -> str:
        if not isinstance(image_id, int) or not 1 <= image_id <= len(self.plan):
            return "\0"  # no such file
        return self.plan[image_id - 1].rel

    @property
    def total(self) -> int:
        return len(self.plan)

    @property
    def drawn(self) -> int:
        return len(self.records)

    def missing(self, images=None) -> list[PlannedImage]:
        return [p for p in (self.plan if images is None else images) if p.image_id not in self.records]

    def first_chunk(self, train_per_class: int = 2, test_per_class: int = 2) -> list[PlannedImage]:
        """A few training and test images of every species: enough for predictions on every class."""
        chosen: list[PlannedImage] = []
        for c in range(len(self.table.species)):
            images = [p for p in self.plan if p.c == c]
            chosen += [p for p in images if p.train][:train_per_class]
            chosen += [p for p in images if not p.train][:test_per_class]
        return sorted(chosen, key=lambda p: p.image_id)

    # -- drawing -----------------------------------------------------------------------------------------
    def draw(self, images, cancel=None):
        """Generator: draw the ``images`` not drawn yet; yields (birds drawn in all, birds per second so far).

        ``cancel.is_set()`` is checked between chunks: the chunks already drawn are kept
        (their records written) and ``GenerationCancelled`` is raised.
        """
        todo = self.missing(images)
        chunks = [todo[i : i + CHUNK] for i in range(0, len(todo), CHUNK)]
        if self.workers > 0:
            try:
                return (yield from self._draw_in_processes(chunks, cancel))
            except (BrokenProcessPool, OSError) as exc:  # no processes here: draw in this thread instead
                log.warning("drawing processes failed (%s): drawing in this thread", exc)
                self.close()
                self.workers = 0
                chunks = [c for c in ([p for p in c if p.image_id not in self.records] for c in chunks) if c]
        start, done = time.perf_counter(), 0
        for chunk in chunks:
            if cancel is not None and cancel.is_set():
                raise GenerationCancelled(self._stopped())
            self._keep(_draw_chunk(str(self.folder), self.small, self.seed, [p.image_id for p in chunk]))
            done += len(chunk)
            yield self.drawn, done / max(time.perf_counter() - start, 1e-6)

    def _draw_in_processes(self, chunks, cancel):
        pool = self._processes()
        start, done = time.perf_counter(), 0
        pending: set[Future] = set()
        queue = list(chunks)
        try:
            while queue or pending:
                while queue and len(pending) < 2 * self.workers:  # a few queued: no process waits for work
                    ids = [p.image_id for p in queue.pop(0)]
                    pending.add(pool.submit(_draw_chunk, str(self.folder), self.small, self.seed, ids))
                finished, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                for future in finished:
                    records = future.result()
                    self._keep(records)
                    done += len(records)
                if cancel is not None and cancel.is_set():
                    for future in pending:
                        future.cancel()
                    for future in wait(pending).done:  # the chunks being drawn: keep them too
                        if not future.cancelled() and future.exception() is None:
                            self._keep(future.result())
                    raise GenerationCancelled(self._stopped())
                if finished:
                    yield self.drawn, done / max(time.perf_counter() - start, 1e-6)
        finally:
            for future in pending:
                future.cancel()

    def _stopped(self) -> str:
        return f"drawing of the built-in birds stopped at {self.drawn:,} of {self.total:,}"

    def _keep(self, records: list[dict]) -> None:
        """Record a finished chunk (after its images are on disk): a re-launch skips its birds."""
        if not records:
            return
        ids = [r["id"] for r in records]
        atomic_write_text(self.folder / RECORDS / f"{min(ids):05d}-{max(ids):05d}.json", json.dumps(records))
        for record in records:
            self.records[int(record["id"])] = record

    def _processes(self) -> ProcessPoolExecutor:
        # "spawn": forking a process that runs Qt and torch threads can deadlock the child.
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"), initializer=_lower_priority)
        return self._pool

    # -- datasets ----------------------------------------------------------------------------------------
    def dataset(self, images, name: str) -> Dataset:
        """The drawn ``images`` as a CUB dataset in the partial folder (its tables rewritten for them)."""
        records = [self.records[p.image_id] for p in images]
        write_tables(self.folder, self.small, self.seed, self.table, records)
        return load_cub(self.folder, name=name)

    def preview_features(self) -> Path:
        """Where the first chunk's feature store lives: inside the partial folder, gone with it."""
        return self.folder / PREVIEW_FEATURES

    def install(self) -> Path:
        """Every bird drawn: write the full tables and rename the folder into place."""
        if self.missing():
            raise RuntimeError(f"{len(self.missing())} birds are not drawn yet")
        write_tables(self.folder, self.small, self.seed, self.table, list(self.records.values()))
        for extra in (PREVIEW_FEATURES, RECORDS, PLAN_FILE):
            path = self.folder / extra
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        for stale in (self.folder / "images").glob("*/.*.tmp-*"):  # a drawing process killed mid-write
            stale.unlink(missing_ok=True)
        install(self.folder, self.out_dir, self.small, self.seed)
        return self.out_dir

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "BirdDrawing":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -- in the drawing processes ---------------------------------------------------------------------------
def _lower_priority() -> None:
    try:
        os.nice(DRAWING_NICENESS)
    except (AttributeError, OSError):
        pass


@functools.lru_cache(maxsize=4)
def _plan(small: bool, seed: int):
    table = species_table(small=small, seed=seed)
    return table, image_plan(small, seed, table)


def _draw_chunk(folder: str, small: bool, seed: int, image_ids: list[int]) -> list[dict]:
    table, plan = _plan(small, seed)
    return [draw_image(Path(folder), small, seed, table, plan[i - 1]) for i in image_ids]
