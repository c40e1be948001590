"""Competition data on a compute host, cached by checksum.

Each input file is kept once under ``blobs/<sha256>`` whatever competition or version it
came from; a run's folders (``sets/<version>/train``, ``test``, ``sample_submission.csv``)
are hard links to the blobs, assembled once per manifest version and then bind-mounted
read-only into every run. Only what the platform lists is ever fetched: the solution
is never in a manifest.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from sandbox.limits import RunMounts

Fetch = Callable[[str, Path, str], None]  # (input name, target, sha256)


class BadManifest(Exception):
    """The platform listed a name that would leave the run's folders."""


@dataclass(frozen=True)
class DataCache:
    root: Path

    def mounts(self, manifest: dict[str, Any], fetch: Fetch) -> RunMounts:
        """The run's data folders for ``manifest``, fetching only blobs not cached yet."""
        version = str(manifest["version"])
        if not version.isalnum():
            raise BadManifest(f"bad version {version!r}")
        target = self.root / "sets" / version
        mounts = RunMounts(
            train_dir=target / "train",
            test_dir=target / "test",
            sample_submission=target / "sample_submission.csv",
        )
        if (target / ".complete").exists():
            return mounts
        blobs = self.root / "blobs"
        blobs.mkdir(parents=True, exist_ok=True, mode=0o755)
        staging = target.with_name(f"{version}.{uuid.uuid4().hex}.partial")
        (staging / "train").mkdir(parents=True)
        (staging / "test").mkdir()
        try:
            for entry in manifest["files"]:
                name, sha256 = str(entry["name"]), str(entry["sha256"])
                parts = PurePosixPath(name).parts
                if (
                    not sha256.isalnum()
                    or ".." in parts
                    or name.startswith("/")
                    or not (parts[0] in ("train", "test") or name == "sample_submission.csv")
                ):
                    raise BadManifest(f"bad input {name!r}")
                blob = blobs / sha256
                if not blob.exists():
                    fetch(name, blob, sha256)
                    blob.chmod(0o644)
                link = staging / name
                link.parent.mkdir(parents=True, exist_ok=True)
                os.link(blob, link)
            for folder in (staging, *(p for p in staging.rglob("*") if p.is_dir())):
                folder.chmod(0o755)
            (staging / ".complete").touch()
            # Another process may have assembled the same version first: keep its copy.
            with contextlib.suppress(OSError):
                os.rename(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return mounts
