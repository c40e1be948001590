"""Ask the broker to deliver a run. The database, not the broker, says what is to be run."""

from __future__ import annotations

import datetime as dt

from celery import current_app
from django.conf import settings
from django.utils import timezone

from competitions.models import Submission

EVALUATE_TASK = "scoring.evaluate_submission"
SCORING_QUEUE = "scoring"


def enqueue(submission_id: int, *, delay_seconds: float = 0.0) -> None:
    """Send one delivery of ``scoring.evaluate_submission`` (after ``delay_seconds``).

    Record when the delivery is due in ``Submission.enqueued_at`` so that a lost message
    (a worker killed after reading it) is noticed and sent again by the reaper.
    """
    due = timezone.now() + dt.timedelta(seconds=max(0.0, delay_seconds))
    Submission.objects.filter(pk=submission_id).update(enqueued_at=due)
    options = {"queue": SCORING_QUEUE}
    if delay_seconds > 0:
        options["countdown"] = delay_seconds
    current_app.send_task(EVALUATE_TASK, args=[submission_id], **options)


def retry_delay_seconds(attempts: int) -> float:
    """Backoff (seconds) before retrying a run after its ``attempts``-th attempt failed
    through the platform: PODIUM_RETRY_BACKOFF_SECONDS, doubled each time, at most 10 min."""
    return min(600.0, settings.PODIUM_RETRY_BACKOFF_SECONDS * 2 ** max(0, attempts - 1))
