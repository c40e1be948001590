"""Remove what a crashed worker left behind: containers, mounted /output file systems, files.

Every run's container carries the owning process's token (``podium.sandbox.owner``) and
its scratch directory is named after it, so a starting worker removes only leftovers of
processes that are gone, never the runs of a live worker beside it on the same host.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import docker
import docker.errors
import requests
from docker.models.containers import Container

from sandbox.errors import EngineError
from sandbox.ledger import sweep_images
from sandbox.output import SCRATCH_PREFIX, remove_scratch
from sandbox.owner import owner_alive
from sandbox.runner import OWNER_LABEL, SANDBOX_LABEL

logger = logging.getLogger(__name__)

_SCRATCH_NAME = re.compile(rf"^{re.escape(SCRATCH_PREFIX)}(\d+-\d+)-")


def _scratch_owner(path: Path) -> str | None:
    match = _SCRATCH_NAME.match(path.name)
    return match.group(1) if match else None


def _mounted_scratch_dirs() -> set[Path]:
    """Scratch directories with a file system still mounted, wherever they are."""
    found: set[Path] = set()
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        fields = line.split()
        if len(fields) < 5:
            continue
        mount_point = Path(fields[4].replace("\\040", " "))
        if _scratch_owner(mount_point.parent) is not None:
            found.add(mount_point.parent)
    return found


def _exited_long_ago(container: Container, grace_seconds: float) -> bool:
    """An exited container that its (live) owner failed to remove: the engine went away
    during the run, or a removal failed. A live run's container is running, or exited for
    at most the few seconds its owner needs to read its log."""
    state = container.attrs.get("State") or {}
    if state.get("Status") not in ("exited", "dead"):
        return False
    try:
        finished = dt.datetime.fromisoformat(state.get("FinishedAt", "")[:26].rstrip("Z"))
    except ValueError:
        return False
    age = dt.datetime.now(dt.UTC).replace(tzinfo=None) - finished
    return age.total_seconds() > grace_seconds


def cleanup_orphans(  # noqa: C901 - three kinds of leftovers in one sweep, each tolerant of races
    client: docker.DockerClient,
    *,
    scratch_roots: Iterable[Path] = (),
    image_ledger: Path | None = None,
    exited_grace_seconds: float = 60.0,
    labels: Mapping[str, str] | None = None,
) -> list[str]:
    """Remove sandbox containers, scratch files and images whose owning process is gone.

    ``labels`` narrows the containers to those carrying all of them (a platform instance's
    own, on an engine that other instances share); with ``scratch_roots`` only scratch
    folders below those roots are considered (another instance's live or dead runs on the
    same host are its own business).

    Also removes sandbox containers that exited more than ``exited_grace_seconds`` ago
    (their owner lost the engine while they ran) and, with ``image_ledger``, the images
    that :mod:`sandbox.ledger` lists as leaked. Return a description of each thing removed
    (for the worker's log). Call it when a worker starts and periodically; it is safe
    beside live workers. Raise :class:`EngineError` when the engine cannot be asked.
    """
    removed: list[str] = []
    try:
        # ignore_removed: a container removed between the list and its inspection (by
        # another worker, or its own --rm) is simply gone, not an engine failure.
        wanted = [f"{SANDBOX_LABEL}=1", *(f"{k}={v}" for k, v in (labels or {}).items())]
        containers = client.containers.list(
            all=True, filters={"label": wanted}, ignore_removed=True
        )
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise EngineError(f"Cannot list sandbox containers: {exc}") from exc
    for container in containers:
        if owner_alive(container.labels.get(OWNER_LABEL, "")) and not _exited_long_ago(
            container, exited_grace_seconds
        ):
            continue
        try:
            container.remove(force=True, v=True)
            removed.append(f"container {container.short_id}")
        except docker.errors.NotFound:
            pass
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            logger.warning("could not remove orphan container %s", container.id, exc_info=True)
    roots = [Path(root).resolve() for root in scratch_roots]
    candidates = {
        p for p in _mounted_scratch_dirs() if not roots or any(p.is_relative_to(r) for r in roots)
    }
    for root in scratch_roots:
        try:
            candidates.update(p for p in Path(root).iterdir() if _scratch_owner(p) is not None)
        except OSError:
            continue
    for scratch in sorted(candidates):
        owner = _scratch_owner(scratch)
        if owner is None or owner_alive(owner):
            continue
        remove_scratch(scratch)
        removed.append(f"scratch {scratch}")
    if image_ledger is not None:
        removed.extend(sweep_images(client, image_ledger))
    for item in removed:
        logger.info("removed orphaned sandbox %s", item)
    return removed


def remove_containers(client: docker.DockerClient, *, labels: dict[str, str]) -> list[str]:
    """Force-remove every sandbox container carrying all ``labels``; return their short ids.

    For the holder of a run's lease: a container of an earlier attempt of the same run (the
    engine restarted under it and kept it) is stale by definition. Raise
    :class:`EngineError` when the engine cannot be asked.
    """
    filters = [f"{SANDBOX_LABEL}=1", *(f"{k}={v}" for k, v in labels.items())]
    removed = []
    try:
        for container in client.containers.list(
            all=True, filters={"label": filters}, ignore_removed=True
        ):
            try:
                container.remove(force=True, v=True)
                removed.append(container.short_id)
            except docker.errors.NotFound:
                continue
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise EngineError(f"Cannot remove old containers: {exc}") from exc
    for short_id in removed:
        logger.info("removed the container %s of an earlier attempt", short_id)
    return removed
