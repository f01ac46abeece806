"""One error base (``ZslError``) for the engine's deliberate errors, and the rotating log file."""

import logging

import pytest

from zsl_desktop.cli import main
from zsl_desktop.engine.atomic import DiskFullError
from zsl_desktop.engine.backbones import BackboneUnavailable
from zsl_desktop.engine.checkpoints import CheckpointError
from zsl_desktop.engine.classes import LibraryError
from zsl_desktop.engine.data import DatasetError
from zsl_desktop.engine.data.builtin_birds import GenerationCancelled
from zsl_desktop.engine.errors import JobCancelled, ZslError
from zsl_desktop.engine.events import Cancelled
from zsl_desktop.engine.extraction import ExtractionCancelled
from zsl_desktop.engine.images import ImageFileError
from zsl_desktop.engine.logs import log_path, setup_logging
from zsl_desktop.engine.userfiles import UserFileError


@pytest.mark.parametrize(
    "kind",
    [DiskFullError, BackboneUnavailable, CheckpointError, LibraryError, DatasetError, ImageFileError, UserFileError],
)
def test_every_engine_error_is_a_zsl_error(kind):
    assert issubclass(kind, ZslError) and not issubclass(kind, JobCancelled)


def test_the_errors_that_were_built_in_kinds_still_are():
    assert issubclass(DiskFullError, OSError) and issubclass(UserFileError, ValueError)
    assert issubclass(BackboneUnavailable, RuntimeError)
    assert DiskFullError(28, "no space left").errno == 28


@pytest.mark.parametrize("kind", [Cancelled, ExtractionCancelled, GenerationCancelled])
def test_every_cancellation_is_a_job_cancelled(kind):
    assert issubclass(kind, JobCancelled)


def test_the_cli_says_a_zsl_error_in_one_line_and_exits_2(tmp_path, capsys, monkeypatch):
    import zsl_desktop.cli as cli

    def broken(args):
        raise CheckpointError(f"{tmp_path / 'm.pt'}: damaged")

    monkeypatch.setitem(cli.COMMANDS, "info", broken)
    assert main(["info", "--dataset", "builtin"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {tmp_path / 'm.pt'}: damaged\n"


def test_the_cli_logs_a_bug_with_its_traceback_to_the_user_folder(tmp_path, capsys, monkeypatch):
    import zsl_desktop.cli as cli

    def buggy(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setitem(cli.COMMANDS, "info", buggy)
    with pytest.raises(ZeroDivisionError):
        main(["info", "--dataset", "builtin"])
    for handler in logging.getLogger("zsl_desktop").handlers:
        handler.flush()
    text = log_path().read_text(encoding="utf-8")
    assert "info: unexpected error" in text and "Traceback" in text and "a bug" in text


def test_a_run_that_logs_nothing_writes_no_file(tmp_path, capsys):
    assert main(["info", "--dataset", str(tmp_path / "nope")]) == 2  # a user error: said on screen, not logged
    assert not log_path().parent.exists()


def test_setting_up_the_log_twice_keeps_one_handler(tmp_path, monkeypatch):
    setup_logging()
    monkeypatch.setenv("ZSL_DESKTOP_HOME", str(tmp_path / "other"))
    path = setup_logging()
    ours = [h for h in logging.getLogger("zsl_desktop").handlers if getattr(h, "zsl_log_file", False)]
    assert len(ours) == 1 and path == tmp_path / "other" / "data" / "logs" / "zsl-desktop.log"
    logging.getLogger("zsl_desktop.engine.test").warning("a warning")
    ours[0].flush()
    assert "a warning" in path.read_text(encoding="utf-8")
