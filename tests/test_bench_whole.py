"""The bench's closing rows: its own wall time, with issue #19's 90 s target on a ``--quick`` run of every section."""

import argparse

import pytest

from zsl_desktop.bench import runner
from zsl_desktop.bench.whole import EVERY_SECTION, process_age_s, whole_rows


def test_quick_of_every_section_has_the_whole_time_target():
    wall, cpu = whole_rows(85.0, 99.0, quick=True, cores=2)
    assert wall.section == "whole" and wall.target == "<= 90" and wall.ok is True and wall.value == 85.0
    assert "--quick" in wall.name and "2 cores" in wall.name
    assert cpu.value == 99.0 and not cpu.target
    assert whole_rows(93.0, 99.0, quick=True, sections=list(EVERY_SECTION))[0].ok is False


@pytest.mark.parametrize(
    "quick, sections, methods",
    [(False, None, None), (True, ["rescore"], None), (True, None, ["ipce"]), (False, list(EVERY_SECTION), None)],
)
def test_a_run_of_less_than_the_whole_quick_bench_says_its_time_without_the_target(quick, sections, methods):
    wall, _ = whole_rows(30.0, 40.0, quick=quick, sections=sections, methods=methods)
    assert wall.value == 30.0 and not wall.target and wall.ok is None and "--quick" not in wall.name


def test_the_process_age_comes_from_proc(tmp_path):
    import os

    tick = os.sysconf("SC_CLK_TCK")
    stat = tmp_path / "stat"
    # pid (comm with a space and a paren) state, then fields 4.. ; field 22 (starttime) is the 20th after comm
    stat.write_text("42 (my (odd) name) S " + " ".join(["0"] * 18) + f" {50 * tick} 0 0\n")
    uptime = tmp_path / "uptime"
    uptime.write_text("62.50 100.00\n")
    assert process_age_s(str(stat), str(uptime)) == pytest.approx(12.5)
    assert process_age_s(str(tmp_path / "missing"), str(uptime)) is None
    uptime.write_text("nonsense\n")
    assert process_age_s(str(stat), str(uptime)) is None


@pytest.mark.parametrize("only", [None, ["rescore"]])
def test_main_closes_with_the_whole_time_on_stderr_in_the_table_and_the_markdown(monkeypatch, capsys, tmp_path, only):
    def sections(quick, sections, report, say, methods):
        row = runner.Row("rescore", "a p95", 1.0, "ms", "<= 8", True)
        report(row)
        return [row]

    monkeypatch.setattr(runner, "run", sections)
    monkeypatch.setattr(runner, "bench_wall_s", lambda main_started: 42.0)  # this test process's age is no bench's
    table = tmp_path / "t.md"
    args = argparse.Namespace(quick=True, only=only, json=None, markdown=str(table))
    assert runner.main(args) == 0
    out, err = capsys.readouterr()
    said = [line for line in err.splitlines() if line.startswith("  whole:")]
    markdown = [line for line in table.read_text().splitlines() if line.startswith("| whole |")]
    assert len(said) == 2 and len(markdown) == 2 and "whole" in out
    if only is None:  # every section: the target line
        assert "target <= 90 (met)" in said[0] and markdown[0].endswith("| <= 90 ✓ |")
        assert "bench --quick wall time, every section" in out
    else:
        assert "target" not in said[0] and markdown[0].endswith("|  |")
    assert ": 42.00 s" in said[0] and "| 42.00 s |" in markdown[0] and "bench took 42s" in out


def test_the_bench_time_falls_back_to_mains_start_without_proc(monkeypatch):
    import time

    from zsl_desktop.bench import whole

    assert whole.bench_wall_s(time.perf_counter()) == pytest.approx(process_age_s(), abs=0.05)
    monkeypatch.setattr(whole, "process_age_s", lambda: None)
    assert whole.bench_wall_s(time.perf_counter() - 3.0) == pytest.approx(3.0, abs=0.05)
