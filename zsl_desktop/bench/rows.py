"""One measured figure of the bench (``Row``) and the ways it is said: while running, as a table, as Markdown.

Each section returns rows of (section, name, figure, unit, target, ok). The app's sections (``ui``,
``scale``) build them as plain dicts in their parent process (``measured``); the runner makes them Rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Row:
    section: str
    name: str
    value: float
    unit: str
    target: str = ""
    ok: bool | None = None


def measured(section: str, name: str, value: float, unit: str, at_most: float | None = None) -> dict:
    """A row as a dict (``Row(**row)``); with ``at_most``, its target ``<= at_most`` and whether it was met
    (a NaN figure, nothing measured, is not met)."""
    if at_most is None:
        return dict(section=section, name=name, value=value, unit=unit)
    return dict(section=section, name=name, value=value, unit=unit, target=f"<= {at_most:g}", ok=value <= at_most)


def percentile_ms(seconds: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(seconds) * 1000.0, q))


def report_rows(report, rows) -> None:
    """``report(row)`` for each row, when there is a ``report`` (the CLI prints each figure as it is measured)."""
    for row in rows:
        if report is not None:
            report(row)


def progress_line(row: Row) -> str:
    """One measured figure as the bench says it while running (on stderr), before the final table."""
    ok = "" if row.ok is None else (" (met)" if row.ok else " (NOT met)")
    value = "n/a" if row.value != row.value else f"{row.value:.2f}"
    target = f", target {row.target}{ok}" if row.target else ""
    return f"  {row.section}: {row.name}: {value} {row.unit}".rstrip() + target


def format_table(rows: list[Row]) -> str:
    lines = [f"{'section':8s} {'measure':58s} {'value':>10s} {'unit':8s} {'target':>8s}  ok", "-" * 100]
    for r in rows:
        ok = "" if r.ok is None else ("yes" if r.ok else "NO")
        value = "n/a" if r.value != r.value else f"{r.value:10.2f}"
        lines.append(f"{r.section:8s} {r.name[:58]:58s} {value:>10s} {r.unit:8s} {r.target:>8s}  {ok}")
    return "\n".join(lines)


def format_markdown(rows: list[Row]) -> str:
    """The same rows as a Markdown table (what the README's performance table is pasted from)."""
    lines = ["| section | measure | value | target |", "|---|---|---|---|"]
    for r in rows:
        mark = "" if r.ok is None else (" ✓" if r.ok else " ✗")
        value = "n/a" if r.value != r.value else f"{r.value:.2f} {r.unit}".strip()
        lines.append(f"| {r.section} | {r.name} | {value} | {r.target}{mark} |")
    return "\n".join(lines) + "\n"
