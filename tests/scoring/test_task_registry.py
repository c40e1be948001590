"""The Celery task names are a contract with queued messages and beat: they stay `scoring.*`
wherever the code lives, and a worker discovers them the way `celery -A podium worker` does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
NAMES = {
    "scoring.evaluate_submission",
    "scoring.rescore_competition",
    "scoring.housekeeping",
    "scoring.competition_intervals",
}


def test_a_worker_discovers_every_scoring_task_and_beat_entry() -> None:
    # A fresh interpreter, as a worker starts: only podium.celery is imported, then the
    # loader's discovery runs (what the worker does before consuming).
    code = (
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "from podium.celery import app\n"
        "app.loader.import_default_modules()\n"
        "print(' '.join(sorted(n for n in app.tasks if not n.startswith('celery.'))))\n"
        "print(' '.join(sorted(e['task'] for e in settings.CELERY_BEAT_SCHEDULE.values())))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        check=True,
    )
    registered, beat = (line.split() for line in completed.stdout.strip().splitlines())
    assert set(registered) >= NAMES
    assert set(beat) <= set(registered)
    assert set(beat) == {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
