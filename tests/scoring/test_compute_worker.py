"""A compute worker that holds no secrets scores a submission end to end: the platform under
gunicorn (remote compute on), a scoring worker, and a `podium_compute` Celery worker whose
environment has no database URL, no secret key and no PODIUM_HOME. While the run goes, the
test reads the compute worker's processes (/proc/PID/environ, their open files) and the
container's mounts; afterwards its data cache: no secret and no solution anywhere."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import docker
import pandas as pd
import pytest
from computehosts import compute_env, compute_worker, platform_server, tiny_archive
from django.conf import settings
from django.contrib.auth.models import User
from django.test import override_settings

from competitions.models import Competition, Submission
from competitions.services.submissions import submission_create
from competitions.services.teams import competition_join
from podium_compute.config import ComputeConfig
from podium_compute.runner import instance_label

pytestmark = [pytest.mark.docker, pytest.mark.e2e]

SLOW_COPY = "sleep 4; cp /data/sample_submission.csv /output/predictions.csv"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_compute_worker_without_secrets_scores_a_submission(
    worker: Path,
    digits: Competition,
    engine: docker.DockerClient,
    tmp_path: Path,
) -> None:
    url, web = platform_server(tmp_path / "web.log")
    work = tmp_path / "compute"
    env = compute_env(url, work)
    compute = compute_worker(tmp_path / "compute.log", env)
    # The engine is shared with other sessions: this worker's containers carry its label.
    mine = f"podium.instance={instance_label(ComputeConfig.from_env(env))}"
    solution_file = Path(digits.files.get(kind="solution").file.path)
    solution_sha = _sha256(solution_file)
    try:
        user = User.objects.create_user(username="lovelace")
        competition_join(user=user, competition=digits)
        with (
            override_settings(PODIUM_COMPUTE_REMOTE=True),
            tiny_archive(engine, tmp_path / "tiny.tar", SLOW_COPY).open("rb") as fh,
        ):
            submission = submission_create(user=user, competition=digits, image=fh)

        environs: list[bytes] = []
        opened: set[str] = set()
        mounts: list[str] = []
        seen_running = False
        deadline = time.monotonic() + 300
        while not submission.is_finished:
            assert time.monotonic() < deadline, (
                f"still {submission.status}:\n{compute.log.read_text()}\n{worker.read_text()}"
            )
            for pid in compute.tree():
                try:
                    environs.append(Path(f"/proc/{pid}/environ").read_bytes())
                    for fd in Path(f"/proc/{pid}/fd").iterdir():
                        opened.add(os.readlink(fd))
                except OSError:
                    continue  # the process ended meanwhile
            for container in engine.containers.list(
                filters={"label": [mine, f"podium.submission={submission.pk}"]}
            ):
                seen_running = True
                mounts += [m["Source"] for m in container.attrs["Mounts"]]
            time.sleep(0.2)
            submission.refresh_from_db()
    finally:
        compute.stop()
        web.stop()

    assert submission.status == Submission.Status.SCORED, (
        f"{submission.failure_kind}: {submission.failure_message}\n{compute.log.read_text()}"
    )
    assert seen_running, "the run's container was never seen: nothing was inspected during it"
    assert submission.lease_owner == ""
    # The compute worker's processes: no database URL, no secret key, no platform home.
    secret = settings.SECRET_KEY.encode()
    assert environs
    for environ in environs:
        names = {item.split(b"=", 1)[0] for item in environ.split(b"\0") if item}
        assert not names & {b"DATABASE_URL", b"DJANGO_SECRET_KEY", b"PODIUM_HOME"}, names
        assert secret not in environ
    media = str(settings.MEDIA_ROOT)
    assert opened and not [p for p in opened if p.startswith(media) or "solution" in p], opened
    # The container read its data from the compute host's cache, not the platform's files.
    assert mounts and all(m.startswith(str(work)) for m in mounts), mounts
    cached = [p for p in work.rglob("*") if p.is_file()]
    assert any(p.name == "sample_submission.csv" for p in cached)
    # Its cache of hidden test inputs: no other user of the host may enter it.
    assert work.stat().st_mode & 0o777 == 0o700
    assert not [p for p in cached if "solution" in p.name or _sha256(p) == solution_sha], cached

    # Scored where the solution is, with the scores one machine gives these predictions.
    solution = pd.read_csv(solution_file)
    predictions = pd.read_csv(submission.predictions.path)
    merged = solution.merge(predictions, on="id", suffixes=("", "_predicted"))
    for part, score in (("Public", submission.public_score), ("Private", submission.private_score)):
        rows = merged[merged["Usage"] == part]
        assert score == pytest.approx(float((rows["label"] == rows["label_predicted"]).mean()))
    assert submission.duration_seconds is not None and submission.duration_seconds >= 4
    assert "recorded as scored" in worker.read_text()
