"""A compute worker's configuration, from its environment only (no Django settings).

``PODIUM_PLATFORM_URL`` (required): the platform's base URL, e.g. ``http://10.0.0.2:8000``.
``CELERY_BROKER_URL`` (required): the platform's broker (``redis://...``; on one machine
``filesystem://`` with ``PODIUM_COMPUTE_BROKER_DIR``, the platform's ``PODIUM_HOME/broker``,
polled every ``PODIUM_BROKER_POLLING_SECONDS``, default 1; see the platform's settings).
``PODIUM_COMPUTE_WORK_DIR`` (default ``/var/lib/podium-compute``): data cache, scratch.
``PODIUM_COMPUTE_QUEUES`` (default ``compute``): broker queues served, comma-separated (a
competition's own queue, for an organizer's host); ``PODIUM_COMPUTE_GPU_QUEUE`` (default
``compute-gpu``) is added when the host has a GPU that passed the start-up probe.
``PODIUM_COMPUTE_NAME`` (default: the host name): how the platform names this host.
``PODIUM_COMPUTE_CPUS`` (default: this machine's CPUs), ``PODIUM_COMPUTE_MEMORY`` (``16g``;
default: this machine's memory): the capacity runs are admitted against.
``PODIUM_COMPUTE_CONCURRENCY`` (default: the CPUs, at least 1): worker processes.
``PODIUM_COMPUTE_HOST_TOKEN``: the platform's host token, or an organizer queue's secret
(then ``PODIUM_COMPUTE_QUEUES=org-NAME``); sent with every request and the heartbeat the
queue page shows (capacity, runs). Without it the worker is not listed there and may run
only shared runs of a platform that sets no host token.
``PODIUM_GPU_IDS``, ``PODIUM_GPU_LOCK_DIR``, ``PODIUM_SANDBOX_RUNTIME``: as on the platform;
``PODIUM_GPU_PROBE_IMAGE`` (default ``podium/python:3.11``): the image of the GPU probe.
``PODIUM_GPU_MODE``: ``toolkit`` (default; Docker's device request) or ``device-nodes``
(no toolkit: /dev/nvidiaN by minor number and the shared nodes, and the host's driver
folders ``PODIUM_GPU_DRIVER_DIRS``, comma-separated, mounted read-only).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from podium.units import parse_size
from sandbox.gpus import parse_gpu_ids


class ConfigError(Exception):
    """A required variable is missing or malformed; the message names it."""


@dataclass(frozen=True)
class ComputeConfig:
    platform_url: str
    broker_url: str
    broker_dir: Path | None
    work_dir: Path
    queues: tuple[str, ...]
    gpu_ids: tuple[str, ...] | None
    gpu_lock_dir: Path
    runtime: str | None
    cpus: float = 1.0
    memory_bytes: int = 2**30
    concurrency: int = 1
    gpu_queue: str = "compute-gpu"
    host_token: str = ""
    heartbeat_seconds: float = 10.0
    wait_seconds: float = 5.0
    broker_polling_seconds: float = 1.0
    gpu_probe_image: str = "podium/python:3.11"
    gpu_mode: str = "toolkit"
    gpu_driver_dirs: tuple[Path, ...] = ()
    name: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ComputeConfig:
        def get(name: str, default: str | None = None) -> str:
            value = environ.get(name, "").strip()
            if value:
                return value
            if default is None:
                raise ConfigError(f"Set the environment variable {name}.")
            return default

        try:
            cpus = float(get("PODIUM_COMPUTE_CPUS", str(os.cpu_count() or 1)))
        except ValueError:
            raise ConfigError("PODIUM_COMPUTE_CPUS must be a number of CPUs.") from None
        broker_url = get("CELERY_BROKER_URL")
        broker_dir = None
        if broker_url.startswith("filesystem://"):
            broker_dir = Path(get("PODIUM_COMPUTE_BROKER_DIR"))
        return cls(
            platform_url=get("PODIUM_PLATFORM_URL").rstrip("/"),
            broker_url=broker_url,
            broker_dir=broker_dir,
            work_dir=Path(get("PODIUM_COMPUTE_WORK_DIR", "/var/lib/podium-compute")),
            queues=tuple(q.strip() for q in get("PODIUM_COMPUTE_QUEUES", "compute").split(",")),
            gpu_ids=parse_gpu_ids(get("PODIUM_GPU_IDS", "")),
            gpu_lock_dir=Path(get("PODIUM_GPU_LOCK_DIR", "/run/lock/podium-gpus")),
            runtime=get("PODIUM_SANDBOX_RUNTIME", "") or None,
            cpus=cpus,
            memory_bytes=parse_size(get("PODIUM_COMPUTE_MEMORY", str(_memory_bytes()))),
            concurrency=int(get("PODIUM_COMPUTE_CONCURRENCY", str(max(1, int(cpus))))),
            gpu_queue=get("PODIUM_COMPUTE_GPU_QUEUE", "compute-gpu"),
            host_token=get("PODIUM_COMPUTE_HOST_TOKEN", ""),
            heartbeat_seconds=float(get("PODIUM_COMPUTE_HEARTBEAT_SECONDS", "10")),
            wait_seconds=float(get("PODIUM_COMPUTE_WAIT_SECONDS", "5")),
            broker_polling_seconds=float(get("PODIUM_BROKER_POLLING_SECONDS", "1")),
            gpu_probe_image=get("PODIUM_GPU_PROBE_IMAGE", "podium/python:3.11"),
            gpu_mode=get("PODIUM_GPU_MODE", "toolkit"),
            name=get("PODIUM_COMPUTE_NAME", socket.gethostname()),
            gpu_driver_dirs=tuple(
                Path(d.strip()) for d in get("PODIUM_GPU_DRIVER_DIRS", "").split(",") if d.strip()
            ),
        )


def _memory_bytes() -> int:
    """This machine's physical memory, in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
