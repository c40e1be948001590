"""A compute worker is plain Python: its package and Celery app load neither Django's
settings, apps or database layer nor any platform module but the Django-free podium.units
and podium.broker (Celery itself imports a few of django.utils' helpers when Django is
installed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_compute_worker_app_loads_no_django(tmp_path: Path) -> None:
    code = (
        "import sys, podium_compute.celery as c; "
        "print(c.app.conf.broker_url, sorted(c.app.tasks.keys() & {'compute.run_submission'}), "
        "sorted(m for m in sys.modules if m.split('.')[0] in ('competitions', 'uploads') "
        "or (m.startswith('podium.') and m not in ('podium.units', 'podium.broker')) "
        "or m.startswith(('django.conf', 'django.db', 'django.apps'))))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
            "PODIUM_PLATFORM_URL": "http://127.0.0.1:1",
            "PODIUM_COMPUTE_WORK_DIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["redis://127.0.0.1:1/0", "['compute.run_submission']", "[]"]


def test_a_compute_worker_without_its_platform_says_which_variable_is_missing() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", "import podium_compute.celery"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "CELERY_BROKER_URL": "redis://127.0.0.1:1/0"},
        capture_output=True,
        text=True,
    )
    assert completed.returncode != 0
    assert "Set the environment variable PODIUM_PLATFORM_URL." in completed.stderr
