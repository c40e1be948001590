"""The two-session run's split (tests/conftest.py, side_of), checked on real collections.

`./podiumctl test` runs `pytest --side sqlite` and `pytest --side postgres` side by side. Its
promise (README, "Tests on SQLite and PostgreSQL"): the whole suite runs on PostgreSQL; every
database test runs on SQLite too unless marked `once`; and nothing is left out of both.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# One file of each kind the rule tells apart.
END_TO_END = "tests/scoring/test_end_to_end.py"  # database, a worker and containers
ONCE = "tests/qa/test_qa_end_to_end.py"  # database, marked once
OWN_POSTGRES = "tests/scoring/test_end_to_end_servers.py"  # starts its own PostgreSQL
KERNEL = "tests/scoring/test_metrics.py"  # no database
SANDBOX = "tests/sandbox/test_code_archives.py"  # no database
PATHS = (END_TO_END, ONCE, OWN_POSTGRES, KERNEL, SANDBOX)


def _collect(side: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "--side", side, *PATHS],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _collected(process: subprocess.Popen[str]) -> tuple[set[str], int]:
    """The test ids one side collected, and how many the files hold in all (its count of
    collected plus deselected: "3/10 tests collected (7 deselected)")."""
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 0, out
    total = re.search(r"(?:\d+/)?(\d+) tests? collected", out)
    assert total, out
    return {line for line in out.splitlines() if "::" in line}, int(total.group(1))


def _in(ids: set[str], path: str) -> set[str]:
    return {i for i in ids if i.startswith(path + "::")}


def test_the_whole_suite_runs_on_postgresql_and_nothing_is_left_out() -> None:
    sides = {side: _collect(side) for side in ("sqlite", "postgres")}  # both at once
    (sqlite, total), (postgres, total_again) = (_collected(p) for p in sides.values())
    everything = sqlite | postgres

    assert total == total_again == len(everything)  # nothing left out of both
    for path in PATHS:
        assert _in(everything, path), f"nothing collected from {path}"
    # Database tests, end to end ones included, run on both databases.
    assert _in(everything, END_TO_END) <= sqlite & postgres
    # `once`: on PostgreSQL only.
    assert _in(postgres, ONCE) == _in(everything, ONCE)
    assert not _in(sqlite, ONCE)
    # Without the test database the result is the same either side: once, on SQLite.
    for path in (OWN_POSTGRES, KERNEL, SANDBOX):
        assert _in(sqlite, path) == _in(everything, path)
        assert not _in(postgres, path)
