"""The user's photos into the session: a drop of files, or whole folders as a long job shown batch by batch."""

from __future__ import annotations

import time

from zsl_desktop.engine.photo_files import at_most, find_photos
from zsl_desktop.engine.session.loose import MAX_LOOSE_PER_DROP, LoosePhotos
from zsl_desktop.engine.session.results import LooseAdded, Progress

MAX_FOLDER_PHOTOS = 10_000  # each photo's grid features stay in memory (~130 KB with Lite0): ~1.3 GB at most
FOLDER_BATCH = 32  # photos per batch of "Add a folder": each batch reaches the gallery as it lands


def add_photos(loose: LoosePhotos, paths, still_wanted=lambda: True, generation: int = 0) -> LooseAdded:
    """The images among ``paths`` (folders searched) get features; what could not be used is listed."""
    found, skipped = find_photos(paths)
    found, over = at_most(found, MAX_LOOSE_PER_DROP)
    added = loose.add(found, still_wanted)
    return LooseAdded(added.items, added.errors + tuple(skipped) + over, generation)


def add_photos_job(
    loose: LoosePhotos, paths, control, generation: int = 0, batch: int | None = None, limit: int | None = None
):
    """Whole folders of photos as a long job: features batch by batch, each batch shown as it lands.

    Yields ``LooseAdded`` per batch (its unreadable files among ``errors``) and "photos"
    ``Progress`` with a rate (an ETA); a cancel keeps the photos added so far.
    """
    batch, limit = batch or FOLDER_BATCH, limit or MAX_FOLDER_PHOTOS
    found, skipped = find_photos(paths)
    found, over = at_most(found, limit)
    errors = tuple(skipped) + over
    if errors:
        yield LooseAdded((), errors, generation)
    start = time.perf_counter()
    yield Progress("photos", 0, len(found), f"{len(found):,} photos")
    for i in range(0, len(found), batch):
        if control.cancelled:
            return
        added = loose.add(found[i : i + batch])
        yield LooseAdded(added.items, added.errors, generation)
        done = min(i + batch, len(found))
        rate = done / max(time.perf_counter() - start, 1e-9)
        yield Progress("photos", done, len(found), f"{done:,} of {len(found):,} photos", rate)
