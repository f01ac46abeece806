"""Word-prefix search: "red" finds "red" and "reddish" but not "barred"; "wing bl" finds "wing color: blue"."""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+")  # letters and digits; "_", ":" and spaces separate words


def words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def matches(query: str, text: str) -> bool:
    """Every word of ``query`` begins some word of ``text`` (an empty query matches everything)."""
    targets = words(text)
    return all(any(t.startswith(q) for t in targets) for q in words(query))
