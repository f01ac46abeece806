"""Predictions for folders of photos, streamed in batches into a resumable CSV.

Why streaming: an expert's folder holds thousands to 100k photos; features are
extracted, encoded, scored and written one batch at a time, so memory does not
grow with the folder (only the list of file names and the set of finished ones).

Why append-and-repair rather than rewrite: rewriting a growing CSV after every batch
costs O(n²); instead each batch is appended with one ``write`` and ``fsync``. Every
record is one physical line (newlines in file names are escaped), so a crash can only
leave a torn last line, which ``PredictionsCsv.open`` cuts off before resuming.
Photos already in the CSV are skipped on a rerun.

The ``out_of_domain`` column: ``PhotoPredictor(ood_score=f)`` fills it with
``f(grid, pooled, codes, logits) -> [B]`` (higher: further from the training images);
``zsl-desktop predict`` passes the model's k-NN distance (``engine.out_of_domain``);
without one it stays empty.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zsl_desktop.engine.spreadsheet_cells import guard

BATCH = 16


def cell(text: str) -> str:
    """A CSV text field that stays on one line, encodes as UTF-8 (undecodable file-name bytes escaped) and
    opens in a spreadsheet as text, not as a formula (``spreadsheet_cells.guard``)."""
    text = str(text).replace("\r", "\\r").replace("\n", "\\n")
    return guard(text.encode("utf-8", "backslashreplace").decode("utf-8"))


@dataclass(frozen=True)
class ClassSet:
    """The classes photos are scored against: names, kinds ("seen", "unseen", "user") and attribute rows."""

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    matrix: np.ndarray  # [C, A]

    @property
    def user_names(self) -> list[str]:
        return [n for n, k in zip(self.names, self.kinds) if k == "user"]


def columns(classes: ClassSet, top_k: int) -> list[str]:
    head = ["file", "error", "out_of_domain"]
    for i in range(1, top_k + 1):
        head += [f"top{i}_class", f"top{i}_probability", f"top{i}_raw_score"]
    for name in classes.user_names:
        head += [f"user:{name}:probability", f"user:{name}:raw_score"]
    return [cell(h) for h in head]


class PhotoPredictor:
    """Scores batches of photo files: backbone -> method codes -> calibrated probabilities of every class.

    ``tta``: the model was trained with flip test-time averaging (header "flips" tta/both), so each photo's
    codes are the mean of its own and its mirror's, as ``eval`` scored the test images.
    """

    def __init__(
        self,
        method,
        backbone,
        spec,
        input_size: int,
        classes: ClassSet,
        gamma: float,
        top_k: int = 5,
        device="cpu",
        ood_score=None,
        tta: bool = False,
    ):
        from zsl_desktop.engine.ranking import calibration

        self.tta = tta and not method.reencodes_images  # SGMA re-encodes the original images: never averaged
        self.method, self.backbone, self.spec, self.input_size = method, backbone, spec, input_size
        self.classes, self.top_k, self.device, self.ood_score = (
            classes,
            min(top_k, len(classes.names)),
            device,
            ood_score,
        )
        self.boost = calibration(classes.kinds, gamma)
        self.user_columns = [i for i, k in enumerate(classes.kinds) if k == "user"]
        self.width = len(columns(classes, self.top_k))

    def rows(self, paths) -> list[list[str]]:
        """One CSV row per path, in order; an unreadable photo gets a row with its error, never an exception."""
        import torch

        from zsl_desktop.engine.backbones import preprocess
        from zsl_desktop.engine.images import describe, open_image

        out: dict[int, list[str]] = {}
        tensors, good = [], []
        for i, path in enumerate(paths):
            try:  # the engine's image gate: pipes, huge, empty and damaged files are refused with a reason
                tensors.append(preprocess(open_image(path), self.spec, self.input_size))
                good.append(i)
            except Exception as exc:  # noqa: BLE001 - one bad photo must not stop a folder
                out[i] = self._error_row(path, describe(exc))
        if tensors:
            with torch.inference_mode():
                batch = torch.stack(tensors).to(self.device)
                if self.tta:  # the mirror as the feature store's mirrored rows are made (extraction flips the tensor)
                    batch = torch.cat([batch, batch.flip(-1)])
                grid, pooled = self.backbone(batch)
                rows = grid if self.method.feature_kind == "grid" else pooled
                codes = self.method.encode(rows.float())
                if self.tta:
                    n = len(tensors)
                    codes, grid, pooled = (codes[:n] + codes[n:]) / 2, grid[:n], pooled[:n]
            logits = np.asarray(self.method.score(codes, self.classes.matrix), np.float64)
            ood = self.ood_score(grid, pooled, codes, logits) if self.ood_score is not None else None
            for j, i in enumerate(good):
                out[i] = self._row(paths[i], logits[j], None if ood is None else float(ood[j]))
        return [out[i] for i in range(len(paths))]

    def _row(self, path, logits: np.ndarray, ood: float | None) -> list[str]:
        calibrated = logits + self.boost
        p = np.exp(calibrated - calibrated.max())
        p /= p.sum()
        row = [cell(path), "", "" if ood is None else f"{ood:.6g}"]
        for c in np.argsort(-p, kind="stable")[: self.top_k]:
            row += [cell(self.classes.names[c]), f"{p[c]:.6f}", f"{logits[c]:.6f}"]
        for c in self.user_columns:
            row += [f"{p[c]:.6f}", f"{logits[c]:.6f}"]
        return row

    def _error_row(self, path, message: str) -> list[str]:
        return [cell(path), cell(message)] + [""] * (self.width - 2)


class PredictionsCsv:
    """A CSV appended one batch at a time; reopening it repairs a torn last line and lists the done photos."""

    def __init__(self, path, header: list[str]):
        self.path, self.header = Path(path), list(header)
        self.done: set[str] = set()
        self.repaired = 0  # bytes of a torn last line cut off on open

    def open(self) -> PredictionsCsv:
        """Create the file (header only, atomically) or check and repair an existing one."""
        from zsl_desktop.engine.atomic import atomic_write_bytes

        if not self.path.exists():
            atomic_write_bytes(self.path, self._encode([self.header]))
            return self
        self._repair_tail()
        with open(self.path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            found = next(reader, None)
            if found != self.header:
                raise ValueError(
                    f"{self.path}: its columns differ from this run's ({_first_difference(found, self.header)}); "
                    f"pass another --out, or the same --classes and --top-k as the run that wrote it"
                )
            for row in reader:
                if row:  # as written (guarded), or as a file from before the guard (session 13) holds it
                    self.done.update((row[0], guard(row[0])))
        return self

    def append(self, rows: list[list[str]]) -> None:
        """One write and an fsync per batch: a crash leaves whole rows and at most one torn last line."""
        data = self._encode(rows)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        self.done.update(r[0] for r in rows)

    def _repair_tail(self) -> None:
        size = self.path.stat().st_size
        if size == 0:
            raise ValueError(f"{self.path}: empty file (no header); pass another --out or remove it")
        with open(self.path, "rb+") as f:
            f.seek(max(0, size - 1))
            if f.read(1) == b"\n":
                return
            step, end = 65536, size
            while end > 0:  # find the last newline, reading backwards
                start = max(0, end - step)
                f.seek(start)
                chunk = f.read(end - start)
                k = chunk.rfind(b"\n")
                if k >= 0:
                    f.truncate(start + k + 1)
                    self.repaired = size - (start + k + 1)
                    f.flush()
                    os.fsync(f.fileno())
                    return
                end = start
            raise ValueError(f"{self.path}: no complete header line; pass another --out or remove it")

    @staticmethod
    def _encode(rows) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        return buffer.getvalue().encode("utf-8")


def _first_difference(found, wanted) -> str:
    found = list(found or [])
    for i, (a, b) in enumerate(zip(found, wanted)):
        if a != b:
            return f"column {i + 1} is {a!r}, expected {b!r}"
    return f"{len(found)} columns, expected {len(wanted)}"
