"""The user's own photos joining the gallery: a few at once, or a folder of thousands as a long job.

Why apart from the controller: adding photos is its own small protocol (read, append to the gallery,
select the first, score them, report the files that could not be used) and touches the controller's
state only through its public methods (``dataset``, ``select``, ``request_all_scores``, ``schedule_live``).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal, Slot

from zsl_desktop.engine.session.results import LooseAdded
from zsl_desktop.engine.userfiles import shown_path

MAX_ERRORS_SHOWN = 12


def errors_text(errors) -> str:
    """The files that could not be used, one a line (the first ``MAX_ERRORS_SHOWN``, then a count)."""
    lines = "\n".join(f"{shown_path(p)}: {why}" for p, why in errors[:MAX_ERRORS_SHOWN])
    more = f"\n… and {len(errors) - MAX_ERRORS_SHOWN} more" if len(errors) > MAX_ERRORS_SHOWN else ""
    return lines + more


class PhotoIntake(QObject):
    """Adds loose photos and folders of them for the controller; ``loose`` holds what was added."""

    status = Signal(str)
    warn = Signal(str, str)  # title, text

    def __init__(self, controller, bridge, gallery, parent=None):
        super().__init__(parent)
        self.controller, self.bridge, self.gallery = controller, bridge, gallery
        self.loose: list = []
        self.folder: dict | None = None  # the folder being added: first item, count, errors
        self.folder_due: list | None = None  # a folder to add once the running long job ends
        bridge.photos_added.connect(self.on_loose)
        bridge.folder_batch.connect(self.on_folder_batch)

    def clear(self) -> None:
        """A new dataset: the photos added to the last one are gone from the gallery."""
        self.loose = []

    def add_photos(self, paths) -> None:
        if self.controller.dataset is None:
            self.warn.emit("Your photos", "Open a dataset first: photos are predicted against its classes.")
            return
        self.status.emit("Reading your photos…")
        self.bridge.add_loose(paths)

    def add_folder(self, paths) -> None:
        """Thousands of photos: a long job with progress and Cancel; the gallery fills batch by batch."""
        if self.controller.dataset is None:
            self.warn.emit("Your photos", "Open a dataset first: photos are predicted against its classes.")
            return
        if self.bridge.busy:  # a dataset or model still loading, or training: start when it ends
            self.folder_due = list(paths)
            self.status.emit("Your photos will be added when the running job ends.")
            return
        self.folder = {"first": self.gallery.item_count(), "added": 0, "errors": []}
        if not self.bridge.add_folder(paths):  # no session yet (its dataset is still opening)
            self.folder = None

    def on_long_finished(self, name: str, status: str) -> None:
        """The folder job ended (report it), or another job did (start a folder that waited for it)."""
        if name == "photos":
            self.folder_finished(status)
        elif self.folder_due is not None and self.controller.dataset is not None and not self.bridge.busy:
            paths, self.folder_due = self.folder_due, None
            self.add_folder(paths)

    @Slot(object)
    def on_folder_batch(self, added: LooseAdded) -> None:
        folder = self.folder
        if folder is None:
            return
        if added.items:
            self.loose.extend(added.items)
            self.gallery.add_loose(added.items)
            if folder["added"] == 0:
                self.controller.select(folder["first"])
            folder["added"] += len(added.items)
        folder["errors"].extend(added.errors)

    def folder_finished(self, status: str) -> None:
        folder, self.folder = self.folder, None
        if folder is None:
            return
        if folder["added"]:
            self.controller.request_all_scores()
            self.controller.schedule_live()
        stopped = " (cancelled: the photos read so far stay)" if status == "cancelled" else ""
        self.status.emit(f"Added {folder['added']:,} of your photos{stopped}.")
        if folder["errors"]:
            self.warn.emit("Some files could not be used", errors_text(folder["errors"]))

    @Slot(object)
    def on_loose(self, added: LooseAdded) -> None:
        if added.items:
            first = self.gallery.item_count()
            self.loose.extend(added.items)
            self.gallery.add_loose(added.items)
            self.controller.request_all_scores()
            self.status.emit(f"Added {len(added.items)} of your photos (never written into the dataset).")
            self.controller.select(first)
        if added.errors:
            self.warn.emit("Some files could not be used", errors_text(added.errors))
