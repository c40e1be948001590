"""What the client prints or writes comes from the server, and partly from other people
(team names, descriptions, file names, run logs): make it safe for a terminal and for a
spreadsheet."""

from __future__ import annotations

import unicodedata
from typing import Any

from wcwidth import wcswidth

# OWASP's list: a spreadsheet treats a cell starting with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def printable(text: str, *, keep: str = "\n\t") -> str:
    """`text` without control and invisible formatting characters (terminal escape
    sequences, carriage returns, bidi overrides), except those in `keep`."""
    return "".join(
        ch for ch in text if ch in keep or unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp")
    )


def csv_cell(value: Any) -> Any:
    """A value for a CSV cell: text that a spreadsheet would run as a formula gets a
    leading apostrophe (shown as text); numbers stay numbers; controls are removed."""
    if not isinstance(value, str):
        return value
    value = printable(value, keep="")
    if value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def display_width(text: str) -> int:
    """Columns `text` takes in a terminal: 2 for each wide (CJK, most emoji) character, 0
    for combining marks and zero-width joiners (wcwidth's tables)."""
    width = wcswidth(text)
    if width < 0:  # a character wcwidth cannot place: count each code point as one column
        return sum(max(wcswidth(ch), 0) if wcswidth(ch) >= 0 else 1 for ch in text)
    return width


def pad(text: str, width: int) -> str:
    """`text` followed by spaces up to `width` display columns."""
    return text + " " * max(width - display_width(text), 0)
