"""Archives the validator and the engine could read differently, on the real engine.

The engine unpacks a ``docker load`` archive to disk before reading it, so the last of two
members with one name wins, while a streaming validator reads the first. Such archives are
refused before loading; and whatever the engine does load is recorded and, if it is not
the image that was checked, removed.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
import requests

import sandbox
import sandbox.images
from sandbox import InvalidImage

pytestmark = pytest.mark.docker

GB = 2**30
Member = tuple[tarfile.TarInfo, bytes | None]


@pytest.fixture(scope="module")
def tiny_archive(
    client: docker.DockerClient,
    tiny_image_factory: Callable[..., str],
    tmp_path_factory,
    save_image,
) -> Path:
    tag = tiny_image_factory("podium-test/tiny-ambiguity", cmd=["/hello"])
    return save_image(tag, tmp_path_factory.mktemp("ambiguity") / "tiny.tar")


def _members(archive: Path) -> list[Member]:
    with tarfile.open(archive) as source:
        return [
            (member, source.extractfile(member).read() if member.isreg() else None)  # type: ignore[union-attr]
            for member in source.getmembers()
        ]


def _entry(name: str, data: bytes) -> Member:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _write_gz(target: Path, members: list[Member]) -> Path:
    with gzip.open(target, "wb") as packed, tarfile.open(fileobj=packed, mode="w") as archive:
        for member, data in members:
            archive.addfile(member, io.BytesIO(data) if data is not None else None)
    return target


def _image_id(config: bytes) -> str:
    return "sha256:" + hashlib.sha256(config).hexdigest()


def _absent(client: docker.DockerClient, image_id: str) -> bool:
    try:
        client.api.inspect_image(image_id)
    except docker.errors.ImageNotFound:
        return True
    return False


def _variants(source: Path) -> tuple[list[Member], str, bytes, bytes]:
    """Return the archive's members without its configuration, a fresh configuration name
    (A's digest, named in the manifest), A (small, valid) and B (A padded past 8 MB)."""
    members = _members(source)
    manifest = json.loads(next(d for m, d in members if m.name == "manifest.json") or b"")
    old = manifest[0]["Config"]
    config = json.loads(next(d for m, d in members if m.name == old) or b"")
    config["config"]["Labels"] = {"podium.test": uuid.uuid4().hex}
    small = json.dumps(config).encode()
    name = hashlib.sha256(small).hexdigest() + ".json"
    config["config"]["Env"] = [*(config["config"].get("Env") or []), "PAD=" + "A" * (9 << 20)]
    padded = json.dumps(config).encode()
    manifest[0]["Config"] = name
    rest = [
        _entry("manifest.json", json.dumps(manifest).encode())
        if m.name == "manifest.json"
        else (m, d)
        for m, d in members
        if m.name != old
    ]
    return rest, name, small, padded


@pytest.fixture
def engine_images(client: docker.DockerClient) -> Iterator[list[str]]:
    """Image ids a test may leave behind on failure; removed at the end either way."""
    ids: list[str] = []
    yield ids
    for image_id in ids:
        sandbox.remove_image(client, image_id)


def test_duplicate_config_member_is_refused_and_nothing_is_loaded(
    client: docker.DockerClient, tiny_archive: Path, tmp_path: Path, engine_images: list[str]
) -> None:
    """The tester's archive (arch2.py): a small valid configuration, then the same name
    again padded past the validator's 8 MB metadata limit."""
    rest, name, small, padded = _variants(tiny_archive)
    archive = _write_gz(tmp_path / "dup.tar.gz", [*rest, _entry(name, small), _entry(name, padded)])
    engine_images += [_image_id(small), _image_id(padded)]
    ledger = tmp_path / "ledger"
    tracker = sandbox.ImageTracker(ledger)

    with pytest.raises(InvalidImage, match=f"ambiguous \\(two entries named '{name}'\\)") as caught:
        sandbox.load_image(client, archive, max_size_bytes=GB, before_load=tracker.add)

    assert "docker save" in caught.value.message
    assert tracker.image_ids == []  # refused before anything reached the engine
    assert _absent(client, _image_id(small)) and _absent(client, _image_id(padded))


def test_the_duplicate_archive_really_loads_the_unchecked_image(
    client: docker.DockerClient, tiny_archive: Path, tmp_path: Path, engine_images: list[str]
) -> None:
    """Guard for the test above: fed straight to the engine, the same archive yields B,
    the configuration the validator never read."""
    rest, name, small, padded = _variants(tiny_archive)
    archive = _write_gz(tmp_path / "dup.tar.gz", [*rest, _entry(name, small), _entry(name, padded)])
    engine_images += [_image_id(small), _image_id(padded)]

    with archive.open("rb") as raw:
        list(client.api.load_image(gzip.GzipFile(fileobj=raw).read()))

    assert not _absent(client, _image_id(padded))
    assert _absent(client, _image_id(small))


@pytest.mark.parametrize("spelling", ["./{name}", ".//{name}", "{name}/"])
def test_duplicate_under_another_spelling_is_refused(
    client: docker.DockerClient,
    tiny_archive: Path,
    tmp_path: Path,
    spelling: str,
    engine_images: list[str],
) -> None:
    rest, name, small, padded = _variants(tiny_archive)
    members = [*rest, _entry(name, small), _entry(spelling.format(name=name), padded)]
    archive = _write_gz(tmp_path / "dup.tar.gz", members)
    engine_images += [_image_id(small), _image_id(padded)]

    with pytest.raises(InvalidImage, match="two entries named"):
        sandbox.load_image(client, archive, max_size_bytes=GB)

    assert _absent(client, _image_id(small)) and _absent(client, _image_id(padded))


def test_member_written_through_a_link_is_refused(
    client: docker.DockerClient, tiny_archive: Path, tmp_path: Path, engine_images: list[str]
) -> None:
    """``d -> .`` then ``d/<config>``: unpacked, the second lands on the first."""
    rest, name, small, padded = _variants(tiny_archive)
    engine_images += [_image_id(small), _image_id(padded)]
    link = tarfile.TarInfo("d")
    link.type = tarfile.SYMTYPE
    link.linkname = "."
    archive = _write_gz(
        tmp_path / "link.tar.gz",
        [*rest, _entry(name, small), (link, None), _entry(f"d/{name}", padded)],
    )

    with pytest.raises(InvalidImage, match="under 'd', which is not a directory"):
        sandbox.load_image(client, archive, max_size_bytes=GB)

    assert _absent(client, _image_id(small)) and _absent(client, _image_id(padded))


def test_oversized_configuration_alone_is_refused(
    client: docker.DockerClient, tiny_archive: Path, tmp_path: Path, engine_images: list[str]
) -> None:
    rest, name, _small, padded = _variants(tiny_archive)
    engine_images.append(_image_id(padded))
    archive = _write_gz(tmp_path / "big.tar.gz", [*rest, _entry(name, padded)])

    with pytest.raises(InvalidImage, match="lacks the image configuration"):
        sandbox.load_image(client, archive, max_size_bytes=GB)

    assert _absent(client, _image_id(padded))


def test_engine_loading_another_image_is_refused_and_leaves_nothing(
    client: docker.DockerClient,
    tiny_archive: Path,
    tmp_path: Path,
    engine_images: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fault injection at the validator/engine boundary: the bytes reaching the engine
    hold another image than the one checked (whatever future gap makes that possible)."""
    rest, name, small, _ = _variants(tiny_archive)
    checked = _write_gz(tmp_path / "checked.tar.gz", [*rest, _entry(name, small)])
    rest2, name2, other, _ = _variants(tiny_archive)
    substitute = _write_gz(tmp_path / "other.tar.gz", [*rest2, _entry(name2, other)])
    engine_images += [_image_id(small), _image_id(other)]
    real_stream = sandbox.images._untagged_stream
    swapped = sandbox.images._check(substitute, GB, 10_000).manifest
    monkeypatch.setattr(
        sandbox.images,
        "_untagged_stream",
        lambda *_: real_stream(substitute, swapped),
    )
    ledger = tmp_path / "ledger"
    tracker = sandbox.ImageTracker(ledger)

    with pytest.raises(InvalidImage, match="loaded a different image"):
        sandbox.load_image(client, checked, max_size_bytes=GB, before_load=tracker.add)

    # Recorded as soon as the engine reported it, and already removed.
    assert tracker.image_ids == [_image_id(small), _image_id(other)]
    assert _absent(client, _image_id(other)) and _absent(client, _image_id(small))
    tracker.release(client)
    assert list(ledger.iterdir()) == []


def test_engine_loading_nothing_is_the_archives_fault(
    client: docker.DockerClient,
    tiny_archive: Path,
    tmp_path: Path,
    engine_images: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ "No error but the image is missing" is an invalid image, not a platform fault to
    retry, when the engine never said it loaded that image."""
    rest, name, small, _ = _variants(tiny_archive)
    checked = _write_gz(tmp_path / "checked.tar.gz", [*rest, _entry(name, small)])
    engine_images.append(_image_id(small))
    empty = io.BytesIO()
    with tarfile.open(fileobj=empty, mode="w") as archive:
        data = b"[]"
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    monkeypatch.setattr(sandbox.images, "_untagged_stream", lambda *_: iter([empty.getvalue()]))

    with pytest.raises(InvalidImage, match="loaded no image"):
        sandbox.load_image(client, checked, max_size_bytes=GB)

    assert _absent(client, _image_id(small))


def test_archive_changed_after_validation_still_loads_the_checked_configuration(
    client: docker.DockerClient,
    tiny_archive: Path,
    tmp_path: Path,
    engine_images: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The file is swapped between the validating pass and the loading pass (same names,
    configuration B in place of A): the engine is sent the configuration that was read."""
    rest, name, small, padded = _variants(tiny_archive)
    upload = _write_gz(tmp_path / "upload.tar.gz", [*rest, _entry(name, small)])
    swapped = _write_gz(tmp_path / "swapped.tar.gz", [*rest, _entry(name, padded)])
    engine_images += [_image_id(small), _image_id(padded)]
    real_check = sandbox.images._check

    def check_then_swap(path: Path, *args: int) -> object:
        checked = real_check(path, *args)
        path.write_bytes(swapped.read_bytes())
        return checked

    monkeypatch.setattr(sandbox.images, "_check", check_then_swap)

    loaded = sandbox.load_image(client, upload, max_size_bytes=GB)

    assert loaded.image_id == _image_id(small)
    assert _absent(client, _image_id(padded))


def test_load_failing_after_the_engine_reported_an_image_leaves_nothing(
    client: docker.DockerClient,
    tiny_archive: Path,
    tmp_path: Path,
    engine_images: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fault injection: the engine loads the image and reports it, then the connection
    breaks before the response ends. The image was recorded and is removed."""
    rest, name, small, _ = _variants(tiny_archive)
    upload = _write_gz(tmp_path / "upload.tar.gz", [*rest, _entry(name, small)])
    engine_images.append(_image_id(small))
    real_load = client.api.load_image

    def load_then_break(data: object, **kwargs: object) -> Iterator[object]:
        for message in real_load(data, **kwargs):
            yield message
            if "Loaded image" in str(message):
                raise requests.exceptions.ConnectionError("connection reset by peer")

    monkeypatch.setattr(client.api, "load_image", load_then_break)
    tracker = sandbox.ImageTracker(tmp_path / "ledger")

    with pytest.raises(sandbox.EngineError, match="connection reset"):
        sandbox.load_image(client, upload, max_size_bytes=GB, before_load=tracker.add)

    assert tracker.image_ids == [_image_id(small)]
    assert _absent(client, _image_id(small))
