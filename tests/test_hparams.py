"""Hyper-parameters typed by a user: read as the default's type, range-checked, named in every refusal."""

import pytest

from zsl_desktop.engine.methods.hparams import check_hparams, describe_hparams, parse_hparam


@pytest.mark.parametrize(
    "name, text, default, expected",
    [
        ("lr", "0.01", 1e-4, 0.01),
        ("lr", "1", 1e-4, 1.0),
        ("batch_size", " 16 ", 50, 16),
        ("normalize_V", "Yes", False, True),
        ("normalize_V", "off", True, False),
        ("distill", "paper", "code", "paper"),
        ("nz", "0", 0, 0),
        ("pi_dropout", "0", 0.0, 0.0),
    ],
)
def test_good_values_are_typed(name, text, default, expected):
    value = parse_hparam(name, text, default)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    "name, text, default",
    [
        ("lr", "abc", 1e-4),
        ("lr", "nan", 1e-4),
        ("lr", "inf", 1e-4),
        ("lr", "0", 1e-4),
        ("cls_lr", "-0.1", 0.01),
        ("batch_size", "0", 50),
        ("batch_size", "1.5", 50),
        ("epochs", "-1", 30),
        ("hidden", "0", 64),
        ("weight_decay", "-1e-4", 1e-4),
        ("normalize_V", "maybe", False),
        ("distill", "  ", "code"),
    ],
)
def test_bad_values_name_the_parameter(name, text, default):
    with pytest.raises(ValueError, match=f"^{name}: "):
        parse_hparam(name, text, default)


def test_unknown_names_list_the_known_ones():
    with pytest.raises(ValueError, match="unknown hyper-parameter 'learning_rate'.*lr"):
        check_hparams("msdn", {"learning_rate": "1"})
    assert check_hparams("MSDN", {"lr": "0.5", "batch_size": "8"}) == {"lr": 0.5, "batch_size": 8}


def test_every_default_of_every_method_passes_its_own_check():
    from zsl_desktop.engine.methods import get_method, method_names

    for method in method_names():
        defaults = get_method(method).default_hparams
        assert check_hparams(method, {k: str(v) for k, v in defaults.items()}) == defaults
        assert all(name in describe_hparams(method) for name in defaults)


def test_zero_epochs_is_refused_by_the_engine_too(small_birds):
    from zsl_desktop.engine.training import TrainConfig, train

    with pytest.raises(ValueError, match="epochs must be at least 1"):
        next(train(small_birds, None, TrainConfig(epochs=0)))
