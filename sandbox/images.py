"""Validate and load participant images from ``docker save`` archives.

The archive is untrusted. It is read twice, both times as a stream so a 10 GB upload never
sits in memory: first to check its structure (one linux/amd64 image with a command, no
path tricks), then to feed it to the engine. On the second pass the archive is re-emitted
with its tags removed: a participant's archive tagged ``podium/python:3.11`` must not be
able to replace the platform's base image on the worker, so every loaded image is untagged
and known only by its id.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import docker
import docker.errors
import requests

from sandbox._units import human_bytes
from sandbox.errors import EngineError, InvalidImage

logger = logging.getLogger(__name__)

_SAVE_HINT = "create it with `docker save IMAGE -o image.tar` (optionally gzip-compressed)"
_CHUNK = 1 << 20
# Metadata files (manifest, image config) are small; anything larger is not metadata and
# is not kept in memory during validation.
_METADATA_MAX_BYTES = 8 << 20
_METADATA_TOTAL_MAX_BYTES = 64 << 20


@dataclass(frozen=True)
class LoadedImage:
    """An image present in the engine, untagged, known by its content-addressed id."""

    image_id: str
    size_bytes: int


@dataclass(frozen=True)
class _Checked:
    image_id: str
    manifest: list[dict[str, Any]]


def _open_archive(path: Path) -> BinaryIO:
    """Open ``path``; ``tarfile`` mode ``r|*`` then detects gzip by its magic bytes."""
    return path.open("rb")


def _is_unsafe(name: str) -> bool:
    pure = PurePosixPath(name)
    return name.startswith("/") or pure.is_absolute() or ".." in pure.parts


def _metadata_wanted(member: tarfile.TarInfo) -> bool:
    if not member.isreg() or member.size > _METADATA_MAX_BYTES:
        return False
    name = member.name.removeprefix("./")
    # Legacy format: manifest.json and <id>.json at the top; OCI format: blobs/sha256/<id>.
    return ("/" not in name and name.endswith(".json")) or name.startswith("blobs/")


def _scan(path: Path) -> tuple[dict[str, bytes], set[str]]:
    """Read the archive once as a stream: check member names, keep the small metadata files."""
    metadata: dict[str, bytes] = {}
    names: set[str] = set()
    kept = 0
    try:
        with _open_archive(path) as raw, tarfile.open(fileobj=raw, mode="r|*") as archive:
            for member in archive:
                if _is_unsafe(member.name):
                    raise InvalidImage(
                        f"The image archive contains an unsafe path ({member.name!r}: absolute "
                        f"or with '..'); {_SAVE_HINT} instead of building the archive by hand."
                    )
                name = member.name.removeprefix("./")
                names.add(name.rstrip("/"))
                if _metadata_wanted(member) and kept + member.size <= _METADATA_TOTAL_MAX_BYTES:
                    data = archive.extractfile(member)
                    assert data is not None
                    metadata[name] = data.read()
                    kept += member.size
    except InvalidImage:
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise InvalidImage(
            f"The upload is not a Docker image archive (it is not a readable tar or "
            f"tar.gz file: {exc}); {_SAVE_HINT}."
        ) from exc
    return metadata, names


def _parse_json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidImage(f"The image archive has an unreadable {what}; {_SAVE_HINT}.") from exc


def _check(path: Path, max_size_bytes: int) -> _Checked:
    size = path.stat().st_size
    if size > max_size_bytes:
        raise InvalidImage(
            f"The image archive is {human_bytes(size)}, over the image size limit of "
            f"{human_bytes(max_size_bytes)}. Make the image smaller (a slim base image, "
            f"no build caches or datasets baked in) and upload it again."
        )
    metadata, names = _scan(path)
    if "manifest.json" not in metadata:
        raise InvalidImage(
            f"The upload is not a Docker image archive (no manifest.json); {_SAVE_HINT}."
        )
    manifest = _parse_json(metadata["manifest.json"], "manifest.json")
    if not isinstance(manifest, list) or len(manifest) != 1 or not isinstance(manifest[0], dict):
        count = len(manifest) if isinstance(manifest, list) else "an unreadable number of"
        raise InvalidImage(
            f"The image archive must contain exactly one image, it contains {count}; "
            f"save a single image: `docker save IMAGE -o image.tar`."
        )
    entry = manifest[0]
    config_name = entry.get("Config")
    layers = entry.get("Layers")
    if not isinstance(config_name, str) or not isinstance(layers, list):
        raise InvalidImage(f"The image archive has a malformed manifest.json; {_SAVE_HINT}.")
    config_name = config_name.removeprefix("./")
    if config_name not in metadata:
        raise InvalidImage(
            f"The image archive lacks the image configuration its manifest names; {_SAVE_HINT}."
        )
    missing = [layer for layer in layers if str(layer).removeprefix("./") not in names]
    if missing:
        raise InvalidImage(
            f"The image archive is incomplete ({len(missing)} layer(s) missing, e.g. "
            f"{missing[0]!r}); {_SAVE_HINT}."
        )
    config_bytes = metadata[config_name]
    config = _parse_json(config_bytes, "image configuration")
    if not isinstance(config, dict):
        raise InvalidImage(f"The image archive has a malformed image configuration; {_SAVE_HINT}.")
    platform = f"{config.get('os')}/{config.get('architecture')}"
    if platform != "linux/amd64":
        raise InvalidImage(
            f"The image is built for {platform}, but runs happen on linux/amd64. Rebuild it "
            f"with `docker build --platform linux/amd64 ...` and upload it again."
        )
    runtime = config.get("config") or {}
    if not (runtime.get("Entrypoint") or runtime.get("Cmd")):
        raise InvalidImage(
            "The image has no ENTRYPOINT or CMD, so there is nothing to run. Add e.g. "
            '`CMD ["python3", "/app/main.py"]` to your Dockerfile and rebuild.'
        )
    # The engine names an image by the digest of its configuration, so the id is known
    # before loading and does not depend on parsing the engine's progress messages.
    image_id = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    return _Checked(image_id=image_id, manifest=manifest)


def _pad(size: int) -> bytes:
    return b"\0" * (-size % tarfile.BLOCKSIZE)


def _untagged_stream(path: Path, manifest: list[dict[str, Any]]) -> Iterator[bytes]:
    """Yield the archive, decompressed, with tags dropped from its manifest.

    ``repositories`` (legacy tag list) and ``index.json`` (OCI tag annotations) are left out
    for the same reason; the engine loads from manifest.json alone.
    """
    new_manifest = json.dumps([{**manifest[0], "RepoTags": None}]).encode()
    with _open_archive(path) as raw, tarfile.open(fileobj=raw, mode="r|*") as archive:
        for member in archive:
            name = member.name.removeprefix("./")
            if name in ("repositories", "index.json"):
                continue
            if name == "manifest.json":
                member.size = len(new_manifest)
                yield member.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
                yield new_manifest + _pad(len(new_manifest))
                continue
            yield member.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
            if member.isreg():
                data = archive.extractfile(member)
                assert data is not None
                while chunk := data.read(_CHUNK):
                    yield chunk
                yield _pad(member.size)
    yield b"\0" * (2 * tarfile.BLOCKSIZE)


def _load(client: docker.DockerClient, path: Path, checked: _Checked) -> None:
    try:
        for message in client.api.load_image(_untagged_stream(path, checked.manifest)):
            if isinstance(message, dict) and message.get("error"):
                # The engine read our bytes and rejected them: a corrupt layer, not an outage.
                raise InvalidImage(
                    f"The Docker engine could not load the image ({message['error']}); "
                    f"{_SAVE_HINT} and upload it again."
                )
    except InvalidImage:
        raise
    except (tarfile.TarError, EOFError) as exc:
        raise InvalidImage(
            f"The image archive is corrupt ({exc}); {_SAVE_HINT} and upload it again."
        ) from exc
    except docker.errors.APIError as exc:
        if exc.is_client_error():
            raise InvalidImage(
                f"The Docker engine rejected the image archive ({exc.explanation}); "
                f"{_SAVE_HINT} and upload it again."
            ) from exc
        raise EngineError(f"The Docker engine failed to load the image: {exc}") from exc
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
        raise EngineError(f"The Docker engine failed to load the image: {exc}") from exc


def load_image(client: docker.DockerClient, path: Path, *, max_size_bytes: int) -> LoadedImage:
    """Validate the archive at ``path``, load it untagged and return its id and size.

    Raise :class:`InvalidImage` for anything the participant can fix (with what to do) and
    :class:`EngineError` when the engine fails.
    """
    path = Path(path)
    checked = _check(path, max_size_bytes)
    _load(client, path, checked)
    try:
        attrs = client.api.inspect_image(checked.image_id)
    except docker.errors.ImageNotFound as exc:
        raise EngineError(
            f"The Docker engine reported no error but image {checked.image_id} is missing"
        ) from exc
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise EngineError(f"The Docker engine failed to inspect the image: {exc}") from exc
    size = int(attrs.get("Size") or 0)
    if size > max_size_bytes:
        remove_image(client, checked.image_id)
        raise InvalidImage(
            f"The image is {human_bytes(size)} once unpacked, over the image size limit of "
            f"{human_bytes(max_size_bytes)}. Make the image smaller (a slim base image, no "
            f"build caches or datasets baked in) and upload it again."
        )
    return LoadedImage(image_id=checked.image_id, size_bytes=size)


def remove_image(client: docker.DockerClient, image_id: str) -> None:
    """Remove a loaded image, best effort.

    An image that carries tags is left alone: loaded images are untagged, so a tagged one
    is shared with the platform (a participant uploaded an exact copy of a base image) and
    removing it would break other runs. Failures are logged, never raised: a leftover image
    costs disk, not correctness.
    """
    try:
        attrs = client.api.inspect_image(image_id)
        if attrs.get("RepoTags"):
            logger.info("not removing %s: it is tagged %s", image_id, attrs["RepoTags"])
            return
        client.api.remove_image(image_id, force=True)
    except docker.errors.NotFound:
        return
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        logger.warning("could not remove image %s: %s", image_id, exc)
