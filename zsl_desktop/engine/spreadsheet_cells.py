"""Text cells that a spreadsheet shows as text: the guard against CSV formula injection, and its inverse.

Why: Excel and LibreOffice run a cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or a carriage
return, which they skip before looking) as a formula, so a class named ``=HYPERLINK("http://x","click")`` or
a photo named ``-2+3.jpg`` would run when the user opens an export. The standard guard (OWASP, "CSV
Injection") puts a ``'`` in front: the spreadsheet takes the cell as text, not a formula. A number stays a
number (``-0.52`` is a score, not a formula), so every cell of a row can go through ``guard``. A name with a
``;`` or a tab inside stays one cell only where the spreadsheet splits on commas (not guarded here).

Lossless: ``unguard(guard(s)) == s`` for every ``s`` (a name that itself starts with ``'`` before a formula
character gets one more ``'``), so our own readers (class CSV import, the resumable predictions CSV) give
back exactly the user's text.
"""

from __future__ import annotations

import re

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
GUARD = "'"
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def needs_guard(text: str) -> bool:
    """Whether a spreadsheet would read ``text`` as a formula, or ``unguard`` would change it."""
    rest = text.lstrip(GUARD)
    return rest[:1] in FORMULA_STARTS and not _NUMBER.fullmatch(rest)


def guard(value):
    """``value`` as a CSV cell: a formula-looking string with ``'`` in front; anything else unchanged."""
    if isinstance(value, str) and needs_guard(value):
        return GUARD + value
    return value


def unguard(text: str) -> str:
    """The user's text of a cell that ``guard`` wrote (a cell typed by hand that needs no guard is kept)."""
    if text.startswith(GUARD) and guard(text[1:]) == text:
        return text[1:]
    return text
