"""The app shortens Python's GIL switch interval, so the GUI thread never waits long behind a worker."""

import sys

from zsl_desktop.app import main


def test_the_app_asks_for_a_short_switch_interval():
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)  # Python's default
        main.share_the_gil()
        assert abs(sys.getswitchinterval() - main.GUI_SWITCH_INTERVAL_S) < 1e-6
        assert main.GUI_SWITCH_INTERVAL_S <= 0.001
    finally:
        sys.setswitchinterval(before)
