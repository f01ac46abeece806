"""User-defined classes: the class library on disk (the editor's undo history is in ``edit_history.py``,
reading class files back in ``class_json.py``).

Why this lives in the engine (Qt-free): the CLI and the tests use the same
library, and the rules that protect the user's work (atomic writes, a corrupt
file kept aside instead of silently replaced, a save that keeps what another
window saved meanwhile, imports validated with the file and the problem named)
must not depend on a widget.

A class is a vector of attribute values in the dataset's own scale (CUB:
0-100). Classes are stored per *attribute identity* (a hash of the ordered
attribute names), so a class drawn for CUB shows for every dataset with CUB's
312 attributes and never for AwA2.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np

from zsl_desktop.engine.atomic import atomic_write_text
from zsl_desktop.engine.paths import data_dir
from zsl_desktop.engine.shared_files import aside_name, file_stamp, folder_lock

# what a class is and its rules live in user_class.py, reading class files in class_json.py; named here too
# for the library's callers
from zsl_desktop.engine.class_json import EXPORT_FORMAT as EXPORT_FORMAT
from zsl_desktop.engine.class_json import LIBRARY_FORMAT as LIBRARY_FORMAT
from zsl_desktop.engine.class_json import read_export as read_export
from zsl_desktop.engine.class_json import read_library
from zsl_desktop.engine.user_class import LIBRARY_MAX_VALUE as LIBRARY_MAX_VALUE
from zsl_desktop.engine.user_class import MAX_NAME as MAX_NAME
from zsl_desktop.engine.user_class import LibraryError as LibraryError
from zsl_desktop.engine.user_class import UserClass as UserClass
from zsl_desktop.engine.user_class import attribute_identity as attribute_identity
from zsl_desktop.engine.user_class import check_name as check_name
from zsl_desktop.engine.user_class import timestamp
from zsl_desktop.engine.user_class import unique_name as unique_name
from zsl_desktop.engine.user_class import value_range as value_range

LIBRARY_FILE = "class_library.json"


def library_path() -> Path:
    return data_dir() / LIBRARY_FILE


class ClassLibrary:
    """All user classes, grouped by attribute identity, saved atomically as JSON.

    ``load`` never loses a file: one it cannot read is renamed to
    ``<name>.corrupt-<time>`` and the problem goes to ``warnings``.
    """

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path is not None else None
        self._sets: dict[
            str, dict
        ] = {}  # identity -> {"attribute_names": [...], "dataset": str, "classes": {name: UserClass}}
        self.warnings: list[str] = []
        self._stamp: tuple | None = None  # the file as last read or written (see save: another app's saves)
        self._edits: list[tuple] = []  # this library's edits since then, replayed onto a file changed meanwhile

    # -- persistence ------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path | None = None) -> "ClassLibrary":
        path = Path(path) if path is not None else library_path()
        library = cls(path)
        if not path.exists():
            return library
        problems: list[str] = []
        try:
            library._stamp = file_stamp(path)
            library._sets = read_library(path, problems)
        except LibraryError as exc:
            library._sets = {}
            library._set_aside(path, f"could not be read ({exc.problem})", "an empty library was started")
            return library
        if problems:  # a class broken by a hand edit: a copy keeps the file as it was, the others stay in use
            loaded = sum(len(entry["classes"]) for entry in library._sets.values())
            more = f", and {len(problems) - 1} more" if len(problems) > 1 else ""
            library._keep_copy(
                path,
                f"has {len(problems)} {'class' if len(problems) == 1 else 'classes'} that could not be read "
                f"({problems[0]}{more})",
                f"its other {loaded} classes were loaded",
            )
        return library

    def _keep_aside(self, path: Path, move: bool) -> tuple[Path | None, OSError | None]:
        """Move (``move``) or copy the file to ``<name>.corrupt-<time>``, never deleted: (where, None), or
        (None, the error) when that fails, and then this library saves beside it (``<name>.new``) so the
        file it could not keep is never overwritten."""
        aside = aside_name(path)
        try:
            if move:
                path.replace(aside)
            else:
                shutil.copy2(path, aside)
        except OSError as error:
            self.path = path.with_name(path.name + ".new")
            return None, error
        return aside, None

    def _set_aside(self, path: Path, what: str, then: str) -> None:
        """Keep the file as ``<name>.corrupt-<time>`` and say so in ``warnings``."""
        aside, error = self._keep_aside(path, move=True)
        kept = (
            f"it was kept as {aside.name}" if aside else f"it could not be moved aside ({error}); it was left untouched"
        )
        self.warnings.append(f"The class library {path} {what}; {kept} and {then}.")

    def _keep_copy(self, path: Path, what: str, then: str) -> None:
        """A copy of the file as ``<name>.corrupt-<time>``, then the readable classes written back in place.

        Why a copy and a save rather than a move: the classes that did load must still be in the library
        file if the user quits without editing anything."""
        aside, error = self._keep_aside(path, move=False)
        if aside is None:
            kept = f"no copy could be made ({error}); it was left untouched"
        else:
            kept = f"a copy was kept as {aside.name}"
            try:
                self.save()
            except (OSError, LibraryError) as save_error:
                kept += f" (the readable classes could not be written back: {save_error})"
        self.warnings.append(f"The class library {path} {what}; {kept} and {then}.")

    def save(self) -> Path:
        """Write the library atomically, keeping what another app saved to the file since we read it.

        Two windows (or the app and a script) may hold the same library: each save re-reads a file
        that changed since this one last read or wrote it and replays this library's own edits onto it,
        so neither window's new classes are lost (the same class edited in both: the later save wins).
        The read-merge-write runs under an advisory lock on the file's folder where the system has one.
        """
        if self.path is None:
            raise ValueError("this library has no file")
        with folder_lock(self.path):
            if self.path.exists() and file_stamp(self.path) != self._stamp:
                self._merge_from_disk(self.path)
            data: dict = {"format": LIBRARY_FORMAT, "saved": timestamp(), "sets": {}}
            for identity, entry in self._sets.items():
                if not entry["classes"]:
                    continue
                data["sets"][identity] = {
                    "dataset": entry.get("dataset", ""),
                    "attribute_names": list(entry["attribute_names"]),
                    "classes": [c.as_json() for c in entry["classes"].values()],
                }
            atomic_write_text(self.path, json.dumps(data, indent=1))
            self._stamp = file_stamp(self.path)
            self._edits.clear()
        return self.path

    def _merge_from_disk(self, path: Path) -> None:
        """The file as another app left it, with this library's unsaved edits replayed on top."""
        problems: list[str] = []
        try:
            disk = read_library(path, problems)
        except LibraryError as exc:  # damaged meanwhile (a hand edit?): kept aside, ours is written
            aside, error = self._keep_aside(path, move=True)
            self.warnings.append(
                f"{path} could not be read ({exc.problem}); it was kept as {aside.name}"
                if aside
                else f"{path} could not be read ({exc.problem}) nor moved aside ({error}); "
                f"this library is saved as {path.name}.new"
            )
            return
        if problems:  # a class broken by a hand edit meanwhile: a copy keeps it, the other classes merge
            aside, error = self._keep_aside(path, move=False)
            kept = (
                f"a copy was kept as {aside.name}"
                if aside
                else f"no copy could be made ({error}); this library is saved as {path.name}.new"
            )
            self.warnings.append(f"{path} has classes that could not be read ({problems[0]}); {kept}")
        edits, self._edits, self._sets = self._edits, [], disk
        for op, identity, *args in edits:  # each is journalled again: a failed write keeps them for the next save
            try:
                if op == "put":
                    self.put(identity, *args)
                elif op == "rename":
                    self.rename(identity, *args)
                elif op == "delete":
                    self.delete(identity, *args)
            except (KeyError, ValueError):  # the other app deleted or took the name first: its change stands
                pass

    # -- queries ------------------------------------------------------------------------
    def classes(self, identity: str) -> list[UserClass]:
        entry = self._sets.get(identity)
        return list(entry["classes"].values()) if entry else []

    def names(self, identity: str) -> list[str]:
        return [c.name for c in self.classes(identity)]

    def get(self, identity: str, name: str) -> UserClass | None:
        entry = self._sets.get(identity)
        return entry["classes"].get(name) if entry else None

    def matrix(self, identity: str, num_attributes: int) -> tuple[list[str], np.ndarray]:
        """Names and the [U, A] value matrix of this identity's classes."""
        classes = self.classes(identity)
        if not classes:
            return [], np.zeros((0, num_attributes), np.float32)
        return [c.name for c in classes], np.stack([c.array() for c in classes])

    # -- edits ------------------------------------------------------------------------------
    def _entry(self, identity: str, attribute_names, dataset: str = "") -> dict:
        entry = self._sets.get(identity)
        if entry is None:
            entry = {"attribute_names": list(attribute_names or []), "dataset": dataset, "classes": {}}
            self._sets[identity] = entry
        elif attribute_names and not entry["attribute_names"]:
            entry["attribute_names"] = list(attribute_names)
        return entry

    def put(self, identity: str, user_class: UserClass, attribute_names=(), dataset: str = "") -> UserClass:
        """Create or replace the class called ``user_class.name``."""
        entry = self._entry(identity, attribute_names, dataset)
        names = entry["attribute_names"]
        if names and len(user_class.values) != len(names):
            raise ValueError(f"{user_class.name!r} has {len(user_class.values)} values for {len(names)} attributes")
        old = entry["classes"].get(user_class.name)
        if old is not None:
            user_class = replace(user_class, created=old.created, modified=timestamp())
        entry["classes"][user_class.name] = user_class
        self._edits.append(("put", identity, user_class, list(names), entry.get("dataset", dataset)))
        return user_class

    def rename(self, identity: str, old: str, new: str) -> UserClass:
        entry = self._sets.get(identity)
        if entry is None or old not in entry["classes"]:
            raise KeyError(f"no user class called {old!r}")
        new = check_name(new, [n for n in entry["classes"] if n != old])
        items = [
            (new if k == old else k, replace(v, name=new, modified=timestamp()) if k == old else v)
            for k, v in entry["classes"].items()
        ]
        entry["classes"] = dict(items)
        self._edits.append(("rename", identity, old, new))
        return entry["classes"][new]

    def delete(self, identity: str, name: str) -> None:
        entry = self._sets.get(identity)
        if entry is None or name not in entry["classes"]:
            raise KeyError(f"no user class called {name!r}")
        del entry["classes"][name]
        self._edits.append(("delete", identity, name))

    # -- exchange ------------------------------------------------------------------------
    def export_json(self, path, identity: str, attribute_names, names=None, scale=None) -> Path:
        """Write this identity's classes (or just ``names``) as a portable JSON file, atomically."""
        chosen = [c for c in self.classes(identity) if names is None or c.name in set(names)]
        data = {
            "format": EXPORT_FORMAT,
            "exported": timestamp(),
            "attribute_names": list(attribute_names),
            "classes": [c.as_json() for c in chosen],
        }
        if scale is not None:
            data["scale"] = [float(scale[0]), float(scale[1])]
        atomic_write_text(Path(path), json.dumps(data, indent=1))
        return Path(path)

    def import_json(self, path, identity: str, attribute_names, scale=None, taken=(), dataset: str = "") -> list[str]:
        """Add the classes of an export (or library) file; returns their names (renamed when taken).

        Raises LibraryError naming the file and the problem; nothing is added then.
        """
        return self.add_classes(
            identity, read_export(Path(path), attribute_names, scale), attribute_names, taken, dataset
        )

    def add_classes(self, identity: str, incoming, attribute_names, taken=(), dataset: str = "") -> list[str]:
        """Add already-validated classes (an import), renaming any whose name is taken; returns their names."""
        taken = list(taken) + self.names(identity)
        added = []
        for c in incoming:
            name = unique_name(c.name, taken)
            taken.append(name)
            self.put(identity, replace(c, name=name), attribute_names, dataset)
            added.append(name)
        return added
