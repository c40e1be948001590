"""Disk kept per submission, bounded by policy.

An uploaded image archive is needed only to run its submission. It is deleted once the run
finished (scored, failed through the participant's fault, or cancelled), at once or after
PODIUM_IMAGE_RETENTION_DAYS. A run that failed through the platform's fault keeps its
archive: an organizer may requeue it. Kept predictions and log tails are capped in size
when they are written (PODIUM_KEPT_PREDICTIONS_MAX_BYTES, PODIUM_LOG_TAIL_BYTES).
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from competitions.models import Submission

logger = logging.getLogger(__name__)

Status = Submission.Status


def _done() -> Q:
    """Finished runs whose archive no retry needs."""
    return Q(status__in=[Status.SCORED, Status.CANCELLED]) | (
        Q(status=Status.FAILED) & ~Q(failure_kind=Submission.FailureKind.PLATFORM_ERROR)
    )


def _delete(rows: QuerySet[Submission]) -> int:
    deleted = 0
    for submission in rows.filter(image_deleted_at__isnull=True).exclude(image=""):
        # Claim the deletion first: a requeue racing with us finds the archive marked gone.
        if not Submission.objects.filter(
            _done(), pk=submission.pk, image_deleted_at__isnull=True
        ).update(image_deleted_at=timezone.now()):
            continue
        try:
            submission.image.delete(save=False)
        except OSError:
            logger.warning("could not delete the archive of %s", submission.pk, exc_info=True)
        deleted += 1
    return deleted


def image_archive_delete_if_done(*, submission_id: int) -> int:
    """Delete a finished run's archive now when the policy keeps none (0 days); return 0 or 1.

    Image archives follow PODIUM_IMAGE_RETENTION_DAYS, code archives (small and bounded,
    kept so that a team can run them again) PODIUM_CODE_RETENTION_DAYS.
    """
    kinds = [kind for kind, days in _retention_days().items() if days <= 0]
    if not kinds:
        return 0
    return _delete(Submission.objects.filter(_done(), pk=submission_id, kind__in=kinds))


def _retention_days() -> dict[str, float]:
    return {
        Submission.Kind.IMAGE: settings.PODIUM_IMAGE_RETENTION_DAYS,
        Submission.Kind.CODE: settings.PODIUM_CODE_RETENTION_DAYS,
    }


def image_archives_expire(*, now: dt.datetime | None = None) -> int:
    """Delete the archives of runs finished longer than PODIUM_IMAGE_RETENTION_DAYS ago.

    Return how many were deleted. Cancelled runs that never started count from creation.
    """
    now = now or timezone.now()
    deleted = 0
    for kind, days in _retention_days().items():
        cutoff = now - dt.timedelta(days=days)
        rows = Submission.objects.filter(_done(), kind=kind).filter(
            Q(finished_at__lte=cutoff) | Q(finished_at__isnull=True, created_at__lte=cutoff)
        )
        deleted += _delete(rows)
    return deleted
