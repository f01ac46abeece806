"""``ZslError``: the base of every error the engine raises on purpose, with a message meant for the user.

Why one base: the CLI turns any of them into a one-line ``error: ...`` and exit
status 2, and the app into a dialog, without listing every kind; a bug (any
other exception) still shows its traceback. Kinds that are also a built-in
error (``DiskFullError`` is an ``OSError``, ``UserFileError`` a ``ValueError``)
derive from both, so older ``except OSError`` code keeps catching them.

``JobCancelled`` is the base of the three "the user stopped it" signals
(training, extraction, generation): not a failure, but a ZslError so that a
cancelled CLI run still ends with one line.
"""

from __future__ import annotations


class ZslError(Exception):
    """An error with a message for the user (a file, a setting, a dataset that cannot be used)."""


class JobCancelled(ZslError):
    """A long job stopped because the user asked it to."""
