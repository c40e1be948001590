"""The sandbox is plain Python: workers and tools use it without a Django project."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_sandbox_loads_no_django() -> None:
    code = "import sys, sandbox; print(sorted(m for m in sys.modules if m.startswith('django')))"
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert completed.stdout.strip() == "[]"
