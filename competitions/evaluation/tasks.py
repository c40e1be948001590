"""Celery tasks of the scoring service. Thin: load by id, call a service."""

from __future__ import annotations

import logging

from celery import shared_task
from django.contrib.auth import get_user_model

from competitions.evaluation import compute, confidence, queue, recovery, retention
from competitions.evaluation.pipeline import PlatformFault, submission_evaluate
from competitions.models import Competition, RuntimeImage
from competitions.services.results import competition_rescore
from competitions.services.runtime_images import runtime_image_refresh
from podium.errors import ApplicationError

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
    count = competition_rescore(actor=actor, competition=competition)
    enqueue_intervals(competition_id)  # new scores: new intervals, in their own task
    return count


@shared_task(
    name="scoring.competition_intervals",
    acks_late=True,
    soft_time_limit=6 * 3600,
    time_limit=6 * 3600 + 300,
)
def competition_intervals(competition_id: int) -> int:
    """Recompute the stored intervals and neighbour comparisons of a competition's boards."""
    return confidence.competition_intervals_refresh(competition_id=competition_id)


@shared_task(
    name="scoring.board_comparisons",
    acks_late=True,
    soft_time_limit=3600,
    time_limit=3600 + 300,
)
def board_comparisons(competition_id: int) -> int:
    """Recompute the paired comparisons a change of a competition's boards made stale
    (enqueued by competitions.standings after the change commits)."""
    return confidence.board_comparisons_refresh(competition_id=competition_id)


def enqueue_intervals(competition_id: int) -> None:
    competition_intervals.apply_async(args=(competition_id,), queue=SCORING_QUEUE)


def enqueue_rescore(competition_id: int, actor_id: int | None) -> None:
    rescore_competition.apply_async(args=(competition_id, actor_id), queue=SCORING_QUEUE)


@shared_task(name="scoring.refresh_runtime_images", soft_time_limit=3600, time_limit=3900)
def refresh_runtime_images() -> int:
    """Read each runtime image's packages and save its archive, where its id is new.

    Return how many are up to date; an image not built on this host is logged and skipped.
    """
    done = 0
    for runtime_image in RuntimeImage.objects.all():
        try:
            runtime_image_refresh(runtime_image=runtime_image)
        except ApplicationError as exc:
            logger.warning("runtime image %s: %s", runtime_image.name, exc.message)
            continue
        done += 1
    return done
