"""A compute worker's configuration, from its environment only (no Django settings).

``PODIUM_PLATFORM_URL`` (required): the platform's base URL, e.g. ``http://10.0.0.2:8000``.
``CELERY_BROKER_URL`` (required): the platform's broker (``redis://...``; on one machine
``filesystem://`` with ``PODIUM_COMPUTE_BROKER_DIR``, the platform's ``PODIUM_HOME/broker``).
``PODIUM_COMPUTE_WORK_DIR`` (default ``/var/lib/podium-compute``): data cache, scratch.
``PODIUM_COMPUTE_QUEUES`` (default ``compute``): broker queues served, comma-separated.
``PODIUM_GPU_IDS``, ``PODIUM_GPU_LOCK_DIR``, ``PODIUM_SANDBOX_RUNTIME``: as on the platform.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ComputeConfig:
        def get(name: str, default: str | None = None) -> str:
            value = environ.get(name, "").strip()
            if value:
                return value
            if default is None:
                raise ConfigError(f"Set the environment variable {name}.")
            return default

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
        )
