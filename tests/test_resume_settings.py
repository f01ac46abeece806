"""Which resume files a run continues: engine.resume.resume_differences on hand-made headers."""

from __future__ import annotations

import pytest

from zsl_desktop.engine.methods import get_method
from zsl_desktop.engine.resume import resume_differences
from zsl_desktop.engine.training.config import TrainConfig


def header_for(config: TrainConfig, hparams: dict) -> dict:
    return {"method": config.method, "select": config.select, "seed": config.seed, "hparams": hparams}


def test_a_hyper_parameter_newer_than_the_file_at_its_default_is_no_difference():
    config = TrainConfig(method="msdn", seed=0)
    older = dict(get_method("msdn").default_hparams)
    older.pop("region_basis")  # written before the hyper-parameter existed
    assert resume_differences(header_for(config, older), config) == []


def test_a_newer_hyper_parameter_asked_at_another_value_is_a_difference():
    config = TrainConfig(method="msdn", seed=0, hparams={"region_basis": "principal"})
    older = dict(get_method("msdn").default_hparams)
    older.pop("region_basis")
    assert resume_differences(header_for(config, older), config) == ["region_basis None -> 'principal'"]


def test_a_changed_setting_is_still_refused():
    config = TrainConfig(method="msdn", seed=1)
    stored = dict(get_method("msdn").default_hparams)
    assert resume_differences(header_for(TrainConfig(method="msdn", seed=0), stored), config) == ["seed 0 -> 1"]


@pytest.mark.parametrize("method", ["ce-gzsl", "ipce"])
def test_a_file_written_before_a_default_changed_is_compared_at_the_value_it_ran_with(method):
    # final_draws became 5 (CE-GZSL in session 14, IPCE in session 15); a file without the key ran with 0
    config = TrainConfig(method=method, seed=0)
    older = dict(get_method(method).default_hparams)
    older.pop("final_draws")
    assert resume_differences(header_for(config, older), config) == ["final_draws 0 -> 5"]
    asked_as_before = TrainConfig(method=method, seed=0, hparams={"final_draws": 0})
    assert resume_differences(header_for(asked_as_before, older), asked_as_before) == []


def test_sgma_files_before_session_14_aimed_gamma_at_the_best_rate():
    config = TrainConfig(method="sgma", seed=0)
    older = dict(get_method("sgma").default_hparams)
    older.pop("calibration_rate")
    assert resume_differences(header_for(config, older), config) == ["calibration_rate 'best' -> 'expected'"]
