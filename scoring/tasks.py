"""Celery tasks of the scoring service. Thin: load by id, call a service."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from scoring.services import PlatformFault, submission_evaluate, submission_fail_platform

SCORING_QUEUE = "scoring"


@shared_task(
    bind=True,
    name="scoring.evaluate_submission",
    acks_late=True,
    max_retries=settings.PODIUM_PLATFORM_RETRIES,
    # The sandbox enforces each competition's own limit; these only catch a hung worker.
    soft_time_limit=12 * 3600,
    time_limit=12 * 3600 + 300,
)
def evaluate_submission(self, submission_id: int) -> None:
    try:
        submission_evaluate(submission_id=submission_id)
    except PlatformFault as exc:
        if self.request.retries >= self.max_retries:
            submission_fail_platform(submission_id=submission_id, message=str(exc))
            return
        raise self.retry(exc=exc, countdown=min(600, 15 * 2**self.request.retries)) from exc


def enqueue_evaluation(submission_id: int) -> None:
    evaluate_submission.apply_async(args=[submission_id], queue=SCORING_QUEUE)
