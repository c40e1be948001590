"""The Celery application. Workers are started with `celery -A podium worker`."""

import os

from celery import Celery
from celery.signals import setup_logging, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "podium.settings")

app = Celery("podium")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def _django_logging(**_: object) -> None:
    """Log through Django's LOGGING (so task tracebacks reach the log file), into
    PODIUM_HOME/logs/worker.log instead of web.log. Connecting this signal keeps Celery
    from replacing the root logger's handlers with its own."""
    import copy
    import logging.config

    from django.conf import settings

    config = copy.deepcopy(settings.LOGGING)
    config["handlers"]["file"]["filename"] = str(settings.PODIUM_LOG_DIR / "worker.log")
    logging.config.dictConfig(config)


@worker_ready.connect
def _cleanup_sandbox_orphans(**_: object) -> None:
    """Remove containers and /output file systems left by a crashed worker on this host."""
    import logging
    from pathlib import Path

    from django.conf import settings

    import sandbox

    try:
        sandbox.cleanup_orphans(
            sandbox.docker_client(), scratch_roots=[Path(settings.PODIUM_WORK_DIR) / "runs"]
        )
    except sandbox.EngineError:
        logging.getLogger(__name__).warning("sandbox orphan cleanup failed", exc_info=True)
