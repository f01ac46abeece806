"""Two apps (two windows, or the app and a script) saving the one class library: nobody's classes are lost.

Before: each save wrote the classes that app had in memory, so the second window's save silently
dropped every class the first had saved since the second one opened the library.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from zsl_desktop.engine.classes import ClassLibrary, UserClass, attribute_identity

NAMES = ("has_a", "has_b", "has_c")
IDENTITY = attribute_identity(NAMES)


def put(library, name, value=1.0):
    library.put(IDENTITY, UserClass.from_array(name, np.full(len(NAMES), value)), NAMES)
    library.save()


def saved_names(path):
    return sorted(ClassLibrary.load(path).names(IDENTITY))


def test_two_windows_keep_each_others_new_classes(tmp_path):
    path = tmp_path / "class_library.json"
    put(ClassLibrary.load(path), "old")
    first, second = ClassLibrary.load(path), ClassLibrary.load(path)
    put(first, "from the first")
    put(second, "from the second")
    put(first, "first again")
    assert saved_names(path) == ["first again", "from the first", "from the second", "old"]


def test_deletes_renames_and_edits_of_either_window_stand(tmp_path):
    path = tmp_path / "class_library.json"
    base = ClassLibrary.load(path)
    for name in ("a", "b", "c"):
        put(base, name)
    first, second = ClassLibrary.load(path), ClassLibrary.load(path)
    first.delete(IDENTITY, "a")
    first.save()
    second.rename(IDENTITY, "b", "bee")
    put(second, "c", 7.0)  # an edit of a class the first window left alone
    second.save()
    assert "a" not in second.names(IDENTITY)  # the first window's delete reached the second: no resurrection
    library = ClassLibrary.load(path)
    assert sorted(library.names(IDENTITY)) == ["bee", "c"]
    assert np.allclose(library.get(IDENTITY, "c").array(), 7.0)


def test_a_library_damaged_while_the_app_runs_is_kept_aside(tmp_path):
    path = tmp_path / "class_library.json"
    library = ClassLibrary.load(path)
    put(library, "mine")
    path.write_text('{"format": "zsl-desktop-class-library/1", "sets": [')  # a hand edit cut short
    put(library, "more")
    assert saved_names(path) == ["mine", "more"]
    (aside,) = tmp_path.glob("class_library.json.corrupt-*")
    assert aside.read_text().endswith("[") and any("kept as" in w for w in library.warnings)


WRITER = """
import sys
import numpy as np
from zsl_desktop.engine.classes import ClassLibrary, UserClass, attribute_identity
names = ("has_a", "has_b", "has_c")
library = ClassLibrary.load(sys.argv[1])
for k in range(int(sys.argv[3])):
    library.put(attribute_identity(names), UserClass.from_array(f"{sys.argv[2]} {k}", np.ones(3)), names)
    library.save()
"""


def test_two_processes_saving_at_once_keep_every_class(tmp_path):
    path = tmp_path / "class_library.json"
    runs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), who, "10"], stderr=subprocess.PIPE)
        for who in ("left", "right")
    ]
    for run in runs:
        _, err = run.communicate(timeout=120)
        assert run.returncode == 0, err.decode()
    names = saved_names(path)
    assert len(names) == 20 and names[0] == "left 0" and names[-1] == "right 9"
    json.loads(path.read_text())  # whole, never torn


def test_a_save_goes_on_when_another_process_holds_the_lock_too_long(tmp_path, monkeypatch):
    """A hung app holding the folder's lock must not freeze this window's save: it waits, then saves unlocked."""
    import fcntl
    import os

    from zsl_desktop.engine import shared_files

    monkeypatch.setattr(shared_files, "LOCK_WAIT_S", 0.2)
    path = tmp_path / "class_library.json"
    holder = os.open(tmp_path, os.O_RDONLY)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)  # another open file description: flock blocks this process too
        library = ClassLibrary.load(path)
        put(library, "robin")
        assert library.save() == path and path.is_file()
    finally:
        os.close(holder)
