"""The worker's GPU inventory and an allocator that never hands a GPU to two runs at once.

Each GPU id has a lock file under a directory shared by all worker processes of a host;
a run holds an exclusive ``flock`` on the files of its GPUs for as long as it runs. The
kernel drops the locks when the holding process dies, so a crashed worker never keeps a
GPU. Ids are what ``nvidia-smi`` calls the GPUs (indexes or UUIDs) and what the engine's
device request expects.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

from sandbox.errors import EngineError

logger = logging.getLogger(__name__)

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]+$")


class GpusUnavailable(EngineError):
    """Not enough free GPUs on this worker right now: retry later, not the team's fault."""


def detect_gpu_ids() -> tuple[str, ...]:
    """Return the GPU indexes ``nvidia-smi`` reports, or none when it is absent or fails."""
    if shutil.which("nvidia-smi") is None:
        return ()
    try:
        completed = subprocess.run(
            ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        logger.warning("nvidia-smi failed; assuming no GPUs", exc_info=True)
        return ()
    return tuple(line.strip() for line in completed.stdout.splitlines() if line.strip())


def parse_gpu_ids(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """Parse a ``PODIUM_GPU_IDS`` style value: "0,1,3" -> ids, "" or None -> None (detect)."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    ids = tuple(item.strip() for item in items if item.strip())
    for gpu_id in ids:
        if not _SAFE_ID.match(gpu_id):
            raise ValueError(f"invalid GPU id {gpu_id!r}")
    return ids or None


class GpuAllocator:
    """Hand out GPU ids from ``inventory``, exclusively across processes sharing ``lock_dir``."""

    def __init__(self, inventory: Iterable[str], lock_dir: Path) -> None:
        self.inventory = tuple(inventory)
        for gpu_id in self.inventory:
            if not _SAFE_ID.match(gpu_id):
                raise ValueError(f"invalid GPU id {gpu_id!r}")
        self.lock_dir = Path(lock_dir)

    @contextlib.contextmanager
    def allocate(self, count: int) -> Iterator[list[str]]:
        """Hold ``count`` free GPUs for the duration of the block; raise when too few are free."""
        if count <= 0:
            yield []
            return
        if count > len(self.inventory):
            raise GpusUnavailable(
                f"This worker has {len(self.inventory)} GPU(s); the run needs {count}."
            )
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        held: list[tuple[str, int]] = []
        try:
            for gpu_id in self.inventory:
                if len(held) == count:
                    break
                fd = os.open(self.lock_dir / f"gpu-{gpu_id}.lock", os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    continue
                held.append((gpu_id, fd))
            if len(held) < count:
                raise GpusUnavailable(
                    f"Only {len(held)} of this worker's {len(self.inventory)} GPU(s) are free; "
                    f"the run needs {count}. It will be retried."
                )
            yield [gpu_id for gpu_id, _ in held]
        finally:
            for _, fd in held:
                with contextlib.suppress(OSError):
                    fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
