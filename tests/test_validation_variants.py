"""Validation variants (engine.variants): the fold models choose MSDN's and SGMA's ``centre_codes`` per dataset."""

import numpy as np
import pytest
import torch

from zsl_desktop.engine import variants
from zsl_desktop.engine.checkpoints import load_checkpoint
from zsl_desktop.engine.events import run_to_end
from zsl_desktop.engine.features import extract_all
from zsl_desktop.engine.methods import base
from zsl_desktop.engine.methods.base import FEW_SEEN_CLASSES, Control, Message
from zsl_desktop.engine.methods.msdn import MSDN
from zsl_desktop.engine.methods.sgma import SGMA
from zsl_desktop.engine.resume import resume_path
from zsl_desktop.engine.training import Phase, TrainConfig, Validation, method_from_checkpoint, train

RATES = len(variants.REJECTION_RATES)


def _fold(h: float, epochs: int = 3) -> list[list[float]]:
    """One fold's [epochs, rates] H curve whose best value is ``h`` (at the last epoch, every rate)."""
    return [[h * (e + 1) / epochs] * RATES for e in range(epochs)]


def _progress_with(curves: dict[str, list[float]]) -> dict:
    """A trainer progress dict whose variants' folds peak at the given H (one entry per fold)."""
    progress: dict = {}
    for name, fold_peaks in curves.items():
        store = progress.setdefault(variants.VARIANTS, {}).setdefault(name, variants.empty_store())
        store["fold_curves"] = [_fold(h) for h in fold_peaks]
        store["fold_gammas"] = [_fold(1.0) for _ in fold_peaks]
        store["fold_shares"] = [[] for _ in fold_peaks]
    return progress


def test_the_variant_with_the_higher_fold_mean_h_is_chosen_and_recorded():
    options = {"off": {"centre_codes": "off"}, "on": {"centre_codes": "on"}}
    progress = _progress_with({"off": [0.6, 0.5], "on": [0.7, 0.5]})
    record = variants.choose(progress, options, {"centre_codes": "validation"}, window=1)
    assert record["chosen"] == "on" and record["hparams"] == {"centre_codes": "on"}
    assert record["fold_mean_h"] == pytest.approx({"off": 0.55, "on": 0.6})
    assert record["requested"] == {"centre_codes": "validation"}  # what a resume compares the settings with
    assert progress["fold_curves"] is progress[variants.VARIANTS]["on"]["fold_curves"]  # the epoch: the winner's
    assert progress[variants.CHOICE] == record and variants.requested_hparams(progress) == record["requested"]
    assert (
        variants.describe(record)
        == "chosen on validation: centre_codes on (best fold-mean validation H: off 55.0, on 60.0)"
    )

    lower = _progress_with({"off": [0.6, 0.5], "on": [0.4, 0.5]})
    assert variants.choose(lower, options, {}, window=1)["chosen"] == "off"
    tie = _progress_with({"off": [0.5, 0.5], "on": [0.5, 0.5]})
    assert variants.choose(tie, options, {}, window=1)["chosen"] == "off"  # the first: the model as without it


def test_each_epoch_is_scored_as_every_variant_and_folds_are_padded():
    class Scored:
        def __init__(self):
            self.variant = None

        def scored_as(self, name):
            test = self

            class Context:
                def __enter__(self):
                    test.variant = name

                def __exit__(self, *exc):
                    test.variant = None

            return Context()

    def evaluate(method):  # H 0.1 scored "off", 0.9 scored "on"
        return {"h": 0.0, "h_by_rate": [0.9 if method.variant == "on" else 0.1] * RATES, "gamma_by_rate": [0.0] * RATES}

    progress: dict = {}
    each = variants.scoring_each(evaluate, ["off", "on"], progress)
    assert each(Scored())["h_by_rate"][0] == 0.1  # the first variant's figures go on to the trainer
    variants.end_fold(progress, epochs_recorded=3)  # two placeholder epochs before the validated one
    on = progress[variants.VARIANTS]["on"]
    assert on["fold_curves"][0] == [[0.0] * RATES, [0.0] * RATES, [0.9] * RATES] and on["curve"] == []
    assert on["fold_gammas"][0][-1] == [0.0] * RATES and on["fold_shares"] == [[]]


def test_only_the_validation_value_under_eight_seen_classes_offers_a_choice():
    for method in (MSDN, SGMA):
        assert method.validation_variants({"centre_codes": "on"}, 4) == {}
        assert method.validation_variants({"centre_codes": "auto"}, 4) == {}
        both = method.validation_variants({"centre_codes": "validation"}, FEW_SEEN_CLASSES - 1)
        assert both == {"off": {"centre_codes": "off"}, "on": {"centre_codes": "on"}}
        # CUB (40 seen), the built-in birds (40): fixed off, nothing to choose, trained as with "off"
        assert method.validation_variants({"centre_codes": "validation"}, 40) == {"off": {"centre_codes": "off"}}
    assert MSDN.default_hparams["centre_codes"] == "validation"  # MSDN's default chooses; CUB and the birds: off
    assert MSDN.validation_variants({}, 6) == both and MSDN.validation_variants({}, 40) == {
        "off": {"centre_codes": "off"}
    }
    assert SGMA.default_hparams["centre_codes"] == "auto" and SGMA.validation_variants({}, 4) == {}  # SGMA: as before
    with pytest.raises(ValueError, match="auto, validation, on or off"):
        base.few_seen_switch("msdn", "centre_codes", "sometimes", 4)


# -- the trainer, on the small built-in birds (6 seen classes) -------------------------------------------------
@pytest.fixture(scope="module")
def birds_features(small_birds, tmp_path_factory):
    store = extract_all(small_birds, root=tmp_path_factory.mktemp("store"), input_size=64)
    return small_birds, store.source()


def _config(centre: str, seed: int = 1, final_models: int = 1) -> TrainConfig:
    hparams = {"batch_size": 16, "final_models": final_models, "centre_codes": centre}
    return TrainConfig(method="msdn", epochs=2, seed=seed, hparams=hparams, folds=2)


def _run(dataset, features, config, path=None, **kwargs):
    events: list = []
    run_to_end(train(dataset, features, config, checkpoint_path=path, **kwargs), events.append)
    return events


def test_the_final_model_trains_as_the_variant_chosen_on_the_folds(birds_features, tmp_path):
    dataset, features = birds_features
    chosen_run = _run(dataset, features, _config("validation"), tmp_path / "v.pt")
    header = load_checkpoint(tmp_path / "v.pt").header
    record = header["selection"]["validation_variant"]
    h = record["fold_mean_h"]
    assert set(h) == {"off", "on"} and h[record["chosen"]] == max(h.values())
    assert header["hparams"]["centre_codes"] == record["chosen"]  # the checkpoint holds the choice, not "validation"
    said = [e.text for e in chosen_run if isinstance(e, Message) and e.text.startswith("chosen on validation")]
    assert said == [variants.describe(record)] and f"centre_codes {record['chosen']}" in said[0]

    # scoring a fold model as a variant is exact: the choice's final model is the one that variant trains
    alone = {name: _run(dataset, features, _config(name), tmp_path / f"{name}.pt") for name in ("off", "on")}
    shown = [e.metrics["h"] for e in chosen_run if isinstance(e, Validation)]
    assert shown == [e.metrics["h"] for e in alone["off"] if isinstance(e, Validation)]  # the first variant's
    assert chosen_run[-1].report.as_dict() == alone[record["chosen"]][-1].report.as_dict()

    reloaded = method_from_checkpoint(load_checkpoint(tmp_path / "v.pt"))  # save and reload keep the choice
    x = features.rows("grid", dataset.splits["test_unseen"][:5])
    np.testing.assert_array_equal(reloaded.encode(x), chosen_run[-1].method.encode(x))
    assert reloaded.hparams["centre_codes"] == record["chosen"]


def test_eight_seen_classes_or_more_train_exactly_as_off(birds_features, tmp_path, monkeypatch):
    dataset, features = birds_features
    monkeypatch.setattr(base, "FEW_SEEN_CLASSES", len(dataset.seen_classes))  # the birds count as "many"
    fixed = _run(dataset, features, _config("validation", seed=2), tmp_path / "v.pt")
    off = _run(dataset, features, _config("off", seed=2), tmp_path / "off.pt")
    assert fixed[-1].header["selection"]["validation_variant"]["chosen"] == "off"
    assert fixed[-1].header["hparams"]["centre_codes"] == "off"
    assert "validation_variant" not in off[-1].header["selection"]  # no choice: the header as before
    for key, value in load_checkpoint(tmp_path / "off.pt").state.items():
        torch.testing.assert_close(load_checkpoint(tmp_path / "v.pt").state[key], value, rtol=0, atol=0)
    assert fixed[-1].report.as_dict() == off[-1].report.as_dict()


def test_a_run_resumed_in_the_final_phase_keeps_its_choice(birds_features, tmp_path):
    dataset, features = birds_features
    config = _config("validation", seed=3, final_models=3)
    straight = _run(dataset, features, config, tmp_path / "s.pt")
    path, control = tmp_path / "r.pt", Control()
    seen_final = []

    def stop_in_the_final_phase(event):
        if isinstance(event, Phase) and event.name == "final":
            seen_final.append(event)
        if len(seen_final) == 2 and isinstance(event, base.EpochEnd):  # the resume file: the second final model's
            control.cancel()

    assert run_to_end(train(dataset, features, config, control, checkpoint_path=path), stop_in_the_final_phase)
    assert resume_path(path).exists() and not path.exists()
    assert load_checkpoint(resume_path(path)).header["hparams"]["centre_codes"] in ("on", "off")  # not as asked
    resumed = _run(dataset, features, config, path, resume=True)
    assert (
        resumed[-1].header["selection"]["validation_variant"] == straight[-1].header["selection"]["validation_variant"]
    )
    assert resumed[-1].report.as_dict() == straight[-1].report.as_dict()
