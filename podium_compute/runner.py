"""One run on a compute host: claim, fetch, run in the sandbox, post the outcome."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

import sandbox
from podium_compute.cache import DataCache
from podium_compute.client import LeaseGone, NotQueued, PlatformClient, PlatformError
from podium_compute.config import ComputeConfig
from sandbox.owner import owner_token

logger = logging.getLogger(__name__)


def worker_id(name: str = "") -> str:
    """``name/pid-start`` of this process (``name``: the host's, by default), the lease
    owner the platform records; the platform shows ``name`` as the run's worker."""
    return f"{name or socket.gethostname()}/{owner_token()}"[:255]


def instance_label(config: ComputeConfig) -> str:
    """Names this compute worker's runs on an engine that others may share."""
    key = f"compute|{config.work_dir.resolve()}|{config.platform_url}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


_KEEPERS: dict[Path, sandbox.ImageKeeper] = {}


def _release_unless(kept: list[bool], images: sandbox.ImageTracker, engine: Any) -> None:
    if not kept:
        images.release(engine)


def image_keeper(config: ComputeConfig) -> sandbox.ImageKeeper:
    """This process's kept image (one per work folder)."""
    ledger = config.work_dir / "images"
    return _KEEPERS.setdefault(ledger, sandbox.ImageKeeper(ledger))


def release_kept_images() -> None:
    """Remove the images this process kept (it is stopping)."""
    for keeper in _KEEPERS.values():
        with contextlib.suppress(sandbox.EngineError):
            keeper.release(sandbox.docker_client())


class Phases:
    """Seconds spent in each phase of a run, logged at its end (where a run's time goes)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._mark = time.monotonic()

    def done(self, phase: str) -> None:
        now = time.monotonic()
        self.seconds[phase] = self.seconds.get(phase, 0.0) + now - self._mark
        self._mark = now

    def __str__(self) -> str:
        return ", ".join(f"{name} {value:.2f} s" for name, value in self.seconds.items())


class LeaseRenewer(threading.Thread):
    """Renew the run's lease through the platform every ``renew_seconds``; ``lost`` is set
    when the platform says the run is no longer ours (cancelled, reaped, recorded)."""

    def __init__(self, client: PlatformClient, renew_seconds: float) -> None:
        super().__init__(name="compute-lease", daemon=True)
        self.client = client
        self.renew_seconds = max(0.1, renew_seconds)
        self.stopped = threading.Event()
        self.lost = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.renew_seconds):
            try:
                self.client.heartbeat()
            except LeaseGone:
                logger.info("lease of %s lost", self.client.base)
                self.lost.set()
                return
            except PlatformError:  # the platform may be briefly away; the next tick retries
                logger.warning("lease renewal failed", exc_info=True)


def _usage(result: sandbox.RunResult) -> dict[str, Any]:
    return {
        "exit_code": result.exit_code,
        "duration_seconds": result.duration_seconds,
        "cpu_seconds": result.cpu_seconds,
        "peak_memory_bytes": result.peak_memory_bytes,
        "log_tail": result.log_tail,
        "oom_killed": result.oom_killed,
    }


def _limits(spec: dict[str, Any], config: ComputeConfig) -> sandbox.Limits:
    given = spec["limits"]
    return sandbox.Limits(
        memory_bytes=int(given["memory_bytes"]),
        cpus=float(given["cpus"]),
        gpus=int(given["gpus"]),
        time_seconds=float(given["time_seconds"]),
        image_size_bytes=int(given["image_size_bytes"]),
        output_bytes=int(given["output_bytes"]),
        tmp_bytes=int(given["tmp_bytes"]),
        predictions_max_bytes=int(given["predictions_max_bytes"]),
        log_tail_bytes=int(given["log_tail_bytes"]),
        gpu_ids=config.gpu_ids,
        gpu_lock_dir=config.gpu_lock_dir,
        runtime=config.runtime,
        gpu_mode=config.gpu_mode,
        gpu_driver_dirs=config.gpu_driver_dirs,
    )


def run_submission(*, config: ComputeConfig, submission_id: int, dispatch_token: str) -> str:
    """Run one submission for the platform; return what happened (for the log).

    A run another worker holds (or that is done) is skipped. A platform fault here (engine
    down, an input lost) is reported to the platform, which retries the run; everything the
    participant's image does is posted as the run's outcome.
    """
    client = PlatformClient(config.platform_url, submission_id, config.host_token)
    phases = Phases()
    try:
        spec = client.claim(dispatch_token=dispatch_token, worker=worker_id(config.name))
    except NotQueued:
        logger.info("submission %s is not queued; nothing to do", submission_id)
        return "skipped"
    phases.done("claim")
    logger.info("submission %s claimed", submission_id)
    renewer = LeaseRenewer(client, float(spec["renew_seconds"]))
    renewer.start()
    try:
        return _run(config, client, spec, submission_id, renewer, phases)
    except LeaseGone:
        logger.info("submission %s: lease gone; nothing posted", submission_id)
        return "lease lost"
    except (sandbox.EngineError, PlatformError, OSError) as exc:
        logger.warning("submission %s: platform fault: %s", submission_id, exc, exc_info=True)
        with contextlib.suppress(PlatformError):
            client.fault(f"{type(exc).__name__}: {exc}")
        return "fault"
    finally:
        renewer.stopped.set()
        renewer.join(timeout=10)
        phases.done("cleanup")
        logger.info("submission %s: %s", submission_id, phases)


def _run(
    config: ComputeConfig,
    client: PlatformClient,
    spec: dict[str, Any],
    submission_id: int,
    renewer: LeaseRenewer,
    phases: Phases,
) -> str:
    limits = _limits(spec, config)
    cache = DataCache(config.work_dir / "data")
    mounts = cache.mounts(
        client.manifest(),
        lambda name, target, sha256: client.download(f"inputs/{name}", target, sha256=sha256),
    )
    phases.done("inputs")
    engine = sandbox.docker_client()
    keeper = image_keeper(config)
    archive_sha256, max_size = str(spec["image_sha256"]), limits.image_size_bytes
    image_id, images = keeper.take(engine, archive_sha256=archive_sha256, max_size_bytes=max_size)
    scratch = config.work_dir / "runs" / str(submission_id)
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    kept: list[bool] = []  # set once the run is done: the keeper holds the image then
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, scratch, True)
        cleanup.callback(_release_unless, kept, images, engine)
        if image_id is None:
            archive = scratch / "image.tar"
            client.download("image", archive, sha256=archive_sha256)
            phases.done("image download")
            try:
                loaded = sandbox.load_image(
                    engine,
                    archive,
                    max_size_bytes=limits.image_size_bytes,
                    before_load=images.add,
                )
            except sandbox.InvalidImage as exc:
                client.result(usage={}, failure={"kind": "invalid_image", "message": exc.message})
                return "invalid_image"
            archive.unlink()
            image_id = loaded.image_id
            phases.done("image load")
        else:
            phases.done("image kept")
        labels = {
            "podium.instance": instance_label(config),
            "podium.submission": str(submission_id),
        }
        sandbox.remove_containers(engine, labels=labels)
        result = sandbox.run(
            engine,
            image_id=image_id,
            limits=limits,
            mounts=mounts,
            output_dir=scratch / "output",
            labels=labels,
            should_stop=renewer.lost.is_set,
        )
        phases.done("sandbox run")
        # The image ran: keep it loaded for this process's next run of the same archive.
        keeper.keep(
            archive_sha256=archive_sha256,
            max_size_bytes=max_size,
            image_id=image_id,
            tracker=images,
        )
        kept.append(True)
        if result.cancelled:
            logger.info("submission %s: run stopped (lease lost or cancelled)", submission_id)
            return "stopped"
        if result.failure is not None:
            client.result(
                usage=_usage(result),
                failure={"kind": result.failure.kind, "message": result.failure.message},
            )
            return result.failure.kind
        assert result.predictions_path is not None
        client.put_predictions(result.predictions_path)
        client.result(usage=_usage(result), failure=None)
        phases.done("post")
        return "posted"
