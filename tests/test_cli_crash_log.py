"""The CLI's crash log (cli.LONG_WORK, engine/crash_log.py): a subcommand that dies natively leaves its stacks.

Each child runs the real ``cli.main`` with a real subcommand; only the function the subcommand calls to load
its data is replaced by one that segfaults (``faulthandler._sigsegv()``), so the crash happens where torch or
a BLAS would crash: inside the subcommand's work, after the CLI has set itself up. This process's own
faulthandler (pytest's) is never touched.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from zsl_desktop.engine.crash_log import crash_log_path

ROOT = Path(__file__).resolve().parents[1]

CRASHING_CLI = textwrap.dedent(
    """
    import faulthandler, sys
    import zsl_desktop.engine.data
    import zsl_desktop.engine.data.builtin_birds
    from zsl_desktop import cli

    def the_crashing_load(*args, **kwargs):
        faulthandler._sigsegv()

    zsl_desktop.engine.data.load_dataset = the_crashing_load
    zsl_desktop.engine.data.builtin_birds.generate = the_crashing_load
    sys.exit(cli.main(sys.argv[1:]))
    """
)


def run_cli(home: Path, *argv: str, python_options: tuple[str, ...] = (), **env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONFAULTHANDLER", "RANK", "WORLD_SIZE")}
    environment.update(ZSL_DESKTOP_HOME=str(home), PYTHONPATH=str(ROOT), **env)
    return subprocess.run(
        [sys.executable, *python_options, "-c", CRASHING_CLI, *argv],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=home,
    )


def crashed(run: subprocess.CompletedProcess) -> bool:
    return run.returncode in (-signal.SIGSEGV, 128 + signal.SIGSEGV)


def crash_log(home: Path) -> Path:
    return home / "data" / "logs" / crash_log_path().name


def test_a_train_run_that_segfaults_leaves_its_stack_in_the_crash_log(tmp_path):
    run = run_cli(tmp_path, "train", "--dataset", "builtin-small", "--method", "msdn", "--threads", "1")
    assert crashed(run), (run.returncode, run.stdout, run.stderr)
    text = crash_log(tmp_path).read_text()
    start, *stack = text.splitlines()
    assert re.search(r" pid \d+ main thread 0x[0-9a-f]+ started: zsl-desktop train --dataset builtin-small", start)
    assert "Fatal Python error: Segmentation fault" in text
    assert "the_crashing_load" in text and "cmd_train" in text  # the stack runs through the real subcommand
    main_thread = start.split(" main thread ")[1].split()[0]
    assert any(line.startswith(f"Current thread {main_thread}") for line in stack)  # the start line finds it
    assert "Fatal Python error" not in run.stderr


def test_torchrun_workers_append_to_one_log_each_naming_its_rank(tmp_path):
    runs = [run_cli(tmp_path, "generate", "--small", RANK=str(rank), WORLD_SIZE="2") for rank in (0, 1)]
    assert all(crashed(run) for run in runs), [(run.returncode, run.stderr) for run in runs]
    text = crash_log(tmp_path).read_text()
    assert re.search(r"pid \d+ rank 0/2 main thread 0x[0-9a-f]+ started: zsl-desktop generate --small", text)
    assert re.search(r"pid \d+ rank 1/2 main thread 0x[0-9a-f]+ started: zsl-desktop generate --small", text)
    assert text.count("Fatal Python error: Segmentation fault") == 2 and text.count("cmd_generate") == 2


def test_a_faulthandler_already_on_keeps_the_stacks_on_stderr(tmp_path):
    run = run_cli(tmp_path, "generate", "--small", python_options=("-X", "faulthandler"))
    assert crashed(run)
    assert "Fatal Python error: Segmentation fault" in run.stderr and "the_crashing_load" in run.stderr
    assert not list((tmp_path / "data" / "logs").glob("crash-*.log"))


def test_info_is_not_long_work_and_starts_no_crash_log(tmp_path):
    run = run_cli(tmp_path, "info", "--dataset", "builtin-small")
    assert crashed(run)
    assert not list((tmp_path / "data" / "logs").glob("crash-*.log"))
