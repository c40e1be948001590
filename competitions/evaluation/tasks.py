"""Celery tasks of the scoring service. Thin: load by id, call a service."""

from __future__ import annotations

import logging

from celery import shared_task
from django.contrib.auth import get_user_model

from competitions.evaluation import compute, queue, recovery, retention
from competitions.evaluation.pipeline import PlatformFault, submission_evaluate
from competitions.models import Competition
from competitions.services.results import competition_rescore

logger = logging.getLogger(__name__)

SCORING_QUEUE = queue.SCORING_QUEUE


@shared_task(
    name="scoring.evaluate_submission",
    acks_late=True,
    # The sandbox enforces each competition's own limit; these only catch a hung worker.
    soft_time_limit=12 * 3600,
    time_limit=12 * 3600 + 300,
)
def evaluate_submission(submission_id: int) -> None:
    """Run one submission. Retries of platform faults are scheduled by the service (the
    database holds the attempt count, so a retry survives a worker's death)."""
    try:
        submission_evaluate(submission_id=submission_id)
    except PlatformFault as exc:
        logger.warning("submission %s: %s", submission_id, exc)


@shared_task(
    name="scoring.record_computed",
    acks_late=True,
    soft_time_limit=3600,
    time_limit=3600 + 300,
)
def record_computed(
    submission_id: int,
    owner: str,
    usage: dict,
    failure_kind: str,
    failure_message: str,
    staged: str,
) -> None:
    """Validate, score and record a run a compute worker ran elsewhere (posted outcome)."""
    try:
        compute.run_record(
            submission_id=submission_id,
            owner=owner,
            usage=usage,
            failure_kind=failure_kind,
            failure_message=failure_message,
            staged=staged,
        )
    except PlatformFault as exc:
        logger.warning("submission %s: %s", submission_id, exc)


def enqueue_evaluation(submission_id: int) -> None:
    queue.enqueue(submission_id)


@shared_task(name="scoring.housekeeping", soft_time_limit=600, time_limit=900)
def housekeeping() -> None:
    """Periodic: recover lost runs, expire image archives, remove sandbox leftovers."""
    recovery.runs_recover()
    retention.image_archives_expire()
    recovery.sandbox_cleanup()


@shared_task(
    name="scoring.rescore_competition",
    acks_late=True,
    soft_time_limit=6 * 3600,
    time_limit=6 * 3600 + 300,
)
def rescore_competition(competition_id: int, actor_id: int | None = None) -> int:
    """Rescore a competition from its kept predictions (no container runs)."""
    competition = Competition.objects.get(pk=competition_id)
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    return competition_rescore(actor=actor, competition=competition)


def enqueue_rescore(competition_id: int, actor_id: int | None) -> None:
    rescore_competition.apply_async(args=[competition_id, actor_id], queue=SCORING_QUEUE)
