"""Run a loaded image once under limits and report what happened.

The engine enforces memory, CPU, process count and the file system layout; the runner
enforces wall-clock time, samples resource use, collects the log tail, checks the
predictions file and classifies the outcome in words a participant can act on.
"""

from __future__ import annotations

import logging
import os
import signal
import stat
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests
from docker.models.containers import Container
from docker.types import LogConfig, Mount, Ulimit

from sandbox._units import human_bytes, human_seconds
from sandbox.errors import EngineError
from sandbox.limits import Limits, RunMounts

logger = logging.getLogger(__name__)

RUN_USER = "65534:65534"
RUN_UID = 65534
RUN_GID = 65534
SANDBOX_LABEL = "podium.sandbox"
PREDICTIONS_NAME = "predictions.csv"
_STATS_INTERVAL_SECONDS = 1.0
_STATS_FIRST_SAMPLE_SECONDS = 0.3
# Exit 137 is SIGKILL; when memory use was this close to the limit the kernel's OOM killer
# is the likely sender even if the engine missed the OOM event.
_OOM_USAGE_RATIO = 0.95


@dataclass(frozen=True)
class Failure:
    """Why a run does not count, in a ``kind`` for code and a ``message`` for the participant."""

    kind: str
    message: str


@dataclass(frozen=True)
class RunResult:
    """Everything observed about one run; ``failure`` is None only for a usable result."""

    exit_code: int | None
    oom_killed: bool
    timed_out: bool
    duration_seconds: float
    cpu_seconds: float | None
    peak_memory_bytes: int | None
    log_tail: str
    predictions_path: Path | None
    failure: Failure | None


class _StatsSampler(threading.Thread):
    """Poll the stats API while the container runs.

    cgroup v1 reports cumulative CPU time and the maximum memory usage so far, so the last
    successful sample is the best figure; runs shorter than the first sample report None.
    """

    def __init__(self, container: Container) -> None:
        super().__init__(name=f"sandbox-stats-{container.id[:12]}", daemon=True)
        self._container = container
        self._stop_event = threading.Event()
        self.cpu_seconds: float | None = None
        self.peak_memory_bytes: int | None = None

    def run(self) -> None:
        delay = _STATS_FIRST_SAMPLE_SECONDS
        while not self._stop_event.wait(delay):
            delay = _STATS_INTERVAL_SECONDS
            try:
                stats = self._container.stats(stream=False, one_shot=True)
            except Exception:  # sampling is best effort; the run result matters more
                logger.debug("stats sample failed", exc_info=True)
                continue
            self._record(stats)

    def _record(self, stats: Mapping[str, Any]) -> None:
        cpu = (stats.get("cpu_stats") or {}).get("cpu_usage", {}).get("total_usage")
        memory = stats.get("memory_stats") or {}
        peak = memory.get("max_usage") or memory.get("usage")
        if cpu:
            self.cpu_seconds = max(self.cpu_seconds or 0.0, cpu / 1e9)
        if peak:
            self.peak_memory_bytes = max(self.peak_memory_bytes or 0, int(peak))

    def finish(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


def _environment(limits: Limits, extra: Mapping[str, str] | None) -> dict[str, str]:
    threads = str(max(1, int(limits.cpus)))
    return {
        # The run user has no home directory; libraries that cache under $HOME need one.
        "HOME": "/tmp",  # noqa: S108 - a private tmpfs inside the container
        "PODIUM_TIME_LIMIT_SECONDS": f"{limits.time_seconds:g}",
        "PODIUM_MEMORY_LIMIT_BYTES": str(limits.memory_bytes),
        "PODIUM_CPUS": f"{limits.cpus:g}",
        "PODIUM_GPUS": str(limits.gpus),
        "OMP_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        **(extra or {}),
    }


def _create(
    client: docker.DockerClient,
    *,
    image_id: str,
    limits: Limits,
    mounts: RunMounts,
    output_dir: Path,
    labels: Mapping[str, str] | None,
    environment: Mapping[str, str] | None,
) -> Container:
    binds = [
        Mount("/data/train", str(Path(mounts.train_dir).resolve()), type="bind", read_only=True),
        Mount("/data/test", str(Path(mounts.test_dir).resolve()), type="bind", read_only=True),
        Mount(
            "/data/sample_submission.csv",
            str(Path(mounts.sample_submission).resolve()),
            type="bind",
            read_only=True,
        ),
        Mount("/output", str(output_dir.resolve()), type="bind", read_only=False),
    ]
    return client.containers.create(
        image_id,
        detach=True,
        network_mode="none",
        mem_limit=limits.memory_bytes,
        memswap_limit=limits.memory_bytes,
        nano_cpus=int(limits.cpus * 1e9),
        pids_limit=limits.pids,
        read_only=True,
        user=RUN_USER,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        init=True,
        ulimits=[Ulimit(name="nofile", soft=1024, hard=1024), Ulimit(name="core", soft=0, hard=0)],
        log_config=LogConfig(type="json-file", config={"max-size": "10m", "max-file": "1"}),
        labels={SANDBOX_LABEL: "1", **(labels or {})},
        environment=_environment(limits, environment),
        tmpfs={"/tmp": f"rw,nosuid,nodev,size={limits.tmp_bytes},mode=1777"},  # noqa: S108
        shm_size=limits.shm_bytes,
        mounts=binds,
    )


def _wait(container: Container, limits: Limits, started: float) -> tuple[int | None, bool]:
    """Wait for the exit within the wall-clock limit; stop the container when it runs over.

    The SDK reports a read timeout on the Unix socket as either ``ReadTimeout`` or
    ``ConnectionError``, so a failed wait is judged by the clock and the container state.
    """
    remaining = max(0.0, limits.time_seconds - (time.monotonic() - started))
    try:
        return int(container.wait(timeout=remaining)["StatusCode"]), False
    except requests.exceptions.RequestException as exc:
        over_time = time.monotonic() - started >= limits.time_seconds - 0.05
        if not over_time:
            raise EngineError(f"Lost the Docker engine while waiting for the run: {exc}") from exc
    container.reload()
    if not container.attrs["State"]["Running"]:
        return int(container.attrs["State"]["ExitCode"]), False
    container.stop(timeout=max(0, round(limits.stop_grace_seconds)))
    return int(container.wait(timeout=limits.stop_grace_seconds + 60)["StatusCode"]), True


def _log_tail(container: Container, limit_bytes: int) -> str:
    """Return at most ``limit_bytes`` of the end of the log.

    The engine can only tail by lines, so ask for enough lines to fill the budget with
    typical output and cut bytes here; json-file's 10 MB cap bounds the worst case.
    """
    if limit_bytes <= 0:
        return ""
    lines = max(100, limit_bytes // 16)
    try:
        raw: bytes = container.logs(stdout=True, stderr=True, tail=lines)
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        logger.warning("could not read the log of %s", container.id, exc_info=True)
        return ""
    return raw[-limit_bytes:].decode("utf-8", errors="replace")


def _signal_name(exit_code: int) -> str:
    if exit_code <= 128:
        return ""
    try:
        return f", killed by signal {signal.Signals(exit_code - 128).name}"
    except ValueError:
        return ""


def _predictions(output_dir: Path, limits: Limits) -> tuple[Path | None, Failure | None]:
    """Find predictions.csv without following links: a symlink could point at host files."""
    path = output_dir / PREDICTIONS_NAME
    what = "Write your predictions as a regular file at /output/predictions.csv, with the "
    what += "same columns as /data/sample_submission.csv."
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None, Failure(
            "no_predictions", f"Your run finished but wrote no /output/predictions.csv. {what}"
        )
    if stat.S_ISLNK(info.st_mode):
        return None, Failure(
            "no_predictions",
            "Your run finished but /output/predictions.csv is a symbolic link, which is not "
            f"accepted (it was not read). {what}",
        )
    if not stat.S_ISREG(info.st_mode):
        return None, Failure(
            "no_predictions",
            f"Your run finished but /output/predictions.csv is not a regular file. {what}",
        )
    if info.st_size > limits.predictions_max_bytes:
        return None, Failure(
            "disk_limit",
            f"Your predictions file is {human_bytes(info.st_size)}, over the limit of "
            f"{human_bytes(limits.predictions_max_bytes)}. Write only the columns of "
            "/data/sample_submission.csv, without extra precision or columns.",
        )
    return path, None


def _classify(
    *,
    exit_code: int | None,
    oom_killed: bool,
    timed_out: bool,
    peak_memory_bytes: int | None,
    limits: Limits,
    output_dir: Path,
) -> tuple[Path | None, Failure | None]:
    memory = human_bytes(limits.memory_bytes)
    near_limit = (peak_memory_bytes or 0) >= _OOM_USAGE_RATIO * limits.memory_bytes
    if oom_killed or (exit_code == 137 and not timed_out and near_limit):
        return None, Failure(
            "memory_limit",
            f"Your run exceeded the memory limit ({memory}) and was killed. Reduce memory use "
            "(read data in chunks, use smaller dtypes, models or batches); the limit in bytes "
            "is in the PODIUM_MEMORY_LIMIT_BYTES environment variable.",
        )
    if timed_out:
        return None, Failure(
            "time_limit",
            f"Your run exceeded the time limit ({human_seconds(limits.time_seconds)}) and was "
            "stopped. Make training and prediction faster (fewer epochs, a smaller model, a "
            "sample of the data); the limit in seconds is in PODIUM_TIME_LIMIT_SECONDS so your "
            "code can budget its time.",
        )
    if exit_code != 0:
        detail = "" if exit_code is None else f"{exit_code}{_signal_name(exit_code)}"
        return None, Failure(
            "runtime_error",
            f"Your run exited with a runtime error (exit code {detail}). The last lines of its "
            "log are shown on the submission page; fix the error and test the image locally "
            "with `docker run --network none` before uploading again.",
        )
    return _predictions(output_dir, limits)


def _remove(container: Container) -> None:
    try:
        container.remove(force=True, v=True)
    except docker.errors.NotFound:
        pass
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        logger.warning("could not remove container %s", container.id, exc_info=True)


def run(
    client: docker.DockerClient,
    *,
    image_id: str,
    limits: Limits,
    mounts: RunMounts,
    output_dir: Path,
    labels: dict[str, str] | None = None,
    environment: dict[str, str] | None = None,
) -> RunResult:
    """Run ``image_id`` once under ``limits`` and report what happened.

    Raise :class:`EngineError` when the platform fails (engine unreachable, image missing);
    everything the participant's code does is reported in the result instead.
    """
    if limits.gpus > 0:
        raise EngineError("GPU runs are not supported on this worker")
    output_dir = Path(output_dir)
    # The run user is unprivileged; /output is the one host directory it may write.
    os.chown(output_dir, RUN_UID, RUN_GID)
    container: Container | None = None
    sampler: _StatsSampler | None = None
    try:
        try:
            container = _create(
                client,
                image_id=image_id,
                limits=limits,
                mounts=mounts,
                output_dir=output_dir,
                labels=labels,
                environment=environment,
            )
            started = time.monotonic()
            container.start()
            sampler = _StatsSampler(container)
            sampler.start()
            exit_code, timed_out = _wait(container, limits, started)
            duration = time.monotonic() - started
            sampler.finish()
            container.reload()
        except docker.errors.ImageNotFound as exc:
            raise EngineError(f"Image {image_id} is not loaded on this worker: {exc}") from exc
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise EngineError(f"The Docker engine failed during the run: {exc}") from exc
        state = container.attrs["State"]
        oom_killed = bool(state.get("OOMKilled"))
        log_tail = _log_tail(container, limits.log_tail_bytes)
        predictions_path, failure = _classify(
            exit_code=exit_code,
            oom_killed=oom_killed,
            timed_out=timed_out,
            peak_memory_bytes=sampler.peak_memory_bytes,
            limits=limits,
            output_dir=output_dir,
        )
        return RunResult(
            exit_code=exit_code,
            oom_killed=oom_killed,
            timed_out=timed_out,
            duration_seconds=duration,
            cpu_seconds=sampler.cpu_seconds,
            peak_memory_bytes=sampler.peak_memory_bytes,
            log_tail=log_tail,
            predictions_path=predictions_path,
            failure=failure,
        )
    finally:
        if sampler is not None:
            sampler.finish()
        if container is not None:
            _remove(container)
