"""A compute host never takes more runs than fit its declared capacity, across processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from podium_compute.capacity import CapacityLedger, Needs

ROOT = Path(__file__).resolve().parents[2]
HOST = Needs(cpus=4, memory_bytes=8 * 2**30, gpus=1)


def test_runs_are_admitted_while_they_fit_and_released_after(tmp_path: Path) -> None:
    ledger = CapacityLedger(tmp_path / "capacity.json", HOST)
    big = Needs(cpus=3, memory_bytes=2 * 2**30)
    with ledger.reserve(1, big) as first:
        assert first and ledger.running() == [1]
        # Another process of the host asks for 2 more CPUs: only 1 is free.
        code = (
            "from pathlib import Path; from podium_compute.capacity import CapacityLedger, Needs;"
            f"l = CapacityLedger(Path({str(tmp_path / 'capacity.json')!r}), "
            f"Needs(4, {8 * 2**30}, 1))\n"
            "with l.reserve(2, Needs(2, 2**30)) as a: print(a)\n"
            "with l.reserve(3, Needs(1, 6 * 2**30)) as b: print(b, l.running())\n"
            "with l.reserve(4, Needs(1, 2**30, 1)) as c: print(c)"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split("\n")
        assert out[:3] == ["False", "True [1, 3]", "True"]
    assert ledger.running() == []
    with ledger.reserve(5, Needs(cpus=4, memory_bytes=8 * 2**30, gpus=1)) as whole:
        assert whole


def test_a_dead_processes_reservation_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "capacity.json"
    code = (
        "import os; from pathlib import Path; from podium_compute.capacity import *;"
        f"l = CapacityLedger(Path({str(path)!r}), Needs(4, {8 * 2**30}, 1))\n"
        "with l.reserve(7, Needs(4, 2**30)) as ok: print(ok, flush=True); os._exit(0)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "True"
    assert '"submission": 7' in path.read_text()  # left behind by the killed process
    ledger = CapacityLedger(path, HOST)
    assert ledger.running() == []
    with ledger.reserve(8, Needs(cpus=4, memory_bytes=2**30)) as ok:
        assert ok


def test_a_run_larger_than_the_host_never_fits_here(tmp_path: Path) -> None:
    ledger = CapacityLedger(tmp_path / "capacity.json", HOST)
    assert not ledger.fits_ever(Needs(cpus=8, memory_bytes=2**30))
    assert not ledger.fits_ever(Needs(cpus=1, memory_bytes=2**30, gpus=2))
    with ledger.reserve(1, Needs(cpus=8, memory_bytes=2**30)) as ok:
        assert not ok
