"""Format sizes and durations the way participants read limits: 8 GB, 512 MB, 2 h, 90 min."""

from __future__ import annotations


def _number(value: float) -> str:
    return f"{round(value, 1):g}"


def human_bytes(size: int) -> str:
    """Return ``size`` in binary units, which is how the limits are configured (8g = 8 GiB)."""
    for unit, factor in (("TB", 2**40), ("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if size >= factor:
            return f"{_number(size / factor)} {unit}"
    return f"{size} bytes"


def human_seconds(seconds: float) -> str:
    """Return ``seconds`` in the largest unit that keeps the figure readable."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    if seconds < 60:
        return f"{_number(seconds)} s"
    if seconds < 3 * 3600:
        return f"{_number(seconds / 60)} min"
    return f"{_number(seconds / 3600)} h"
