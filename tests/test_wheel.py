"""The built wheel is the program: installed alone, outside the checkout, it finds its models and vocabularies.

The checkout keeps ``resources/`` and ``trained/`` at the top level; the wheel must
carry them inside the package (pyproject's package-dir), or a user's ``pip install``
gets an app with no shipped models and hashed-word vectors instead of word2vec.
The wheel is built once per session from a copy of the project (so no stale
``build/`` folder leaks into it) and installed into a fresh venv that sees the
system's torch and Qt but not this checkout.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT_PARTS = ("pyproject.toml", "README.md", "zsl_desktop", "resources", "trained")
VOCABULARY_FILES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "resources").rglob("*") if p.is_file())
SHIPPED_MODELS = sorted(p.name for p in (ROOT / "trained").glob("*_builtin.pt"))
REAL_BIRD_MODELS = sorted(p.name for p in (ROOT / "trained").glob("*_cub.pt"))  # the real-bird model


def test_a_checkout_finds_the_top_level_folders():
    """Run from a checkout (or an editable install), the shipped folders are the ones beside the package."""
    import zsl_desktop
    from zsl_desktop.engine.paths import resources_dir, shipped_models_dir

    checkout = Path(zsl_desktop.__file__).resolve().parents[1]
    assert resources_dir() == checkout / "resources" and (resources_dir() / "vocabularies").is_dir()
    assert shipped_models_dir() == checkout / "trained" and (shipped_models_dir() / "msdn_builtin.pt").is_file()


def _version(distribution: str) -> tuple[int, ...] | None:
    """The installed version of ``distribution`` as numbers (read from metadata: importing setuptools here
    would replace distutils under the test session), or None."""
    try:
        text = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    return tuple(int(n) for n in re.findall(r"\d+", text)[:2])


def _build_requirements_missing() -> str | None:
    """Why the wheel cannot be built offline here (no build isolation: the installed setuptools), or None."""
    setuptools, wheel, pip = _version("setuptools"), _version("wheel"), _version("pip")
    if setuptools is None or setuptools < (68, 0):
        return f"building the wheel without network needs setuptools>=68 installed (found {setuptools})"
    if setuptools < (70, 1) and wheel is None:
        return "setuptools older than 70.1 needs the wheel package to build a wheel"
    if pip is None or pip < (22, 3):
        return f"pip {pip} has no --python option (22.3 or later installs into the venv)"
    if not all((ROOT / part).exists() for part in PROJECT_PARTS):
        return "not run from a full checkout (pyproject.toml, resources/, trained/ ...)"
    return None


def _run(cmd, cwd, timeout=300, env=None) -> subprocess.CompletedProcess:
    """Run ``cmd`` without this checkout on PYTHONPATH (by default), failing with its output."""
    env = env or _without_checkout()
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory) -> Path:
    reason = _build_requirements_missing()
    if reason:
        pytest.skip(reason)
    source = tmp_path_factory.mktemp("wheel-source")
    for part in PROJECT_PARTS:
        if (ROOT / part).is_dir():
            shutil.copytree(ROOT / part, source / part, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(ROOT / part, source / part)
    out = tmp_path_factory.mktemp("wheel")
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", out, source],
        cwd=source,
    )
    (wheel,) = out.glob("zsl_desktop-*.whl")
    return wheel


@pytest.fixture(scope="session")
def wheel_venv(built_wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed; torch, Qt, ... come from the system site-packages."""
    venv = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv], cwd=venv)
    python = venv / "bin" / "python"
    if sys.prefix != sys.base_prefix:  # run from a venv (the README's): a new venv sees the base interpreter's
        purelib = sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"]
        Path(purelib, "outer_venv.pth").write_text("\n".join(site.getsitepackages()) + "\n")  # so torch, Qt, ...
    # The running pip installs into the venv's interpreter (--python), so the venv needs no pip of its own.
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            python,
            "install",
            "--no-deps",
            "--no-index",
            "--ignore-installed",
            built_wheel,
        ],
        cwd=venv,
    )
    return venv


def _without_checkout() -> dict:
    """This environment less PYTHONPATH: the tests put the checkout there, and pip or the venv must not see it."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def _outside_checkout_env(home: Path) -> dict:
    """The environment of a user's shell: no PYTHONPATH to this checkout, user files in ``home``, offscreen Qt."""
    env = _without_checkout()
    env.update(ZSL_DESKTOP_HOME=str(home), QT_QPA_PLATFORM="offscreen", OMP_NUM_THREADS="1")
    return env


@pytest.mark.wheel
def test_wheel_carries_the_code_the_models_and_the_vocabularies(built_wheel):
    names = set(zipfile.ZipFile(built_wheel).namelist())
    code = {
        p.relative_to(ROOT).as_posix() for p in (ROOT / "zsl_desktop").rglob("*.py") if "__pycache__" not in p.parts
    }
    assert not code - names, f"modules missing from the wheel (add their package to pyproject): {sorted(code - names)}"
    assert SHIPPED_MODELS and VOCABULARY_FILES
    assert {f"zsl_desktop/trained/{m}" for m in SHIPPED_MODELS + REAL_BIRD_MODELS} <= names
    assert {f"zsl_desktop/{v}" for v in VOCABULARY_FILES} <= names
    tops = {n.split("/", 1)[0] for n in names}
    assert tops == {"zsl_desktop", built_wheel.name.split("-py")[0] + ".dist-info"}, tops


PROBE = """
import json, zsl_desktop
from zsl_desktop.engine.session.opening import shipped_checkpoint, shipped_checkpoints
from zsl_desktop.engine.checkpoints import load_checkpoint
from zsl_desktop.engine.data.word_vectors import VOCABULARIES, attribute_vectors, load_vocabulary
from zsl_desktop.engine.paths import resources_dir, shipped_models_dir

vocabularies = {k: load_vocabulary(k) for k in VOCABULARIES}  # None: the files are missing
print(json.dumps({
    "package": zsl_desktop.__file__,
    "resources": str(resources_dir()),
    "models": str(shipped_models_dir()),
    "shipped": [p.name for p in shipped_checkpoints()],
    "msdn_method": load_checkpoint(shipped_checkpoint()).header["method"],
    "vocabularies": {k: list(v[1].shape) if v else None for k, v in vocabularies.items()},
    "cub_source": attribute_vectors(vocabularies["CUB"][0])[1] if vocabularies["CUB"] else None,
}))
"""


@pytest.mark.wheel
def test_installed_wheel_finds_its_models_and_vocabularies(wheel_venv, tmp_path):
    done = _run([wheel_venv / "bin" / "python", "-c", PROBE], cwd=tmp_path, env=_outside_checkout_env(tmp_path))
    found = json.loads(done.stdout.strip().splitlines()[-1])
    site = Path(found["package"]).parent
    assert wheel_venv in site.parents, f"imported {found['package']}, not the wheel installed in {wheel_venv}"
    assert Path(found["resources"]) == site / "resources" and Path(found["models"]) == site / "trained"
    assert sorted(found["shipped"]) == SHIPPED_MODELS and found["shipped"][0] == "msdn_builtin.pt"
    assert found["msdn_method"] == "msdn"
    assert found["vocabularies"] == {"CUB": [312, 300], "AWA2": [85, 300], "SUN": [102, 300]}
    assert found["cub_source"] == "word2vec (CUB)"  # not the hashed-word fallback a missing vocabulary gives


@pytest.mark.wheel
def test_installed_app_starts_outside_the_checkout(wheel_venv, tmp_path):
    """The ``zsl-desktop`` command of the wheel opens the small built-in birds and saves a screenshot."""
    shot = tmp_path / "window.png"
    done = _run(
        [wheel_venv / "bin" / "zsl-desktop", "--small", "--screenshot", shot, "--screenshot-delay", "0.2"],
        cwd=tmp_path,
        env=_outside_checkout_env(tmp_path),
        timeout=240,
    )
    assert f"screenshot: {shot}" in done.stderr
    assert shot.stat().st_size > 10_000
