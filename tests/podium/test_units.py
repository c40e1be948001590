"""Human sizes and durations (podium.units)."""

from __future__ import annotations

import pytest

from podium.units import (
    duration_text,
    format_duration,
    format_size,
    parse_cpus,
    parse_duration,
    parse_size,
    size_text,
)

GIB = 2**30
MIB = 2**20


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2g", 2 * GIB),
        ("8G", 8 * GIB),
        ("512m", 512 * MIB),
        ("512M", 512 * MIB),
        ("10gb", 10 * GIB),
        ("10GiB", 10 * GIB),
        ("1.5g", int(1.5 * GIB)),
        ("64k", 64 * 1024),
        ("1t", 2**40),
        (" 4g ", 4 * GIB),
        ("100", 100),
        ("100b", 100),
        (4096, 4096),
    ],
)
def test_parse_size(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["lots", "", "-1g", "2 x", "g", "1.2.3m", "2p"])
def test_parse_size_rejects_nonsense_with_an_example(text: str) -> None:
    with pytest.raises(ValueError, match="is not a size: write it like 512m, 8g or 10gb"):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10m", 600),
        ("2h", 7200),
        ("90m", 5400),
        ("30s", 30),
        ("1d", 86400),
        ("1.5h", 5400),
        ("45", 45),
        (" 2H ", 7200),
        (120, 120),
    ],
)
def test_parse_duration(text: str | int, expected: int) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["soon", "", "-5m", "2w", "h"])
def test_parse_duration_rejects_nonsense_with_an_example(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration: write it like 30s, 90m or 2h"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("num_bytes", "expected"),
    [
        (8 * GIB, "8 GB"),
        (512 * MIB, "512 MB"),
        (int(1.5 * GIB), "1.5 GB"),
        (2 * 2**40, "2 TB"),
        (2048, "2 KB"),
        (1023, "1023 B"),
        (0, "0 B"),
        (None, "-"),
    ],
)
def test_format_size(num_bytes: int | None, expected: str) -> None:
    assert format_size(num_bytes) == expected


def test_format_size_never_uses_scientific_notation() -> None:
    assert "e+" not in format_size(1000 * MIB)
    assert "e+" not in format_size(1023 * GIB)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (7200, "2 h"),
        (5400, "1 h 30 min"),
        (600, "10 min"),
        (90, "1 min 30 s"),
        (45, "45 s"),
        (44.6, "45 s"),
        (0, "0 s"),
        (None, "-"),
    ],
)
def test_format_duration(seconds: float | None, expected: str) -> None:
    assert format_duration(seconds) == expected


@pytest.mark.parametrize("value", ["8g", "512m", "1t", "64k"])
def test_sizes_round_trip_through_their_display(value: str) -> None:
    shown = format_size(parse_size(value)).replace(" ", "").lower()
    assert parse_size(shown) == parse_size(value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1 h 30 min", 5400), ("2 hours", 7200), ("90 min", 5400), ("1h30m", 5400), ("10 s", 10)],
)
def test_parse_duration_reads_what_people_write(text: str, expected: int) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("seconds", [7200, 5400, 600, 90, 45, 86400 + 60])
def test_durations_round_trip_through_their_display(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds
    assert parse_duration(duration_text(seconds)) == seconds


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2", 2.0), ("0.5", 0.5), ("2 CPUs", 2.0), ("1 cpu", 1.0), ("4 cores", 4.0), (3, 3.0)],
)
def test_parse_cpus(text: str | int, expected: float) -> None:
    assert parse_cpus(text) == expected


@pytest.mark.parametrize("text", ["0", "-1", "two", "2 GPUs", ""])
def test_parse_cpus_refuses_with_an_example(text: str) -> None:
    with pytest.raises(ValueError, match="is not a number of CPUs"):
        parse_cpus(text)


@pytest.mark.parametrize("num_bytes", [8 * GIB, 1536 * MIB, 100, 3 * 1024, 2**40, 1234567])
def test_size_text_is_exact(num_bytes: int) -> None:
    assert parse_size(size_text(num_bytes)) == num_bytes


BROWSER_SAMPLES = [
    0, 1, 1023, 1024, 1536, 2048, 10 * GIB, 8 * GIB, 512 * MIB, int(1.5 * GIB), 2 * 2**40,
    1000 * MIB, 1023 * GIB, 10**9, 10 * 10**9, 999.6 * MIB, 1.125 * GIB, 99.95 * 1024,
    123.45 * 1024, 4_194_304, 1_234_567_890, 7.77 * MIB, 1000.5 * GIB, 3 * 2**40 + 1,
]  # fmt: skip


def test_the_browser_formats_sizes_as_the_server_does() -> None:
    """static/units.js mirrors format_size: the same text for the same bytes, including
    halfway cases and the 999.5 boundary (the browser said "10.7 GB" for a 10 GB limit)."""
    import json
    import shutil
    import subprocess
    from pathlib import Path

    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("node is not installed (Debian: apt-get install nodejs)")
    script = Path(__file__).resolve().parents[2] / "static" / "units.js"
    code = (
        f"require({json.dumps(str(script))});"
        f"console.log(JSON.stringify({json.dumps(BROWSER_SAMPLES)}"
        ".map(globalThis.podiumUnits.formatSize)))"
    )
    shown = subprocess.run(
        [node, "-e", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert json.loads(shown) == [format_size(n) for n in BROWSER_SAMPLES]
    assert format_size(10 * GIB) == "10 GB"
