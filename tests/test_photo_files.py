"""The one walk that finds photos for the app's Add photos, a drop, a folder job and ``zsl-desktop predict``."""

from zsl_desktop.engine.photo_files import at_most, find_photos, is_photo_name


def test_find_photos_walks_folders_sorted_and_lists_the_rest(tmp_path):
    (tmp_path / "b").mkdir()
    for name in ("b/2.JPG", "a.png", "b/1.jpeg", "c.txt", "d.TIFF"):
        (tmp_path / name).write_bytes(b"x")
    found, skipped = find_photos([tmp_path, tmp_path / "c.txt"])
    assert [p.removeprefix(str(tmp_path)) for p in found] == ["/a.png", "/d.TIFF", "/b/1.jpeg", "/b/2.JPG"]
    assert skipped == [str(tmp_path / "c.txt")]


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
