"""A worker process keeps the image it ran last for its next run of the same archive, on
the real engine: reused only for the same archive checked against the same size limit and
while the engine holds it; released when another archive comes or the process stops."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors
import pytest

import sandbox

pytestmark = pytest.mark.docker

GB = 2**30


def _present(client: docker.DockerClient, image_id: str) -> bool:
    try:
        client.api.inspect_image(image_id)
    except docker.errors.ImageNotFound:
        return False
    return True


def _archive(
    client: docker.DockerClient,
    tiny_image_factory: Callable[..., str],
    save_image: Callable[[str, Path], Path],
    target: Path,
) -> tuple[Path, str]:
    tag = tiny_image_factory(f"podium-test/kept-{target.stem}", cmd=["/hello"])
    archive = save_image(tag, target)
    client.images.remove(tag)  # untagged, as a participant's image is once loaded
    return archive, hashlib.sha256(archive.read_bytes()).hexdigest()


def test_the_kept_image_is_reused_only_for_the_same_archive_and_limit_then_released(
    client: docker.DockerClient,
    tiny_image_factory: Callable[..., str],
    save_image: Callable[[str, Path], Path],
    tmp_path: Path,
) -> None:
    first, first_sha = _archive(client, tiny_image_factory, save_image, tmp_path / "a.tar")
    second, second_sha = _archive(client, tiny_image_factory, save_image, tmp_path / "b.tar")
    keeper = sandbox.ImageKeeper(tmp_path / "ledger")

    image_id, tracker = keeper.take(client, archive_sha256=first_sha, max_size_bytes=GB)
    assert image_id is None
    loaded = sandbox.load_image(client, first, max_size_bytes=GB, before_load=tracker.add)
    keeper.keep(
        archive_sha256=first_sha, max_size_bytes=GB, image_id=loaded.image_id, tracker=tracker
    )

    again, same_tracker = keeper.take(client, archive_sha256=first_sha, max_size_bytes=GB)
    assert again == loaded.image_id and same_tracker is tracker and _present(client, again)
    keeper.keep(archive_sha256=first_sha, max_size_bytes=GB, image_id=again, tracker=tracker)

    # The same archive under another competition's size limit is checked again: not reused.
    other_limit, fresh = keeper.take(client, archive_sha256=first_sha, max_size_bytes=GB // 2)
    assert other_limit is None and fresh is not tracker
    assert not _present(client, loaded.image_id)  # released, not left on the host

    # Kept, then removed behind the keeper's back: loaded again, not run from nothing.
    reloaded = sandbox.load_image(client, first, max_size_bytes=GB, before_load=fresh.add)
    keeper.keep(
        archive_sha256=first_sha, max_size_bytes=GB, image_id=reloaded.image_id, tracker=fresh
    )
    client.api.remove_image(reloaded.image_id)
    gone, _ = keeper.take(client, archive_sha256=first_sha, max_size_bytes=GB)
    assert gone is None

    # Another archive releases the kept one; stopping releases the last.
    tracker = sandbox.ImageTracker(tmp_path / "ledger")
    kept_first = sandbox.load_image(client, first, max_size_bytes=GB, before_load=tracker.add)
    keeper.keep(
        archive_sha256=first_sha, max_size_bytes=GB, image_id=kept_first.image_id, tracker=tracker
    )
    none, tracker_b = keeper.take(client, archive_sha256=second_sha, max_size_bytes=GB)
    assert none is None and not _present(client, kept_first.image_id)
    kept_second = sandbox.load_image(client, second, max_size_bytes=GB, before_load=tracker_b.add)
    keeper.keep(
        archive_sha256=second_sha,
        max_size_bytes=GB,
        image_id=kept_second.image_id,
        tracker=tracker_b,
    )
    keeper.release(client)
    assert not _present(client, kept_second.image_id)
    assert not list((tmp_path / "ledger").iterdir())  # no marker left for the sweep
