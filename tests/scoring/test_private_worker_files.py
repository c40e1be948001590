"""A real worker process creates owner-only files (umask 077, podium.permissions), and a run
still reads its data: the sandbox's user (uid 65534) is not the owner, so what it mounts
keeps its modes inside the owner-only work folder, and the hidden solution stays 0600."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User

from competitions.bundles import competition_import_bundle
from competitions.evaluation.data import competition_data_prepare
from competitions.models import Submission
from competitions.services.submissions import submission_create
from competitions.services.teams import competition_join

pytestmark = [pytest.mark.docker, pytest.mark.e2e]


def _children_umasks() -> dict[int, str]:
    """Umask of each `celery` process this test session started (the worker fixture)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        if int(fields.get("PPid", "0")) == os.getpid() and b"celery" in cmdline:
            found[int(entry.name)] = fields.get("Umask", "").strip()
    return found


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_worker_writes_owner_only_files_and_its_runs_still_read_their_data(
    worker: Path, digits_bundle: Path, baseline_archive: Path
) -> None:
    assert set(_children_umasks().values()) == {"0077"}, _children_umasks()
    competition, _ = competition_import_bundle(bundle_dir=digits_bundle)
    user = User.objects.create_user(username="ada")
    competition_join(user=user, competition=competition)
    with baseline_archive.open("rb") as archive:
        submission = submission_create(user=user, competition=competition, image=archive)

    deadline = time.monotonic() + 300
    while not submission.is_finished:
        assert time.monotonic() < deadline, f"still {submission.status}:\n{worker.read_text()}"
        time.sleep(1)
        submission.refresh_from_db()

    assert submission.status == Submission.Status.SCORED, submission.failure_message
    assert _mode(Path(submission.predictions.path)) == 0o600
    work = Path(settings.PODIUM_WORK_DIR)
    assert _mode(work) == 0o700  # no other user of the host gets into what it prepared
    data = competition_data_prepare(competition=competition)  # the worker's copy
    assert _mode(data.solution) == 0o600
    for path in (data.train_dir, data.test_dir):
        assert _mode(path) == 0o755  # mounted for the run's user
    assert {_mode(p) for p in data.test_dir.iterdir()} == {0o644}
