"""Help ▸ Open log file opens the rotating log of the user data folder (engine/logs.py)."""

import logging

from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox

from zsl_desktop.engine.logs import log_path, setup_logging


def test_help_menu_opens_the_log_file_or_says_where_it_will_be(make_window, monkeypatch):
    opened, told = [], []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()) or True)
    monkeypatch.setattr(QMessageBox, "information", lambda parent, title, text: told.append(text))
    w = make_window(with_model=False, open_dataset=False)
    help_menu = [a.menu() for a in w.menuBar().actions() if a.text() == "&Help"][0]
    action = [a for a in help_menu.actions() if a.text() == "Open log file"][0]

    setup_logging()
    action.trigger()  # nothing logged yet: no file, the message says where it will be
    assert opened == [] and str(log_path()) in told[0]

    logging.getLogger("zsl_desktop.app.test").warning("something to read")
    action.trigger()
    assert opened == [str(log_path())] and "something to read" in log_path().read_text(encoding="utf-8")
