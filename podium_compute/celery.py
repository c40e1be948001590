"""The compute worker's Celery application: ``celery -A podium_compute.celery worker``.

Configured from the environment (podium_compute.config), never from Django settings.
One task, ``compute.run_submission``; a worker takes one run at a time per process
(prefetch 1, acknowledged after the run).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import worker_ready
from kombu import Queue

import sandbox
from podium_compute.config import ComputeConfig
from podium_compute.runner import run_submission

logger = logging.getLogger(__name__)

config = ComputeConfig.from_env()

app = Celery("podium_compute")
app.conf.update(
    broker_url=config.broker_url,
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
    task_queues=[Queue(name) for name in config.queues],
    task_default_queue=config.queues[0],
)
if config.broker_dir is not None:
    app.conf.broker_transport_options = {
        "data_folder_in": str(config.broker_dir / "queue"),
        "data_folder_out": str(config.broker_dir / "queue"),
        "processed_folder": str(config.broker_dir / "processed"),
        "control_folder": str(config.broker_dir / "control"),
        "store_processed": False,
    }


@app.task(name="compute.run_submission", soft_time_limit=12 * 3600, time_limit=12 * 3600 + 300)
def run(submission_id: int, dispatch_token: str) -> str:
    """Claim and run one submission for the platform (see podium_compute.runner)."""
    outcome = run_submission(
        config=config, submission_id=submission_id, dispatch_token=dispatch_token
    )
    logger.info("submission %s: %s", submission_id, outcome)
    return outcome


@worker_ready.connect
def _cleanup(**_: Any) -> None:
    """Remove what a crashed compute worker of this host left: containers, scratch, images."""
    work = config.work_dir
    work.mkdir(parents=True, exist_ok=True)
    try:
        removed = sandbox.cleanup_orphans(
            sandbox.docker_client(), scratch_roots=[work / "runs"], image_ledger=work / "images"
        )
    except sandbox.EngineError:
        logger.warning("sandbox cleanup failed: the Docker engine is unreachable", exc_info=True)
        return
    if removed:
        logger.warning("removed leftovers of a crashed worker: %s", removed)
