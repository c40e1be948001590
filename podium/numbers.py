"""Whole numbers read from a request (query parameters, headers, form fields).

Python's ``int()`` is the wrong parser for what a client sends: it takes other
scripts' digits ('١٢' is 12), signs, spaces and underscores, and ``str.isdigit()`` is true
for '²', which ``int()`` then refuses (a 500 where a page number was checked that way).
A number too large for a 64-bit database column passes both and fails in the database.
Here a number is 1 to 19 ASCII digits, at most 2**63 - 1, bounded by the caller's range.
"""

from __future__ import annotations

import re
from typing import Any

from rest_framework import serializers

from podium.errors import ApplicationError

# The largest value of a signed 64-bit column, 9223372036854775807, has 19 digits.
_DIGITS = re.compile(r"[0-9]{1,19}")
LARGEST = 2**63 - 1


def whole_number(raw: str | None, *, name: str, minimum: int = 0, maximum: int = LARGEST) -> int:
    """``raw`` as an int in ``[minimum, maximum]``.

    Raises ApplicationError (code ``bad_number``) that names ``name``, the accepted range
    and what was sent, when ``raw`` is missing, is not 1-19 ASCII digits, or is out of
    range; the view answers 400."""
    text = raw if raw is not None else ""
    value = int(text) if _DIGITS.fullmatch(text) else None
    if value is None or not minimum <= value <= maximum:
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise ApplicationError(
            f"{name} must be a whole number from {minimum} to {maximum} (ASCII digits); "
            f"got {shown!r}.",
            {"code": "bad_number"},
        )
    return value


def page_number(raw: str | None, *, maximum: int = 10**9) -> int:
    """A 1-based page number for a page (not the API): 1 when ``raw`` is missing or not a
    whole number of at least 1, ``maximum`` when larger (callers show the last page)."""
    text = raw or ""
    if re.fullmatch(r"[0-9]+", text) is None:
        return 1
    if len(text) > 19:
        return maximum
    return min(max(1, int(text)), maximum)


class WholeNumberField(serializers.IntegerField):
    """DRF's IntegerField, which takes a string only as 1-19 ASCII digits (IntegerField
    itself takes '١٢' as 12, and ' 1', '+1', '1.0'); a JSON number passes as before."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, str) and not _DIGITS.fullmatch(data):
            self.fail("invalid")
        return super().to_internal_value(data)
