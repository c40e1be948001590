"""Leases of running submissions: who may renew, record, release and reap a run."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from factories import SubmissionFactory

from competitions.evaluation import queue, recovery, transitions
from competitions.evaluation.tasks import housekeeping
from competitions.models import Submission
from competitions.services.submissions import submission_quota
from podium.celery import app

pytestmark = pytest.mark.django_db
S = Submission.Status
QUEUED = {"status": S.QUEUED, "public_score": None, "private_score": None}


def _dead_owner() -> str:
    """The lease owner name of a process of this host that has exited."""
    out = subprocess.run(
        [sys.executable, "-c", "from sandbox.owner import owner_token; print(owner_token())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return f"{transitions.worker_id().split('/')[0]}/{out.stdout.strip()}"


def _broker_messages() -> list[int]:
    folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
    found = []
    for path in folder.glob("*.scoring.msg"):
        pk = queue._message_submission_id(path)
        if pk is not None:
            found.append(pk)
    return found


@pytest.fixture(autouse=True)
def _empty_broker() -> None:
    folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
    for path in folder.glob("*.msg"):
        path.unlink(missing_ok=True)


def test_only_one_of_two_workers_claims_a_run_and_a_live_lease_is_never_taken() -> None:
    submission = SubmissionFactory(**QUEUED)
    me, other = transitions.worker_id(), "elsewhere/1-1"

    assert transitions.claim(submission_id=submission.pk, owner=me, lease_seconds=60)
    assert not transitions.claim(submission_id=submission.pk, owner=other, lease_seconds=60)
    # The lease is live: the reaper leaves the run alone, even from another host.
    assert recovery.runs_recover(local_host="elsewhere").requeued == []
    submission.refresh_from_db()
    assert (submission.status, submission.lease_owner, submission.attempts) == (S.RUNNING, me, 1)


def test_a_worker_that_lost_its_lease_can_neither_renew_nor_record() -> None:
    submission = SubmissionFactory(**QUEUED)
    stale = "elsewhere/1-1"
    assert transitions.claim(submission_id=submission.pk, owner=stale, lease_seconds=60)
    Submission.objects.filter(pk=submission.pk).update(
        lease_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )

    done = recovery.runs_recover(local_host="nowhere")
    assert done.requeued == [submission.pk]
    Submission.objects.filter(pk=submission.pk).update(not_before=None)  # backoff over
    assert transitions.claim(submission_id=submission.pk, owner="new/2-2", lease_seconds=60)

    assert not transitions.heartbeat(submission_id=submission.pk, owner=stale, lease_seconds=60)
    assert not transitions.finish(
        submission_id=submission.pk, owner=stale, status=S.SCORED, public_score=1.0
    )
    submission.refresh_from_db()
    assert submission.status == S.RUNNING and submission.lease_owner == "new/2-2"
    assert submission.attempts == 2
    assert submission.public_score is None


def test_a_dead_local_worker_run_is_requeued_at_once_and_not_counted() -> None:
    submission = SubmissionFactory(**QUEUED)
    dead = _dead_owner()
    assert transitions.claim(submission_id=submission.pk, owner=dead, lease_seconds=3600)

    done = recovery.runs_recover()

    assert done.requeued == [submission.pk]
    submission.refresh_from_db()
    assert submission.status == S.QUEUED and submission.lease_owner == ""
    assert submission.not_before is not None  # backoff before the retry
    assert submission.pk in _broker_messages()
    assert submission_quota(team=submission.team)["used"] == 1  # itself, once


def test_a_run_lost_after_the_last_retry_fails_as_platform_error_not_counted() -> None:
    submission = SubmissionFactory(**QUEUED, attempts=settings.PODIUM_PLATFORM_RETRIES)
    dead = _dead_owner()
    assert transitions.claim(submission_id=submission.pk, owner=dead, lease_seconds=3600)

    done = recovery.runs_recover()

    assert done.failed == [submission.pk]
    submission.refresh_from_db()
    assert submission.status == S.FAILED
    assert submission.failure_kind == Submission.FailureKind.PLATFORM_ERROR
    assert "not yours" in submission.failure_message
    assert submission_quota(team=submission.team)["used"] == 0


def test_a_queued_run_without_a_message_is_enqueued_again_once() -> None:
    long_ago = timezone.now() - dt.timedelta(seconds=settings.PODIUM_REQUEUE_AFTER_SECONDS + 5)
    lost = SubmissionFactory(**QUEUED, enqueued_at=long_ago)
    waiting = SubmissionFactory(**QUEUED)
    queue.enqueue(waiting.pk)
    Submission.objects.filter(pk=waiting.pk).update(enqueued_at=long_ago)
    backing_off = SubmissionFactory(
        **QUEUED, enqueued_at=long_ago, not_before=timezone.now() + dt.timedelta(minutes=5)
    )

    done = recovery.runs_recover()

    # The waiting one's message is still in the broker; the backing-off one is not due.
    assert done.redelivered == [lost.pk]
    assert sorted(_broker_messages()) == sorted([lost.pk, waiting.pk])
    assert recovery.runs_recover().redelivered == []  # just enqueued: not overdue now
    assert backing_off.pk not in _broker_messages()


def test_claim_waits_for_the_backoff() -> None:
    submission = SubmissionFactory(**QUEUED, not_before=timezone.now() + dt.timedelta(minutes=1))

    assert not transitions.claim(submission_id=submission.pk, owner="w/1-1", lease_seconds=60)
    Submission.objects.filter(pk=submission.pk).update(not_before=timezone.now())
    assert transitions.claim(submission_id=submission.pk, owner="w/1-1", lease_seconds=60)


def test_broker_message_of_another_task_is_not_read_as_a_run(tmp_path: Path) -> None:
    path = tmp_path / "x.scoring.msg"
    path.write_text(json.dumps({"headers": {"task": "scoring.housekeeping"}, "body": ""}))
    assert queue._message_submission_id(path) is None


def test_housekeeping_is_scheduled_and_recovers_a_dead_workers_run() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["housekeeping"]
    assert entry["task"] == "scoring.housekeeping" and entry["task"] in app.tasks
    assert settings.CELERY_TASK_DEFAULT_QUEUE == "scoring"
    submission = SubmissionFactory(**QUEUED)
    assert transitions.claim(submission_id=submission.pk, owner=_dead_owner(), lease_seconds=600)

    housekeeping()

    submission.refresh_from_db()
    assert submission.status == S.QUEUED and submission.pk in _broker_messages()
