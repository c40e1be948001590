"""The purge runs on its own: a worker started as `podiumctl up` starts it (embedded beat,
the default queue) deletes an abandoned upload without anyone starting a new upload."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.utils import timezone
from factories import CompetitionFactory, MembershipFactory
from processes import process_env

from uploads.models import Upload
from uploads.services import upload_create

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_worker_with_embedded_beat_purges_abandoned_uploads(tmp_path: Path) -> None:
    member = MembershipFactory(team__competition=CompetitionFactory(slug="purge"))
    upload = upload_create(
        user=member.user, competition=member.team.competition, filename="a.tar", size=10
    )
    Upload.objects.filter(pk=upload.pk).update(updated_at=timezone.now() - dt.timedelta(days=2))

    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "podium", "worker", "-B",
             "-Q", "scoring,default", "--concurrency", "1", "--loglevel", "INFO",
             "--without-heartbeat", "--without-mingle", "--without-gossip",
             "--schedule", str(tmp_path / "celerybeat-schedule")],
            cwd=ROOT, env=process_env(PODIUM_UPLOAD_PURGE_SECONDS="2"),
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while Upload.objects.filter(pk=upload.pk).exists():
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.5)
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    assert not upload.path.exists()
    assert "uploads purged: 1 upload(s)" in log.read_text()
