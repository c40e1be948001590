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
from typing import Any

from docker.types import Mount

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


# --- Device-node mode: GPUs for hosts without the NVIDIA container toolkit ---------------
#
# The container gets the GPU's own device node (/dev/nvidiaN, N its *minor number*, which
# can differ from its nvidia-smi index), the driver's shared nodes, and the host's driver
# libraries mounted read-only under DRIVER_LIBRARY_ROOT (their folders appended to the
# image's library path). Every confinement flag of the run stays as it is: no capability,
# no privilege, read-only root, no network.
NVIDIA_SHARED_NODES = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools")
DRIVER_LIBRARY_ROOT = "/usr/local/podium-nvidia"
GPU_MODES = ("toolkit", "device-nodes")
_MINOR = re.compile(r"^Device Minor:\s*(\d+)\s*$", re.MULTILINE)


def proc_bus_id(bus_id: str) -> str:
    """``nvidia-smi``'s PCI bus id ("00000000:3B:00.0") as /proc/driver/nvidia names its
    folder ("0000:3b:00.0")."""
    domain, rest = bus_id.strip().split(":", 1)
    return f"{domain[-4:]}:{rest}".lower()


def gpu_minor_numbers(
    gpu_ids: Iterable[str], *, proc_root: Path = Path("/proc/driver/nvidia/gpus")
) -> dict[str, int]:
    """The minor number of each GPU id (an nvidia-smi index or UUID). Raise
    :class:`EngineError` when nvidia-smi or the driver's /proc files cannot tell."""
    try:
        completed = subprocess.run(
            ["nvidia-smi", "--query-gpu=index,uuid,pci.bus_id", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise EngineError(f"nvidia-smi cannot list the GPUs: {exc}") from exc
    minors: dict[str, int] = {}
    for line in completed.stdout.splitlines():
        if not line.strip():
            continue
        index, uuid, bus_id = (part.strip() for part in line.split(","))
        information = proc_root / proc_bus_id(bus_id) / "information"
        try:
            match = _MINOR.search(information.read_text())
        except OSError as exc:
            raise EngineError(f"cannot read {information}: {exc}") from exc
        if match is None:
            raise EngineError(f"{information} names no device minor")
        minors[index] = minors[uuid] = int(match.group(1))
    missing = [gpu_id for gpu_id in gpu_ids if gpu_id not in minors]
    if missing:
        raise EngineError(f"nvidia-smi does not know the GPU(s) {', '.join(missing)}")
    return minors


def device_node_options(
    minors: Iterable[int], *, driver_dirs: Iterable[Path], image_library_path: str = ""
) -> dict[str, Any]:
    """What device-node mode adds to a container's options: ``devices`` (the GPUs' nodes
    by minor number and the shared nodes), ``mounts`` (each driver folder read-only) and
    ``environment`` (``LD_LIBRARY_PATH``: the image's own, then the driver folders)."""
    devices = [f"/dev/nvidia{minor}:/dev/nvidia{minor}:rw" for minor in minors]
    devices += [f"{node}:{node}:rw" for node in NVIDIA_SHARED_NODES]
    mounts, targets = [], []
    for number, folder in enumerate(driver_dirs):
        target = f"{DRIVER_LIBRARY_ROOT}/lib{number}"
        targets.append(target)
        mounts.append(Mount(target, str(folder), type="bind", read_only=True))
    library_path = ":".join(part for part in (image_library_path, *targets) if part)
    return {"devices": devices, "mounts": mounts, "environment": {"LD_LIBRARY_PATH": library_path}}
