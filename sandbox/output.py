"""A size- and inode-bounded ``/output`` per run, and safe collection of the predictions.

A bind-mounted host directory would let a run fill the host's disk while it runs, and a
tmpfs volume loses its files when the container stops. So each run gets a sparse image
file formatted as ext4 and loop-mounted (``truncate`` + ``mkfs.ext4`` + ``mount -o loop``):
writes beyond its size fail with ENOSPC inside the container, the host spends at most its
size on disk, and the files survive the container. After the run the predictions file
alone is copied out (regular file, one link, size-capped, never followed through a link)
and the file system is unmounted and deleted, on every path.

Scratch directories are named after the owning process (``podium-run-<pid>-<start>-...``)
so that :func:`sandbox.cleanup_orphans` can tell a crashed worker's leftovers from a live
worker's runs. Needs root and ``mkfs.ext4`` (Debian package ``e2fsprogs``).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from podium.units import format_size
from sandbox.errors import EngineError
from sandbox.owner import owner_token

logger = logging.getLogger(__name__)

RUN_UID = 65534
RUN_GID = 65534
SCRATCH_PREFIX = "podium-run-"
PREDICTIONS_NAME = "predictions.csv"
_IMAGE_NAME = "output.ext4"
_MOUNT_NAME = "mnt"
_COPY_CHUNK = 1 << 20
# mkfs.ext4 refuses tiny file systems; keep a floor that holds a predictions file.
_MIN_BYTES = 4 * 2**20
MIB = 2**20
_MNT_DETACH = 2


def _libc_umount2() -> Callable[[bytes, int], int] | None:
    try:
        function = ctypes.CDLL(None, use_errno=True).umount2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_char_p, ctypes.c_int]
    function.restype = ctypes.c_int
    return cast(Callable[[bytes, int], int], function)


# umount(2) straight from libc: the umount program costs ~10 ms of start-up and libmount
# work per run; the kernel's part is under 1 ms. None where libc has no umount2.
_UMOUNT2 = _libc_umount2()


@dataclass(frozen=True)
class OutputVolume:
    """The mounted file system: ``path`` is what the container sees as /output."""

    path: Path
    size_bytes: int
    inodes: int

    def usage(self) -> tuple[bool, bool]:
        """Return (blocks exhausted, inodes exhausted) as the run left them."""
        try:
            info = os.statvfs(self.path)
        except OSError:
            return False, False
        # ext4 holds back up to 2 % for its metadata; "full" means less than 5 % left.
        free = info.f_bavail * info.f_frsize
        return free < max(MIB, self.size_bytes // 20), info.f_favail == 0


def _run(command: list[str]) -> None:
    try:
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)
    except FileNotFoundError as exc:
        raise EngineError(
            f"This worker cannot prepare the run's /output: {command[0]} is missing "
            "(install the Debian package e2fsprogs)."
        ) from exc
    except subprocess.CalledProcessError as exc:
        raise EngineError(
            f"This worker cannot prepare the run's /output: {' '.join(command[:2])} failed "
            f"({exc.stderr.strip() or exc.returncode}); the worker must run as root."
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise EngineError(f"Preparing the run's /output timed out: {command[0]}") from exc


def _unmount(mount_point: Path) -> None:
    """Unmount lazily if busy, so a stuck reader never leaks the loop device for good.

    The loop device was attached with autoclear (``mount -o loop``), so the kernel detaches
    it when the file system goes; no mtab or utab needs updating (/etc/mtab is the kernel's).
    """
    if not os.path.ismount(mount_point):
        return
    if _UMOUNT2 is not None:
        if _UMOUNT2(os.fsencode(mount_point), 0) == 0:
            return
        code = ctypes.get_errno()
        if code == errno.EBUSY:
            logger.warning("umount %s: busy; detaching lazily", mount_point)
            if _UMOUNT2(os.fsencode(mount_point), _MNT_DETACH) == 0:
                return
        logger.warning("umount2 %s failed (%s); trying umount", mount_point, os.strerror(code))
    result = subprocess.run(
        ["umount", str(mount_point)], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        logger.warning("umount %s failed (%s); detaching lazily", mount_point, result.stderr)
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, check=False)


def remove_scratch(scratch: Path) -> None:
    """Unmount and delete one run's scratch directory; never raise."""
    try:
        _unmount(scratch / _MOUNT_NAME)
    except Exception:  # cleanup after a run: it must not fail the run or the worker
        logger.warning("could not unmount %s", scratch, exc_info=True)
    shutil.rmtree(scratch, ignore_errors=True)


@contextlib.contextmanager
def bounded_output(scratch_root: Path, *, size_bytes: int, inodes: int) -> Iterator[OutputVolume]:
    """Yield a fresh ext4 file system of ``size_bytes`` owned by the run user."""
    size_bytes = max(size_bytes, _MIN_BYTES)
    # ext4 cannot hold more inodes than 4 KiB blocks at this size; small volumes get fewer.
    inodes = max(16, min(inodes, size_bytes // 4096))
    scratch_root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{owner_token()}-", dir=scratch_root))
    try:
        image = scratch / _IMAGE_NAME
        mount_point = scratch / _MOUNT_NAME
        mount_point.mkdir()
        with image.open("wb") as handle:
            handle.truncate(size_bytes)
        _run(
            [
                "mkfs.ext4",
                "-q",
                "-F",
                "-m",
                "0",
                # No journal: scratch data need not survive a crash, and mkfs is faster. No
                # reserved blocks for online growth either (resize_inode): it never grows.
                "-O",
                "^has_journal,^resize_inode",
                "-N",
                str(inodes),
                "-E",
                f"root_owner={RUN_UID}:{RUN_GID},lazy_itable_init=1",
                str(image),
            ]
        )
        # -t ext4: without it mount probes the image's type (libblkid), ~10 ms per run.
        _run(["mount", "-t", "ext4", "-o", "loop,nosuid,nodev", str(image), str(mount_point)])
        with contextlib.suppress(OSError):
            (mount_point / "lost+found").rmdir()
        yield OutputVolume(path=mount_point, size_bytes=size_bytes, inodes=inodes)
    finally:
        remove_scratch(scratch)


class PredictionsRejected(Exception):
    """The predictions file exists but may not be read; ``kind`` is the failure kind."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


_WHAT = (
    "Write your predictions as a regular file at /output/predictions.csv, with the same "
    "columns as /data/sample_submission.csv."
)


def collect_predictions(source_dir: Path, target: Path, *, max_bytes: int) -> Path | None:
    """Copy ``source_dir/predictions.csv`` to ``target`` if it is safe to read.

    Return None when there is no such file; raise :class:`PredictionsRejected` for a link,
    a device, a directory or an oversized file. The file is opened without following links
    and without blocking (a FIFO must not hang the worker), checked through the open
    descriptor and copied with a byte budget, so it cannot change between check and read.
    """
    path = source_dir / PREDICTIONS_NAME
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PredictionsRejected(
                "no_predictions",
                "Your run finished but /output/predictions.csv is a symbolic link, which is "
                f"not accepted (it was not read). {_WHAT}",
            ) from exc
        raise PredictionsRejected(
            "no_predictions", f"Your run's /output/predictions.csv cannot be opened. {_WHAT}"
        ) from exc
    with os.fdopen(fd, "rb") as source:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PredictionsRejected(
                "no_predictions",
                f"Your run finished but /output/predictions.csv is not a regular file. {_WHAT}",
            )
        if info.st_nlink != 1:
            raise PredictionsRejected(
                "no_predictions",
                "Your run finished but /output/predictions.csv is a hard link, which is not "
                f"accepted. {_WHAT}",
            )
        if info.st_size > max_bytes:
            raise PredictionsRejected(
                "disk_limit",
                f"Your predictions file is {format_size(info.st_size)}, over the limit of "
                f"{format_size(max_bytes)}. Write only the columns of "
                "/data/sample_submission.csv, without extra precision or columns.",
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        copied = 0
        with target.open("wb") as sink:
            while chunk := source.read(min(_COPY_CHUNK, max_bytes + 1 - copied)):
                copied += len(chunk)
                if copied > max_bytes:
                    break
                sink.write(chunk)
        if copied > max_bytes:
            target.unlink(missing_ok=True)
            raise PredictionsRejected(
                "disk_limit",
                f"Your predictions file grew over the limit of {format_size(max_bytes)}.",
            )
    return target
