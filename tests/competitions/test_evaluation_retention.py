"""Disk kept per submission follows the retention policy."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from factories import SubmissionFactory

from competitions.evaluation import retention
from competitions.models import Submission
from competitions.services.submissions import submission_requeue

pytestmark = pytest.mark.django_db
S = Submission.Status
K = Submission.FailureKind


def _archive(submission: Submission) -> Path:
    return Path(submission.image.path)


def test_archive_is_deleted_when_the_run_finished_and_kept_for_a_platform_retry(settings) -> None:
    settings.PODIUM_IMAGE_RETENTION_DAYS = 0
    scored = SubmissionFactory(finished_at=timezone.now())
    participant_fault = SubmissionFactory(
        status=S.FAILED, failure_kind=K.RUNTIME_ERROR, public_score=None, private_score=None
    )
    ours = SubmissionFactory(
        status=S.FAILED, failure_kind=K.PLATFORM_ERROR, public_score=None, private_score=None
    )
    queued = SubmissionFactory(status=S.QUEUED, public_score=None, private_score=None)
    paths = {s.pk: _archive(s) for s in (scored, participant_fault, ours, queued)}
    assert all(p.exists() for p in paths.values())

    for submission in (scored, participant_fault, ours, queued):
        retention.image_archive_delete_if_done(submission_id=submission.pk)

    assert not paths[scored.pk].exists() and not paths[participant_fault.pk].exists()
    assert paths[ours.pk].exists() and paths[queued.pk].exists()
    scored.refresh_from_db()
    assert scored.image_deleted_at is not None
    # Idempotent: a second pass deletes nothing more.
    assert retention.image_archive_delete_if_done(submission_id=scored.pk) == 0


def test_archives_are_kept_for_the_configured_days_then_expire(settings) -> None:
    settings.PODIUM_IMAGE_RETENTION_DAYS = 2
    finished = timezone.now() - dt.timedelta(days=1)
    rows = [SubmissionFactory(finished_at=finished) for _ in range(3)]

    assert retention.image_archive_delete_if_done(submission_id=rows[0].pk) == 0
    assert retention.image_archives_expire() == 0
    assert all(_archive(s).exists() for s in rows)

    assert retention.image_archives_expire(now=timezone.now() + dt.timedelta(days=1, hours=1)) == 3
    assert not any(_archive(s).exists() for s in rows)


def test_requeue_skips_runs_whose_archive_is_gone(settings) -> None:
    settings.PODIUM_IMAGE_RETENTION_DAYS = 0
    gone = SubmissionFactory(
        status=S.FAILED, failure_kind=K.RUNTIME_ERROR, public_score=None, private_score=None
    )
    kept = SubmissionFactory(
        team=gone.team,
        competition=gone.competition,
        status=S.FAILED,
        failure_kind=K.PLATFORM_ERROR,
        public_score=None,
        private_score=None,
    )
    retention.image_archive_delete_if_done(submission_id=gone.pk)
    organizer = User.objects.create_user(username="org", is_staff=True)

    count = submission_requeue(
        actor=organizer, submissions=Submission.objects.filter(pk__in=[gone.pk, kept.pk])
    )

    assert count == 1
    gone.refresh_from_db()
    kept.refresh_from_db()
    assert (gone.status, kept.status) == (S.FAILED, S.QUEUED)
