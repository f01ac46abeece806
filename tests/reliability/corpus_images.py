"""The corpus's images: damaged, odd or hostile image files made on the fly, and what must become of each.

``IMAGE_CASES`` rows are (id, build, words, check): ``words`` None means accepted, then ``check(rgb_image)``
says it was read right (colours, orientation, size); else a regex the refusal must contain.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def png_bytes(w: int, h: int, bitdepth: int, colortype: int, raw: bytes, extra: bytes = b"") -> bytes:
    """A PNG written by hand, so sizes and bit depths Pillow will not write can be made."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, bitdepth, colortype, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + extra + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


def _rows(pixels: np.ndarray) -> bytes:
    return b"".join(b"\x00" + row.tobytes() for row in pixels)  # filter byte 0 per row


def jpeg_bytes(size=(48, 32), color=(200, 40, 40), mode="RGB", **save) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, "JPEG", quality=95, **save)
    return buf.getvalue()


def _write(folder: Path, name, data: bytes) -> Path:
    path = Path(folder) / (os.fsdecode(name) if isinstance(name, bytes) else name)
    path.write_bytes(data)
    return path


def _half_red_blue() -> bytes:
    arr = np.zeros((30, 60, 3), np.uint8)
    arr[:, :30] = (255, 0, 0)
    arr[:, 30:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display": the left (red) half ends up on top
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=95, exif=exif)
    return buf.getvalue()


def _near(rgb, expected, tol=12) -> bool:
    return all(abs(int(a) - int(b)) <= tol for a, b in zip(rgb, expected))


def _check_exif(im):
    assert im.size == (30, 60), f"orientation ignored: {im.size}"
    top, bottom = im.getpixel((15, 5)), im.getpixel((15, 55))
    assert _near(top, (255, 0, 0), 40) and _near(bottom, (0, 0, 255), 40), (top, bottom)


def _png16_rgba() -> bytes:
    px = np.zeros((6, 8, 4), ">u2")
    px[..., 0] = 65535
    px[..., 3] = 32768  # half transparent red over white -> pink
    return png_bytes(8, 6, 16, 6, _rows(px))


def _png16_grey() -> bytes:
    return png_bytes(8, 6, 16, 0, _rows(np.full((6, 8), 40000, ">u2")))


def _palette_alpha() -> bytes:
    im = Image.new("P", (10, 10), 0)
    im.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    for x in range(5, 10):
        for y in range(10):
            im.putpixel((x, y), 1)
    buf = io.BytesIO()
    im.save(buf, "PNG", transparency=0)  # index 0 fully transparent
    return buf.getvalue()


def _check_palette(im):
    assert _near(im.getpixel((1, 5)), (255, 255, 255)) and _near(im.getpixel((8, 5)), (0, 200, 0))


def _truncated_png() -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()[:2000]


def _truncated_jpeg() -> bytes:
    rng = np.random.default_rng(1)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    data = buf.getvalue()
    return data[: len(data) // 2]


NON_UTF8_NAME = b"m\xe9sange-\xff.jpg"  # Latin-1 bytes: not valid UTF-8
LONG_NAME = "l" * 246 + ".jpg"  # 250 bytes, just under the 255-byte limit of one file name


def _image(name, data_fn):
    return lambda folder, **_: _write(folder, name, data_fn())


def _folder_named_jpg(folder, **_):
    path = Path(folder) / "folder.jpg"
    path.mkdir()
    return path


def _fifo_named_jpg(folder, **_):
    path = Path(folder) / "pipe.jpg"
    os.mkfifo(path)  # reading it would block forever
    return path


IMAGE_CASES = [
    ("zero-byte-jpeg", _image("empty.jpg", lambda: b""), "empty \\(0 bytes\\)", None),
    ("truncated-jpeg", _image("cut.jpg", _truncated_jpeg), "truncated", None),
    ("truncated-png", _image("cut.png", _truncated_png), "truncated|damaged", None),
    ("text-named-jpg", _image("notes.jpg", lambda: b"shopping list: eggs, milk\n" * 20), "contains text", None),
    (
        "random-bytes-png",
        _image("noise.png", lambda: bytes(np.random.default_rng(2).integers(0, 256, 4096, np.uint8))),
        "not an image format",
        None,
    ),
    ("folder-named-jpg", _folder_named_jpg, "is a folder", None),
    ("named-pipe-named-jpg", _fifo_named_jpg, "not a regular file", None),
    (
        "declared-50000x50000-bomb",
        _image("bomb.png", lambda: png_bytes(50000, 50000, 8, 2, b"\x00" * 64)),
        "decompression bomb",
        None,
    ),
    (
        "declared-120-megapixels",
        _image("huge.png", lambda: png_bytes(12000, 10000, 8, 2, b"\x00" * 64)),
        "over the limit of 100 million",
        None,
    ),
    (
        "cmyk-jpeg",
        _image("cmyk.jpg", lambda: jpeg_bytes(mode="CMYK", color=(0, 255, 255, 0))),
        None,
        lambda im: _near(im.getpixel((5, 5)), (255, 0, 0), 30) or _fail(im.getpixel((5, 5))),
    ),
    (
        "png-16bit-rgba",
        _image("rgba16.png", _png16_rgba),
        None,
        lambda im: _near(im.getpixel((1, 1)), (255, 127, 127), 3) or _fail(im.getpixel((1, 1))),
    ),
    (
        "png-16bit-grey",
        _image("grey16.png", _png16_grey),
        None,
        lambda im: _near(im.getpixel((1, 1)), (156, 156, 156), 2) or _fail(im.getpixel((1, 1))),
    ),
    ("palette-png-with-alpha", _image("palette.png", _palette_alpha), None, _check_palette),
    (
        "one-by-one-png",
        _image("dot.png", lambda: png_bytes(1, 1, 8, 2, b"\x00\x10\x20\x30")),
        None,
        lambda im: im.size == (1, 1) and im.getpixel((0, 0)) == (16, 32, 48) or _fail(im.getpixel((0, 0))),
    ),
    (
        "strip-1x20000-png",
        _image("strip.png", lambda: png_bytes(1, 20000, 8, 0, b"\x00\x80" * 20000)),
        None,
        lambda im: im.size == (1, 20000) or _fail(im.size),
    ),
    ("exif-rotated-jpeg", _image("rotated.jpg", _half_red_blue), None, _check_exif),
    ("non-utf8-file-name", _image(NON_UTF8_NAME, jpeg_bytes), None, None),
    ("very-long-file-name", _image(LONG_NAME, jpeg_bytes), None, None),
]


def _fail(value):
    raise AssertionError(f"unexpected pixels or size: {value}")
