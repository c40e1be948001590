"""Validate and load participant images from ``docker save`` archives.

The archive is untrusted. It is read twice, both times as a stream so a 10 GB upload never
sits in memory: first to check its structure (one linux/amd64 image with a command, no
path tricks) and, reading each layer's headers nested in the same pass, the size and count
of the files the engine would unpack (no compressed or sparse members, which the engine
would expand past any size the headers declare), then to feed it to the engine. On the
second pass the archive is re-emitted with its tags removed: a participant's archive
tagged ``podium/python:3.11`` must not be able to replace the platform's base image on
the worker, so every loaded image is untagged and known only by its id.
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import re
import tarfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import docker
import docker.errors
import requests

from podium.units import format_size
from sandbox.errors import EngineError, InvalidImage

logger = logging.getLogger(__name__)

_SAVE_HINT = "create it with `docker save IMAGE -o image.tar` (optionally gzip-compressed)"
_SMALLER = (
    "Make the image smaller (a slim base image, no build caches or datasets baked in) and "
    "upload it again."
)
_CHUNK = 1 << 20
# Metadata files (manifest, image config) are small; anything larger is not metadata and
# is not kept in memory during validation.
_METADATA_MAX_BYTES = 8 << 20
_METADATA_TOTAL_MAX_BYTES = 64 << 20
# Counts the archive's members and the files in its layers (the engine creates each one):
# podium/python:3.11 holds about 16,000, large CUDA/conda images a few hundred thousand;
# a bound far above that stops archives (or layers) of millions of tiny members early.
DEFAULT_MAX_ENTRIES = 1_000_000
# `docker save` writes layers as plain tar; the engine decompresses a layer that starts
# with one of these magics (its own detection order), which is a decompression bomb the
# validator cannot size from headers. Checked on every member's first bytes.
_COMPRESSION_MAGICS = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x04\x22\x4d\x18", "lz4"),
)
_STREAM_BUFSIZE = 1 << 16


@dataclass(frozen=True)
class LoadedImage:
    """An image present in the engine, untagged, known by its content-addressed id.

    ``archive_sha256`` is the digest of the uploaded file, for duplicate detection;
    ``reused`` says the engine already held the image, so nothing was loaded.
    """

    image_id: str
    size_bytes: int
    archive_sha256: str = ""
    reused: bool = False


@dataclass(frozen=True)
class _Checked:
    image_id: str
    manifest: list[dict[str, Any]]
    archive_sha256: str
    config_name: str = ""
    config_bytes: bytes = b""


class _HashingReader:
    """A read-only file wrapper that hashes what passes through it."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.digest.update(data)
        return data

    def drain(self) -> str:
        while self.read(_CHUNK):
            pass
        return self.digest.hexdigest()


class _Prefixed:
    """A read-only file that yields ``head`` and then the rest of ``rest`` (a peeked stream)."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size < 0 or size >= len(self._head):
                data, self._head = self._head, b""
                more = self._rest.read(-1 if size < 0 else size - len(data))
                return data + more
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._rest.read(size)


def _compression(head: bytes) -> str:
    """Name the compression ``head`` (a member's first bytes) starts with, or ""."""
    if len(head) >= 4 and head[0] & 0xF0 == 0x50 and head[1:4] == b"\x2a\x4d\x18":
        return "zstd"  # a zstd skippable frame (magic 0x184D2A50-5F), which the engine accepts
    return next((kind for magic, kind in _COMPRESSION_MAGICS if head.startswith(magic)), "")


def _is_tar(head: bytes) -> bool:
    """Return whether ``head`` (a member's first 512 bytes) opens a tar archive: a header
    with a valid checksum, or the zero block of an empty tar (an empty layer)."""
    if len(head) != tarfile.BLOCKSIZE:
        return False
    if head == b"\0" * tarfile.BLOCKSIZE:
        return True
    try:
        tarfile.TarInfo.frombuf(head, "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def _is_sparse(member: tarfile.TarInfo) -> bool:
    """A GNU or PAX sparse entry declares a large file with little data behind it."""
    return member.issparse() or any(key.startswith("GNU.sparse") for key in member.pax_headers)


def _open_archive(path: Path) -> BinaryIO:
    """Open ``path``; ``tarfile`` mode ``r|*`` then detects gzip by its magic bytes."""
    return path.open("rb")


def _is_unsafe(name: str) -> bool:
    pure = PurePosixPath(name)
    return name.startswith("/") or pure.is_absolute() or ".." in pure.parts


def _link_escapes(member: tarfile.TarInfo) -> bool:
    """Return whether a link member points outside the archive (docker save links layers
    to one another with relative targets such as ``../<id>/layer.tar``)."""
    target = member.linkname
    if target.startswith("/"):
        return True
    base = PurePosixPath(member.name).parent if member.issym() else PurePosixPath()
    depth = len([part for part in base.parts if part not in ("", ".")])
    for part in PurePosixPath(target).parts:
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part != ".":
            depth += 1
    return False


def _canonical(name: str) -> str:
    """The path a member lands on when the engine unpacks the archive (``./a//b/`` is ``a/b``)."""
    return posixpath.normpath(name)


def _ambiguity(member: tarfile.TarInfo, name: str, seen: dict[str, bool], parents: set[str]) -> str:
    """Say why the engine could read ``member`` otherwise than the validator did, or "".

    The engine unpacks the whole archive before reading it, so a second member of the same
    name replaces the first (the validator would have checked the first), and a member
    under a link or a file lands wherever that link points.
    """
    if name in seen:
        return f"two entries named {name!r}"
    ancestors = [posixpath.dirname(name)]
    while ancestors[-1] not in ("", "/", "."):
        ancestors.append(posixpath.dirname(ancestors[-1]))
    through = next((a for a in ancestors if a in seen and not seen[a]), None)
    if through is not None:
        return f"the entry {name!r} under {through!r}, which is not a directory"
    if not member.isdir() and name in parents:
        return f"the entry {name!r}, which is not a directory but has entries under it"
    seen[name] = member.isdir()
    parents.update(ancestors)
    return ""


def _metadata_wanted(member: tarfile.TarInfo, name: str) -> bool:
    if not member.isreg() or member.size > _METADATA_MAX_BYTES:
        return False
    # Legacy format: manifest.json and <id>.json at the top; OCI format: blobs/sha256/<id>.
    return ("/" not in name and name.endswith(".json")) or name.startswith("blobs/")


class _Tally:
    """Entries and unpacked bytes counted across the archive and its layers, with the limits.

    ``stored`` sums the archive's members as stored (what the engine first writes to disk);
    ``unpacked`` sums what the image takes once unpacked: every file in every layer, plus
    the archive's members that are not layers (metadata).
    """

    def __init__(self, *, max_size_bytes: int, max_entries: int) -> None:
        self.max_size_bytes = max_size_bytes
        self.max_entries = max_entries
        self.entries = 0
        self.stored = 0
        self.unpacked = 0

    def entry(self) -> None:
        self.entries += 1
        if self.entries > self.max_entries:
            raise InvalidImage(
                f"The image archive has more than {self.max_entries} entries (the entry limit, "
                f"counting the files in its layers); {_SAVE_HINT} instead of building the "
                "archive by hand, and leave build caches and datasets out of the image."
            )

    def store(self, member: tarfile.TarInfo) -> None:
        self.stored += member.size
        if self.stored > self.max_size_bytes:
            raise InvalidImage(
                f"The image is over the image size limit of {format_size(self.max_size_bytes)} "
                f"once decompressed (at {member.name!r}, {format_size(member.size)}, the "
                f"archive's contents reach {format_size(self.stored)}). {_SMALLER}"
            )

    def unpack(self, size: int, where: str) -> None:
        self.unpacked += size
        if self.unpacked > self.max_size_bytes:
            raise InvalidImage(
                f"The image is over the image size limit of {format_size(self.max_size_bytes)} "
                f"once unpacked (at {where}, {format_size(size)}, the image's files reach "
                f"{format_size(self.unpacked)}). {_SMALLER}"
            )


def _members(archive: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """Iterate a stream-mode archive without keeping its members (a layer may hold a million)."""
    while (member := archive.next()) is not None:
        archive.members.clear()  # type: ignore[attr-defined]  # the list next() appends to
        yield member


def _refuse_compressed(head: bytes, name: str) -> None:
    kind = _compression(head)
    if kind:
        raise InvalidImage(
            f"The image archive contains a {kind}-compressed member ({name!r}); `docker save` "
            "writes its layers uncompressed, and a compressed layer could not be sized before "
            f"the engine unpacks it. {_SAVE_HINT[0].upper()}{_SAVE_HINT[1:]} (compress the "
            "whole archive if you like, never a layer inside it)."
        )


def _scan_layer(head: bytes, data: BinaryIO, layer: str, tally: _Tally) -> None:
    """Read a layer's headers (its data is skipped, read once) and count its files."""
    try:
        with tarfile.open(  # type: ignore[call-overload]
            fileobj=_Prefixed(head, data),
            mode="r|",
            bufsize=_STREAM_BUFSIZE,
        ) as archive:
            for member in _members(archive):
                tally.entry()
                if _is_sparse(member):
                    raise InvalidImage(
                        f"The image archive's layer {layer!r} contains a sparse file "
                        f"({member.name!r}), which `docker save` never writes; {_SAVE_HINT}."
                    )
                tally.unpack(member.size, f"{member.name!r} in the layer {layer!r}")
    except InvalidImage:
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise InvalidImage(
            f"The image archive's layer {layer!r} is not a readable tar archive ({exc}); "
            f"{_SAVE_HINT}."
        ) from exc


def _scan(  # noqa: C901 - one streaming pass; each branch guards against a hostile archive
    path: Path, *, max_size_bytes: int, max_entries: int
) -> tuple[dict[str, bytes], set[str], set[str], str]:
    """Read the archive once as a stream: check every member header, keep the metadata.

    Return the metadata (name -> bytes), the canonical names of all members, those of the
    plain files that are not tar archives (so not layers) and the archive's sha256.

    Sizes are checked from the headers before any member's data is read, so a gzip bomb
    (a small upload that decompresses to terabytes) is rejected after its first header.
    A layer is read as a nested stream in the same pass: its files' sizes count towards
    the unpacked size and its entries towards the entry limit, before the engine sees it.
    A member that starts with a compression magic (the engine would decompress it) and a
    sparse member (a large file declared with little data) are refused.
    """
    metadata: dict[str, bytes] = {}
    names: set[str] = set()
    plain: set[str] = set()
    seen: dict[str, bool] = {}
    parents: set[str] = set()
    kept = 0
    tally = _Tally(max_size_bytes=max_size_bytes, max_entries=max_entries)
    try:
        with _open_archive(path) as raw:
            reader = _HashingReader(raw)
            with tarfile.open(  # type: ignore[call-overload]
                fileobj=reader, mode="r|*", bufsize=_STREAM_BUFSIZE
            ) as archive:
                for member in _members(archive):
                    tally.entry()
                    if _is_unsafe(member.name):
                        raise InvalidImage(
                            f"The image archive contains an unsafe path ({member.name!r}: "
                            f"absolute or with '..'); {_SAVE_HINT} instead of building the "
                            "archive by hand."
                        )
                    if (member.issym() or member.islnk()) and _link_escapes(member):
                        raise InvalidImage(
                            f"The image archive contains a link out of the archive "
                            f"({member.name!r} -> {member.linkname!r}); {_SAVE_HINT}."
                        )
                    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
                        raise InvalidImage(
                            f"The image archive contains a device or pipe ({member.name!r}), "
                            f"which `docker save` never writes; {_SAVE_HINT}."
                        )
                    if _is_sparse(member):
                        raise InvalidImage(
                            f"The image archive contains a sparse file ({member.name!r}), "
                            f"which `docker save` never writes; {_SAVE_HINT}."
                        )
                    tally.store(member)
                    name = _canonical(member.name)
                    ambiguity = _ambiguity(member, name, seen, parents)
                    if ambiguity:
                        raise InvalidImage(
                            f"The image archive is ambiguous ({ambiguity}): Docker would not "
                            f"load what was checked. {_SAVE_HINT[0].upper()}{_SAVE_HINT[1:]} "
                            "instead of building or editing the archive by hand."
                        )
                    names.add(name)
                    if not member.isreg():
                        continue
                    data = archive.extractfile(member)
                    assert data is not None
                    head = data.read(tarfile.BLOCKSIZE)
                    _refuse_compressed(head, member.name)
                    if _is_tar(head):
                        _scan_layer(head, data, member.name, tally)
                        continue
                    plain.add(name)
                    tally.unpack(member.size, repr(member.name))
                    room = kept + member.size <= _METADATA_TOTAL_MAX_BYTES
                    if _metadata_wanted(member, name) and room:
                        metadata[name] = head + data.read()
                        kept += member.size
            archive_sha256 = reader.drain()
    except InvalidImage:
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError, zlib.error) as exc:
        raise InvalidImage(
            f"The upload is not a Docker image archive (it is not a readable tar or "
            f"tar.gz file: {exc}); {_SAVE_HINT}."
        ) from exc
    return metadata, names, plain, archive_sha256


def _parse_json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidImage(f"The image archive has an unreadable {what}; {_SAVE_HINT}.") from exc


def _check(path: Path, max_size_bytes: int, max_entries: int) -> _Checked:  # noqa: C901 - one check after another, each with its own message
    size = path.stat().st_size
    if size > max_size_bytes:
        raise InvalidImage(
            f"The image archive is {format_size(size)} (compressed), over the image size limit of "
            f"{format_size(max_size_bytes)}. Make the image smaller (a slim base image, "
            f"no build caches or datasets baked in) and upload it again."
        )
    metadata, names, plain, archive_sha256 = _scan(
        path, max_size_bytes=max_size_bytes, max_entries=max_entries
    )
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
    if any(_is_unsafe(str(p)) for p in [config_name, *layers]):
        raise InvalidImage(
            f"The image archive's manifest.json names a path outside the archive; {_SAVE_HINT}."
        )
    config_name = _canonical(config_name)
    if config_name not in metadata:
        # Absent, or a member the validator did not read (a link, or over the metadata
        # size limit): the engine must never load a configuration that was not checked.
        raise InvalidImage(
            "The image archive lacks the image configuration its manifest names (or it is "
            f"not a plain file of at most {format_size(_METADATA_MAX_BYTES)}); {_SAVE_HINT}."
        )
    missing = [layer for layer in layers if _canonical(str(layer)) not in names]
    if missing:
        raise InvalidImage(
            f"The image archive is incomplete ({len(missing)} layer(s) missing, e.g. "
            f"{missing[0]!r}); {_SAVE_HINT}."
        )
    # Every layer was sized file by file above; one that is not a tar archive was not.
    unread = [layer for layer in layers if _canonical(str(layer)) in plain]
    if unread:
        raise InvalidImage(
            f"The image archive's layer {unread[0]!r} is not a tar archive; {_SAVE_HINT}."
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
    return _Checked(
        image_id=image_id,
        manifest=manifest,
        archive_sha256=archive_sha256,
        config_name=config_name,
        config_bytes=config_bytes,
    )


def _pad(size: int) -> bytes:
    return b"\0" * (-size % tarfile.BLOCKSIZE)


def _untagged_stream(
    path: Path, manifest: list[dict[str, Any]], config: tuple[str, bytes] | None = None
) -> Iterator[bytes]:
    """Yield the archive, decompressed, with tags dropped from its manifest.

    ``config`` is (canonical member name, bytes) of the configuration the validator read:
    those bytes are sent in place of the member's, so the engine gets the configuration
    that was checked even if the file changed between the two passes.

    ``repositories`` (legacy tag list) and ``index.json`` (OCI tag annotations) are left out
    for the same reason; the engine loads from manifest.json alone.
    """
    new_manifest = json.dumps([{**manifest[0], "RepoTags": None}]).encode()
    with _open_archive(path) as raw, tarfile.open(fileobj=raw, mode="r|*") as archive:
        for member in archive:
            name = _canonical(member.name)
            if name in ("repositories", "index.json"):
                continue
            if name == "manifest.json":
                member.size = len(new_manifest)
                yield member.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
                yield new_manifest + _pad(len(new_manifest))
                continue
            if config is not None and name == config[0]:
                # The configuration the validator read, not the file's bytes read again.
                member.size = len(config[1])
                yield member.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
                yield config[1] + _pad(len(config[1]))
                continue
            yield member.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
            if member.isreg():
                data = archive.extractfile(member)
                assert data is not None
                while chunk := data.read(_CHUNK):
                    yield chunk
                yield _pad(member.size)
    yield b"\0" * (2 * tarfile.BLOCKSIZE)


_LOADED_ID = re.compile(r"Loaded image ID: (sha256:[0-9a-f]{64})")
_LOADED_NAME = re.compile(r"Loaded image: (\S+)")


def _reported_image(client: docker.DockerClient, message: Any) -> str | None:
    """Return the image id a ``docker load`` progress message says was loaded, if any.

    The engine says ``Loaded image ID: sha256:...`` for an untagged image and ``Loaded
    image: name:tag`` for a tagged one (then resolved to its id here).
    """
    text = message.get("stream") if isinstance(message, dict) else None
    if not isinstance(text, str):
        return None
    if match := _LOADED_ID.search(text):
        return match.group(1)
    if match := _LOADED_NAME.search(text):
        try:
            return str(client.api.inspect_image(match.group(1))["Id"])
        except (docker.errors.DockerException, requests.exceptions.RequestException, KeyError):
            logger.warning("the engine loaded %s, whose id could not be read", match.group(1))
    return None


def _load(
    client: docker.DockerClient,
    path: Path,
    checked: _Checked,
    record: Callable[[str], None],
    reported: list[str],
) -> None:
    """Feed the archive to the engine; append each id it reports loading to ``reported``.

    Each id is appended and passed to ``record`` as soon as the engine reports it, before
    anything else can fail, so an image the engine holds is always in the ledger and in
    ``reported`` even when this raises.
    """
    try:
        for message in client.api.load_image(
            _untagged_stream(path, checked.manifest, (checked.config_name, checked.config_bytes))
        ):
            image_id = _reported_image(client, message)
            if image_id is not None and image_id not in reported:
                reported.append(image_id)
                record(image_id)
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


def _present(client: docker.DockerClient, image_id: str) -> bool:
    try:
        client.api.inspect_image(image_id)
    except docker.errors.ImageNotFound:
        return False
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise EngineError(f"The Docker engine failed to inspect the image: {exc}") from exc
    return True


def load_image(
    client: docker.DockerClient,
    path: Path,
    *,
    max_size_bytes: int,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    before_load: Callable[[str], None] | None = None,
) -> LoadedImage:
    """Validate the archive at ``path``, load it untagged and return its id and size.

    An image the engine already holds (same id, which is the digest of a configuration
    naming every layer's digest, so the same content) is not loaded again. Raise
    :class:`InvalidImage` for anything the participant can fix (with what to do) and
    :class:`EngineError` when the engine fails. ``before_load`` is called with the image id
    once the archive is checked, before the engine sees it, and again with the id of every
    image the engine reports loading, as soon as it reports it (to record each in a ledger:
    see :mod:`sandbox.ledger`). An archive the validator and the engine could read
    differently (duplicate entries, entries under links) is refused before loading; if the
    engine still loads an image other than the one checked, every image it loaded is
    removed and :class:`InvalidImage` is raised.
    """
    path = Path(path)
    checked = _check(path, max_size_bytes, max_entries)
    record = before_load or (lambda _image_id: None)
    record(checked.image_id)
    reused = _present(client, checked.image_id)
    reported: list[str] = []
    if not reused:
        load_failed = True
        try:
            _load(client, path, checked, record, reported)
            load_failed = False
        finally:
            # An image the engine made of this archive that is not the one checked (or any
            # image at all, when the load failed) is removed now: it was never validated.
            for image_id in reported:
                if load_failed or image_id != checked.image_id:
                    remove_image(client, image_id)
        unexpected = [image_id for image_id in reported if image_id != checked.image_id]
        if unexpected:
            remove_image(client, checked.image_id)
            raise InvalidImage(
                f"The Docker engine loaded a different image ({unexpected[0][:19]}) from the "
                f"archive than the one checked ({checked.image_id[:19]}): the archive is "
                f"inconsistent. {_SAVE_HINT[0].upper()}{_SAVE_HINT[1:]} and upload it again."
            )
    try:
        attrs = client.api.inspect_image(checked.image_id)
    except docker.errors.ImageNotFound as exc:
        if reused or checked.image_id in reported:
            # The engine said it holds the image and then did not: not the archive's doing.
            raise EngineError(
                f"The Docker engine reported loading image {checked.image_id} but it is missing"
            ) from exc
        raise InvalidImage(
            f"The Docker engine loaded no image {checked.image_id[:19]} from the archive (it "
            f"reported {', '.join(i[:19] for i in reported) or 'none'}): the archive is "
            f"inconsistent. {_SAVE_HINT[0].upper()}{_SAVE_HINT[1:]} and upload it again."
        ) from exc
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise EngineError(f"The Docker engine failed to inspect the image: {exc}") from exc
    size = int(attrs.get("Size") or 0)
    if size > max_size_bytes:
        if not reused:
            remove_image(client, checked.image_id)
        raise InvalidImage(
            f"The image is {format_size(size)} once unpacked, over the image size limit of "
            f"{format_size(max_size_bytes)}. Make the image smaller (a slim base image, no "
            f"build caches or datasets baked in) and upload it again."
        )
    return LoadedImage(
        image_id=checked.image_id,
        size_bytes=size,
        archive_sha256=checked.archive_sha256,
        reused=reused,
    )


def remove_image(client: docker.DockerClient, image_id: str) -> bool:
    """Remove a loaded image, best effort; return whether it is gone (or not ours: tagged).

    An image that carries tags is left alone: loaded images are untagged, so a tagged one
    is shared with the platform (a participant uploaded an exact copy of a base image) and
    removing it would break other runs. An image in use by a running container is kept
    too. Failures are logged, never raised: a leftover image
    costs disk, not correctness.
    """
    try:
        attrs = client.api.inspect_image(image_id)
        if attrs.get("RepoTags"):
            logger.info("not removing %s: it is tagged %s", image_id, attrs["RepoTags"])
            return True
        # Not forced: an image a live run of another submission still uses (same upload
        # twice) is refused by the engine with a conflict and stays until that run ends.
        client.api.remove_image(image_id, force=False)
    except docker.errors.NotFound:
        return True
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        logger.warning("could not remove image %s: %s", image_id, exc)
        return False
    return True
