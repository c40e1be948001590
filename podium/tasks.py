"""The platform's own periodic task: dropping rate-limit counters whose window ended."""

from __future__ import annotations

from celery import shared_task

from podium import throttling


@shared_task(name="podium.throttle_purge", soft_time_limit=300, time_limit=330)
def purge_throttle_counters() -> int:
    """Delete ended rate-limit windows (podium.throttling); the number of rows deleted."""
    return throttling.purge_expired()
