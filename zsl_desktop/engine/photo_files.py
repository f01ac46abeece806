"""Which files are photos, and finding them in the files and folders a user hands us.

One list and one walk for every place that takes "photos or folders of photos" (the app's
Add photos, a drop on the window, a whole folder as a job, ``zsl-desktop predict``), so the
app and the CLI never disagree on what counts. A folder-format dataset keeps its own,
narrower list (``data/folder.py``): DATASETS.md names that format's image types.

What a folder holds besides photos is passed over in silence (notes, sidecar files, a Mac's
``._`` copies, hidden and NAS thumbnail folders), except photos in a format we cannot read
(an iPhone's HEIC, camera RAW, SVG drawings): those are listed with what to do, so a folder of
them never just gives "no photos".
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"})

# Photo formats Pillow cannot read (without plug-ins we do not ship): the extension -> what to tell the user.
HEIC_WORDS = (
    "a HEIC/HEIF photo (an iPhone's default format), which this app cannot read; export it as JPEG "
    "(iPhone: Settings > Camera > Formats > Most Compatible)"
)
RAW_WORDS = "a camera RAW file, which this app cannot read; export it as JPEG, PNG or TIFF"
UNREADABLE_PHOTO_SUFFIXES = {
    ".heic": HEIC_WORDS,
    ".heif": HEIC_WORDS,
    ".hif": HEIC_WORDS,
    ".avif": "an AVIF image, which this installation's Pillow cannot read (a newer Pillow can); export it as JPEG",
    ".svg": "an SVG drawing (vector graphics), not a photo; export it as PNG",
    **{s: RAW_WORDS for s in (".cr2", ".cr3", ".nef", ".arw", ".dng", ".raf", ".orf", ".rw2", ".pef", ".srw")},
}
# Folders and files a walk never enters or lists: hidden folders, Synology thumbnails, macOS's AppleDouble
# ``._name.jpg`` copies (metadata written beside every file on a FAT/exFAT stick: not images).
SKIPPED_FOLDER_PREFIXES = (".", "@eaDir")
SKIPPED_FILE_PREFIXES = ("._",)


@functools.cache
def pillow_reads_avif() -> bool:
    """Pillow 11.2+ wheels decode AVIF; older ones do not."""
    from PIL import features

    return bool(features.check_module("avif"))


def is_photo_name(path) -> bool:
    """By the name's extension only: the image gate reads the file itself later."""
    suffix = Path(path).suffix.lower()
    return suffix in PHOTO_SUFFIXES or (suffix == ".avif" and pillow_reads_avif())


def unreadable_photo(path) -> str | None:
    """What to tell the user about a photo in a format we cannot read (HEIC, RAW, ...), by its name; else None."""
    return None if is_photo_name(path) else UNREADABLE_PHOTO_SUFFIXES.get(Path(path).suffix.lower())


def find_photos(paths) -> tuple[list[str], list[tuple[str, str]]]:
    """Photo files among ``paths`` (folders searched recursively, sorted), as absolute paths; and
    ``(path, why)`` for what was left out: a named file that is no photo, an unreadable photo format, or a
    folder that could not be listed (no permission).

    Sorted so that a rerun walks the same order (``predict`` resumes by file name). Symbolic links to
    folders are not followed (a link loop cannot trap the walk); links to files are taken.
    """
    found: list[str] = []
    skipped: list[tuple[str, str]] = []

    def unreadable(exc: OSError) -> None:
        skipped.append((str(exc.filename), f"the folder could not be read: {exc.strerror}"))

    for p in paths:
        p = Path(p)
        if p.is_dir():
            for root, dirs, files in os.walk(p, onerror=unreadable):
                dirs[:] = sorted(d for d in dirs if not d.startswith(SKIPPED_FOLDER_PREFIXES))
                for name in sorted(files):
                    if name.startswith(SKIPPED_FILE_PREFIXES):
                        continue
                    full = os.path.abspath(os.path.join(root, name))
                    if is_photo_name(name):
                        found.append(full)
                    elif why := unreadable_photo(name):
                        skipped.append((full, why))
        elif is_photo_name(p):
            found.append(os.path.abspath(p))
        elif not p.exists() and not p.is_symlink():
            skipped.append((str(p), "no such file or folder"))
        else:
            skipped.append((str(p), unreadable_photo(p) or f"not an image file (extension {p.suffix or 'none'})"))
    return found, skipped


def at_most(found: list[str], limit: int) -> tuple[list[str], tuple[tuple[str, str], ...]]:
    """The first ``limit`` photos, and a (what, why) line for the ones left out, if any."""
    if len(found) <= limit:
        return found, ()
    return found[:limit], ((f"{len(found) - limit:,} more images", f"at most {limit:,} photos at a time"),)
