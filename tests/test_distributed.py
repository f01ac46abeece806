"""torchrun: 2 CPU processes (gloo) extract the same store as one process, and train every method as one process does.

Training under torchrun splits each batch of the one-process schedule across the ranks and sums their
gradients (engine/sharding.py), so two processes take the one-process steps; only float sums are done in
another order. Tolerance: the test images' scores within 1e-4 of the largest score and every step's loss
within 1e-4 relative. Measured (ddp_train.py's tiny runs, 2 epochs): at most 3.5e-6 (GSMFlow; the others
1e-7 to 2e-7), so the bound leaves a 30x margin for other CPUs' kernels. Seed noise, for scale: seed 1
against seed 0 moves the scores by 0.6-1.7 times the largest score and the losses by 6-66 %; and while this
was built, computing CE-GZSL's contrastive loss within each rank's half of the batch instead of on the whole
batch moved its scores by 4e-2 and its losses by 8 %: far outside the bound, so the test sees such a drift.
The figures (ZSL T1, H, AUSUC) must agree to one of the 20 unseen test images (seeds move them by up to 0.3).
The two-process launch also runs the CLI's ``extract`` after its trainings (tests/ddp_train.py), so its three
interpreters import torch once for both checks (~7 CPU-seconds a launch).
Every launch runs in its own process group, killed whole on a time-out, so no worker outlives a test.
"""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zsl_desktop.engine.checkpoints import check_compatible, load_checkpoint
from zsl_desktop.engine.data import load_dataset
from zsl_desktop.engine.features import FeatureStore, feature_source
from zsl_desktop.engine.training import method_from_checkpoint

METHODS = ("msdn", "sgma", "gsmflow", "ce-gzsl", "ipce")
WORKER = str(Path(__file__).with_name("ddp_train.py"))
TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]
TIMEOUT = 240
SCORE_TOLERANCE = 1e-4  # of the largest score magnitude (module docstring)
LOSS_TOLERANCE = 1e-4  # relative, per step
FIGURE_TOLERANCE = 1 / 20 + 1e-9  # one of the 20 unseen test images


def _env(home):
    # One thread per process: oneDNN picks kernels by thread count, so equal counts give equal bits.
    env = {**os.environ, "ZSL_DESKTOP_HOME": str(home), "OMP_NUM_THREADS": "1", "PYTHONPATH": _pythonpath()}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID"):
        env.pop(key, None)
    return env


def _pythonpath():
    root = str(Path(__file__).resolve().parents[1])
    return os.pathsep.join([root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])


def _start(command, env):
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def _finish(processes, timeout=TIMEOUT):
    """Wait for every launch; on a time-out or a failure kill every process group (workers included)."""
    outputs = []
    try:
        for process in processes:
            out, err = process.communicate(timeout=timeout)
            outputs.append((process.returncode, out, err))
    except subprocess.TimeoutExpired:
        pytest.fail(f"a torchrun launch ran past {timeout} s")
    finally:
        for process in processes:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # the launcher and its workers share the group
            except ProcessLookupError:
                pass
            process.communicate()
    for code, out, err in outputs:
        assert code == 0, out[-2000:] + err[-4000:]
    return outputs


def _run(args, home):
    return _finish([_start([sys.executable, "-m", "zsl_desktop", *args], _env(home))])[0]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "birds"
    from zsl_desktop.engine.data.builtin_birds import generate

    generate(out, small=True)
    return out


@pytest.fixture(scope="module")
def extracted(small_dir, tmp_path_factory):
    """A home whose feature store holds the small dataset's 64 px features, extracted by one process."""
    home = tmp_path_factory.mktemp("one-home")
    _run(["extract", "--dataset", str(small_dir), "--input-size", "64"], home)
    return home


@pytest.fixture(scope="module")
def runs(small_dir, extracted, tmp_path_factory):
    """Every method trained by one process and by two (torchrun, gloo), launched side by side; then the two
    processes run ``zsl-desktop extract`` into a home of their own (``two_process_home``)."""
    one, two = tmp_path_factory.mktemp("one"), tmp_path_factory.mktemp("two")
    alone = [sys.executable, WORKER, str(small_dir), str(extracted), str(one), *METHODS]
    pair = TORCHRUN + ["--standalone", "--nproc_per_node=2", WORKER, str(small_dir), str(extracted), str(two)]
    pair += [*METHODS, "--extract-into", str(two / "home")]
    _finish([_start(alone, _env(extracted)), _start(pair, _env(extracted))])
    return one, two


def _scores(path: Path, method: str) -> np.ndarray:
    return np.load(path / f"{method}.npz")["scores"]


def _assert_same_scores(one: np.ndarray, other: np.ndarray) -> None:
    assert np.abs(one - other).max() <= SCORE_TOLERANCE * np.abs(one).max()


def _assert_same_figures(one: dict, other: dict) -> None:
    for key in ("zsl_t1", "h", "ausuc"):
        assert abs(one[key] - other[key]) <= FIGURE_TOLERANCE, (key, one[key], other[key])


def test_two_process_extraction_equals_one_process(small_dir, extracted, runs):
    dataset = load_dataset(small_dir)
    one = FeatureStore.open(dataset, "efficientnet_lite0", 64, extracted / "data" / "features")
    two = FeatureStore.open(dataset, "efficientnet_lite0", 64, runs[1] / "home" / "data" / "features")
    assert one is not None and two is not None
    assert np.array_equal(np.asarray(one.grid), np.asarray(two.grid))
    assert np.array_equal(np.asarray(one.pooled), np.asarray(two.pooled))
    assert two.manifest["status"] == "complete" and two.failed == {}


@pytest.mark.parametrize("method", METHODS)
def test_two_processes_train_as_one_process(method, runs, small_dir):
    one, two = (np.load(folder / f"{method}.npz") for folder in runs)
    assert int(one["world_size"]) == 1 and int(two["world_size"]) == 2
    _assert_same_scores(one["scores"], two["scores"])
    assert len(one["losses"]) == len(two["losses"])  # the same schedule: as many steps
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=LOSS_TOLERANCE, atol=1e-7)
    _assert_same_figures(json.loads(str(one["metrics"])), json.loads(str(two["metrics"])))
    checkpoint = load_checkpoint(runs[1] / f"{method}.pt")  # rank 0 wrote it, whole
    check_compatible(checkpoint, load_dataset(small_dir))
    assert method_from_checkpoint(checkpoint).name == method
    left = sorted(p.name for p in runs[1].iterdir() if p.name.startswith(method))
    assert left == [f"{method}.npz", f"{method}.pt"]  # no resume file or temporary file left behind


def test_two_nodes_with_a_c10d_rendezvous_train_as_one_process(runs, small_dir, extracted, tmp_path):
    """Two torchrun launches of the CLI (one process each) meet at a c10d rendezvous on localhost, as two
    machines would; rank 0 alone reports and writes the checkpoint, which scores as the one-process model."""
    from ddp_train import EPOCHS, INPUT_SIZE, TINY

    port, ck = _free_port(), tmp_path / "gsmflow.pt"
    train = ["train", "--dataset", str(small_dir), "--method", "gsmflow", "--input-size", str(INPUT_SIZE)]
    train += ["--epochs", str(EPOCHS), "--select", "test", "--out", str(ck)]
    for key, value in TINY["gsmflow"].items():
        train += ["--set", f"{key}={value}"]
    rendezvous = ["--nnodes=2", "--nproc_per_node=1", "--rdzv_backend=c10d", f"--rdzv_endpoint=127.0.0.1:{port}"]
    rendezvous += [f"--rdzv_id=zsl-test-{port}", "--max_restarts=0"]
    launches = [_start(TORCHRUN + rendezvous + ["-m", "zsl_desktop"] + train, _env(extracted)) for _ in range(2)]
    outputs = _finish(launches)
    assert sum(out.count("done in") for _, out, _ in outputs) == 1  # rank 0 alone reports,
    assert sum(err.count("epoch 1: test H") for _, _, err in outputs) == 1  # progress included
    checkpoint = load_checkpoint(ck)
    method = method_from_checkpoint(checkpoint)
    dataset = load_dataset(small_dir)
    store = FeatureStore.open(dataset, "efficientnet_lite0", INPUT_SIZE, extracted / "data" / "features")
    rows = np.concatenate([dataset.splits["test_seen"], dataset.splits["test_unseen"]])
    scores = method.score(method.encode_rows(feature_source(dataset, store), rows), dataset.class_attributes)
    _assert_same_scores(_scores(runs[0], "gsmflow"), scores)
    one = json.loads(str(np.load(runs[0] / "gsmflow.npz")["metrics"]))
    _assert_same_figures(one, checkpoint.header["metrics"])
