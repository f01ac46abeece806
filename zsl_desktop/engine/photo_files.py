"""Which files are photos, and finding them in the files and folders a user hands us.

One list and one walk for every place that takes "photos or folders of photos" (the app's
Add photos, a drop on the window, a whole folder as a job, ``zsl-desktop predict``), so the
app and the CLI never disagree on what counts. A folder-format dataset keeps its own,
narrower list (``data/folder.py``): DATASETS.md names that format's image types.
"""

from __future__ import annotations

import os
from pathlib import Path

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"})


def is_photo_name(path) -> bool:
    """By the name's extension only: the image gate reads the file itself later."""
    return Path(path).suffix.lower() in PHOTO_SUFFIXES


def find_photos(paths) -> tuple[list[str], list[str]]:
    """Photo files among ``paths`` (folders searched recursively, sorted), as absolute paths; and the rest.

    Sorted so that a rerun walks the same order (``predict`` resumes by file name).
    """
    found, skipped = [], []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs.sort()
                found += [os.path.abspath(os.path.join(root, name)) for name in sorted(files) if is_photo_name(name)]
        elif is_photo_name(p):
            found.append(os.path.abspath(p))
        else:
            skipped.append(str(p))
    return found, skipped


def at_most(found: list[str], limit: int) -> tuple[list[str], tuple[tuple[str, str], ...]]:
    """The first ``limit`` photos, and a (what, why) line for the ones left out, if any."""
    if len(found) <= limit:
        return found, ()
    return found[:limit], ((f"{len(found) - limit:,} more images", f"at most {limit:,} photos at a time"),)
