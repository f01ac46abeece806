"""``--cpu-durations`` (tests/cpu_time.py) charges each test its own CPU seconds and lists the costliest."""

from types import SimpleNamespace

from cpu_time import register_totals

pytest_plugins = ["pytester"]

SPIN = """
import time


def test_spins_a_while():
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass


def test_sleeps():
    time.sleep(0.3)
"""
CONFTEST = "from cpu_time import *  # noqa: F403\n\n\ndef pytest_configure(config):\n    register_totals(config)\n"
QUIET = ("-p", "no:randomly", "-p", "no:xdist", "-p", "no:benchmark", "-p", "no:cacheprovider")


def test_the_costliest_test_and_file_come_first_with_their_cpu_seconds(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_costs=SPIN)
    result = pytester.runpytest("--cpu-durations=5", *QUIET)
    result.assert_outcomes(passed=2)
    start = next(i for i, line in enumerate(result.outlines) if "CPU seconds:" in line)
    file_line, spin_line, sleep_line = [line.split() for line in result.outlines[start + 1 : start + 6] if line.strip()]
    assert file_line[1] == "test_costs.py" and float(file_line[0]) >= 0.3
    assert spin_line[1].endswith("::test_spins_a_while") and float(spin_line[0]) >= 0.3
    assert sleep_line[1].endswith("::test_sleeps") and float(sleep_line[0]) < 0.2  # a sleep costs no CPU


def test_without_the_option_no_report_is_registered():
    registered = []
    config = SimpleNamespace(
        getoption=lambda name: None, pluginmanager=SimpleNamespace(register=lambda *args: registered.append(args))
    )
    register_totals(config)
    assert registered == []
    config.getoption = lambda name: 5
    register_totals(config)
    assert len(registered) == 1
