"""xlsa17 files: the six real att_splits.mat, res101.mat fixtures, and the shared text/MATLAB readers."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest
import scipy.io

from zsl_desktop.engine.data.model import DatasetError
from zsl_desktop.engine.data.textfiles import read_csv, read_mat, read_table
from zsl_desktop.engine.data.xlsa17 import (
    dataset_splits,
    find_split_file,
    load_att_splits,
    load_xlsa17,
    remap_splits,
)
from zsl_desktop.engine.paths import shared_data_dir

SHARED = shared_data_dir()
needs_shared = pytest.mark.skipif(SHARED is None, reason="../shared/zsl_data (real xlsa17 files) is not present")

# trainval, test_seen, test_unseen, classes (None: not published; checked for consistency only)
REAL_SIZES = {
    "CUB": (7057, 1764, 2967, 200),
    "AWA1": (19832, 4958, 5685, 50),
    "AWA2": (23527, 5882, 7913, 50),
    "SUN": (10320, 2580, 1440, 717),
    "FLO": (5631, 1403, 1155, 102),
    "APY": None,
}
REAL_SEEN_UNSEEN = {"CUB": (150, 50), "AWA2": (40, 10), "SUN": (645, 72)}


def cell(strings):
    """A MATLAB N x 1 cell array of strings, as savemat writes and loadmat returns it."""
    out = np.empty((len(strings), 1), dtype=object)
    for i, s in enumerate(strings):
        out[i, 0] = np.array([s])
    return out


def locs(indices):
    """0-based indices -> MATLAB 1-based N x 1 column (uint16, as in the real files)."""
    return (np.asarray(indices, dtype=np.uint16) + 1).reshape(-1, 1)


def tsv_rows(key):
    with open(SHARED / "image_lists" / f"{key}_res101_order.tsv", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


# -- real att_splits.mat -------------------------------------------------------------


@needs_shared
@pytest.mark.parametrize("key", list(REAL_SIZES))
def test_real_att_splits(key):
    a = load_att_splits(SHARED / "xlsa17" / key / "att_splits.mat")
    sizes = (len(a.trainval), len(a.test_seen), len(a.test_unseen))
    n = sum(sizes)
    assert a.num_samples == n  # the three splits cover images 0..N-1 exactly
    covered = np.sort(np.concatenate([a.trainval, a.test_seen, a.test_unseen]))
    assert np.array_equal(covered, np.arange(n))
    if REAL_SIZES[key] is not None:
        assert (*sizes, a.num_classes) == REAL_SIZES[key]
    assert np.allclose(np.linalg.norm(a.att, axis=0), 1.0, atol=1e-6)
    if a.original_att is not None:
        scaled = a.original_att / np.linalg.norm(a.original_att, axis=0)
        assert np.allclose(scaled, a.att, atol=1e-6)
    assert a.class_vectors().shape == (a.num_classes, a.num_attributes)
    assert len(a.class_names) == a.num_classes
    if key == "FLO":
        assert not a.class_names_given and a.class_names[0] == "class_001"
        assert a.num_attributes == 1024
    if a.train is not None:
        assert len(np.intersect1d(a.train, a.val)) == 0


@needs_shared
@pytest.mark.parametrize("key", list(REAL_SEEN_UNSEEN))
def test_real_splits_with_real_labels(key):
    """Labels from MSDN's res101-order list: class counts and each image's split agree."""
    a = load_att_splits(SHARED / "xlsa17" / key / "att_splits.mat")
    rows = tsv_rows(key)
    labels = np.array([int(r["label"]) - 1 for r in rows])
    splits, seen, unseen, notes = dataset_splits(a, labels)
    assert (len(seen), len(unseen)) == REAL_SEEN_UNSEEN[key]
    expected = np.array([r["split"] for r in rows])
    for name in ("trainval", "test_seen", "test_unseen"):
        assert set(expected[splits[name]]) == {name}
    if "train" in splits:
        assert np.isin(splits["train"], splits["trainval"]).all()
    trainval_names = (SHARED / "xlsa17" / key / "trainvalclasses.txt").read_text().split()
    assert {a.class_names[c] for c in seen} == set(trainval_names)
    assert [a.class_names[c] for c in labels] == [r["class_name"] for r in rows]


@needs_shared
def test_real_awa1_class_lists():
    a = load_att_splits(SHARED / "xlsa17" / "AWA1" / "att_splits.mat")
    seen = (SHARED / "xlsa17" / "AWA1" / "trainvalclasses.txt").read_text().split()
    unseen = (SHARED / "xlsa17" / "AWA1" / "testclasses.txt").read_text().split()
    assert (len(seen), len(unseen)) == (40, 10)
    assert set(seen) | set(unseen) == set(a.class_names)


@needs_shared
@pytest.mark.parametrize("key", ["CUB", "AWA2", "SUN"])
def test_load_xlsa17_with_real_split_and_labels(tmp_path, key):
    """res101.mat written with the real labels (tiny features): real names, 150/50-style class split."""
    folder = tmp_path / key
    folder.mkdir()
    shutil.copy(SHARED / "xlsa17" / key / "att_splits.mat", folder / "att_splits.mat")
    rows = tsv_rows(key)
    labels = np.array([[float(r["label"])] for r in rows])
    features = np.zeros((4, len(rows)))
    scipy.io.savemat(folder / "res101.mat", {"features": features, "labels": labels})
    ds = load_xlsa17(folder)
    assert ds.features.shape == (len(rows), 4)
    assert (len(ds.seen_classes), len(ds.unseen_classes)) == REAL_SEEN_UNSEEN[key]
    sizes = tuple(len(ds.splits[n]) for n in ("trainval", "test_seen", "test_unseen"))
    assert sizes == REAL_SIZES[key][:3]
    if key == "CUB":
        assert ds.attributes[0].name == "has_bill_shape::curved_(up_or_down)"
        assert len(ds.attribute_groups()) == 28
    if key == "AWA2":
        assert ds.attribute_names[:2] == ("black", "white")
        assert "train" in ds.splits and np.isin(ds.splits["val"], ds.splits["trainval"]).all()
    if key == "SUN":
        assert ds.attribute_names[0] == "sailing/ boating"


# -- res101.mat fixtures ---------------------------------------------------------------

K, A, N = 5, 4, 20


def write_att_splits(folder, num_attributes=A, names=True, **overrides):
    rng = np.random.default_rng(1)
    original = rng.uniform(0, 100, size=(num_attributes, K))
    fields = {
        "att": original / np.linalg.norm(original, axis=0),
        "original_att": original,
        # classes 0-2 seen (images 0..11), 3-4 unseen (images 12..19)
        "trainval_loc": locs([0, 1, 2, 4, 5, 6, 8, 9, 10]),
        "test_seen_loc": locs([3, 7, 11]),
        "test_unseen_loc": locs(range(12, 20)),
        "train_loc": locs([0, 1, 2, 3, 4, 5, 6, 7]),
        "val_loc": locs([8, 9, 10, 11]),
    }
    if names:
        fields["allclasses_names"] = cell([f"animal{k}" for k in range(K)])
    fields.update(overrides)
    fields = {k: v for k, v in fields.items() if v is not None}
    scipy.io.savemat(folder / "att_splits.mat", fields)
    return original


def write_res101(folder, cell_style="nested", **overrides):
    labels = np.repeat(np.arange(1, K + 1), 4).astype(float).reshape(N, 1)  # 4 images per class, 1-based
    files = [f"/data/toy/images/c{int(label)}/{i:03d}.jpg" for i, label in enumerate(labels.ravel())]
    if cell_style == "nested":
        files = cell(files)
    else:  # plain strings inside an object array: savemat writes the same cell
        plain = np.empty((N, 1), dtype=object)
        plain[:, 0] = files
        files = plain
    fields = {"features": np.arange(2048 * N, dtype=float).reshape(2048, N), "labels": labels, "image_files": files}
    fields.update(overrides)
    fields = {k: v for k, v in fields.items() if v is not None}
    scipy.io.savemat(folder / "res101.mat", fields)
    return labels


@pytest.fixture
def toy(tmp_path):
    folder = tmp_path / "toy"
    folder.mkdir()
    return folder


@pytest.mark.parametrize("cell_style", ["nested", "plain"])
def test_load_xlsa17_fixture(toy, cell_style):
    original = write_att_splits(toy)
    write_res101(toy, cell_style=cell_style)
    ds = load_xlsa17(toy / "res101.mat")
    assert ds.format == "xlsa17" and ds.name == "toy"
    assert ds.features.dtype == np.float32 and ds.features.shape == (N, 2048)
    assert ds.features[1, 0] == 1.0 and ds.features[0, 1] == N  # transposed from 2048 x N
    assert ds.labels.tolist() == np.repeat(np.arange(K), 4).tolist()
    assert np.allclose(ds.class_attributes, original.T)
    assert ds.classes == tuple(f"animal{k}" for k in range(K))
    assert ds.attribute_names == ("attribute_001", "attribute_002", "attribute_003", "attribute_004")
    assert ds.seen_classes.tolist() == [0, 1, 2] and ds.unseen_classes.tolist() == [3, 4]
    assert not ds.has_images and ds.image_paths is None
    assert any("attention methods need the images" in n for n in ds.notes)
    # xlsa17's train/val also list test_seen images; they are kept out
    assert ds.splits["train"].tolist() == [0, 1, 2, 4, 5, 6]
    assert ds.splits["val"].tolist() == [8, 9, 10]
    assert load_xlsa17(toy).fingerprint == ds.fingerprint  # folder or file path


def test_att_without_original_or_names(toy):
    write_att_splits(toy, names=False, original_att=None)
    write_res101(toy)
    ds = load_xlsa17(toy)
    a = load_att_splits(toy / "att_splits.mat")
    assert ds.classes[0] == "class_001" and ds.classes[-1] == "class_005"
    assert np.allclose(ds.class_attributes, a.att.T)
    assert any("no class names" in n for n in ds.notes)


def test_sentence_embedding_and_given_names(tmp_path):
    flo = tmp_path / "FLO"
    flo.mkdir()
    write_att_splits(flo, num_attributes=1024, names=False)
    write_res101(flo)
    ds = load_xlsa17(flo)
    assert ds.attribute_names[0] == "dim_0001" and ds.attributes[0].group == "embedding"
    ds = load_xlsa17(flo, attribute_names=[f"w{i}" for i in range(1024)])
    assert ds.attribute_names[-1] == "w1023"
    with pytest.raises(DatasetError, match="3 attribute names given"):
        load_xlsa17(flo, attribute_names=["a", "b", "c"])


@needs_shared
def test_known_names_by_folder_name(tmp_path):
    cub = tmp_path / "CUB"
    cub.mkdir()
    write_att_splits(cub, num_attributes=312)
    write_res101(cub)
    assert load_xlsa17(cub).attribute_names[1] == "has_bill_shape::dagger"


@pytest.mark.parametrize(
    "target, overrides, file, field",
    [
        ("res101", {"labels": None}, "res101.mat", "labels"),
        ("res101", {"features": None}, "res101.mat", "features"),
        ("res101", {"features": np.zeros((2048, N + 1))}, "res101.mat", "features"),
        ("res101", {"labels": np.full((N, 1), K + 1.0)}, "res101.mat", "labels"),
        ("res101", {"labels": np.zeros((N, 1))}, "res101.mat", "labels"),
        ("res101", {"features": np.array([["a"]])}, "res101.mat", "features"),
        ("res101", {"image_files": cell(["a.jpg"])}, "res101.mat", "image_files"),
        ("att", {"att": None}, "att_splits.mat", "att"),
        ("att", {"test_unseen_loc": None}, "att_splits.mat", "test_unseen_loc"),
        ("att", {"original_att": np.zeros((A + 1, K))}, "att_splits.mat", "original_att"),
        ("att", {"allclasses_names": cell(["a", "b"])}, "att_splits.mat", "allclasses_names"),
        ("att", {"test_seen_loc": locs([3, 7, 0])}, "att_splits.mat", "test_seen_loc"),
        ("att", {"trainval_loc": np.array([[0, 1, 2]])}, "att_splits.mat", "trainval_loc"),
    ],
)
def test_bad_fixtures_name_file_and_field(toy, target, overrides, file, field):
    write_att_splits(toy, **(overrides if target == "att" else {}))
    write_res101(toy, **(overrides if target == "res101" else {}))
    with pytest.raises(DatasetError) as info:
        load_xlsa17(toy)
    assert info.value.path.endswith(file)
    assert field in str(info.value) and file in str(info.value)


def test_split_index_beyond_images(toy):
    write_att_splits(toy, test_unseen_loc=locs(range(12, 25)))
    write_res101(toy)
    with pytest.raises(DatasetError, match="att_splits.mat.*only 20 images"):
        load_xlsa17(toy)


def test_unseen_class_in_trainval(toy):
    write_att_splits(toy, trainval_loc=locs([0, 1, 2, 4, 5, 6, 8, 9, 10, 12]), test_unseen_loc=locs(range(13, 20)))
    write_res101(toy)
    with pytest.raises(DatasetError, match="test_unseen_loc"):
        load_xlsa17(toy)


def test_not_a_mat_file(toy):
    (toy / "att_splits.mat").write_text("hello")
    with pytest.raises(DatasetError, match="att_splits.mat: not a readable MATLAB file"):
        load_att_splits(toy / "att_splits.mat")
    with pytest.raises(DatasetError, match="file not found"):
        load_xlsa17(toy / "nothing")


# -- find_split_file, remap_splits ------------------------------------------------------


@pytest.mark.parametrize(
    "where",
    [
        "ROOT/att_splits.mat",
        "xlsa17/AWA2/att_splits.mat",
        "xlsa/AWA2/att_splits.mat",
        "xlsa17/data/AWA2/att_splits.mat",
        "ROOT/xlsa17/AWA2/att_splits.mat",
    ],
)
def test_find_split_file(tmp_path, where):
    root = tmp_path / "Animals_with_Attributes2"
    root.mkdir()
    assert find_split_file(root, "AWA2") is None
    target = tmp_path / where.replace("ROOT", root.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"")
    assert find_split_file(root, "AWA2") == target
    assert find_split_file(root, "awa2") == target


def test_remap_splits():
    splits = {"trainval": np.array([0, 2, 4]), "test_unseen": np.array([1, 3])}
    keep = np.array([True, False, True, True, False])
    assert {k: v.tolist() for k, v in remap_splits(splits, keep).items()} == {"trainval": [0, 1], "test_unseen": [2]}


# -- textfiles -----------------------------------------------------------------------------


def test_read_table_tolerates_crlf_blank_lines_extra_fields(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(b"\xef\xbb\xbf1 2 0 3 4.5\r\n\r\n2 2 1 3 4.5 extra 7\r\n   \r\n3 1 1 1 0\r\n")
    rows = read_table(path, 5, (int, int, int, int, float))
    assert [n for n, _ in rows] == [1, 3, 5]
    assert rows[1][1][:5] == [2, 2, 1, 3, 4.5] and rows[1][1][5:] == ["extra", "7"]


def test_read_table_errors_name_line_and_column(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("1 a\n2 b\nx c\n")
    with pytest.raises(DatasetError) as info:
        read_table(path, 2, (int, str), names=("id", "name"))
    assert info.value.line == 3 and info.value.column == "id" and "t.txt, line 3" in str(info.value)
    path.write_text("1 a\n2\n")
    with pytest.raises(DatasetError, match="line 2: expected at least 2 fields"):
        read_table(path, 2)
    path.write_text("1 nan\n")
    with pytest.raises(DatasetError, match="not a finite number"):
        read_table(path, 2, (int, float))
    with pytest.raises(DatasetError, match="file not found"):
        read_table(tmp_path / "missing.txt", 1)


def test_read_table_keeps_names_with_spaces(tmp_path):
    path = tmp_path / "names.txt"
    path.write_text("1 sailing/ boating\n2\tdriving\n")
    assert [f for _, f in read_table(path, 2, (int, str), maxsplit=1)] == [[1, "sailing/ boating"], [2, "driving"]]


def test_read_csv_bom_crlf_quotes(tmp_path):
    path = tmp_path / "c.csv"
    path.write_bytes(b'\xef\xbb\xbfClass,split\r\n"a, b",seen\r\n\r\nc,unseen\r\n')
    header, rows = read_csv(path, required_header=("class", "split"))
    assert header == ["Class", "split"] and rows == [(2, ["a, b", "seen"]), (4, ["c", "unseen"])]
    with pytest.raises(DatasetError, match="header column 2 must be 'group'"):
        read_csv(path, required_header=("class", "group"))


def test_read_mat_missing_field(tmp_path):
    scipy.io.savemat(tmp_path / "m.mat", {"a": np.ones((2, 2))})
    assert set(read_mat(tmp_path / "m.mat", ["a"])) == {"a"}
    with pytest.raises(DatasetError, match=r"m.mat.*field 'b' is missing \(present: a\)"):
        read_mat(tmp_path / "m.mat", ["a", "b"])
