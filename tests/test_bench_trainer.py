"""The livetrain section's trainer (``bench/live_training.py``): set up ahead, held before its first batch."""

import time

import pytest

from zsl_desktop.bench.live_training import Trainer
from zsl_desktop.engine.features import extract_all


@pytest.fixture(scope="module")
def features(small_birds, tmp_path_factory):
    return extract_all(small_birds, root=tmp_path_factory.mktemp("store"), input_size=64).source()


def test_a_set_up_trainer_waits_before_its_first_batch_until_started(small_birds, features):
    """Its set-up runs while the bench sets up its sessions; the first moves are timed with no batch trained."""
    trainer = Trainer(small_birds, features)
    trainer.set_up()
    try:
        trainer.wait_set_up(timeout=60)
        assert trainer.error is None and trainer.control.at_batch.is_set()
        time.sleep(0.3)
        assert trainer.steps == 0  # held at its first batch, as at the app's pause
        trainer.start(timeout=60)
        assert trainer.error is None and trainer.steps >= 3
    finally:
        trainer.stop()


def test_a_trainer_set_up_but_never_started_stops(small_birds, features):
    trainer = Trainer(small_birds, features)
    trainer.set_up()
    trainer.wait_set_up(timeout=60)
    trainer.stop()  # the cancel wakes the held run, which ends; stop returns
    assert trainer.steps == 0 and trainer.error is None
    Trainer(small_birds, features).stop()  # never started (the "alone" condition's none): nothing to join
