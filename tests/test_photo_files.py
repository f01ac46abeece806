"""The one walk that finds photos for the app's Add photos, a drop, a folder job and ``zsl-desktop predict``;
and the image gate's words for photo formats we cannot read."""

import os

import pytest
from PIL import Image

from zsl_desktop.engine.images import ImageFileError, open_image
from zsl_desktop.engine.photo_files import at_most, find_photos, is_photo_name, pillow_reads_avif


def test_find_photos_walks_folders_sorted_and_lists_the_rest(tmp_path):
    (tmp_path / "b").mkdir()
    for name in ("b/2.JPG", "a.png", "b/1.jpeg", "c.txt", "d.TIFF"):
        (tmp_path / name).write_bytes(b"x")
    found, skipped = find_photos([tmp_path, tmp_path / "c.txt"])
    assert [p.removeprefix(str(tmp_path)) for p in found] == ["/a.png", "/d.TIFF", "/b/1.jpeg", "/b/2.JPG"]
    assert skipped == [(str(tmp_path / "c.txt"), "not an image file (extension .txt)")]


def test_find_photos_gives_absolute_paths_for_relative_input(tmp_path, monkeypatch):
    (tmp_path / "x.webp").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    found, _ = find_photos(["x.webp", "."])
    assert found == [str(tmp_path / "x.webp")] * 2


def test_is_photo_name_goes_by_the_extension_only():
    assert is_photo_name("a/B.GIF") and is_photo_name("c.tif")
    assert not is_photo_name("notes.txt") and not is_photo_name("jpg")


def test_at_most_keeps_the_first_and_says_how_many_were_left_out():
    found = [f"{k}.jpg" for k in range(5)]
    assert at_most(found, 5) == (found, ())
    kept, over = at_most(found, 3)
    assert kept == found[:3]
    assert over == (("2 more images", "at most 3 photos at a time"),)


def test_a_folder_of_iphone_and_raw_photos_lists_them_with_what_to_do(tmp_path):
    """Before: a folder of HEIC photos gave "no image files" and no word on why."""
    for name in ("IMG_0001.HEIC", "IMG_0002.jpg", "DSC_0003.NEF", "logo.svg", "notes.txt", "clip.mov"):
        (tmp_path / name).write_bytes(b"x")
    found, skipped = find_photos([tmp_path])
    assert found == [str(tmp_path / "IMG_0002.jpg")]
    why = dict(skipped)
    assert set(why) == {str(tmp_path / n) for n in ("IMG_0001.HEIC", "DSC_0003.NEF", "logo.svg")}  # not notes/clips
    assert (
        "HEIC" in why[str(tmp_path / "IMG_0001.HEIC")] and "export it as JPEG" in why[str(tmp_path / "IMG_0001.HEIC")]
    )
    assert "camera RAW" in why[str(tmp_path / "DSC_0003.NEF")]


def test_the_walk_skips_mac_copies_hidden_and_thumbnail_folders_and_link_loops(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"x")
    (tmp_path / "._a.jpg").write_bytes(b"Mac metadata")  # AppleDouble, on every FAT stick a Mac wrote to
    for folder in (".thumbnails", "@eaDir", "trip"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "b.jpg").write_bytes(b"x")
    if hasattr(os, "symlink"):
        os.symlink(tmp_path, tmp_path / "trip" / "loop")  # a link back up: followed, the walk would never end
    found, skipped = find_photos([tmp_path])
    assert found == [str(tmp_path / "a.jpg"), str(tmp_path / "trip" / "b.jpg")] and skipped == []
    assert find_photos([tmp_path / ".thumbnails"])[0] == [str(tmp_path / ".thumbnails" / "b.jpg")]  # asked for


def test_named_files_that_are_missing_or_not_photos_say_so(tmp_path):
    (tmp_path / "list.csv").write_text("a,b")
    found, skipped = find_photos([tmp_path / "gone", tmp_path / "list.csv"])
    assert found == [] and skipped == [
        (str(tmp_path / "gone"), "no such file or folder"),
        (str(tmp_path / "list.csv"), "not an image file (extension .csv)"),
    ]


def test_jfif_and_avif_count_when_pillow_reads_them(tmp_path):
    assert is_photo_name("x.jfif") and is_photo_name("y.JPE")
    assert is_photo_name("z.avif") == pillow_reads_avif()
    if pillow_reads_avif():
        Image.new("RGB", (8, 8), (200, 0, 0)).save(tmp_path / "z.avif")
        assert open_image(tmp_path / "z.avif").size == (8, 8)


ISO = b"\x00\x00\x00\x18ftyp"


@pytest.mark.parametrize(
    "name, head, words",
    [
        ("IMG_0001.jpg", ISO + b"heic\x00\x00\x00\x00mif1heic", "HEIC/HEIF photo"),  # renamed: the bytes tell
        ("IMG_0001.HEIC", ISO + b"mif1\x00\x00\x00\x00mif1heic", "HEIC/HEIF photo"),
        ("IMG_0002.CR3", ISO + b"crx \x00\x00\x00\x01crx isom", "camera RAW"),
        ("IMG_0003.tif", b"II*\x00\x10\x00\x00\x00CR\x02\x00", "camera RAW"),
        ("clip.jpg", ISO + b"qt  \x00\x00\x00\x00qt  ", "video or other ISO media"),
        ("scan.jpg", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF document"),
        ("photos.png", b"PK\x03\x04\x14\x00", "zip archive"),
        ("logo.png", b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "SVG drawing"),
    ],
)
def test_photo_formats_we_cannot_read_are_named(tmp_path, name, head, words):
    path = tmp_path / name
    path.write_bytes(head + b"\x00" * 200)
    with pytest.raises(ImageFileError) as info:
        open_image(path)
    assert str(info.value).startswith(str(path)) and words in info.value.problem, info.value.problem


def test_a_file_name_that_is_not_utf8_shows_in_messages_and_encodes(tmp_path):
    """Before: the message held a lone surrogate; a UTF-8 log dropped it and Qt showed ``caf.jpg``."""
    from zsl_desktop.engine.classes import LibraryError
    from zsl_desktop.engine.data.model import DatasetError
    from zsl_desktop.engine.userfiles import UserFileError

    if os.name != "posix":
        pytest.skip("file names are bytes only on POSIX")
    name = os.fsdecode(os.fsencode(str(tmp_path)) + b"/caf\xe9\nphoto.jpg")
    with open(name, "w") as f:
        f.write("some text, no image")
    with pytest.raises(ImageFileError) as info:
        open_image(name)
    assert info.value.path == name  # the real name, to open or list the file again
    message = str(info.value)
    assert message.encode("utf-8") and message.startswith(f"{tmp_path}/caf\\xe9\\nphoto.jpg: contains text")
    for error in (UserFileError, LibraryError, DatasetError):
        assert str(error(name, "bad")) == f"{tmp_path}/caf\\xe9\\nphoto.jpg: bad"


def test_a_subfolder_that_cannot_be_listed_is_named_and_the_rest_still_arrive(tmp_path, monkeypatch):
    """Before: os.walk passed over a folder without permission in silence (its photos just were not there)."""
    for folder in ("open", "locked"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "a.jpg").write_bytes(b"x")
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)  # root may read any folder: refuse one the way the system would
    found, skipped = find_photos([tmp_path])
    assert found == [str(tmp_path / "open" / "a.jpg")]
    assert skipped == [(str(tmp_path / "locked"), "the folder could not be read: Permission denied")]
