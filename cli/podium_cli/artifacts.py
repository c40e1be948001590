"""What a file to submit is, judged from its bytes as the server judges it: an image
archive (`docker save` output, optionally gzip-compressed) or a code archive (zip or
tar(.gz) with main.py or an executable run.sh at its root). Checked before uploading, so
a CSV or a folder of sources is refused here instead of after a long upload."""

from __future__ import annotations

import gzip
import hashlib
import tarfile
import zipfile
import zlib
from pathlib import Path

ENTRY_POINTS = ("main.py", "run.sh")
# Larger gzip files are taken for images without reading them through (as the server does).
CODE_SCAN_MAX_BYTES = 100 * 1024 * 1024


class NotAnArtifact(Exception):
    """The file is neither an image archive nor a code archive."""


def _head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(512)


def artifact_kind(path: Path) -> str:  # noqa: C901 - one branch per archive format, each with its own advice
    """``image`` or ``code``; NotAnArtifact (with what to do) otherwise."""
    head = _head(path)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        with zipfile.ZipFile(path) as archive:
            names = {name.lstrip("./") for name in archive.namelist()}
        if not names & set(ENTRY_POINTS):
            raise NotAnArtifact(
                f"{path.name} is a zip without main.py or run.sh at its root: archive the "
                "contents of your project folder (`cd project && zip -r ../code.zip .`)."
            )
        return "code"
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as fh:
                inner = fh.read(512)
        except (OSError, EOFError, zlib.error) as exc:
            raise NotAnArtifact(f"{path.name} is a damaged gzip file: {exc}") from exc
        if inner[257:262] != b"ustar":
            raise NotAnArtifact(f"{path.name} is gzip-compressed but holds no tar archive.")
        if path.stat().st_size > CODE_SCAN_MAX_BYTES:
            return "image"
    elif head[257:262] != b"ustar":
        raise NotAnArtifact(
            f"{path.name} is neither an image archive (`docker save IMAGE | gzip > image.tar.gz`) "
            "nor a code archive (zip or tar.gz with main.py or run.sh at its root)."
        )
    entry = False
    with tarfile.open(path, "r:*") as archive:
        for member in archive:
            name = member.name.removeprefix("./")
            if name == "manifest.json":
                return "image"
            entry = entry or name in ENTRY_POINTS
    if entry:
        return "code"
    raise NotAnArtifact(
        f"{path.name} is a tar with neither manifest.json (an image: use `docker save`) nor "
        "main.py or run.sh at its root (code)."
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()
