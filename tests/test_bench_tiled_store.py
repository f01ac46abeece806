"""The bench's tiled stores (``memory.open_tiled_store``): opened without statting every repeated image when their
recorded stamps are the base store's, checked in full otherwise."""

import os

from zsl_desktop.bench.memory import open_tiled_store, repeated_builtin_store, tiled
from zsl_desktop.engine import image_stamps
from zsl_desktop.engine.data import load_builtin
from zsl_desktop.engine.features import FeatureStore, extract_all


def test_a_tiled_store_is_checked_in_full_until_its_stamps_are_its_bases(monkeypatch):
    checked: list[int] = []  # the rows of each full check (every image stat'ed)
    real = image_stamps.image_stamps
    monkeypatch.setattr(
        image_stamps, "image_stamps", lambda d, previous=None: checked.append(d.num_samples) or real(d, previous)
    )

    base = load_builtin(small=True)  # in this test's home, where the bench finds it
    base_store = extract_all(base)
    n = 3 * base.num_samples + 1
    repeated_builtin_store(n, small=True)  # written: no stamps recorded yet
    dataset, take = tiled(base, n, f"builtin-x{-(-n // base.num_samples)}")
    folder = FeatureStore.folder_for(dataset, "efficientnet_lite0", 224)
    checked.clear()
    assert open_tiled_store(dataset, take, base_store) is not None  # adopted after a full check, as FeatureStore.open
    assert checked == [n] and (folder / image_stamps.SOURCES_FILE).is_file()
    checked.clear()
    assert open_tiled_store(dataset, take, base_store) is not None
    assert checked == []  # its stamps are the base's, tiled: no image stat'ed again
    # A photo changed since: the base store (checked first by every caller) re-stamps it, and the tiled store,
    # whose rows hold the old photo's features, is checked in full and found changed.
    with open(os.path.join(base.image_root, base.image_paths[1]), "ab") as photo:
        photo.write(b"\0")
    base_store = FeatureStore.open(base, "efficientnet_lite0", 224) or extract_all(base)
    checked.clear()
    assert open_tiled_store(dataset, take, base_store) is None
    assert checked == [n]
