"""Cancelling a running submission stops its container: the worker does not wait for the
time limit, records nothing, and leaves no container behind."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import docker
import pytest
from django.contrib.auth.models import User
from django.db import connection

from competitions.bundles import competition_import_bundle
from competitions.evaluation.pipeline import submission_evaluate
from competitions.models import Competition, Submission
from competitions.services.submissions import submission_cancel, submission_create
from competitions.services.teams import competition_join

pytestmark = [pytest.mark.docker]

TIME_LIMIT_SECONDS = 120


def test_cancelling_a_running_submission_stops_its_container(
    transactional_db: None,
    digits_bundle: Path,
    engine: docker.DockerClient,
    script_archive: Callable[[str, str], Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="competitions.evaluation.pipeline")
    archive = script_archive(
        "sleeper",
        """
        import time
        print("sleeping", flush=True)
        time.sleep(3600)
        """,
    )
    competition, _ = competition_import_bundle(bundle_dir=digits_bundle)
    Competition.objects.filter(pk=competition.pk).update(time_limit_seconds=TIME_LIMIT_SECONDS)
    user = User.objects.create_user(username="grace")
    competition_join(user=user, competition=competition)
    with archive.open("rb") as fh:
        submission = submission_create(user=user, competition=competition, image=fh)
    label = f"podium.submission={submission.pk}"
    errors: list[BaseException] = []

    def evaluate() -> None:
        try:
            submission_evaluate(submission_id=submission.pk)
        except BaseException as exc:  # noqa: BLE001 - a thread's error is lost unless the test thread reports it
            errors.append(exc)
        finally:
            connection.close()

    worker = threading.Thread(target=evaluate, daemon=True)
    worker.start()
    try:
        deadline = time.monotonic() + 120
        while not engine.containers.list(filters={"label": label, "status": "running"}):
            assert worker.is_alive(), f"the run ended before it was cancelled: {errors}"
            assert time.monotonic() < deadline, "the container never started"
            time.sleep(0.2)
        submission.refresh_from_db()
        assert submission.status == Submission.Status.RUNNING

        submission_cancel(user=user, submission=submission)
        # Polled about once a second, then SIGTERM: the sleeper dies at once (PID 1 of
        # its program is the init, which forwards the signal; Python exits on SIGTERM).
        worker.join(timeout=TIME_LIMIT_SECONDS + 60)
    finally:
        if worker.is_alive():
            for container in engine.containers.list(all=True, filters={"label": label}):
                container.remove(force=True)
            worker.join(timeout=60)

    assert not errors, errors
    assert not worker.is_alive()
    # Stopped because of the cancel, not at the time limit (no wall-clock bound: load-proof).
    assert f"submission {submission.pk} was cancelled; its run was stopped" in caplog.text
    submission.refresh_from_db()
    assert submission.status == Submission.Status.CANCELLED
    assert submission.failure_kind == Submission.FailureKind.NONE
    assert submission.public_score is None and submission.private_score is None
    assert submission.exit_code is None and submission.log_tail == ""
    assert engine.containers.list(all=True, filters={"label": label}) == []
