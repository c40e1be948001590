"""Ask the broker to deliver a run. The database, not the broker, says what is to be run."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

from celery import current_app
from django.conf import settings
from django.utils import timezone

from competitions.evaluation import credentials
from competitions.models import Submission

logger = logging.getLogger(__name__)

EVALUATE_TASK = "scoring.evaluate_submission"
COMPUTE_TASK = "compute.run_submission"
SCORING_QUEUE = "scoring"
BOARD_COMPARISONS_TASK = "scoring.board_comparisons"


def enqueue(submission_id: int, *, delay_seconds: float = 0.0) -> None:
    """Send one delivery of ``scoring.evaluate_submission`` (after ``delay_seconds``).

    Record when the delivery is due in ``Submission.enqueued_at`` so that a lost message
    (a worker killed after reading it) is noticed and sent again by the reaper.
    """
    due = timezone.now() + dt.timedelta(seconds=max(0.0, delay_seconds))
    Submission.objects.filter(pk=submission_id).update(enqueued_at=due)
    options: dict[str, Any] = {"queue": SCORING_QUEUE}
    if delay_seconds > 0:
        options["countdown"] = delay_seconds
    if settings.PODIUM_COMPUTE_REMOTE:
        # A compute worker (podium_compute) claims the run with this run's own credential.
        # The run's needs travel with it: a compute worker takes it only when they fit.
        options["queue"], needs = compute_route(submission_id)
        token = credentials.dispatch_token(submission_id=submission_id)
        current_app.send_task(COMPUTE_TASK, args=(submission_id, token, needs), **options)
        return
    current_app.send_task(EVALUATE_TASK, args=(submission_id,), **options)


def enqueue_board_comparisons(competition_id: int) -> None:
    """Send ``scoring.board_comparisons``: bring a competition's stored paired comparisons
    up to date with its boards (competitions.evaluation.confidence)."""
    current_app.send_task(BOARD_COMPARISONS_TASK, args=(competition_id,), queue=SCORING_QUEUE)


def compute_route(submission_id: int) -> tuple[str, dict[str, Any]]:
    """The broker queue of compute workers that may take this run, and what the run needs:
    ``{"cpus": float, "memory_bytes": int, "gpus": int}``.

    The organizer queue the competition is assigned to (``org-<name>``, whose hosts alone
    may claim it); else the competition's own queue when PODIUM_COMPUTE_COMPETITION_QUEUES
    names one; else PODIUM_COMPUTE_QUEUE for runs without GPUs and ``<that>-gpu`` for runs
    with GPUs.
    """
    competition = (
        Submission.objects.select_related("competition__compute_queue")
        .get(pk=submission_id)
        .competition
    )
    needs = {
        "cpus": competition.cpu_limit,
        "memory_bytes": competition.memory_limit_bytes,
        "gpus": competition.gpu_limit,
    }
    if competition.compute_queue is not None:
        return competition.compute_queue.broker_queue, needs
    own = settings.PODIUM_COMPUTE_COMPETITION_QUEUES.get(competition.slug)
    if own:
        return own, needs
    if competition.gpu_limit > 0:
        return f"{settings.PODIUM_COMPUTE_QUEUE}-gpu", needs
    return settings.PODIUM_COMPUTE_QUEUE, needs


def shared_compute_queues() -> frozenset[str]:
    """The broker queues that compute_route sends runs of shared (non-organizer) hosts to:
    PODIUM_COMPUTE_QUEUE, its ``-gpu`` queue and PODIUM_COMPUTE_COMPETITION_QUEUES' names."""
    base = settings.PODIUM_COMPUTE_QUEUE
    return frozenset({base, f"{base}-gpu", *settings.PODIUM_COMPUTE_COMPETITION_QUEUES.values()})


def retry_delay_seconds(attempts: int) -> float:
    """Backoff (seconds) before retrying a run after its ``attempts``-th attempt failed
    through the platform: PODIUM_RETRY_BACKOFF_SECONDS, doubled each time, at most 10 min."""
    return min(600.0, settings.PODIUM_RETRY_BACKOFF_SECONDS * 2 ** max(0, attempts - 1))


def _payload_submission_id(raw: bytes) -> int | None:
    """The submission id of a ``scoring.evaluate_submission`` message (kombu's JSON
    envelope, as the filesystem and Redis transports store it), else None."""
    try:
        message = json.loads(raw)
        if (message.get("headers") or {}).get("task") not in (EVALUATE_TASK, COMPUTE_TASK):
            return None
        args = json.loads(base64.b64decode(message["body"]))[0]
        return int(args[0])
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return None  # not ours


def _message_submission_id(path: Path) -> int | None:
    """The submission id of the filesystem transport's message file, else None."""
    try:
        return _payload_submission_id(path.read_bytes())
    except OSError:
        return None  # read by a worker meanwhile


def pending_deliveries() -> set[int] | None:
    """Submission ids with a delivery waiting in the broker, or None where unknown.

    Known for the filesystem transport (one file per message in its queue folder, deleted
    when a worker reads it) and for Redis (the scoring queue's lists; a message a worker
    has taken is not waiting, even if that worker is dead). Other brokers (AMQP) answer
    None and the reaper relies on time alone.
    """
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        return _filesystem_pending()
    if url.startswith(("redis://", "rediss://")):
        return _redis_pending()
    return None


def _filesystem_pending() -> set[int] | None:
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
    if not options:
        return None
    folder = Path(options["data_folder_in"])
    try:
        paths = list(folder.glob("*.msg"))
    except OSError:
        logger.warning("cannot list the broker folder %s", folder, exc_info=True)
        return None
    return {pk for pk in map(_message_submission_id, paths) if pk is not None}


def _redis_pending() -> set[int] | None:
    try:
        with current_app.connection_for_read() as connection:
            # kombu.transport.redis.Channel: its sep, priority_steps and client are not in
            # the generic channel type the stubs give.
            channel: Any = connection.default_channel
            # kombu keeps one list per priority step: "scoring", "scoring\x06\x163", ...
            keys = [
                f"{SCORING_QUEUE}{channel.sep}{step}" if step else SCORING_QUEUE
                for step in channel.priority_steps
            ]
            pipe = channel.client.pipeline()
            for key in keys:
                pipe.lrange(key, 0, -1)
            lists = pipe.execute()
    except Exception:  # an unreachable broker: the reaper falls back to time alone
        logger.warning("cannot read the scoring queue from the broker", exc_info=True)
        return None
    return {pk for raw in lists for pk in map(_payload_submission_id, raw) if pk is not None}
