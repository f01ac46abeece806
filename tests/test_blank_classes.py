"""A user class with no attribute information (every value the same) is in no class set, and nothing else changes.

Why: every method scales a class row to unit length, so a constant row names no attribute; scored anyway, the
"New class" editor's all-zero draft took up to 0.99 of the photos unlike the training images (IPCE; the
measurements: docs/history/degenerate-classes.md).
"""

from types import SimpleNamespace

import numpy as np
import pytest

from zsl_desktop.cli_predict import load_classes
from zsl_desktop.engine.session.class_set import saved_classes, with_draft
from zsl_desktop.engine.user_class import has_attribute_information

A = 6


def _dataset():
    """Four classes (the last two unseen) on six attributes, 0-100: what the class set reads of a dataset."""
    rng = np.random.default_rng(0)
    attributes = rng.uniform(0, 100, (4, A)).astype(np.float32)
    return SimpleNamespace(
        classes=("a", "b", "c", "d"),
        unseen_classes=np.array([2, 3]),
        num_classes=4,
        num_attributes=A,
        class_attributes=attributes,
        attributes=[SimpleNamespace(name=f"attr{i}") for i in range(A)],
    )


@pytest.mark.parametrize(
    "values, informative",
    [
        (np.zeros(A), False),  # a new class, untouched
        (np.full(A, 100.0), False),  # every attribute at 100: the same unit row as every other constant
        (np.full(A, 50.0), False),
        (np.full(A, -1.0), False),  # AwA2's -1 = unknown, everywhere
        ([-1, 0, 0, 0, 0, 0], False),  # unknown counts as 0
        (np.full(A, np.nan), False),
        ([0, 0, 100, 0, 0, 0], True),  # one attribute set
        ([0, 0, 0.5, 0, 0, 0], True),  # one slider moved a little
        ([0, 0, 1e-9, 0, 0, 0], False),  # imported, too small to scale to unit length
        ([100, 100, 100, 100, 100, 99], True),
    ],
)
def test_which_rows_carry_attribute_information(values, informative):
    assert has_attribute_information(np.asarray(values, np.float32)) is informative


def test_saved_classes_leave_out_a_class_with_no_information_and_keep_the_rest_as_they_were():
    d = _dataset()
    one = np.zeros(A, np.float32)
    one[1] = 70
    user = np.stack([np.zeros(A), one, np.full(A, 100.0)]).astype(np.float32)
    classes = saved_classes(d, ["Empty", "One", "Full"], user)
    assert classes.names == ("a", "b", "c", "d", "One")
    assert classes.kinds == ("seen", "seen", "unseen", "unseen", "user")
    assert np.array_equal(classes.matrix, np.concatenate([d.class_attributes, one[None]]))
    nothing = saved_classes(d, [], np.zeros((0, A), np.float32))
    assert nothing.names == d.classes and np.array_equal(nothing.matrix, d.class_attributes)


def test_a_blank_draft_is_not_scored_and_a_drawn_one_is():
    d = _dataset()
    mine = np.zeros(A, np.float32)
    mine[0] = 40
    classes = saved_classes(d, ["Mine"], mine[None])

    new_blank = with_draft(classes, "New class", np.zeros(A), None, True)
    assert new_blank.draft_column is None and new_blank.names == classes.names
    # the saved class edited down to nothing: neither it nor the draft is scored
    edited_blank = with_draft(classes, "Mine", np.zeros(A), "Mine", True)
    assert edited_blank.draft_column is None and edited_blank.names == d.classes
    assert np.array_equal(edited_blank.matrix, d.class_attributes)

    drawn = with_draft(classes, "New class", np.eye(A, dtype=np.float32)[3] * 100, None, True)
    assert drawn.draft_column == 5 and drawn.kinds[-1] == "draft"
    edited = with_draft(classes, "Mine", mine * 2, "Mine", True)
    assert edited.draft_column == 4 and np.array_equal(edited.matrix[4], mine * 2)


def test_predict_leaves_out_a_class_with_no_information_and_says_so(tmp_path, capsys):
    import json

    d = _dataset()
    path = tmp_path / "mine.json"
    classes = [{"name": "Empty", "values": [0.0] * A}, {"name": "Wings", "values": [0, 0, 80, 0, 0, 0]}]
    names = [a.name for a in d.attributes]
    path.write_text(json.dumps({"format": "zsl-desktop-classes/1", "attribute_names": names, "classes": classes}))
    loaded = load_classes(d, path)
    assert loaded.names == ("a", "b", "c", "d", "Wings") and loaded.kinds[-1] == "user"
    said = capsys.readouterr().err
    assert "Empty" in said and "Wings" not in said
