"""Resource limits and data mounts of one run, as plain frozen values.

The sandbox reads no settings: whoever schedules a run (the scoring service) decides the
limits from the competition and passes them in, so the sandbox stays testable without Django.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Limits:
    """What one run may use; every field is enforced by the engine or by the runner."""

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

    def __post_init__(self) -> None:
        # Reject nonsense early: a zero limit would reach the engine as "unlimited".
        for name in ("memory_bytes", "cpus", "time_seconds", "pids", "tmp_bytes", "shm_bytes"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Limits.{name} must be positive, got {getattr(self, name)!r}")
        if self.gpus < 0:
            raise ValueError(f"Limits.gpus must not be negative, got {self.gpus!r}")
        if self.stop_grace_seconds < 0:
            raise ValueError("Limits.stop_grace_seconds must not be negative")


@dataclass(frozen=True)
class RunMounts:
    """Host paths mounted read-only into the container (the only host paths besides /output)."""

    train_dir: Path
    test_dir: Path
    sample_submission: Path
