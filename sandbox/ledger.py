"""Remember which engine images a worker process loaded, so leaked ones can be removed.

Participant images are loaded untagged, so nothing in the engine says which images are a
sandbox's. Before an image is loaded, a marker file ``<owner token>-<image id>`` is written
in the ledger directory; it is deleted once the image is removed. A marker left by a dead
process (a worker killed mid-run), or one renamed ``*.remove`` because the engine could
not remove the image then (engine down, image still in use), is swept later by
:func:`sweep_images`.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import docker

from sandbox.images import remove_image
from sandbox.owner import owner_alive, owner_token

logger = logging.getLogger(__name__)

_MARKER = re.compile(r"^(\d+-\d+)-([0-9a-f]{64})(\.remove)?$")


def _image_key(image_id: str) -> str:
    return image_id.removeprefix("sha256:")


class ImageTracker:
    """The images one run loaded: :meth:`add` before loading, :meth:`release` at the end."""

    def __init__(self, ledger_dir: Path) -> None:
        self.ledger_dir = Path(ledger_dir)
        self.image_ids: list[str] = []

    def add(self, image_id: str) -> None:
        self.ledger_dir.mkdir(parents=True, exist_ok=True)
        (self.ledger_dir / f"{owner_token()}-{_image_key(image_id)}").touch()
        if image_id not in self.image_ids:
            self.image_ids.append(image_id)

    def release(self, client: docker.DockerClient) -> None:
        """Remove each image; one the engine keeps is left marked for a later sweep."""
        for image_id in self.image_ids:
            marker = self.ledger_dir / f"{owner_token()}-{_image_key(image_id)}"
            try:
                if remove_image(client, image_id):
                    marker.unlink(missing_ok=True)
                else:
                    marker.rename(marker.with_name(marker.name + ".remove"))
            except OSError:  # the ledger is bookkeeping: never fail a run over it
                logger.warning("image ledger entry %s not updated", marker, exc_info=True)
        self.image_ids.clear()


def sweep_images(client: docker.DockerClient, ledger_dir: Path) -> list[str]:
    """Remove images of dead owners and images marked for removal; return those removed.

    An image that a live process has loaded for a run of its own is kept.
    """
    ledger_dir = Path(ledger_dir)
    try:
        names = [p.name for p in ledger_dir.iterdir()]
    except OSError:
        return []
    markers = [(name, _MARKER.match(name)) for name in names]
    in_use = {m.group(2) for _, m in markers if m and not m.group(3) and owner_alive(m.group(1))}
    removed = []
    for name, match in markers:
        if match is None:
            continue
        owner, key, marked = match.groups()
        if not marked and owner_alive(owner):
            continue
        if key not in in_use and remove_image(client, f"sha256:{key}"):
            (ledger_dir / name).unlink(missing_ok=True)
            removed.append(f"image sha256:{key[:12]}")
    return removed


class ImageKeeper:
    """The image this process ran last, kept loaded for its next run of the same archive.

    Loading an image for every run cost a download and a ``docker load`` even when the
    archive was the one just run (re-runs, a team's repeated image, benchmarks). One image
    per process is kept, with its ledger marker, so a process that dies leaves it to
    :func:`sweep_images` like any other. A kept image is reused only for an archive of the
    same SHA-256 checked against the same size limit, and only while the engine holds it.
    """

    def __init__(self, ledger_dir: Path) -> None:
        self.ledger_dir = Path(ledger_dir)
        self._kept: tuple[str, int, str, ImageTracker] | None = None

    def take(
        self, client: docker.DockerClient, *, archive_sha256: str, max_size_bytes: int
    ) -> tuple[str | None, ImageTracker]:
        """The kept image's id and its tracker when it is this archive's and still in the
        engine; otherwise release the kept image and return None with a fresh tracker."""
        kept, self._kept = self._kept, None
        if kept is not None:
            sha256, limit, image_id, tracker = kept
            if sha256 == archive_sha256 and limit == max_size_bytes and _present(client, image_id):
                return image_id, tracker
            tracker.release(client)
        return None, ImageTracker(self.ledger_dir)

    def keep(
        self, *, archive_sha256: str, max_size_bytes: int, image_id: str, tracker: ImageTracker
    ) -> None:
        """Keep ``image_id`` (loaded through ``tracker``) for the next :meth:`take`."""
        self._kept = (archive_sha256, max_size_bytes, image_id, tracker)

    def release(self, client: docker.DockerClient) -> None:
        """Remove the kept image (the process is stopping)."""
        kept, self._kept = self._kept, None
        if kept is not None:
            kept[3].release(client)


def _present(client: docker.DockerClient, image_id: str) -> bool:
    try:
        client.api.inspect_image(image_id)
    except docker.errors.ImageNotFound:
        return False
    except (docker.errors.DockerException, OSError):
        return False  # loading again will say what is wrong with the engine
    return True
