"""How big each bench section runs: the full bench, ``--quick`` (every target line within 90 s) and the tests' ``tiny``."""

from __future__ import annotations

from dataclasses import dataclass, field

# GSMFlow's boundary mining runs once, before its first epoch: a relation network (30 epochs) and 40 mining steps
# give one mined row per real row, and each epoch draws from real and mined rows alike. The first epoch is in no
# row, and an epoch's work depends on how many mined rows there are, not on where they lie: --quick trains the
# relation network 1 epoch and mines 1 step (first epoch 7.75 -> 1.67 CPU s, one thread, busy machine; the timed
# epochs the same work as with the defaults).
QUICK_SETUP_ONLY = {"gsmflow": {"relation_epochs": 1, "mining_steps": 1}}


@dataclass(frozen=True)
class Sizes:
    rescore_images: int = 10_000
    rescore_edits: int = 200
    extract_images: int = 96
    train_epochs: int = 4  # the first holds one-off set-up: the row is the fastest of the rest (training_speed)
    ui_seconds: float = 20.0  # the gallery scrolling probe of the scale section
    # The frame probe while MSDN trains: its max and p95 are single frames, so give it a few epochs' worth.
    smooth_seconds: float = 20.0
    memory_images: int = 10_000
    memory_codes_cached: bool = False  # the memory row opens the store with its codes cached (no encoding)
    first_launch: bool = True  # the app from an empty user folder: time to the first predictions
    first_launch_complete: bool = True  # ... and on until every bird is drawn and extracted (about 40 s more)
    startup_runs: int = 3
    cold_startup_run: bool = True  # a first start-up (file cache cold, its own row) before the timed ones
    livetrain_edits: int = 200  # slider moves per method and condition of the livetrain section
    livetrain_baselines: bool = True  # livetrain's comparisons too: the trainer not deferring, and no trainer
    full_recomputes: int = 20  # slider moves per method also timed with every column recomputed (a comparison)
    scale_full_recomputes: int | None = None  # the same at scale_images (None: full_recomputes)
    train_builtin: bool = True  # training rows on the built-in birds too (no target: for comparison)
    # Hyper-parameters by method for the training rows; empty: each method's defaults, what users train with.
    # --quick shortens set-up that no row times (QUICK_SETUP_ONLY); the tests give narrow networks (the rows'
    # code runs the same; the defaults' GSMFlow epoch is most of a test).
    train_hparams: dict = field(default_factory=dict)
    train_untargeted: bool = True  # CUB training rows of methods with no official time (SGMA: no target)
    small: bool = False  # app section on the small built-in birds (tests; needs a checkpoint for them)
    scale_images: int = 100_000  # the scale section (bench/scale.py)
    scale_edits: int = 100

    @staticmethod
    def quick() -> "Sizes":
        """Every target line, at sizes that keep the whole bench within 90 s on a quiet 2-core machine.

        What it leaves out has no target: the training rows on the built-in birds and SGMA's on the CUB
        subset (no official time to halve; its first epoch builds the crop cache), the first launch's time
        to its last bird (the time to its first predictions is measured) and the start-ups with a cold file
        cache (the one start-up timed follows the sections before it, which load the same libraries, and is
        the frame probe's own opening: one child for both), and livetrain's two comparisons (the same drags
        with the trainer not deferring, and with no trainer: 2 x 5 methods x 2 drags of sleeps, ~20 s).
        Smaller: 20 slider moves per method while MSDN trains (two drags), 40 at 100,000 images; 5 of the
        10,000-image moves also timed with every column recomputed (a comparison, no target; at 100,000 images
        none: 2 took ~2 s there, 20 ~6 s, and the 10,000-image row already shows what the page saves). The memory
        row opens its 10,000 images with their codes cached, as every opening after the first does (the full
        bench times the first, which encodes every image: the child took 24.1 s of CPU that way, 11.9 s
        cached, with peak RSS 984 and 1,047 MB; one run each, busy 2-core Xeon).

        Training: 3 epochs a method, the row the faster of the last two (the full bench: 4, the fastest of
        three; one epoch made GSMFlow's row swing 0.66-0.83 s against its 0.73 line), and GSMFlow's boundary
        mining before its first epoch shortened (QUICK_SETUP_ONLY: in no row, ~6 CPU s).

        Overlapped only where no timing is disturbed: the memory child (a peak RSS, not a time) runs while
        the frame-probe child, its start-up already timed (to the first predictions it shows: the kept ones),
        loads its live model and finishes its opening, which the probe waits for anyway (``ui.run``; the full
        bench too, whose separate start-ups time the live model); and livetrain's trainer sets up while the sessions
        do, then waits before its first batch until their first moves are timed (``live_training.Trainer.set_up``).
        Generated stores, model files, codes caches and kept predictions stay in the user folder between runs
        (``scale.scaled_cub``, ``memory.prepare_cached_codes``, ``kept``), re-made when their source changes.
        """
        return Sizes(
            rescore_images=10_000,
            rescore_edits=100,
            livetrain_edits=20,
            livetrain_baselines=False,
            full_recomputes=5,
            scale_full_recomputes=0,
            scale_edits=40,
            cold_startup_run=False,
            extract_images=32,
            train_epochs=3,
            train_hparams=QUICK_SETUP_ONLY,
            ui_seconds=3.0,
            smooth_seconds=8.0,  # 3 s (~190 frames) read 21.0/89.8 ms then 16.8/30.1 ms: too few to judge
            memory_images=10_000,
            memory_codes_cached=True,
            first_launch=True,
            first_launch_complete=False,
            startup_runs=1,
            train_builtin=False,
            train_untargeted=False,
        )

    @staticmethod
    def tiny() -> "Sizes":
        return Sizes(
            rescore_images=500,
            rescore_edits=10,
            extract_images=4,
            train_epochs=1,
            ui_seconds=1.0,
            smooth_seconds=1.0,
            memory_images=300,
            first_launch=False,
            first_launch_complete=False,
            startup_runs=1,
            cold_startup_run=False,
            livetrain_edits=10,
            small=True,
        )
