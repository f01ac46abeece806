"""GSMFlow's final classifier (``gsmflow/classifier.py``): what its training sets hold under ``synth_from``,
``synth_last``, ``seen_synth`` and ``cls_real_repeat``, in the build after training and in a refit."""

import numpy as np
import torch

from gsmflow_toys import K, TINY, assert_scores_alike, fit_to_end, tiny_data, tiny_gsmflow
from zsl_desktop.engine.methods.base import Control, EpochEnd
from zsl_desktop.engine.training import inference_state


def test_synth_from_draws_the_classifier_rows_evenly_from_the_flows_of_several_epochs_and_resumes_exactly():
    """synth_from E: the classifier's n_synth rows per unseen class come from the flows of epochs E.. in equal shares."""
    data, features, _ = tiny_data()
    m = tiny_gsmflow({"mining": False, "synth_from": 2, "n_synth": 21})
    sizes = []
    for event in m.fit(data, Control(), 5):
        if isinstance(event, EpochEnd):
            sizes.append([part.shape[1] for part in m._pool])
    assert sizes == [[], [21], [11, 10], [7, 7, 7], [6, 5, 5, 5]]  # epochs 1..5: never more than 21 rows a class
    assert all(part.shape[0] == 2 for part in m._pool)  # the two unseen classes
    # the rows differ between epochs (each share comes from its own epoch's flow)
    assert not torch.allclose(m._pool[0][:, :5].float(), m._pool[-1][:, :5].float())
    # a resume state carries the pool; continuing from it repeats the uninterrupted run
    first = tiny_gsmflow({"mining": False, "synth_from": 2, "n_synth": 21})
    for event in first.fit(data, Control(), 5):
        if isinstance(event, EpochEnd) and event.epoch == 3:
            state = {k: v.clone() for k, v in first.state_dict().items()}
            break
    assert sorted(k for k in state if k.startswith("optim.pool.")) == ["optim.pool.0", "optim.pool.1"]
    resumed = tiny_gsmflow({"mining": False, "synth_from": 2, "n_synth": 21})
    resumed.load_state_dict(state)
    fit_to_end(resumed, data, 5, start=3)
    assert_scores_alike(resumed, m, features, data.class_attributes)
    assert not any(k.startswith("optim.") for k in inference_state(m))  # the pool is training state only


def test_synth_last_pools_the_last_k_epochs_flows_as_synth_from_would_and_synth_from_wins():
    """synth_last k: the pool of the phase's last k epochs, the same rows as synth_from = epochs - k + 1."""
    data, features, _ = tiny_data()
    last = tiny_gsmflow({"mining": False, "synth_last": 3, "n_synth": 21})
    sizes = []
    for event in last.fit(data, Control(), 5):
        if isinstance(event, EpochEnd):
            sizes.append([part.shape[1] for part in last._pool])
    assert sizes == [[], [], [21], [11, 10], [7, 7, 7]]  # epochs 3, 4, 5 of 5
    same = tiny_gsmflow({"mining": False, "synth_from": 3, "n_synth": 21})
    fit_to_end(same, data, 5)
    for a, b in zip(last._pool, same._pool):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert_scores_alike(last, same, features, data.class_attributes)
    both = tiny_gsmflow({"mining": False, "synth_from": 2, "synth_last": 1, "n_synth": 21})
    fit_to_end(both, data, 5)
    assert [part.shape[1] for part in both._pool] == [6, 5, 5, 5]  # synth_from 2 decides


def _rows_per_class_of_each_classifier_fit(monkeypatch) -> list[list[int]]:
    """A list that GSMFlow's classifier fits and refits append their training rows' count per class to."""
    import zsl_desktop.engine.methods.gsmflow.classifier as gsm_module

    seen_counts: list[list[int]] = []

    def spy(fit):
        def wrapped(*args, **kwargs):
            seen_counts.append(np.bincount(args[2].numpy(), minlength=K).tolist())  # (.., x or codes, labels, ..)
            return fit(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(gsm_module, "fit_head", spy(gsm_module.fit_head))
    monkeypatch.setattr(gsm_module, "refit_head", spy(gsm_module.refit_head))
    return seen_counts


def test_seen_synth_adds_synthetic_rows_to_each_seen_class_in_the_classifier_and_its_refit(monkeypatch):
    """seen_synth k: the final classifier (and a refit with real features) learns k flow samples per seen class too."""
    seen_counts = _rows_per_class_of_each_classifier_fit(monkeypatch)
    data, features, labels = tiny_data()
    for extra in (0, 7):
        m = tiny_gsmflow({"mining": False, "seen_synth": extra, "cls_real_repeat": 1})
        fit_to_end(m, data, 2)
        m.encode(torch.from_numpy(features[:3]))  # builds the classifier
    plain, augmented = seen_counts[-2], seen_counts[-1]
    real = np.bincount(data.train_labels, minlength=K)
    assert plain[:4] == real[:4].tolist() and augmented[:4] == (real[:4] + 7).tolist()
    assert plain[4:] == augmented[4:] == [TINY["n_synth"]] * 2  # the unseen classes' rows are unchanged
    m.refit_classifier(data.class_attributes, seen_features=features[labels < 2], seen_labels=labels[labels < 2])
    refit = seen_counts[-1]
    assert refit[:2] == (real[:2] + 7).tolist() and refit[2:] == [TINY["n_synth"]] * 4


def test_cls_real_repeat_enters_each_real_seen_row_k_times_in_the_classifier_and_its_refit(monkeypatch):
    """cls_real_repeat k: the final classifier (and a refit with real features) sees every real seen row k times;
    the synthetic rows are unchanged."""
    seen_counts = _rows_per_class_of_each_classifier_fit(monkeypatch)
    data, features, labels = tiny_data()
    m = tiny_gsmflow({"mining": False, "seen_synth": 5, "cls_real_repeat": 3})
    fit_to_end(m, data, 2)
    m.encode(torch.from_numpy(features[:3]))  # builds the classifier
    real = np.bincount(data.train_labels, minlength=K)
    assert seen_counts[-1][:4] == (3 * real[:4] + 5).tolist()
    assert seen_counts[-1][4:] == [TINY["n_synth"]] * 2
    m.refit_classifier(data.class_attributes, seen_features=features[labels < 2], seen_labels=labels[labels < 2])
    real_given = np.bincount(labels[labels < 2], minlength=K)
    assert seen_counts[-1][:2] == (3 * real_given[:2] + 5).tolist() and seen_counts[-1][2:] == [TINY["n_synth"]] * 4
