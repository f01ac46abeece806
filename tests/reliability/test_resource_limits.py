"""Resource limits: out of memory falls back (smaller batches, then the CPU) with a message; a full disk
leaves the previous file intact, no temp file behind, and says so."""

from __future__ import annotations

import errno
import os
import types

import numpy as np
import pytest
import torch

from corpus_datasets import make_folder_dataset
from zsl_desktop.engine import atomic, backbones, features
from zsl_desktop.engine.extraction import BackboneRunner
from zsl_desktop.engine.features import extract_all


def _oom(n):
    return torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {n * 2} GiB")


@pytest.fixture(scope="module")
def lite():
    return backbones.load_backbone("efficientnet_lite0", "cpu")


@pytest.fixture
def folder_dataset(tmp_path):
    from zsl_desktop.engine.data import load_dataset

    root = make_folder_dataset(
        tmp_path, images={c: [f"{i}.jpg" for i in range(4)] for c in ("crow", "robin", "cardinal")}
    )
    return load_dataset(root)


class LimitedBackbone:
    """The real backbone, but 'out of memory' above ``limit`` images per call (or always, on 'cuda')."""

    def __init__(self, model, limit: int, device: str = "cpu"):
        self.model, self.limit, self.device, self.calls = model, limit, device, []

    def __call__(self, images):
        self.calls.append((self.device, len(images)))
        if self.device != "cpu" or len(images) > self.limit:
            raise _oom(len(images))
        return self.model(images)

    def to(self, device):
        self.device = str(device)
        return self

    def __getattr__(self, name):  # the backbone's facts (spec, …) come from the real one
        return getattr(self.model, name)


def test_extraction_halves_the_batch_on_out_of_memory(folder_dataset, lite, monkeypatch, tmp_path):
    reference = extract_all(folder_dataset, input_size=32, root=tmp_path / "ref", batch_size=8)
    limited = LimitedBackbone(lite, limit=2)
    monkeypatch.setattr(features, "load_backbone", lambda name="efficientnet_lite0", device="cpu": limited)
    messages = []
    store = extract_all(
        folder_dataset,
        input_size=32,
        root=tmp_path / "oom",
        batch_size=8,
        progress=lambda e: e.message and messages.append(e.message),
    )
    assert any("out of memory on cpu: continuing with batches of 4 images" in m for m in messages), messages
    assert any("continuing with batches of 2 images" in m for m in messages), messages
    assert max(n for _, n in limited.calls[-3:]) == 2, "it stays at the size that fits"
    assert store.manifest["status"] == "complete" and not store.failed
    np.testing.assert_allclose(
        np.asarray(store.pooled, np.float32), np.asarray(reference.pooled, np.float32), atol=1e-2, rtol=1e-2
    )


def test_extraction_moves_to_the_cpu_when_the_gpu_is_full(folder_dataset, lite, monkeypatch, tmp_path):
    limited = LimitedBackbone(lite, limit=99, device="cuda:0")
    monkeypatch.setattr(features, "load_backbone", lambda name="efficientnet_lite0", device="cpu": limited)
    messages = []
    store = extract_all(
        folder_dataset,
        input_size=32,
        root=tmp_path,
        batch_size=4,
        device="cuda:0",
        progress=lambda e: e.message and messages.append(e.message),
    )
    text = " | ".join(messages)
    assert "out of memory on cuda:0: continuing with batches of 2 images" in text
    assert "out of memory on cuda:0 even one image at a time: continuing on the CPU (slower)" in text
    assert limited.device == "cpu" and store.manifest["status"] == "complete"
    assert np.abs(np.asarray(store.pooled, np.float32)).sum(axis=1).min() > 0


def test_out_of_memory_on_the_cpu_with_one_image_is_an_error_not_a_loop(lite):
    runner = BackboneRunner(LimitedBackbone(lite, limit=0), batch_size=4)
    with pytest.raises(MemoryError, match="out of memory on the CPU even one image at a time"):
        runner(torch.zeros(4, 3, 32, 32))
    assert [m for m in runner.messages] == [
        "out of memory on cpu: continuing with batches of 2 images",
        "out of memory on cpu: continuing with batches of 1 images",
    ]


def test_other_errors_are_not_mistaken_for_out_of_memory(lite):
    def broken(images):
        raise RuntimeError("Given groups=1, weight of size [32, 3, 3, 3], expected input to have 3 channels")

    with pytest.raises(RuntimeError, match="expected input"):
        BackboneRunner(broken, 4)(torch.zeros(4, 3, 32, 32))


def test_encoding_rows_halves_its_chunk_on_out_of_memory():
    from zsl_desktop.engine.feature_source import FeatureSource
    from zsl_desktop.engine.methods.base import Method as BaseMethod

    class Method:  # just what the base class's chunked encoding needs
        feature_kind = "pooled"
        sizes = []

        def encode(self, x):
            self.sizes.append(len(x))
            if len(x) > 100:
                raise RuntimeError("CUDA error: out of memory")
            return x.numpy() * 2

    pooled = np.arange(1000 * 3, dtype=np.float32).reshape(1000, 3)
    method = Method()
    codes = BaseMethod.encode_rows(method, FeatureSource(pooled=pooled), np.arange(1000), chunk=512)
    np.testing.assert_array_equal(codes, pooled * 2)
    assert method.sizes[:3] == [512, 256, 128] and max(method.sizes[3:]) <= 64 + 36


# -- disk full ----------------------------------------------------------------------------------------------


def _disk_fills_up(monkeypatch, after_bytes: int = 100):
    """Every atomic write gets ENOSPC once ``after_bytes`` of it are written."""
    real_fdopen = os.fdopen

    class FillingFile:
        def __init__(self, f):
            self.f, self.written = f, 0

        def write(self, data):
            room = max(0, after_bytes - self.written)
            if len(data) > room:
                self.f.write(data[:room])
                self.written += room
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.written += len(data)
            return self.f.write(data)

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.f.__exit__(*exc)

    proxy = types.ModuleType("os")
    proxy.__dict__.update(os.__dict__)
    proxy.fdopen = lambda fd, *a, **k: FillingFile(real_fdopen(fd, *a, **k))
    monkeypatch.setattr(atomic, "os", proxy)


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_disk_full_keeps_the_previous_text_file(tmp_path, monkeypatch):
    path = tmp_path / "settings.json"
    atomic.atomic_write_text(path, '{"old": true}')
    _disk_fills_up(monkeypatch)
    with pytest.raises(atomic.DiskFullError) as info:
        atomic.atomic_write_text(path, '{"new": "' + "x" * 5000 + '"}')
    assert str(info.value) == f"{path} could not be saved: no space left on device; its previous version is unchanged"
    assert info.value.errno == errno.ENOSPC and isinstance(info.value, OSError)
    assert path.read_text() == '{"old": true}' and _files(tmp_path) == ["settings.json"]
    with pytest.raises(atomic.DiskFullError, match="nothing was written"):
        atomic.atomic_write_text(tmp_path / "new.json", "y" * 5000)
    assert _files(tmp_path) == ["settings.json"]


def test_disk_full_keeps_the_previous_checkpoint_and_class_library(tmp_path, monkeypatch):
    from zsl_desktop.engine.checkpoints import load_checkpoint, save_checkpoint
    from zsl_desktop.engine.classes import ClassLibrary, UserClass

    ck = save_checkpoint(tmp_path / "m.pt", {"method": "msdn", "v": 1}, {"w": torch.ones(10)})
    library = ClassLibrary(tmp_path / "class_library.json")
    library.put("id", UserClass(name="first", values=(1.0, 2.0)), ["a", "b"])
    library.save()
    before = (tmp_path / "class_library.json").read_bytes()
    _disk_fills_up(monkeypatch, after_bytes=64)
    with pytest.raises(atomic.DiskFullError, match="m.pt could not be saved: no space left"):
        save_checkpoint(ck, {"method": "msdn", "v": 2}, {"w": torch.zeros(1000)})
    library.put("id", UserClass(name="second", values=(3.0, 4.0)), ["a", "b"])
    with pytest.raises(atomic.DiskFullError, match="class_library.json could not be saved"):
        library.save()
    monkeypatch.undo()
    assert load_checkpoint(ck).header["v"] == 1 and torch.equal(load_checkpoint(ck).state["w"], torch.ones(10))
    assert (tmp_path / "class_library.json").read_bytes() == before
    assert _files(tmp_path) == ["class_library.json", "m.pt"]


def test_no_room_for_a_feature_store_is_said_before_extracting(folder_dataset, tmp_path, monkeypatch, cli):
    if not hasattr(os, "posix_fallocate"):
        pytest.skip("no posix_fallocate here: the store's files are not reserved up front")

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", full)
    with pytest.raises(OSError, match="not enough disk space for the feature store in .* it needs"):
        extract_all(folder_dataset, input_size=32, root=tmp_path / "store")
    (folder,) = (tmp_path / "store").iterdir()
    assert _files(folder) == ["manifest.json"], "no half-reserved data files are left"
    code, out, err = cli("extract", "--dataset", folder_dataset.root, "--input-size", 32)
    assert code == 2 and "error: " in err and "not enough disk space for the feature store" in err
    assert "Traceback" not in err
    monkeypatch.undo()
    store = extract_all(folder_dataset, input_size=32, root=tmp_path / "store")  # room again: it just works
    assert store.manifest["status"] == "complete"
