"""The compute worker's Celery application: ``celery -A podium_compute.celery worker``.

Configured from the environment (podium_compute.config), never from Django settings.
At start it probes its GPUs (a tiny container given them, as a run would be) and serves
the GPU queue only when the probe passed. Each process takes one run at a time (prefetch
1, acknowledged after the run); a run is claimed only when its needs fit the host's free
capacity (podium_compute.capacity), otherwise it goes back to the broker to wait.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any

from celery import Celery, Task
from celery.signals import worker_process_shutdown, worker_ready, worker_shutdown
from kombu import Queue

import sandbox
from podium import broker
from podium_compute.capacity import CapacityLedger, Needs
from podium_compute.client import PlatformError, host_beat
from podium_compute.config import ComputeConfig
from podium_compute.runner import release_kept_images, run_submission, worker_id
from sandbox.gpu_probe import probe_gpus
from sandbox.gpus import device_node_options, gpu_minor_numbers

logger = logging.getLogger(__name__)

config = ComputeConfig.from_env()


def _gpus(config: ComputeConfig) -> tuple[tuple[str, ...], str]:
    """The GPUs runs may use here, and a note for the queue page when there are none."""
    ids = config.gpu_ids if config.gpu_ids is not None else sandbox.detect_gpu_ids()
    if not ids:
        return (), ""
    try:
        nodes = None
        if config.gpu_mode == "device-nodes":
            minors = gpu_minor_numbers(ids)
            nodes = device_node_options(
                [minors[g] for g in ids], driver_dirs=config.gpu_driver_dirs
            )
        problem = probe_gpus(
            sandbox.docker_client(), ids, image=config.gpu_probe_image, device_options=nodes
        )
    except sandbox.EngineError as exc:
        problem = str(exc)
    if problem:
        return (), f"GPU probe failed, no GPU queue served: {problem}"[:300]
    return ids, ""


GPU_IDS, GPU_NOTE = _gpus(config)
QUEUES = tuple(q for q in config.queues if q != config.gpu_queue) + (
    (config.gpu_queue,) if GPU_IDS else ()
)
ledger = CapacityLedger(
    config.work_dir / "capacity.json",
    Needs(cpus=config.cpus, memory_bytes=config.memory_bytes, gpus=len(GPU_IDS)),
)

broker.register()  # filesystem:// without half-written or twice-taken messages
app = Celery("podium_compute")
app.conf.update(
    broker_url=config.broker_url,
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    worker_concurrency=config.concurrency,
    broker_connection_retry_on_startup=True,
    task_queues=[Queue(name) for name in QUEUES],
    task_default_queue=QUEUES[0],
)
if config.broker_dir is not None:
    app.conf.broker_transport_options = {
        "data_folder_in": str(config.broker_dir / "queue"),
        "data_folder_out": str(config.broker_dir / "queue"),
        "processed_folder": str(config.broker_dir / "processed"),
        "control_folder": str(config.broker_dir / "control"),
        "store_processed": False,
        "polling_interval": config.broker_polling_seconds,
    }


@app.task(
    bind=True,
    name="compute.run_submission",
    max_retries=None,
    soft_time_limit=12 * 3600,
    time_limit=12 * 3600 + 300,
)
def run(
    self: Task[Any, str],
    submission_id: int,
    dispatch_token: str,
    needs: dict[str, Any] | None = None,
) -> str:
    """Claim and run one submission for the platform (see podium_compute.runner) when its
    ``needs`` (cpus, memory_bytes, gpus) fit this host now; else send it back to wait."""
    wanted = Needs.from_message(needs)
    with ledger.reserve(submission_id, wanted) as fits:
        if not fits:
            if not ledger.fits_ever(wanted):
                logger.warning("submission %s needs %s; this host has %s", submission_id,
                               wanted, ledger.total)  # fmt: skip
            raise self.retry(countdown=config.wait_seconds)
        limited = config if config.gpu_ids == GPU_IDS else _with_gpus(config, GPU_IDS)
        outcome = run_submission(
            config=limited, submission_id=submission_id, dispatch_token=dispatch_token
        )
    logger.info("submission %s: %s", submission_id, outcome)
    return outcome


def _with_gpus(config: ComputeConfig, ids: tuple[str, ...]) -> ComputeConfig:
    return dataclasses.replace(config, gpu_ids=ids)


class _Heartbeat(threading.Thread):
    def __init__(self) -> None:
        super().__init__(name="compute-heartbeat", daemon=True)
        self.stopped = threading.Event()

    def run(self) -> None:
        name = worker_id(config.name)
        while True:
            capacity = {
                "cpus": config.cpus,
                "memory_bytes": config.memory_bytes,
                "gpus": list(GPU_IDS),
                "gpu_note": GPU_NOTE,
                "running": ledger.running(),
            }
            try:
                host_beat(config.platform_url, config.host_token, name, list(QUEUES), capacity)
            except PlatformError as exc:
                logger.warning("heartbeat refused: %s", exc)
            if self.stopped.wait(config.heartbeat_seconds):
                return


_heartbeat: _Heartbeat | None = None


@worker_ready.connect
def _start(**_: Any) -> None:
    """Remove what a crashed compute worker of this host left, then start beating."""
    global _heartbeat
    work = config.work_dir
    # It holds the runs' hidden test inputs and participants' images: no other user of the
    # host may enter it. The engine mounts the folders inside it directly, so a run's user
    # still reads its data (prepared readable by podium_compute.cache).
    work.mkdir(parents=True, exist_ok=True, mode=0o700)
    work.chmod(0o700)
    logger.info(
        "compute worker: %s CPUs, %s bytes, GPUs %s%s; queues %s",
        config.cpus,
        config.memory_bytes,
        list(GPU_IDS),
        f" ({GPU_NOTE})" if GPU_NOTE else "",
        list(QUEUES),
    )
    try:
        removed = sandbox.cleanup_orphans(
            sandbox.docker_client(), scratch_roots=[work / "runs"], image_ledger=work / "images"
        )
        if removed:
            logger.warning("removed leftovers of a crashed worker: %s", removed)
    except sandbox.EngineError:
        logger.warning("sandbox cleanup failed: the Docker engine is unreachable", exc_info=True)
    if config.host_token:
        _heartbeat = _Heartbeat()
        _heartbeat.start()


@worker_shutdown.connect
def _stop(**_: Any) -> None:
    if _heartbeat is not None:
        _heartbeat.stopped.set()
        _heartbeat.join(timeout=10)


@worker_process_shutdown.connect
def _release_kept(**_: Any) -> None:
    """A pool process that stops removes the image it kept (one killed leaves it to the
    ledger's sweep at the next start)."""
    release_kept_images()
