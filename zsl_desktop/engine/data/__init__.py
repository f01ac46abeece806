"""Dataset loaders. ``load_dataset`` detects the format; every loader returns a ``Dataset``."""

from __future__ import annotations

from pathlib import Path

from .model import (
    Attribute,
    Dataset,
    DatasetError,
    SPLIT_NAMES,
    check_zsl_split,
    split_from_classes,
    validation_split,
)

FORMATS = ("builtin", "cub", "awa2", "sun", "xlsa17", "folder")

__all__ = [
    "Attribute",
    "Dataset",
    "DatasetError",
    "SPLIT_NAMES",
    "FORMATS",
    "detect_format",
    "load_dataset",
    "load_builtin",
    "split_from_classes",
    "validation_split",
]


def detect_format(path) -> str:
    """The format of a dataset folder (or file), from the files it holds."""
    path = Path(path)
    if str(path) in ("builtin", "builtin-small"):
        return "builtin"
    if path.is_file():
        if path.suffix.lower() == ".mat":
            return "xlsa17"
        raise DatasetError(path, "expected a dataset folder (or an xlsa17 res101.mat file)")
    if not path.is_dir():
        raise DatasetError(path, "no such folder")

    def has(*names):
        return any((path / n).exists() for n in names)

    if has("images.txt", "CUB_200_2011/images.txt"):
        return "cub"
    if has("predicate-matrix-continuous.txt", "Animals_with_Attributes2/predicate-matrix-continuous.txt"):
        return "awa2"
    if has("images.mat", "SUNAttributeDB/images.mat"):
        return "sun"
    if has("res101.mat"):
        return "xlsa17"
    if has("classes.csv"):
        return "folder"
    raise DatasetError(
        path,
        "cannot tell the dataset format: expected CUB (images.txt), AwA2 (predicate-matrix-continuous.txt), "
        "SUN (images.mat), xlsa17 (res101.mat) or our folder format (classes.csv)",
    )


def load_dataset(path, format: str | None = None, **options) -> Dataset:
    """Load ``path`` ("builtin", "builtin-small" or a folder/file) as ``format`` (detected when None).

    A split that cannot give a zero-shot result (no unseen test images, leakage, ...) is refused here.
    """
    dataset = _load(path, format, **options)
    check_zsl_split(dataset)
    return dataset


def _load(path, format: str | None = None, **options) -> Dataset:
    fmt = format or detect_format(path)
    if fmt == "builtin":
        return load_builtin(small=str(path) == "builtin-small" or options.pop("small", False), **options)
    if fmt == "cub":
        from .cub import load_cub

        return load_cub(path, **options)
    if fmt == "awa2":
        from .awa2 import load_awa2

        return load_awa2(path, **options)
    if fmt == "sun":
        from .sun import load_sun

        return load_sun(path, **options)
    if fmt == "xlsa17":
        from .xlsa17 import load_xlsa17

        return load_xlsa17(path, **options)
    if fmt == "folder":
        from .folder import load_folder

        return load_folder(path, **options)
    raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")


def load_builtin(small: bool = False, root=None, progress=None, cancel=None) -> Dataset:
    """The built-in procedural birds, generated into the user data folder on first use."""
    from ..paths import builtin_dataset_dir
    from .builtin_birds import generate, is_generated
    from .cub import load_cub

    root = Path(root) if root else builtin_dataset_dir(small)
    if not is_generated(root):
        generate(root, small=small, progress=progress, cancel=cancel)
    return load_cub(root, name="builtin-small" if small else "builtin")
