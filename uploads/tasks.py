"""Celery tasks of the uploads app. Thin: call a service."""

from __future__ import annotations

import logging

from celery import shared_task

from uploads.services import upload_purge

logger = logging.getLogger(__name__)


@shared_task(name="uploads.purge", soft_time_limit=600, time_limit=660)
def purge_uploads() -> dict[str, int]:
    """Delete expired uploads and stray upload/temporary files (beat runs it every hour on
    the default queue, see CELERY_BEAT_SCHEDULE)."""
    counts = upload_purge()
    logger.info(
        "uploads purged: %(uploads)d upload(s), %(files)d stray file(s), "
        "%(images)d orphaned image(s)",
        counts,
    )
    return counts
