"""Human sizes and durations, as organizers write them ("8g", "2h") and users read them.

The one units module of the platform. Plain Python (no Django): the sandbox, the scoring
kernel, the apps and the templates all use it, and static/units.js mirrors format_size
for the browser (tests/podium/test_units.py runs both on the same values).

Convention: sizes are binary, as limits are written: "8g" is 8 GiB = 8 * 2**30 bytes and
is shown as "8 GB" (KB, MB, GB, TB mean 2**10, 2**20, 2**30, 2**40 bytes everywhere on
the platform: pages, API messages, run failures, the upload progress bar).
"""

import re
from decimal import ROUND_HALF_UP, Decimal

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


_DURATION_WORDS = {
    "s": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s",
    "m": "m", "min": "m", "mins": "m", "minute": "m", "minutes": "m",
    "h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
    "d": "d", "day": "d", "days": "d",
}  # fmt: skip
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)")


def parse_duration(value: str | int) -> int:
    """Seconds from "2h", "90m", "30s", "1d", "1 h 30 min", "2 hours" or a plain number of
    seconds; raise ValueError with an example otherwise (what format_duration shows
    parses back)."""
    if isinstance(value, int):
        return value
    text = str(value).strip().lower()
    total = 0.0
    position = 0
    parts = 0
    for match in _DURATION_PART.finditer(text):
        unit = _DURATION_WORDS.get(match.group(2)) if match.group(2) else ""
        if text[position : match.start()].strip() or unit is None:
            break
        total += float(match.group(1)) * _DURATION_UNITS[unit]
        position = match.end()
        parts += 1
    if not parts or text[position:].strip():
        raise ValueError(f"{value!r} is not a duration: write it like 30s, 90m or 2h")
    return int(total)


_CPUS = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(?:cpus?|cores?)?\s*")


def parse_cpus(value: str | float | int) -> float:
    """CPUs (a float above 0) from "2", "1.5", "2 CPUs" or "4 cores"; raise ValueError with
    an example otherwise."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        match = _CPUS.fullmatch(str(value).lower())
        if not match:
            raise ValueError(f"{value!r} is not a number of CPUs: write it like 2, 0.5 or 2 CPUs")
        number = float(match.group(1))
    if number <= 0:
        raise ValueError(f"{value!r} is not a number of CPUs: it must be above 0")
    return number


def size_text(num_bytes: int) -> str:
    """The exact size in the largest unit that divides it ("8g", "1536m", "100"), for a
    form field whose value must parse back to the same number of bytes."""
    for suffix, factor in (("t", 2**40), ("g", 2**30), ("m", 2**20), ("k", 2**10)):
        if num_bytes and num_bytes % factor == 0:
            return f"{num_bytes // factor}{suffix}"
    return str(num_bytes)


def duration_text(seconds: int) -> str:
    """The exact duration in the largest unit that divides it ("2h", "90m", "45s")."""
    for suffix, factor in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % factor == 0:
            return f"{seconds // factor}{suffix}"
    return f"{seconds}s"


def format_size(num_bytes: int | float | None) -> str:
    """'8 GB', '512 MB', '1.5 GB', '1023 B' (binary units, as the limits are written):
    three significant digits, half up, in the largest unit the size reaches; "-" for None.
    static/units.js (formatSize) computes the same text."""
    if num_bytes is None:
        return "-"
    for unit, factor in (("TB", 2**40), ("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if num_bytes >= factor:
            return f"{_three_digits(num_bytes / factor)} {unit}"
    return f"{int(num_bytes)} B"


def _three_digits(value: float) -> str:
    """`value` (>= 1) to three significant digits, rounded half up on its exact binary
    value (as JavaScript's toPrecision(3) does), no trailing zeros; whole above 999.5."""
    exact = Decimal(value)
    digits = exact.adjusted()  # 0 for 1..9.99, 2 for 100..999.9
    rounded = exact.quantize(Decimal(1).scaleb(min(digits - 2, 0)), rounding=ROUND_HALF_UP)
    if rounded >= 1000:
        rounded = exact.quantize(Decimal(1), rounding=ROUND_HALF_UP)
    text = format(rounded, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


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
