"""``rank-study --refine``: the confirmation protocol on made-up codes, and the command on the small birds."""

import json

import numpy as np
import pytest

from zsl_desktop.cli import main
from zsl_desktop.refine_study import (
    CONFIRMATIONS,
    STRONGEST,
    RefineResult,
    format_table,
    merge_by_method,
    rough_start,
    simulate,
    study,
)
from tests.test_refinement import _normalised_score, _world


def _similar_classes(seed=0, classes=10, attributes=40):
    """Classes sharing most of their attributes (70%); each image's code is its class's direction plus noise."""
    rng = np.random.default_rng(seed)
    shared = (rng.random(attributes) < 0.4) * rng.uniform(40, 100, attributes)
    own = (rng.random((classes, attributes)) < 0.3) * rng.uniform(40, 100, (classes, attributes))
    truth = np.clip(0.7 * shared + 0.3 * own, 0, 100).astype(np.float32)
    labels = np.repeat(np.arange(classes), 30)
    unit = truth / np.linalg.norm(truth, axis=1, keepdims=True)
    codes = 8 * unit[labels] + rng.normal(0, 4 / np.sqrt(attributes), (len(labels), attributes))
    return truth, labels, codes


def test_rough_starts_are_rough_and_in_range():
    values = np.linspace(0, 100, 40).astype(np.float32)
    top = rough_start(values, "top10", (0.0, 100.0), np.random.default_rng(0))
    assert np.count_nonzero(top) == STRONGEST and set(top[top > 0]) == set(values[-STRONGEST:])
    noisy = rough_start(values, "noisy", (0.0, 100.0), np.random.default_rng(0))
    assert noisy.min() >= 0 and noisy.max() <= 100 and np.abs(noisy - values).mean() > 5
    with pytest.raises(ValueError, match="rough start"):
        rough_start(values, "perfect", (0.0, 100.0), np.random.default_rng(0))


def test_confirmations_raise_the_mean_average_precision():
    truth, labels, codes = _similar_classes()
    unseen, boost = [6, 7, 8, 9], np.zeros(len(truth))
    unmarked, everything, made, unrefined = study(_normalised_score, codes, labels, truth, unseen, boost, (0, 1), 10)
    for start in ("noisy", "top10"):
        assert set(unmarked[start]) == set(CONFIRMATIONS)
        assert unmarked[start][5] > unmarked[start][0] + 0.1
        assert everything[start][5] >= unmarked[start][5] - 1e-9  # the confirmed images rank high themselves
        assert made[start][0] == 0 and made[start][5] == 5
        assert unrefined[start][0] == unmarked[start][0] and unmarked[start][5] > unrefined[start][5] + 0.1


def test_no_confirmation_is_made_when_the_top_k_holds_no_true_positive():
    truth, labels, codes = _world(5)
    column = 0
    start = truth[1]  # the definition of another class: its top 2 hold none of class 0's images
    unmarked, everything, made, unrefined = simulate(
        _normalised_score, codes, labels, truth, column, start, np.zeros(len(truth)), (0.0, 100.0), k=2
    )
    assert made == {0: 0, 1: 0, 3: 0, 5: 0}
    assert unmarked[5] == unmarked[0] == unrefined[5]


def test_merge_and_table():
    table = {"noisy": {n: 0.1 * n for n in CONFIRMATIONS}}
    a = RefineResult("msdn", 100, 2, 1, table, table, table, 0.5)
    b = RefineResult("msdn", 100, 2, 1, {"noisy": {n: 0.2 for n in CONFIRMATIONS}}, table, table, 0.7)
    (merged,) = merge_by_method([a, b])
    assert merged.models == 2 and merged.true_definition == pytest.approx(0.6)
    assert merged.unmarked["noisy"][0] == pytest.approx(0.1) and merged.unmarked["noisy"][5] == pytest.approx(0.35)
    text = format_table([merged], 20)
    assert "| msdn | noisy | 0.100 |" in text and "AP after 5" in text and "2 model(s)" in text


def test_the_command_on_the_small_birds(tmp_path, capsys):
    data, model, out = tmp_path / "birds", tmp_path / "m.pt", tmp_path / "refine.json"
    assert main(["generate", "--small", "--out", str(data)]) == 0
    train = ["train", "--dataset", str(data), "--input-size", "64", "--epochs", "1", "--set", "batch_size=16"]
    assert main(train + ["--out", str(model), "--threads", "1"]) == 0
    capsys.readouterr()
    args = ["rank-study", "--refine", "--dataset", str(data), "--checkpoint", str(model), "--k", "5"]
    assert main(args + ["--noise-seeds", "0,1", "--json", str(out), "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert "| msdn | noisy |" in printed and "| msdn | top10 |" in printed
    (saved,) = json.loads(out.read_text())
    assert saved["seeds"] == 2 and set(saved["unmarked"]) == {"noisy", "top10"}
    for start in ("noisy", "top10"):
        assert all(0.0 <= v <= 1.0 for v in saved["unmarked"][start].values())
    assert main(args[:-2] + ["--noise-seeds", "x"]) == 2  # a bad seed list is one error line
