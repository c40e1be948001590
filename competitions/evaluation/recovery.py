"""Bring runs of dead workers and lost broker messages back to the queue.

Called by the periodic ``scoring.housekeeping`` task and when a worker starts. A run whose
lease expired (or whose lease holder was a process of this host that is gone) returns to
``queued`` with a backoff, or fails as ``platform_error`` once its attempts exceed
PODIUM_PLATFORM_RETRIES; neither counts against the team. A queued run whose delivery is
overdue (its message was read by a worker that died: the filesystem transport deletes a
message when it is read) is enqueued again; the claim guard makes a second delivery of a
message that was not lost harmless.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

import sandbox
from competitions.evaluation import queue, transitions
from competitions.evaluation.pipeline import instance_label
from competitions.models import Submission
from competitions.services.common import leaderboard_invalidate

logger = logging.getLogger(__name__)

_LEASE_MESSAGE = "The worker running your submission stopped before it finished."


@dataclass
class Recovered:
    """Ids of submissions returned to the queue, failed for good, and enqueued again."""

    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    redelivered: list[int] = field(default_factory=list)


def _leaderboards_invalidate(submission_ids: list[int]) -> None:
    """Drop the cached leaderboards of the competitions these submissions belong to."""
    for competition_id in set(
        Submission.objects.filter(pk__in=submission_ids).values_list("competition_id", flat=True)
    ):
        leaderboard_invalidate(competition_id=competition_id)


def runs_recover(*, local_host: str | None = None) -> Recovered:
    """Reap lost runs and re-enqueue overdue deliveries; return what was done.

    ``local_host`` (default: this host's name) lets leases of dead processes on this host
    be taken back at once instead of after PODIUM_LEASE_SECONDS.
    """
    host = local_host if local_host is not None else socket.gethostname()
    done = Recovered()
    for pk, owner, attempts in transitions.lost_runs(
        lease_seconds=settings.PODIUM_LEASE_SECONDS, host=host
    ):
        if attempts > settings.PODIUM_PLATFORM_RETRIES:
            if transitions.fail_platform(submission_id=pk, message=_LEASE_MESSAGE, owner=owner):
                done.failed.append(pk)
            continue
        delay = queue.retry_delay_seconds(attempts)
        if transitions.reap(submission_id=pk, owner=owner, delay_seconds=delay):
            queue.enqueue(pk, delay_seconds=delay)
            done.requeued.append(pk)
    overdue = transitions.overdue_deliveries(after_seconds=settings.PODIUM_REQUEUE_AFTER_SECONDS)
    waiting = queue.pending_deliveries() if overdue else None
    for pk, seen in overdue:
        if waiting is not None and pk in waiting:
            continue  # its message is still in the broker: slow queue, nothing lost
        if transitions.mark_redelivered(submission_id=pk, seen=seen):
            queue.enqueue(pk)
            done.redelivered.append(pk)
    if done.failed:
        _leaderboards_invalidate(done.failed)
    if done.requeued or done.failed or done.redelivered:
        logger.warning(
            "recovered runs: requeued %s, failed %s, enqueued again %s",
            done.requeued,
            done.failed,
            done.redelivered,
        )
    return done


def sandbox_cleanup() -> list[str]:
    """Remove this host's sandbox leftovers: containers, /output file systems and images
    of dead worker processes, containers the engine kept after a fault, leaked images.
    Return what was removed; an unreachable engine is logged and skipped."""
    work = Path(settings.PODIUM_WORK_DIR)
    try:
        return sandbox.cleanup_orphans(
            sandbox.docker_client(),
            scratch_roots=[work / "runs"],
            image_ledger=work / "images",
            labels={"podium.instance": instance_label()},  # not another platform's on the engine
        )
    except sandbox.EngineError:
        logger.warning("sandbox cleanup failed: the Docker engine is unreachable", exc_info=True)
        return []
