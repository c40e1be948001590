"""Loading participant archives: what is accepted, and what a rejected upload is told."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors
import pytest

import sandbox
from sandbox import InvalidImage

pytestmark = pytest.mark.docker

TinyFactory = Callable[..., str]
SaveImage = Callable[[str, Path], Path]
GzipFile = Callable[[Path, Path], Path]
SaveMany = Callable[[list[str], Path], Path]
GB = 2**30


def _members(archive: Path) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    with tarfile.open(archive) as source:
        return [
            (member, source.extractfile(member).read() if member.isreg() else None)  # type: ignore[union-attr]
            for member in source.getmembers()
        ]


def _write(archive: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(archive, "w") as target:
        for member, data in members:
            if data is not None:
                member.size = len(data)
            target.addfile(member, io.BytesIO(data) if data is not None else None)
    return archive


def _edit_config(source: Path, target: Path, **changes: object) -> Path:
    """Copy a saved archive with its image configuration edited (and renamed to its digest)."""
    members = _members(source)
    manifest = json.loads(next(d for m, d in members if m.name == "manifest.json") or b"")
    old_name = manifest[0]["Config"]
    config = json.loads(next(d for m, d in members if m.name == old_name) or b"")
    config.update(changes)
    data = json.dumps(config).encode()
    new_name = hashlib.sha256(data).hexdigest() + ".json"
    manifest[0]["Config"] = new_name
    edited = []
    for member, content in members:
        if member.name == old_name:
            member.name, content = new_name, data
        elif member.name == "manifest.json":
            content = json.dumps(manifest).encode()
        edited.append((member, content))
    return _write(target, edited)


@pytest.fixture(scope="module")
def tiny_archive(
    client: docker.DockerClient,
    tiny_image_factory: TinyFactory,
    tmp_path_factory,
    save_image: SaveImage,
) -> Path:
    tag = tiny_image_factory("podium-test/tiny-valid", cmd=["/hello"])
    return save_image(tag, tmp_path_factory.mktemp("tiny") / "tiny.tar")


def test_loaded_image_is_untagged_and_named_by_its_id(
    client: docker.DockerClient,
    tiny_image_factory: TinyFactory,
    tmp_path: Path,
    save_image: SaveImage,
) -> None:
    tag = tiny_image_factory("podium-test/tiny-retag", cmd=["/hello"])
    archive = save_image(tag, tmp_path / "image.tar")
    original_id = client.images.get(tag).id
    client.images.remove(tag)

    loaded = sandbox.load_image(client, archive, max_size_bytes=GB)

    assert loaded.image_id == original_id
    assert loaded.size_bytes > 0
    assert client.api.inspect_image(loaded.image_id)["RepoTags"] == []
    sandbox.remove_image(client, loaded.image_id)
    with pytest.raises(docker.errors.ImageNotFound):
        client.api.inspect_image(loaded.image_id)


def test_gzip_archive_is_loaded(
    client: docker.DockerClient,
    tiny_image_factory: TinyFactory,
    tmp_path: Path,
    save_image: SaveImage,
    gzip_file: GzipFile,
) -> None:
    tag = tiny_image_factory("podium-test/tiny-gzip", cmd=["/hello"])
    # A misleading name: compression is detected from the content.
    archive = gzip_file(save_image(tag, tmp_path / "plain.tar"), tmp_path / "upload.bin")

    loaded = sandbox.load_image(client, archive, max_size_bytes=GB)

    assert loaded.image_id == client.images.get(tag).id


def test_remove_image_ignores_missing_images(client: docker.DockerClient) -> None:
    sandbox.remove_image(client, "sha256:" + "f" * 64)


def test_remove_image_keeps_tagged_platform_images(
    client: docker.DockerClient, tiny_image_factory: TinyFactory
) -> None:
    tag = tiny_image_factory("podium-test/tiny-shared", cmd=["/hello"])

    sandbox.remove_image(client, client.images.get(tag).id)

    assert client.images.get(tag)


@pytest.mark.parametrize(
    "content",
    [b"this is not a docker image\n" * 100, gzip.compress(b"gzip but not a tar" * 100), b""],
    ids=["text", "gzip-of-text", "empty"],
)
def test_non_archive_is_rejected(
    client: docker.DockerClient, tmp_path: Path, content: bytes
) -> None:
    upload = tmp_path / "image.tar"
    upload.write_bytes(content)

    with pytest.raises(InvalidImage, match="not a Docker image archive") as caught:
        sandbox.load_image(client, upload, max_size_bytes=GB)

    assert "docker save" in caught.value.message


def test_archive_with_two_images_is_rejected(
    client: docker.DockerClient,
    tiny_image_factory: TinyFactory,
    tmp_path: Path,
    docker_save_cli: SaveMany,
) -> None:
    first = tiny_image_factory("podium-test/tiny-first", cmd=["/hello"])
    second = tiny_image_factory("podium-test/tiny-second", cmd=["/hello"])
    archive = docker_save_cli([first, second], tmp_path / "two.tar")

    with pytest.raises(InvalidImage, match="exactly one image, it contains 2"):
        sandbox.load_image(client, archive, max_size_bytes=GB)


def test_image_without_command_is_rejected(
    client: docker.DockerClient,
    tiny_image_factory: TinyFactory,
    tmp_path: Path,
    save_image: SaveImage,
) -> None:
    tag = tiny_image_factory("podium-test/tiny-nocmd")
    archive = save_image(tag, tmp_path / "image.tar")

    with pytest.raises(InvalidImage, match="no ENTRYPOINT or CMD") as caught:
        sandbox.load_image(client, archive, max_size_bytes=GB)

    assert "Dockerfile" in caught.value.message


def test_image_for_another_architecture_is_rejected(
    client: docker.DockerClient, tiny_archive: Path, tmp_path: Path
) -> None:
    archive = _edit_config(tiny_archive, tmp_path / "arm.tar", architecture="arm64")

    with pytest.raises(InvalidImage, match="linux/arm64") as caught:
        sandbox.load_image(client, archive, max_size_bytes=GB)

    assert "--platform linux/amd64" in caught.value.message


@pytest.mark.parametrize("evil_name", ["../evil", "layer/../../evil", "/etc/evil"])
def test_archive_with_escaping_path_is_rejected(
    client: docker.DockerClient, tiny_archive: Path, tmp_path: Path, evil_name: str
) -> None:
    evil = tarfile.TarInfo(evil_name)
    archive = _write(tmp_path / "evil.tar", [*_members(tiny_archive), (evil, b"pwned")])

    with pytest.raises(InvalidImage, match="unsafe path"):
        sandbox.load_image(client, archive, max_size_bytes=GB)


def test_archive_over_size_limit_is_rejected(
    client: docker.DockerClient, tiny_archive: Path
) -> None:
    with pytest.raises(InvalidImage, match=r"compressed\), over the image size limit of 1 KB"):
        sandbox.load_image(client, tiny_archive, max_size_bytes=1024)


def test_image_whose_layer_is_over_the_size_limit_is_rejected_unloaded(
    client: docker.DockerClient,
    tiny_image_factory: TinyFactory,
    tmp_path: Path,
    save_image: SaveImage,
    gzip_file: GzipFile,
) -> None:
    # 4 MB of zeros gzip to a few KB: the archive passes, the unpacked image does not.
    tag = tiny_image_factory("podium-test/tiny-bomb", cmd=["/hello"], payload=b"\0" * 4 * 2**20)
    archive = gzip_file(save_image(tag, tmp_path / "image.tar"), tmp_path / "image.tgz")
    image_id = client.images.get(tag).id
    client.images.remove(tag)
    assert archive.stat().st_size < 2**20

    with pytest.raises(InvalidImage, match="over the image size limit of 1 MB once decompressed"):
        sandbox.load_image(client, archive, max_size_bytes=2**20)

    with pytest.raises(docker.errors.ImageNotFound):
        client.api.inspect_image(image_id)


def test_job_archive_loads_to_the_built_image(
    client: docker.DockerClient, job_image: sandbox.LoadedImage
) -> None:
    assert job_image.image_id == client.images.get("podium-test/sandbox-job:latest").id
    assert job_image.size_bytes > 100 * 2**20


def test_truncated_archive_is_rejected(client: docker.DockerClient, tmp_path: Path) -> None:
    source = tmp_path / "source.tar"
    upload = tmp_path / "truncated.tar"
    with tarfile.open(source, "w") as archive:
        payload = b"x" * 100_000
        info = tarfile.TarInfo("layer/layer.tar")
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
    upload.write_bytes(source.read_bytes()[:50_000])

    with pytest.raises(InvalidImage, match="not a Docker image archive"):
        sandbox.load_image(client, upload, max_size_bytes=GB)


def test_corrupt_layer_is_rejected_by_the_engine_as_invalid_image(
    client: docker.DockerClient,
    tiny_image_factory: TinyFactory,
    tmp_path: Path,
    save_image: SaveImage,
) -> None:
    # The engine skips layers it already holds without reading them, so the image must go.
    tag = tiny_image_factory("podium-test/tiny-corrupt", cmd=["/hello"])
    saved = save_image(tag, tmp_path / "image.tar")
    client.images.remove(tag)
    # A well-formed tar, so the validator reads it, whose content is not the layer the
    # configuration names by digest: only the engine can tell.
    other = io.BytesIO()
    with tarfile.open(fileobj=other, mode="w") as layer:
        info = tarfile.TarInfo("other")
        info.size = 5
        layer.addfile(info, io.BytesIO(b"other"))
    members = [
        (member, other.getvalue() if member.name.endswith("layer.tar") else data)
        for member, data in _members(saved)
    ]
    archive = _write(tmp_path / "corrupt.tar", members)

    with pytest.raises(InvalidImage, match="could not load the image"):
        sandbox.load_image(client, archive, max_size_bytes=GB)


def test_layer_that_is_not_a_tar_is_refused_before_loading(
    client: docker.DockerClient, tiny_archive: Path, tmp_path: Path
) -> None:
    members = [
        (member, b"garbage" * 100 if member.name.endswith("layer.tar") else data)
        for member, data in _members(tiny_archive)
    ]
    archive = _write(tmp_path / "corrupt.tar", members)

    with pytest.raises(InvalidImage, match=r"layer '[0-9a-f]+/layer.tar' is not a tar archive"):
        sandbox.load_image(client, archive, max_size_bytes=GB)


def test_gzip_bomb_is_rejected_from_its_first_header(
    client: docker.DockerClient, tmp_path: Path
) -> None:
    """512 MB of zeros in a 1 MB upload: refused without decompressing the lot."""
    bomb = tmp_path / "bomb.tar.gz"
    size = GB // 2
    info = tarfile.TarInfo("0123abcd/layer.tar")
    info.size = size
    zeros = b"\0" * (16 * 2**20)
    with gzip.open(bomb, "wb", compresslevel=1) as packed:
        packed.write(info.tobuf(tarfile.GNU_FORMAT))
        for _ in range(size // len(zeros)):
            packed.write(zeros)
        packed.write(b"\0" * (2 * tarfile.BLOCKSIZE))
    assert bomb.stat().st_size < 4 * 2**20

    with pytest.raises(InvalidImage, match="over the image size limit of 64 MB once decompressed"):
        sandbox.load_image(client, bomb, max_size_bytes=64 * 2**20)


def test_archive_with_too_many_entries_is_rejected(
    client: docker.DockerClient, tmp_path: Path
) -> None:
    archive = tmp_path / "many.tar"
    with tarfile.open(archive, "w") as target:
        for index in range(60):
            target.addfile(tarfile.TarInfo(f"entry-{index}"), io.BytesIO(b""))

    with pytest.raises(InvalidImage, match="more than 50 entries"):
        sandbox.load_image(client, archive, max_size_bytes=GB, max_entries=50)


@pytest.mark.parametrize("target", ["/etc/passwd", "../../etc/passwd"])
def test_archive_with_a_link_out_of_it_is_rejected(
    client: docker.DockerClient, tiny_archive: Path, tmp_path: Path, target: str
) -> None:
    link = tarfile.TarInfo("innocent/layer.tar")
    link.type = tarfile.SYMTYPE
    link.linkname = target
    archive = _write(tmp_path / "link.tar", [*_members(tiny_archive), (link, None)])

    with pytest.raises(InvalidImage, match="link out of the archive"):
        sandbox.load_image(client, archive, max_size_bytes=GB)


def test_duplicate_upload_is_recognised_and_not_loaded_again(
    client: docker.DockerClient,
    tiny_image_factory: TinyFactory,
    tmp_path: Path,
    save_image: SaveImage,
) -> None:
    tag = tiny_image_factory("podium-test/tiny-duplicate", cmd=["/hello"])
    archive = save_image(tag, tmp_path / "image.tar")
    client.images.remove(tag)

    first = sandbox.load_image(client, archive, max_size_bytes=GB)
    second = sandbox.load_image(client, archive, max_size_bytes=GB)

    assert not first.reused and second.reused
    assert first.image_id == second.image_id
    assert first.archive_sha256 == second.archive_sha256
    assert first.archive_sha256 == hashlib.sha256(archive.read_bytes()).hexdigest()
    sandbox.remove_image(client, first.image_id)


def _loaded_untagged(
    client: docker.DockerClient, factory: TinyFactory, save_image: SaveImage, tmp: Path, name: str
) -> tuple[Path, str]:
    tag = factory(f"podium-test/tiny-{name}", cmd=["/hello"])
    archive = save_image(tag, tmp / f"{name}.tar")
    client.images.remove(tag)
    return archive, sandbox.load_image(client, archive, max_size_bytes=GB).image_id


def test_ledger_sweep_removes_images_of_dead_processes_and_keeps_live_ones(
    client: docker.DockerClient,
    tiny_image_factory: TinyFactory,
    tmp_path: Path,
    save_image: SaveImage,
) -> None:
    """A worker killed between loading an image and removing it leaks the image; the
    ledger names it, and the sweep removes it once its process is gone."""
    ledger = tmp_path / "ledger"
    _, leaked = _loaded_untagged(client, tiny_image_factory, save_image, tmp_path, "leaked")
    _, live = _loaded_untagged(client, tiny_image_factory, save_image, tmp_path, "live")
    dead = subprocess.run(
        [sys.executable, "-c", "from sandbox.owner import owner_token; print(owner_token())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ledger.mkdir()
    (ledger / f"{dead}-{leaked.removeprefix('sha256:')}").touch()
    tracker = sandbox.ImageTracker(ledger)
    tracker.add(live)  # this process is alive and still using it

    removed = sandbox.sweep_images(client, ledger)

    assert removed == [f"image {leaked[:19]}"]
    with pytest.raises(docker.errors.ImageNotFound):
        client.api.inspect_image(leaked)
    assert client.api.inspect_image(live)
    tracker.release(client)
    with pytest.raises(docker.errors.ImageNotFound):
        client.api.inspect_image(live)
    assert list(ledger.iterdir()) == []
