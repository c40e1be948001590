"""Which worker consumes which queue: a heartbeat row per worker process, read by pages.

Celery's own inspect/ping needs broadcast messages, which the filesystem transport does
not deliver reliably; a row in the database works with every broker.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Sequence

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from competitions.models import WorkerHeartbeat

logger = logging.getLogger(__name__)


def worker_beat(*, name: str, queues: Sequence[str]) -> None:
    """Say that worker ``name`` is alive and consumes ``queues``."""
    now = timezone.now()
    updated = WorkerHeartbeat.objects.filter(name=name).update(
        queues=list(queues), last_seen_at=now
    )
    if not updated:
        WorkerHeartbeat.objects.update_or_create(
            name=name, defaults={"queues": list(queues), "last_seen_at": now, "started_at": now}
        )


def worker_gone(*, name: str) -> None:
    WorkerHeartbeat.objects.filter(name=name).delete()


def live_workers(*, queue: str | None = None) -> list[WorkerHeartbeat]:
    """Workers seen within three heartbeat periods (consuming ``queue``, if given)."""
    cutoff = timezone.now() - dt.timedelta(seconds=3 * settings.PODIUM_WORKER_HEARTBEAT_SECONDS)
    rows = WorkerHeartbeat.objects.filter(last_seen_at__gte=cutoff).order_by("name")
    return [row for row in rows if queue is None or queue in row.queues]


class HeartbeatThread(threading.Thread):
    """Write the worker's heartbeat row every PODIUM_WORKER_HEARTBEAT_SECONDS until stopped."""

    def __init__(self, *, name: str, queues: Sequence[str]) -> None:
        super().__init__(name="podium-worker-heartbeat", daemon=True)
        self.worker_name = name
        self.queues = list(queues)
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while True:
                try:
                    close_old_connections()
                    worker_beat(name=self.worker_name, queues=self.queues)
                except Exception:  # the database may be briefly away; beat again later
                    logger.warning("worker heartbeat failed", exc_info=True)
                if self.stopped.wait(settings.PODIUM_WORKER_HEARTBEAT_SECONDS):
                    break
            worker_gone(name=self.worker_name)
        except Exception:
            logger.warning("worker heartbeat row not removed", exc_info=True)
        finally:
            connection.close()
