"""Human sizes and durations, as organizers write them ("8g", "2h") and users read them."""

import re

_SIZE_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_size(value: str | int) -> int:
    """Bytes from "8g", "512M", "10GB", "1.5g" or a plain number of bytes."""
    if isinstance(value, int):
        return value
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?\s*", str(value).lower())
    if not match:
        raise ValueError(f"{value!r} is not a size: write it like 512m, 8g or 10gb")
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])


def parse_duration(value: str | int) -> int:
    """Seconds from "2h", "90m", "30s", "1d" or a plain number of seconds."""
    if isinstance(value, int):
        return value
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(value).lower())
    if not match:
        raise ValueError(f"{value!r} is not a duration: write it like 30s, 90m or 2h")
    return int(float(match.group(1)) * _DURATION_UNITS[match.group(2)])


def format_size(num_bytes: int | float | None) -> str:
    """'8 GB', '512 MB', '1.5 GB' (binary units, as the limits are written)."""
    if num_bytes is None:
        return "-"
    for unit, factor in (("TB", 2**40), ("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if num_bytes >= factor:
            value = num_bytes / factor
            return f"{value:.3g} {unit}" if value < 1000 else f"{value:.0f} {unit}"
    return f"{int(num_bytes)} B"


def format_duration(seconds: int | float | None) -> str:
    """'2 h', '90 min', '45 s', '1 h 30 min'."""
    if seconds is None:
        return "-"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours and not minutes and not secs:
        return f"{hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes and not secs:
        return f"{minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"
