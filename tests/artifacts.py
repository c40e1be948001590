"""Small artifacts for tests that submit without running: they pass the submit-time
check of the file's first bytes (sandbox.code.classify_upload) and nothing more."""

from __future__ import annotations

import io
import tarfile
import zipfile


def _tar(members: dict[str, tuple[bytes, int]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, (data, mode) in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def source_tar(files: dict[str, bytes]) -> bytes:
    """A plain tar of files (0644), e.g. sources without an entry point."""
    return _tar({name: (data, 0o644) for name, data in files.items()})


def image_tar(padding: bytes = b"") -> bytes:
    """A tar that looks like `docker save` output from its first bytes (it has a
    manifest.json), not a loadable image: the worker refuses it as invalid_image."""
    return _tar({"layer.bin": (padding, 0o644), "manifest.json": (b"[]", 0o644)})


IMAGE_TAR = image_tar()


def code_zip(files: dict[str, bytes] | None = None, executable: tuple[str, ...] = ()) -> bytes:
    """A zip of source files (default: a main.py that prints), ``executable`` ones 0755."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in (files or {"main.py": b"print('hello')\n"}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o100755 if name in executable else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()
