"""Image archives built by hand, byte by byte, as a hostile participant would edit a
``docker save``: layers compressed, sparse, or declaring more than they hold.

Each archive is a complete image (configuration with ``diff_ids``, manifest.json) in the
legacy ``<id>/layer.tar`` layout or the OCI ``blobs/sha256/<digest>`` layout that Docker 25+
writes, so the engine would load it; only what a test adds makes it hostile. Every
configuration carries a fresh label, so its image id is the test's own on a shared engine.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import uuid
from pathlib import Path

LABEL = "org.podium-test.handmade"


def layer(files: dict[str, bytes]) -> bytes:
    """A plain (uncompressed) layer tar holding ``files`` (name -> content)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _checksummed(header: bytearray) -> bytes:
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header)


def gnu_sparse_member(name: str, real_size: int) -> bytes:
    """A GNU sparse entry (type ``S``), header and data: 512 bytes of data declared as a file
    of ``real_size`` bytes (the rest holes, which the engine writes out)."""
    info = tarfile.TarInfo(name)
    info.size = tarfile.BLOCKSIZE
    header = bytearray(info.tobuf(tarfile.GNU_FORMAT))
    assert len(header) == tarfile.BLOCKSIZE
    header[156:157] = tarfile.GNUTYPE_SPARSE
    header[386:398] = b"%011o\0" % 0  # first data region: offset 0 ...
    header[398:410] = b"%011o\0" % tarfile.BLOCKSIZE  # ... 512 bytes long
    header[483:495] = b"%011o\0" % real_size
    return _checksummed(header) + b"\1" * tarfile.BLOCKSIZE


def gnu_sparse_layer(name: str, real_size: int) -> bytes:
    """A layer whose one file is a GNU sparse entry (:func:`gnu_sparse_member`)."""
    return gnu_sparse_member(name, real_size) + b"\0" * (2 * tarfile.BLOCKSIZE)


def pax_sparse_layer(name: str, real_size: int) -> bytes:
    """A layer whose one file is a PAX 1.0 sparse entry (GNU tar's ``--sparse`` format)."""
    sparse_map = b"1\n0\n512\n".ljust(tarfile.BLOCKSIZE, b"\0")
    data = sparse_map + b"\1" * tarfile.BLOCKSIZE
    info = tarfile.TarInfo(f"GNUSparseFile.0/{name}")
    info.size = len(data)
    info.pax_headers = {
        "GNU.sparse.major": "1",
        "GNU.sparse.minor": "0",
        "GNU.sparse.name": name,
        "GNU.sparse.realsize": str(real_size),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def declared_layer(name: str, declared: int) -> bytes:
    """A layer whose one header declares ``declared`` bytes that the layer does not hold."""
    info = tarfile.TarInfo(name)
    info.size = declared
    return info.tobuf(tarfile.GNU_FORMAT) + b"\0" * (4 * tarfile.BLOCKSIZE)


def image_archive(
    target: Path,
    layers: list[tuple[bytes, bytes]],
    *,
    layout: str = "legacy",
    extra: bytes = b"",
    label: str = "",
) -> str:
    """Write an image archive to ``target`` and return its image id.

    ``layers`` are (bytes stored in the archive, uncompressed tar the configuration's
    ``diff_ids`` name); ``layout`` is ``legacy`` or ``oci``. ``extra`` is raw tar blocks
    (headers and data) written after the image's members; ``label`` the value of the
    configuration's :data:`LABEL` (random by default).
    """
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/hello"], "Labels": {LABEL: label or uuid.uuid4().hex}},
            "rootfs": {
                "type": "layers",
                "diff_ids": ["sha256:" + hashlib.sha256(tar).hexdigest() for _, tar in layers],
            },
        }
    ).encode()
    config_digest = hashlib.sha256(config).hexdigest()
    members: list[tuple[str, bytes]] = []
    names = []
    for stored, _ in layers:
        digest = hashlib.sha256(stored).hexdigest()
        name = f"blobs/sha256/{digest}" if layout == "oci" else f"{digest}/layer.tar"
        names.append(name)
        members.append((name, stored))
    config_name = f"blobs/sha256/{config_digest}" if layout == "oci" else f"{config_digest}.json"
    members.append((config_name, config))
    manifest = [{"Config": config_name, "RepoTags": None, "Layers": names}]
    members.append(("manifest.json", json.dumps(manifest).encode()))
    with target.open("wb") as out:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.write(info.tobuf(tarfile.PAX_FORMAT))
            out.write(data + b"\0" * (-len(data) % tarfile.BLOCKSIZE))
        out.write(extra + b"\0" * (2 * tarfile.BLOCKSIZE))
    return "sha256:" + config_digest
