"""Resource limits and data mounts of one run, as plain frozen values.

The sandbox reads no settings: whoever schedules a run (the scoring service) decides the
limits from the competition and passes them in, so the sandbox stays testable without Django.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Limits:
    """What one run may use; every field is enforced by the engine or by the runner.

    ``gpu_ids`` is the worker's GPU inventory (None: ask ``nvidia-smi``) and ``gpu_lock_dir``
    the directory whose lock files keep two runs off one GPU; ``runtime`` names another OCI
    runtime registered with the engine (e.g. ``runsc`` for gVisor), None for the default.
    """

    memory_bytes: int
    cpus: float
    time_seconds: float
    gpus: int = 0
    image_size_bytes: int = 10 * 2**30
    pids: int = 1024
    tmp_bytes: int = 2 * 2**30
    shm_bytes: int = 1 * 2**30
    predictions_max_bytes: int = 1 * 2**30
    log_tail_bytes: int = 64 * 2**10
    stop_grace_seconds: float = 10.0
    tmp_inodes: int = 262_144
    output_bytes: int = 2 * 2**30
    output_inodes: int = 65_536
    nofile: int = 4096
    gpu_ids: tuple[str, ...] | None = None
    gpu_lock_dir: Path | None = None
    runtime: str | None = None
    # "toolkit" (Docker's device request, the NVIDIA container toolkit) or "device-nodes"
    # (the GPU's /dev nodes and the host's driver folders ``gpu_driver_dirs``, read-only).
    gpu_mode: str = "toolkit"
    gpu_driver_dirs: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        # Reject nonsense early: a zero limit would reach the engine as "unlimited".
        positive = (
            "memory_bytes",
            "cpus",
            "time_seconds",
            "pids",
            "tmp_bytes",
            "shm_bytes",
            "tmp_inodes",
            "output_bytes",
            "output_inodes",
            "nofile",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"Limits.{name} must be positive, got {getattr(self, name)!r}")
        if self.gpus < 0:
            raise ValueError(f"Limits.gpus must not be negative, got {self.gpus!r}")
        if self.stop_grace_seconds < 0:
            raise ValueError("Limits.stop_grace_seconds must not be negative")
        if self.gpu_mode not in ("toolkit", "device-nodes"):
            raise ValueError(
                f"Limits.gpu_mode must be toolkit or device-nodes, got {self.gpu_mode!r}"
            )
        if self.gpu_ids is not None and not isinstance(self.gpu_ids, tuple):
            object.__setattr__(self, "gpu_ids", tuple(self.gpu_ids))

    @property
    def file_size_bytes(self) -> int:
        """The ``fsize`` ulimit: no single file may outgrow the largest writable file system."""
        return max(self.tmp_bytes, self.output_bytes, self.predictions_max_bytes)


@dataclass(frozen=True)
class RunMounts:
    """Host paths mounted read-only into the container (the only host paths besides /output).

    ``code_dir`` is an extracted code submission, mounted at /code (its working directory).
    """

    train_dir: Path
    test_dir: Path
    sample_submission: Path
    code_dir: Path | None = None
