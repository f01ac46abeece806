"""The CLI's text progress bar (its own module: ``cli.py`` and ``cli_training.py`` both draw it)."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    """A one-line text progress bar on stderr; on a non-terminal it prints every 10%."""

    def __init__(self, label: str, stream=None):
        self.label = label
        self.stream = stream or sys.stderr
        self.start = time.perf_counter()
        self.tty = self.stream.isatty()
        self._last_decile = -1

    enabled = True  # off on the non-zero ranks of a torchrun job

    def update(self, done: int, total: int, extra: str = "") -> None:
        if not self.enabled:
            return
        total = max(total, 1)
        fraction = min(done / total, 1.0)
        elapsed = time.perf_counter() - self.start
        eta = elapsed / fraction - elapsed if fraction > 0 else 0
        text = f"{self.label} {done}/{total} [{elapsed:5.1f}s, eta {eta:5.1f}s] {extra}"
        if self.tty:
            bar = "#" * int(30 * fraction)
            self.stream.write(f"\r[{bar:<30}] {text}"[:160].ljust(100))
            self.stream.flush()
        elif int(fraction * 10) != self._last_decile:
            self._last_decile = int(fraction * 10)
            self.stream.write(f"{int(fraction * 100):3d}% {text}\n")

    def close(self) -> None:
        if self.tty and self.enabled:
            self.stream.write("\n")
        self.stream.flush()
