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


@shared_task(
    name="scoring.rescore_competition",
    acks_late=True,
    soft_time_limit=6 * 3600,
    time_limit=6 * 3600 + 300,
)
def rescore_competition(competition_id: int, actor_id: int | None = None) -> int:
    """Rescore a competition from its kept predictions (no container runs)."""
    from django.contrib.auth import get_user_model

    from competitions.models import Competition
    from competitions.services import competition_rescore

    competition = Competition.objects.get(pk=competition_id)
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    return competition_rescore(actor=actor, competition=competition)


def enqueue_rescore(competition_id: int, actor_id: int | None) -> None:
    rescore_competition.apply_async(args=[competition_id, actor_id], queue=SCORING_QUEUE)
