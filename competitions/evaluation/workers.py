"""Which worker consumes which queue: a heartbeat row per worker process, read by pages.

Celery's own inspect/ping needs broadcast messages, which the filesystem transport does
not deliver reliably; a row in the database works with every broker.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from competitions.models import ComputeQueue, Submission, WorkerHeartbeat
from podium.units import format_size

logger = logging.getLogger(__name__)


def worker_beat(
    *,
    name: str,
    queues: Sequence[str],
    capacity: dict[str, Any] | None = None,
    compute_queue: ComputeQueue | None = None,
) -> None:
    """Say that worker ``name`` is alive and consumes ``queues`` (a compute worker also
    says its ``capacity``: cpus, memory_bytes, gpus, gpu_note, running; an organizer's
    host, the ``compute_queue`` whose secret it presented)."""
    now = timezone.now()
    fields: dict[str, Any] = {"queues": list(queues), "last_seen_at": now}
    if capacity is not None:
        fields["capacity"] = capacity
        fields["compute_queue"] = compute_queue
    updated = WorkerHeartbeat.objects.filter(name=name).update(**fields)
    if not updated:
        WorkerHeartbeat.objects.update_or_create(name=name, defaults={**fields, "started_at": now})


def compute_host_lines(*, organizer_queues: Sequence[ComputeQueue] = ()) -> list[str]:
    """Lines for the queue page: one per live compute worker (capacity, GPUs, queues, runs;
    an organizer's host names its queue), then one per organizer queue in
    ``organizer_queues`` (owner, competitions, secret state, last seen, live hosts)."""
    lines = []
    live = live_workers()
    for row in live:
        capacity = row.capacity or {}
        if not capacity:
            continue
        if row.compute_queue_id is not None and row.compute_queue_id not in {
            q.pk for q in organizer_queues
        }:
            continue  # another organizer's host
        gpus = capacity.get("gpus") or []
        gpu_text = f"GPUs {', '.join(map(str, gpus))}" if gpus else "no GPU"
        if capacity.get("gpu_note"):
            gpu_text += f" ({capacity['gpu_note']})"
        running = capacity.get("running") or []
        runs = ", ".join(f"#{pk}" for pk in running) if running else "nothing"
        owner = f" (organizer queue {row.compute_queue})" if row.compute_queue else ""
        lines.append(
            f"Compute host {row.name}{owner}: {float(capacity.get('cpus') or 0):g} CPUs, "
            f"{format_size(capacity.get('memory_bytes'))} memory, {gpu_text}; "
            f"queues {', '.join(row.queues)}; running {runs}."
        )
    for queue in organizer_queues:
        hosts = [row.name for row in live if row.compute_queue_id == queue.pk]
        served = ", ".join(str(c) for c in queue.competitions.all()) or "no competition"
        state = (
            f"secret revoked {queue.revoked_at:%Y-%m-%d %H:%M} UTC"
            if queue.revoked_at
            else f"secret {queue.token_prefix}…"
        )
        seen = f"{queue.last_seen_at:%Y-%m-%d %H:%M:%S} UTC" if queue.last_seen_at else "never"
        lines.append(
            f"Organizer queue {queue.broker_queue} (owner {queue.owner}; serves {served}; "
            f"{state}; last seen {seen}): "
            f"{len(hosts)} live host(s){': ' + ', '.join(hosts) if hosts else ''}."
        )
    return lines


def worker_gone(*, name: str) -> None:
    WorkerHeartbeat.objects.filter(name=name).delete()


def live_workers(*, queue: str | None = None) -> list[WorkerHeartbeat]:
    """Workers seen within three heartbeat periods (consuming ``queue``, if given)."""
    cutoff = timezone.now() - dt.timedelta(seconds=3 * settings.PODIUM_WORKER_HEARTBEAT_SECONDS)
    rows = (
        WorkerHeartbeat.objects.filter(last_seen_at__gte=cutoff)
        .select_related("compute_queue")
        .order_by("name")
    )
    return [row for row in rows if queue is None or queue in row.queues]


SCORING_QUEUE = "scoring"
WAIT_BEFORE_NOTE = dt.timedelta(minutes=1)


def queue_health(*, queue: str = SCORING_QUEUE) -> str:
    """One sentence for the organizers' queue page: who consumes ``queue``, or that nobody does."""
    live = live_workers(queue=queue)
    if not live:
        return (
            f"No worker is consuming the {queue} queue: queued submissions wait until one "
            f"starts (`celery -A podium worker`, which consumes {queue} by default)."
        )
    names = ", ".join(w.name for w in live)
    return f"{len(live)} worker(s) consuming the {queue} queue: {names}."


def submission_wait_note(*, submission: Submission) -> str:
    """Why a submission queued for over a minute still waits; empty otherwise."""
    if submission.status != Submission.Status.QUEUED:
        return ""
    if timezone.now() - submission.created_at < WAIT_BEFORE_NOTE:
        return ""
    if submission.not_before and submission.not_before > timezone.now():
        return "A run that failed through the platform's fault waits before its retry."
    if not live_workers(queue=SCORING_QUEUE):
        return (
            "No worker is running submissions right now; yours stays in the queue and runs "
            "when one is back. The organizers see this on the queue page."
        )
    return "Workers are busy with earlier submissions; yours runs in queue order."


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
        except Exception:  # a thread that ends: an error would only kill it silently
            logger.warning("worker heartbeat row not removed", exc_info=True)
        finally:
            connection.close()
