"""Opening image files safely: one policy for size limits, orientation and colour modes.

Every image the engine reads goes through :func:`open_image`; the app calls it
too (a photo dropped on the window). It either returns a fully decoded,
upright, 8-bit RGB ``PIL.Image`` or raises :class:`ImageFileError` whose
message names the file and says what is wrong with it in words (empty,
truncated, not an image, too large, ...), so callers can skip the file and
keep going.

Decompression bombs: a small file can declare billions of pixels. The limit
is :data:`MAX_IMAGE_PIXELS`, set here once for the whole process (Pillow's
own guard, ``Image.MAX_IMAGE_PIXELS``, follows it: Pillow refuses outright
above twice the limit). Files above the limit are refused before decoding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from zsl_desktop.engine.errors import ZslError
from zsl_desktop.engine.photo_files import HEIC_WORDS, RAW_WORDS, UNREADABLE_PHOTO_SUFFIXES, pillow_reads_avif
from zsl_desktop.engine.userfiles import PDF_MAGIC, ZIP_MAGIC, check_file, file_head, looks_like_text, shown_path

# 100 megapixels: larger than any camera photo a user will bring (a 50 MP frame
# is 8688 x 5792), and about 300 MB once decoded to RGB.
MAX_IMAGE_PIXELS = 100_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS


class ImageFileError(ZslError):
    """An image file that cannot be used; ``str()`` is ``"<path>: <problem>"``."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{shown_path(path)}: {problem}")


def open_image(path) -> Image.Image:
    """The image at ``path``, decoded, EXIF-upright and in RGB; or :class:`ImageFileError`."""
    path = Path(path)
    size = check_file(path, "image", ImageFileError)  # a pipe, device or folder is refused without blocking
    if size == 0:
        raise ImageFileError(path, "the file is empty (0 bytes)")
    try:
        with Image.open(path) as image:
            check_size(path, image.size)
            image.load()
            upright = _exif_upright(image)
            return to_rgb(upright)
    except ImageFileError:
        raise
    except Image.DecompressionBombError:
        raise ImageFileError(
            path,
            f"the image declares more than {2 * MAX_IMAGE_PIXELS / 1e6:.0f} million "
            "pixels; refused as a possible decompression bomb",
        ) from None
    except UnidentifiedImageError:
        raise ImageFileError(path, _unidentified(path)) from None
    except MemoryError:
        raise ImageFileError(path, "the image is too large to decode in the memory available") from None
    except PermissionError:
        raise ImageFileError(path, "permission denied") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError) as exc:
        # Pillow reports damaged data with all of these (SyntaxError: "broken PNG file", ...)
        text = str(exc) or type(exc).__name__
        if "truncated" in text.lower() or isinstance(exc, EOFError):
            problem = f"the image data is truncated (the file ends early: {text})"
        else:
            problem = f"the image data is damaged ({type(exc).__name__}: {text})"
        raise ImageFileError(path, problem) from None


def check_size(path, size: tuple[int, int]) -> None:
    """Refuse an image whose declared size is over the pixel limit (before it is decoded)."""
    w, h = size
    if w <= 0 or h <= 0:
        raise ImageFileError(path, f"the image has no pixels ({w}x{h})")
    if w * h > MAX_IMAGE_PIXELS:
        raise ImageFileError(
            path,
            f"the image is {w}x{h} ({w * h / 1e6:.0f} million pixels), over the limit of "
            f"{MAX_IMAGE_PIXELS / 1e6:.0f} million; refused as a possible decompression bomb",
        )


def _exif_upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a damaged EXIF block leaves the image as stored."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # malformed EXIF must not make a readable photo unusable
        return image.copy()  # a copy: the caller closes the file's image


# ISO media "ftyp" brands: HEIC/HEIF stills (an iPhone's photos), AVIF, and Canon's CR3 RAW.
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}


def _format_words(head: bytes) -> str | None:
    """What a file is, from its first bytes, when it is a known kind we cannot read as a photo."""
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _HEIF_BRANDS:
            return HEIC_WORDS
        if brand in _AVIF_BRANDS:
            return (
                "an AVIF image whose data could not be decoded (damaged?)"
                if pillow_reads_avif()
                else UNREADABLE_PHOTO_SUFFIXES[".avif"]
            )
        if brand == b"crx ":
            return RAW_WORDS
        return "a video or other ISO media file, not a photo"
    if head.startswith(b"II*\x00") and head[8:10] == b"CR":
        return RAW_WORDS
    if head.startswith(PDF_MAGIC):
        return "a PDF document, not a photo"
    if head.startswith(ZIP_MAGIC):
        return "a zip archive (or an Office document), not a photo"
    lowered = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if lowered.startswith((b"<svg", b"<?xml")) and b"<svg" in lowered:
        return UNREADABLE_PHOTO_SUFFIXES[".svg"]
    return None


def _unidentified(path: Path) -> str:
    head = file_head(path)
    words = _format_words(head)
    if words:
        return f"this is {words}"
    if looks_like_text(head):
        return "contains text, not image data (is it an image file at all?)"
    suffix = path.suffix.lower() or "(no extension)"
    return f"not an image format that can be read (extension {suffix}; the header is not a known image type)"


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode -> 8-bit RGB. Transparency is composited on white; 16/32-bit grey is rescaled
    (PIL's own convert would clip I;16 values above 255 to white)."""
    mode = image.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(image, dtype=np.float64)
        if mode.startswith("I;16"):
            arr = arr / 65535.0
        else:
            finite = arr[np.isfinite(arr)]
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
            if lo >= 0 and hi <= 255:
                arr = arr / 255.0
            elif lo >= 0 and hi <= 65535:
                arr = arr / 65535.0
            else:
                arr = (arr - lo) / max(hi - lo, 1e-12)
        arr = np.nan_to_num(arr, nan=0.0, posinf=1.0, neginf=0.0)
        grey = np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in ("LA", "PA", "La", "RGBa"):
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, image).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def image_size(path) -> tuple[int, int]:
    """(width, height) of an image file as stored, read from its header through the same gate."""
    path = Path(path)
    if check_file(path, "image", ImageFileError) == 0:
        raise ImageFileError(path, "the file is empty (0 bytes)")
    try:
        with Image.open(path) as image:
            return image.size
    except UnidentifiedImageError:
        raise ImageFileError(path, _unidentified(path)) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageFileError(path, f"the image data is damaged ({type(exc).__name__}: {exc})") from None


def describe(exc: BaseException) -> str:
    """The problem part of an error about one image, for per-file failure lists."""
    if isinstance(exc, ImageFileError):
        return exc.problem
    return f"{type(exc).__name__}: {exc}"


__all__ = ["MAX_IMAGE_PIXELS", "ImageFileError", "check_size", "describe", "image_size", "open_image", "to_rgb"]
