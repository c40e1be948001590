"""The scoring kernel is plain Python, like the sandbox: tools and benchmarks use it without a
Django project, and the Django pipeline that uses it lives in competitions/evaluation/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KERNEL = ["scoring", *(f"scoring.{p.stem}" for p in sorted((ROOT / "scoring").glob("*.py")))]


def test_importing_the_scoring_kernel_loads_no_django() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {KERNEL!r}: importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.startswith('django')))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert completed.stdout.strip() == "[]"
