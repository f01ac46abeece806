"""torchrun: 2 CPU processes (gloo) extract the same store as one process, and train a loadable checkpoint."""

import os
import subprocess
import sys

import numpy as np
import pytest

from zsl_desktop.engine.checkpoints import check_compatible, load_checkpoint
from zsl_desktop.engine.data import load_dataset
from zsl_desktop.engine.features import FeatureStore
from zsl_desktop.engine.training import method_from_checkpoint


def _run(args, home, nproc=None):
    # One thread per process: oneDNN picks kernels by thread count, so equal counts give equal bits.
    env = {**os.environ, "ZSL_DESKTOP_HOME": str(home), "OMP_NUM_THREADS": "1"}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    prefix = [sys.executable, "-m", "zsl_desktop"]
    if nproc:
        prefix = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={nproc}",
            "-m",
            "zsl_desktop",
        ]
    result = subprocess.run(prefix + args, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def small_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "birds"
    from zsl_desktop.engine.data.builtin_birds import generate

    generate(out, small=True)
    return out


def test_two_process_extraction_equals_one_process(small_dir, tmp_path):
    args = ["extract", "--dataset", str(small_dir), "--input-size", "64"]
    _run(args, tmp_path / "one")
    _run(args, tmp_path / "two", nproc=2)
    dataset = load_dataset(small_dir)
    one = FeatureStore.open(dataset, "efficientnet_lite0", 64, tmp_path / "one" / "data" / "features")
    two = FeatureStore.open(dataset, "efficientnet_lite0", 64, tmp_path / "two" / "data" / "features")
    assert one is not None and two is not None
    assert np.array_equal(np.asarray(one.grid), np.asarray(two.grid))
    assert np.array_equal(np.asarray(one.pooled), np.asarray(two.pooled))
    assert two.manifest["status"] == "complete" and two.failed == {}


def test_two_process_training_writes_a_loadable_checkpoint(small_dir, tmp_path):
    ck = tmp_path / "ddp.pt"
    result = _run(
        [
            "train",
            "--dataset",
            str(small_dir),
            "--input-size",
            "64",
            "--epochs",
            "2",
            "--set",
            "batch_size=16",
            "--out",
            str(ck),
        ],
        tmp_path / "home",
        nproc=2,
    )
    assert result.stdout.count("done in") == 1  # rank 0 alone reports
    checkpoint = load_checkpoint(ck)
    dataset = load_dataset(small_dir)
    check_compatible(checkpoint, dataset)
    method = method_from_checkpoint(checkpoint)
    assert method.name == "msdn" and 0 <= checkpoint.header["metrics"]["zsl_t1"] <= 1
