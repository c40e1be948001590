"""Run a loaded image once under limits and report what happened.

The engine enforces memory, CPU, process count, file sizes and the file system layout; the
runner enforces wall-clock time, samples resource use, collects the log tail, copies the
predictions file out of the run's bounded /output and classifies the outcome in words a
participant can act on. The container, its /output file system and its GPUs are released
on every path.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import docker
import docker.errors
import requests
from docker.models.containers import (  # type: ignore[attr-defined]  # the SDK's own translation
    Container,
    _create_container_args,
)
from docker.types import DeviceRequest, LogConfig, Mount, Ulimit

from podium.units import format_duration, format_size
from sandbox.code import CODE_MOUNT
from sandbox.errors import EngineError
from sandbox.gpus import GpuAllocator, detect_gpu_ids, device_node_options, gpu_minor_numbers
from sandbox.limits import Limits, RunMounts
from sandbox.masking import masked_paths
from sandbox.output import (
    PREDICTIONS_NAME,
    RUN_GID,
    RUN_UID,
    OutputVolume,
    PredictionsRejected,
    bounded_output,
    collect_predictions,
)
from sandbox.owner import owner_token

logger = logging.getLogger(__name__)

RUN_USER = f"{RUN_UID}:{RUN_GID}"
SANDBOX_LABEL = "podium.sandbox"
OWNER_LABEL = "podium.sandbox.owner"
RUN_HOSTNAME = "podium-run"
DEFAULT_GPU_LOCK_DIR = Path("/run/lock/podium-gpus")
# The engine's json-file driver keeps at most this much log per run on the host's disk.
LOG_MAX_SIZE = "10m"
LOG_MAX_FILES = "2"
_STATS_INTERVAL_SECONDS = 0.25
_STATS_FIRST_SAMPLE_SECONDS = 0.05
_DISK_FULL_MARKERS = ("No space left on device", "File too large", "Disk quota exceeded")
_CGROUP_ROOT = Path("/sys/fs/cgroup")
# How often a run with a ``should_stop`` callback asks it whether to stop early.
_STOP_POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Failure:
    """Why a run does not count, in a ``kind`` for code and a ``message`` for the participant."""

    kind: str
    message: str


@dataclass(frozen=True)
class RunResult:
    """Everything observed about one run; ``failure`` is None only for a usable result.

    ``predictions_path`` is a copy inside the caller's ``output_dir``, which the caller
    deletes when done with it. ``cancelled`` means the caller's ``should_stop`` asked for
    the run to end: the container was stopped, nothing was judged (``failure`` and
    ``predictions_path`` are None) and the result is not the participant's.
    """

    exit_code: int | None
    oom_killed: bool
    timed_out: bool
    duration_seconds: float
    cpu_seconds: float | None
    peak_memory_bytes: int | None
    log_tail: str
    predictions_path: Path | None
    failure: Failure | None
    gpu_ids: tuple[str, ...] = ()
    cancelled: bool = False


class _Spans:
    """Wall-clock time of a run's phases, logged at DEBUG as one line per run.

    ``python benchmarks/bench_sandbox.py --spans`` sums them to show where the sandbox's
    time goes next to a raw ``docker run``.
    """

    def __init__(self) -> None:
        self._last = time.perf_counter()
        self.items: list[tuple[str, float]] = []

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        self.items.append((name, now - self._last))
        self._last = now

    def __str__(self) -> str:
        return ", ".join(f"{name}={seconds * 1000:.1f}ms" for name, seconds in self.items)


class _StatsSampler(threading.Thread):
    """Sample CPU time and peak memory while the container runs.

    The worker shares the engine's host, so the cgroup v1 counters are read directly (cheap
    and exact); where they are not found the stats API is used. Both report cumulative CPU
    time and the maximum memory so far, so the last sample is the best figure.
    """

    def __init__(self, container: Container, cgroup_parent: str | None = None) -> None:
        container_id = container.id or ""  # set once the engine created the container
        super().__init__(name=f"sandbox-stats-{container_id[:12]}", daemon=True)
        self._container = container
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self.cpu_seconds: float | None = None
        self.peak_memory_bytes: int | None = None
        parent = (cgroup_parent or "docker").strip("/")
        self._cpu_file = _CGROUP_ROOT / "cpuacct" / parent / container_id / "cpuacct.usage"
        self._memory_file = (
            _CGROUP_ROOT / "memory" / parent / container_id / "memory.max_usage_in_bytes"
        )

    def run(self) -> None:
        delay = _STATS_FIRST_SAMPLE_SECONDS
        while not self._stop_event.wait(delay):
            # Reading cgroup files is cheap; the stats API is not, so poll it less often.
            delay = _STATS_INTERVAL_SECONDS if self.sample() else 1.0

    def sample(self) -> bool:
        """Take one sample; return whether it came from the cgroup files."""
        with self._lock:
            if self._sample_cgroup():
                return True
            try:
                # stream=False: one dict, not an iterator of them.
                stats = cast(dict[str, Any], self._container.stats(stream=False, one_shot=True))
            except Exception:  # sampling is best effort; the run result matters more
                logger.debug("stats sample failed", exc_info=True)
                return False
            cpu = (stats.get("cpu_stats") or {}).get("cpu_usage", {}).get("total_usage")
            memory = stats.get("memory_stats") or {}
            self._record(cpu, memory.get("max_usage") or memory.get("usage"))
            return False

    def _sample_cgroup(self) -> bool:
        try:
            cpu = int(self._cpu_file.read_text())
            peak = int(self._memory_file.read_text())
        except (OSError, ValueError):
            return False
        self._record(cpu, peak)
        return True

    def _record(self, cpu_nanoseconds: int | None, peak: int | None) -> None:
        if cpu_nanoseconds:
            self.cpu_seconds = max(self.cpu_seconds or 0.0, cpu_nanoseconds / 1e9)
        if peak:
            self.peak_memory_bytes = max(self.peak_memory_bytes or 0, int(peak))

    def finish(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout=5)


class _EngineWatch(threading.Thread):
    """Follow the engine's events for one container to tell an engine fault from the run's.

    The engine stops every container when it shuts down or restarts (a ``kill`` event we
    did not ask for, then ``die``), and the event stream breaks when it goes away. Either
    means the run ended through the platform's fault, not the participant's: a program
    killed by a signal from inside its container sends no ``kill`` event.
    """

    def __init__(self, client: docker.DockerClient, container_id: str) -> None:
        super().__init__(name=f"sandbox-events-{container_id[:12]}", daemon=True)
        self._stream = client.events(decode=True, filters={"container": container_id})
        self.stopping = False  # set before the runner itself stops the container
        self.foreign_kill: str | None = None
        self.stream_broken = False
        self.died = threading.Event()
        self._closed = False

    def run(self) -> None:
        try:
            for event in self._stream:
                action = event.get("Action") or event.get("status") or ""
                if action == "kill" and not self.stopping and self.foreign_kill is None:
                    signal_ = (event.get("Actor") or {}).get("Attributes", {}).get("signal", "?")
                    self.foreign_kill = f"signal {signal_}"
                if action == "die":
                    self.died.set()
                if action == "destroy" or self._closed:
                    break
        except Exception:  # the connection dropped: the engine went away
            logger.debug("engine event stream ended", exc_info=True)
        if not self._closed:
            self.stream_broken = True
        self.died.set()

    def interrupted(self, settle_seconds: float = 5.0) -> str | None:
        """After the container exited: why the engine ended it, or None if it did not."""
        self.died.wait(settle_seconds)
        if self.foreign_kill:
            return f"the engine stopped the container ({self.foreign_kill})"
        if self.stream_broken:
            return "the connection to the engine broke"
        return None

    def close(self) -> None:
        self._closed = True
        self.join(timeout=2)
        if self.is_alive():
            with contextlib.suppress(Exception):
                self._stream.close()
            self.join(timeout=5)


def _environment(
    limits: Limits, gpu_ids: Sequence[str], extra: Mapping[str, str] | None
) -> dict[str, str]:
    threads = str(max(1, int(limits.cpus)))
    return {
        # The run user has no home directory; libraries that cache under $HOME need one.
        "HOME": "/tmp",  # noqa: S108 - a private tmpfs inside the container
        **(extra or {}),
        # The contract's variables come last: an image's or caller's value cannot hide them.
        "PODIUM_TIME_LIMIT_SECONDS": f"{limits.time_seconds:g}",
        "PODIUM_MEMORY_LIMIT_BYTES": str(limits.memory_bytes),
        "PODIUM_CPUS": f"{limits.cpus:g}",
        "PODIUM_GPUS": str(len(gpu_ids)),
        "OMP_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "NUMEXPR_NUM_THREADS": threads,
        "VECLIB_MAXIMUM_THREADS": threads,
    }


def create_options(
    *,
    image_id: str,
    limits: Limits,
    mounts: RunMounts,
    output_path: Path,
    labels: Mapping[str, str] | None,
    environment: Mapping[str, str] | None,
    gpu_ids: Sequence[str] = (),
    tmp_path: Path | None = None,
    entrypoint: Sequence[str] | None = None,
    gpu_device_nodes: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the keyword arguments of ``containers.create`` for one run.

    ``gpu_device_nodes`` (sandbox.gpus.device_node_options) gives the run its GPUs as
    device nodes and driver folders instead of a device request (``Limits.gpu_mode``).

    ``tmp_path`` is the run's own bounded file system for /tmp (on disk, not charged to
    memory); without it /tmp is a tmpfs of ``limits.tmp_bytes``, which counts as memory.

    Everything that confines the run is here, in one place, so it can be reviewed (and
    tested) as a whole: no network, no capabilities, no privilege gain, the default seccomp
    profile (never ``unconfined``), a fixed unprivileged user, a read-only root, bounded
    memory (swap included), CPU, processes, files, /tmp, /dev/shm and logs, and no host path
    but the run's data (read-only) and its own /output.
    """
    binds = [
        Mount("/data/train", str(Path(mounts.train_dir).resolve()), type="bind", read_only=True),
        Mount("/data/test", str(Path(mounts.test_dir).resolve()), type="bind", read_only=True),
        Mount(
            "/data/sample_submission.csv",
            str(Path(mounts.sample_submission).resolve()),
            type="bind",
            read_only=True,
        ),
        Mount("/output", str(output_path), type="bind", read_only=False),
    ]
    if tmp_path is not None:
        binds.append(Mount("/tmp", str(tmp_path), type="bind", read_only=False))  # noqa: S108
    if mounts.code_dir is not None:
        binds.append(
            Mount(CODE_MOUNT, str(Path(mounts.code_dir).resolve()), type="bind", read_only=True)
        )
    options: dict[str, Any] = {
        "image": image_id,
        "detach": True,
        "network_mode": "none",
        "hostname": RUN_HOSTNAME,
        "mem_limit": limits.memory_bytes,
        "memswap_limit": limits.memory_bytes,
        "nano_cpus": int(limits.cpus * 1e9),
        "pids_limit": limits.pids,
        "read_only": True,
        "user": RUN_USER,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "init": True,
        "ulimits": [
            Ulimit(name="nofile", soft=limits.nofile, hard=limits.nofile),
            Ulimit(name="core", soft=0, hard=0),
            Ulimit(name="fsize", soft=limits.file_size_bytes, hard=limits.file_size_bytes),
        ],
        "log_config": LogConfig(
            type="json-file", config={"max-size": LOG_MAX_SIZE, "max-file": LOG_MAX_FILES}
        ),
        # The caller's labels first: they must not be able to fake the sandbox's own.
        "labels": {**(labels or {}), SANDBOX_LABEL: "1", OWNER_LABEL: owner_token()},
        "environment": _environment(limits, gpu_ids, environment),
        # /dev/shm is charged to the run's memory anyway; never promise more than that.
        "shm_size": min(limits.shm_bytes, limits.memory_bytes),
        "mounts": binds,
    }
    if entrypoint is not None:
        # A code submission: the runtime image's own command gives way to the entry point.
        options["entrypoint"] = list(entrypoint)
        options["command"] = []
        options["working_dir"] = CODE_MOUNT
    if tmp_path is None:
        options["tmpfs"] = {
            "/tmp": (  # noqa: S108 - a private tmpfs inside the container
                f"rw,nosuid,nodev,size={limits.tmp_bytes},nr_inodes={limits.tmp_inodes},mode=1777"
            )
        }
    if gpu_ids and gpu_device_nodes is not None:
        options["devices"] = list(gpu_device_nodes["devices"])
        options["mounts"] = [*binds, *gpu_device_nodes["mounts"]]
        options["environment"] = {
            **options["environment"],
            **gpu_device_nodes["environment"],
        }
    elif gpu_ids:
        options["device_requests"] = [
            DeviceRequest(driver="nvidia", device_ids=list(gpu_ids), capabilities=[["gpu"]])
        ]
    if limits.runtime:
        options["runtime"] = limits.runtime
    return options


def _asked_to_stop(should_stop: Callable[[], bool] | None) -> bool:
    """Ask the caller's callback; an error in it is logged and means "keep running"."""
    if should_stop is None:
        return False
    try:
        return bool(should_stop())
    except Exception:
        logger.warning("should_stop raised; the run goes on", exc_info=True)
        return False


def _create_container(client: docker.DockerClient, options: dict[str, Any]) -> Container:
    """``client.containers.create(**options)`` with HostConfig.MaskedPaths set (see
    sandbox.masking), which the Docker SDK's keyword arguments do not offer; the rest is
    the SDK's own translation of the options."""
    arguments = _create_container_args(
        {**options, "command": None, "version": client.api.api_version}
    )
    arguments["host_config"]["MaskedPaths"] = masked_paths()
    response = client.api.create_container(**arguments)
    return client.containers.get(response["Id"])


def _wait(
    container: Container,
    limits: Limits,
    started: float,
    sampler: _StatsSampler,
    should_stop: Callable[[], bool] | None = None,
    watch: _EngineWatch | None = None,
) -> tuple[int | None, bool, bool]:
    """Wait for the exit; stop the container when it runs over time or the caller asks.

    Return (exit code, timed out, cancelled). Without ``should_stop`` this is one wait for
    the remaining time; with it, waits of ``_STOP_POLL_SECONDS`` between which the callback
    is asked. The SDK reports a read timeout on the Unix socket as either ``ReadTimeout`` or
    ``ConnectionError``, so a failed wait is judged by the clock (did it last its timeout?)
    and the container state. Stopping is the engine's SIGTERM, ``stop_grace_seconds``,
    SIGKILL; the init process forwards the SIGTERM to the participant's program.
    """
    cancelled = False
    while True:
        # urllib3 refuses a read timeout of 0; a slow should_stop can use up the rest.
        remaining = max(0.01, limits.time_seconds - (time.monotonic() - started))
        timeout = remaining if should_stop is None else min(remaining, _STOP_POLL_SECONDS)
        asked = time.monotonic()
        try:
            return int(container.wait(timeout=timeout)["StatusCode"]), False, False
        except requests.exceptions.RequestException as exc:
            now = time.monotonic()
            over_time = now - started >= limits.time_seconds - 0.05
            if not over_time and now - asked < timeout - 0.05:
                raise EngineError(
                    f"Lost the Docker engine while waiting for the run: {exc}"
                ) from exc
            if over_time:
                break
        if _asked_to_stop(should_stop):
            cancelled = True
            break
    container.reload()
    if not container.attrs["State"]["Running"]:
        return int(container.attrs["State"]["ExitCode"]), False, cancelled
    sampler.sample()  # the cgroup and its counters vanish with the container
    if watch is not None:
        watch.stopping = True
    container.stop(timeout=max(0, round(limits.stop_grace_seconds)))
    exit_code = int(container.wait(timeout=limits.stop_grace_seconds + 60)["StatusCode"])
    return exit_code, not cancelled, cancelled


def _log_tail(container: Container, limit_bytes: int) -> str:
    """Return at most ``limit_bytes`` of the end of the log.

    The engine can only tail by lines, so ask for enough lines to fill the budget with
    typical output and cut bytes here; the json-file cap bounds the worst case.
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


def _disk_failure(
    limits: Limits, volume: OutputVolume, log_tail: str, tmp: OutputVolume | None = None
) -> Failure | None:
    """Name the file system a run filled: /output or /tmp (measured), else from its log."""
    if tmp is not None:
        tmp_blocks, tmp_inodes = tmp.usage()
        if tmp_blocks or tmp_inodes:
            what = "size" if tmp_blocks else "number of files"
            return Failure(
                "disk_limit",
                f"Your run filled /tmp (its {what} limit: {format_size(limits.tmp_bytes)}, "
                f"{tmp.inodes} files) and failed. /tmp holds at most "
                f"{format_size(limits.tmp_bytes)} on disk (it does not count toward the memory "
                "limit): write less, or stream instead of caching.",
            )
    blocks_full, inodes_full = volume.usage()
    if blocks_full or inodes_full:
        what = "size" if blocks_full else "number of files"
        return Failure(
            "disk_limit",
            f"Your run filled /output (its {what} limit: {format_size(limits.output_bytes)}, "
            f"{volume.inodes} files) and failed. Write only predictions.csv to /output "
            "and keep scratch files in /tmp.",
        )
    if any(marker in log_tail for marker in _DISK_FULL_MARKERS):
        return Failure(
            "disk_limit",
            'Your run ran out of disk space ("No space left on device" or "File too large" '
            f"in its log). /tmp holds at most {format_size(limits.tmp_bytes)} and "
            f"{limits.tmp_inodes} files; /output holds "
            f"{format_size(limits.output_bytes)}; no file may exceed "
            f"{format_size(limits.file_size_bytes)}. Write less, or stream instead of caching.",
        )
    return None


def _classify(
    *,
    exit_code: int | None,
    oom_killed: bool,
    timed_out: bool,
    limits: Limits,
    volume: OutputVolume,
    log_tail: str,
    output_dir: Path,
    tmp: OutputVolume | None = None,
) -> tuple[Path | None, Failure | None]:
    """Judge a finished run. Exit 0 within time is judged by its predictions alone, even
    when a child process was killed for memory (the program recovered; the result records
    ``oom_killed``)."""
    if exit_code == 0 and not timed_out:
        return _collect(
            limits=limits, volume=volume, log_tail=log_tail, output_dir=output_dir, tmp=tmp
        )
    memory = format_size(limits.memory_bytes)
    if oom_killed:
        return None, Failure(
            "memory_limit",
            f"Your run exceeded the memory limit ({memory}) and was killed. Reduce memory use "
            "(read data in chunks, use smaller dtypes, models or batches); files in /dev/shm "
            "count toward it (/tmp does not). The limit in bytes is in the "
            "PODIUM_MEMORY_LIMIT_BYTES environment variable.",
        )
    if timed_out:
        return None, Failure(
            "time_limit",
            f"Your run exceeded the time limit ({format_duration(limits.time_seconds)}) and was "
            "stopped. Make training and prediction faster (fewer epochs, a smaller model, a "
            "sample of the data); the limit in seconds is in PODIUM_TIME_LIMIT_SECONDS so your "
            "code can budget its time.",
        )
    disk = _disk_failure(limits, volume, log_tail, tmp)
    if disk is not None:
        return None, disk
    detail = "" if exit_code is None else f"{exit_code}{_signal_name(exit_code)}"
    return None, Failure(
        "runtime_error",
        f"Your run exited with a runtime error (exit code {detail}). The last lines of its "
        "log are shown on the submission page; fix the error and test the image locally "
        "with `docker run --network none` before uploading again.",
    )


def _collect(
    *,
    limits: Limits,
    volume: OutputVolume,
    log_tail: str,
    output_dir: Path,
    tmp: OutputVolume | None,
) -> tuple[Path | None, Failure | None]:
    try:
        path = collect_predictions(
            volume.path, output_dir / PREDICTIONS_NAME, max_bytes=limits.predictions_max_bytes
        )
    except PredictionsRejected as exc:
        return None, Failure(exc.kind, exc.message)
    if path is None:
        disk = _disk_failure(limits, volume, log_tail, tmp)
        if disk is not None:
            return None, disk
        return None, Failure(
            "no_predictions",
            "Your run finished but wrote no /output/predictions.csv. Write your predictions "
            "as a regular file at /output/predictions.csv, with the same columns as "
            "/data/sample_submission.csv.",
        )
    return path, None


def _remove(container: Container) -> None:
    try:
        container.remove(force=True, v=True)
    except docker.errors.NotFound:
        pass
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        logger.warning("could not remove container %s", container.id, exc_info=True)


def _device_nodes(
    client: docker.DockerClient, image_id: str, limits: Limits, gpu_ids: Sequence[str]
) -> dict[str, Any] | None:
    """Device-node mode's options for ``gpu_ids`` (None in toolkit mode or without GPUs)."""
    if not gpu_ids or limits.gpu_mode != "device-nodes":
        return None
    minors = gpu_minor_numbers(gpu_ids)
    try:
        env = client.images.get(image_id).attrs["Config"].get("Env") or []
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise EngineError(f"The Docker engine failed: {exc}") from exc
    image_path = next((e.split("=", 1)[1] for e in env if e.startswith("LD_LIBRARY_PATH=")), "")
    return device_node_options(
        [minors[g] for g in gpu_ids],
        driver_dirs=limits.gpu_driver_dirs,
        image_library_path=image_path,
    )


def _allocator(limits: Limits, gpu_allocator: GpuAllocator | None) -> GpuAllocator:
    if gpu_allocator is not None:
        return gpu_allocator
    inventory = limits.gpu_ids if limits.gpu_ids is not None else detect_gpu_ids()
    return GpuAllocator(inventory, limits.gpu_lock_dir or DEFAULT_GPU_LOCK_DIR)


def run(
    client: docker.DockerClient,
    *,
    image_id: str,
    limits: Limits,
    mounts: RunMounts,
    output_dir: Path,
    labels: dict[str, str] | None = None,
    environment: dict[str, str] | None = None,
    scratch_dir: Path | None = None,
    gpu_allocator: GpuAllocator | None = None,
    should_stop: Callable[[], bool] | None = None,
    entrypoint: Sequence[str] | None = None,
) -> RunResult:
    """Run ``image_id`` once under ``limits`` and report what happened.

    ``entrypoint`` (a code submission's, see sandbox.code) replaces the image's
    ENTRYPOINT and CMD; ``mounts.code_dir`` is then mounted read-only at /code.

    The run writes to a fresh bounded file system (created under ``scratch_dir``, default
    ``output_dir``'s parent, and deleted before returning); a usable predictions file is
    copied to ``output_dir/predictions.csv``. Raise :class:`EngineError` when the platform
    fails (engine unreachable, image missing, no free GPU, no /output); everything the
    participant's code does is reported in the result instead.

    ``should_stop`` (optional) is called about every second while the run waits, in the
    caller's thread; once it returns true the container is stopped like a run over time
    (SIGTERM, ``stop_grace_seconds``, SIGKILL) and the result has ``cancelled=True`` and
    no failure. An exception from it is logged and ignored.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    scratch_root = Path(scratch_dir) if scratch_dir is not None else output_dir.resolve().parent
    spans = _Spans()
    with contextlib.ExitStack() as stack:
        gpu_ids: list[str] = []
        if limits.gpus > 0:
            gpu_ids = stack.enter_context(_allocator(limits, gpu_allocator).allocate(limits.gpus))
        volume = stack.enter_context(
            bounded_output(
                scratch_root, size_bytes=limits.output_bytes, inodes=limits.output_inodes
            )
        )
        tmp = stack.enter_context(
            bounded_output(scratch_root, size_bytes=limits.tmp_bytes, inodes=limits.tmp_inodes)
        )
        spans.mark("output")
        result = _run_container(
            client,
            options=create_options(
                image_id=image_id,
                limits=limits,
                mounts=mounts,
                output_path=volume.path,
                labels=labels,
                environment=environment,
                gpu_ids=gpu_ids,
                tmp_path=tmp.path,
                entrypoint=entrypoint,
                gpu_device_nodes=_device_nodes(client, image_id, limits, gpu_ids),
            ),
            limits=limits,
            volume=volume,
            tmp=tmp,
            output_dir=output_dir,
            gpu_ids=tuple(gpu_ids),
            should_stop=should_stop,
            spans=spans,
        )
    spans.mark("teardown")
    logger.debug("sandbox run spans: %s", spans)
    return result


def _run_container(
    client: docker.DockerClient,
    *,
    options: dict[str, Any],
    limits: Limits,
    volume: OutputVolume,
    output_dir: Path,
    gpu_ids: tuple[str, ...],
    should_stop: Callable[[], bool] | None = None,
    spans: _Spans | None = None,
    tmp: OutputVolume | None = None,
) -> RunResult:
    spans = spans or _Spans()
    container: Container | None = None
    sampler: _StatsSampler | None = None
    watch: _EngineWatch | None = None
    try:
        try:
            container = _create_container(client, options)
            spans.mark("create")
            watch = _EngineWatch(client, container.id or "")
            watch.start()
            started = time.monotonic()
            container.start()
            spans.mark("start")
            sampler = _StatsSampler(container, options.get("cgroup_parent"))
            sampler.start()
            exit_code, timed_out, cancelled = _wait(
                container, limits, started, sampler, should_stop, watch
            )
            duration = time.monotonic() - started
            spans.mark("wait")
            sampler.finish()
            interrupted = watch.interrupted()
            if interrupted:
                raise EngineError(f"The run was interrupted by the platform: {interrupted}.")
            container.reload()
            spans.mark("inspect")
        except docker.errors.ImageNotFound as exc:
            raise EngineError(
                f"Image {options['image']} is not loaded on this worker: {exc}"
            ) from exc
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise EngineError(f"The Docker engine failed during the run: {exc}") from exc
        state = container.attrs["State"]
        # Exit 137 is SIGKILL. The platform's own kills are flagged (the time limit's
        # timed_out, a cancel; an engine restart raised above), so any other comes from the
        # kernel's OOM killer, whose event the engine can miss when it sees the exit first
        # (a loaded host: a fast climb to the limit ended as a runtime error with a peak
        # below it between two samples).
        oom_killed = bool(state.get("OOMKilled")) or (
            exit_code == 137 and not timed_out and not cancelled
        )
        peak = sampler.peak_memory_bytes
        if oom_killed and exit_code != 0:
            # The kernel kills for memory only at the limit; samples between two reads miss
            # the last climb, and the cgroup's own peak vanishes with the container.
            peak = max(peak or 0, limits.memory_bytes)
        log_tail = _log_tail(container, limits.log_tail_bytes)
        spans.mark("logs")
        if cancelled:
            return RunResult(
                exit_code=exit_code,
                oom_killed=oom_killed,
                timed_out=False,
                duration_seconds=duration,
                cpu_seconds=sampler.cpu_seconds,
                peak_memory_bytes=sampler.peak_memory_bytes,
                log_tail=log_tail,
                predictions_path=None,
                failure=None,
                gpu_ids=gpu_ids,
                cancelled=True,
            )
        predictions_path, failure = _classify(
            exit_code=exit_code,
            oom_killed=oom_killed,
            timed_out=timed_out,
            limits=limits,
            volume=volume,
            log_tail=log_tail,
            output_dir=output_dir,
            tmp=tmp,
        )
        spans.mark("collect")
        return RunResult(
            exit_code=exit_code,
            oom_killed=oom_killed,
            timed_out=timed_out,
            duration_seconds=duration,
            cpu_seconds=sampler.cpu_seconds,
            peak_memory_bytes=peak,
            log_tail=log_tail,
            predictions_path=predictions_path,
            failure=failure,
            gpu_ids=gpu_ids,
        )
    finally:
        if sampler is not None:
            sampler.finish()
        if container is not None:
            _remove(container)
            spans.mark("remove")
        if watch is not None:
            # Removing the container ends its event stream (the "destroy" event).
            watch.close()
