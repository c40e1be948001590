"""The Celery application. Workers are started with `celery -A podium worker`."""

import os
from typing import Any

from celery import Celery
from celery.signals import beat_init, celeryd_init, setup_logging, worker_ready, worker_shutdown

from podium import broker
from podium.permissions import use_private_umask

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "podium.settings")

broker.register()  # filesystem:// without half-written or twice-taken messages
app = Celery("podium")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# The evaluation tasks (names `scoring.*`) live in a package, not in an app's tasks.py.
app.autodiscover_tasks(["competitions.evaluation"])

_heartbeat = None


@celeryd_init.connect
@beat_init.connect
def _private_files(**_: object) -> None:
    """A worker or beat process creates owner-only files (logs, broker messages, the beat
    schedule, prepared data): umask 077, before anything is written (podium.permissions)."""
    use_private_umask()


@setup_logging.connect
def _django_logging(**_: object) -> None:
    """Log through Django's LOGGING (so task tracebacks reach the log file), into
    PODIUM_HOME/logs/worker.log instead of web.log. Connecting this signal keeps Celery
    from replacing the root logger's handlers with its own."""
    import copy
    import logging.config

    from django.conf import settings

    # Logging is configured before the apps are ready (which creates PODIUM_HOME's folders).
    settings.PODIUM_LOG_DIR.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = copy.deepcopy(settings.LOGGING)
    config["handlers"]["file"]["filename"] = str(settings.PODIUM_LOG_DIR / "worker.log")
    logging.config.dictConfig(config)


# sender: the worker's Consumer; celery-types does not declare its task_consumer, so Any.
@worker_ready.connect
def _worker_start(sender: Any = None, **_: object) -> None:
    """Clean up after a crashed worker on this host, take its runs back, and start beating.

    Order matters: the dead worker's containers and mounts go first, then its runs return
    to the queue (its leases are held by processes of this host that are gone).
    """
    from django.db import connections

    from competitions.evaluation import recovery, workers

    global _heartbeat
    try:
        recovery.sandbox_cleanup()
        recovery.runs_recover()
    finally:
        # The pool may fork again (a replaced child): never share this connection with it.
        connections.close_all()
    queues = sorted(q.name for q in sender.task_consumer.queues) if sender is not None else []
    # Two workers on one host may share a node name: the pid tells their rows apart.
    name = f"{getattr(sender, 'hostname', 'worker')}/{os.getpid()}"
    _heartbeat = workers.HeartbeatThread(name=name, queues=queues)
    _heartbeat.start()


@worker_shutdown.connect
def _worker_stop(**_: object) -> None:
    if _heartbeat is not None:
        _heartbeat.stopped.set()
        _heartbeat.join(timeout=10)
