"""The log file: every module logs through ``logging.getLogger(__name__)``; the CLI and the app write it to
a rotating file in the user data folder (``<data>/logs/zsl-desktop.log``, 1 MB, three old files kept).

Why a file: worker tracebacks and engine warnings (out-of-memory fallbacks, skipped
images) otherwise reach only a dialog or a terminal that is gone; the app's Help menu
opens this file. The engine itself only logs; which handlers run is the entry point's choice.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from zsl_desktop.engine import paths

LOG_NAME = "zsl-desktop.log"
MAX_BYTES = 1_000_000
BACKUPS = 3
FORMAT = "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"


def log_dir() -> Path:
    """``<data>/logs``: the rotating log and the crash logs (``crash_log.py``)."""
    return paths.data_dir(create=False) / "logs"


def log_path() -> Path:
    return log_dir() / LOG_NAME


class LogFile(logging.handlers.RotatingFileHandler):
    """The rotating log file, made (with its folder) at the first record: a run that logs nothing writes nothing.

    A folder that cannot be written loses the records (``handleError`` is quiet): logging never stops the program.
    """

    zsl_log_file = True

    def __init__(self, path: Path):
        super().__init__(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True)

    def _open(self):
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()

    def handleError(self, record: logging.LogRecord) -> None:
        pass


def setup_logging(level: int = logging.INFO) -> Path:
    """Send the package's log records to the rotating log file; returns its path.

    Called again (another ``ZSL_DESKTOP_HOME`` in tests, the CLI starting the app), it replaces
    the handler it added before instead of adding a second one.
    """
    logger = logging.getLogger("zsl_desktop")
    logger.setLevel(level)
    for handler in [h for h in logger.handlers if getattr(h, "zsl_log_file", False)]:
        logger.removeHandler(handler)
        handler.close()
    path = log_path()
    handler = LogFile(path)
    handler.setFormatter(logging.Formatter(FORMAT))
    logger.addHandler(handler)
    return path
