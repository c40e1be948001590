"""Code submissions: a zip or tar(.gz) archive of source run on a runtime image.

The archive is untrusted. :func:`inspect_code` reads only its directory (zip) or its
member headers (tar) and refuses it, before anything is extracted, for: path traversal
(``..``), absolute paths, links, devices and other non-regular members, too many
members, too many bytes once unpacked (declared sizes; a zip member whose compression
ratio is absurd counts as a bomb), encryption and a missing entry point.
:func:`extract_code` checks again and then extracts under the same bounds, counting the
bytes actually written (a zip's declared sizes can lie), so a bomb stops at the bound.

The entry point, at the archive's root: an executable ``run.sh`` (run as is), else
``main.py`` (run with the image's ``python3``). The code is mounted read-only at
``/code``, which is the working directory of the run.
"""

from __future__ import annotations

import gzip
import os
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from podium.units import format_size
from sandbox.errors import SandboxError

CODE_MOUNT = "/code"
ENTRY_POINTS = ("run.sh", "main.py")
_TAR_MAGIC_OFFSET = 257
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_CHUNK = 1 << 20


class InvalidCode(SandboxError):
    """The code archive is unusable or hostile: the participant's fault, not retried."""


class NotAnArchive(SandboxError):
    """The file is neither an image archive nor a code archive (judged from its bytes)."""


@dataclass(frozen=True)
class CodeLimits:
    """Bounds of one code archive: its file (bytes), its members, its unpacked bytes and
    the largest compression ratio of one zip member (a higher one is a bomb)."""

    max_archive_bytes: int = 100 * 2**20
    max_members: int = 10_000
    max_unpacked_bytes: int = 1 * 2**30
    max_ratio: float = 200.0


@dataclass(frozen=True)
class CodeArchive:
    """What an accepted code archive holds: ``format`` is ``zip`` or ``tar``,
    ``entry_point`` ``run.sh`` or ``main.py``, ``unpacked_bytes`` the declared total."""

    format: str
    entry_point: str
    members: int
    unpacked_bytes: int

    @property
    def command(self) -> list[str]:
        """The container's entry point for this archive."""
        if self.entry_point == "run.sh":
            return [f"{CODE_MOUNT}/run.sh"]
        return ["python3", f"{CODE_MOUNT}/main.py"]


@dataclass(frozen=True)
class _Member:
    name: str  # normalised, relative, "/"-separated
    is_dir: bool
    size: int
    executable: bool


def sniff(path: Path) -> str | None:
    """The container format from the first bytes: ``zip``, ``gzip``, ``tar`` or None."""
    with Path(path).open("rb") as fh:
        head = fh.read(_TAR_MAGIC_OFFSET + 8)
    if head[:4] in _ZIP_MAGICS:
        return "zip"
    if head[:2] == _GZIP_MAGIC:
        return "gzip"
    if _is_tar_header(head):
        return "tar"
    return None


def _is_tar_header(head: bytes) -> bool:
    return head[_TAR_MAGIC_OFFSET : _TAR_MAGIC_OFFSET + 5] == b"ustar"


def _gzip_holds_tar(path: Path) -> bool:
    try:
        with gzip.open(path, "rb") as fh:
            return _is_tar_header(fh.read(512))
    except (OSError, EOFError, zlib.error):
        return False


def _clean_name(raw: str) -> str:
    """The member's relative path, or InvalidCode when it could land outside the folder."""
    if "\\" in raw or "\x00" in raw:
        raise InvalidCode(f"The code archive has a member with an unusable name: {raw!r}.")
    path = PurePosixPath(raw)
    if path.is_absolute():
        raise InvalidCode(
            f"The code archive has a member with an absolute path ({raw}); archive paths "
            "relative to your project folder, e.g. `cd project && zip -r ../code.zip .`."
        )
    parts = [part for part in path.parts if part not in ("", ".")]
    if ".." in parts:
        raise InvalidCode(f"The code archive has a member that leaves its folder ({raw}).")
    return "/".join(parts)


def _zip_members(path: Path, limits: CodeLimits) -> Iterator[_Member]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidCode(f"The code archive is not a readable zip file: {exc}.") from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > limits.max_members:
            raise _too_many(limits)
        for info in infos:
            if info.flag_bits & 0x1:
                raise InvalidCode(f"The code archive is encrypted ({info.filename}); zip it plain.")
            mode = (info.external_attr >> 16) & 0xFFFF
            kind = stat.S_IFMT(mode)
            if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                raise _not_regular(info.filename, "a link" if kind == stat.S_IFLNK else "special")
            if info.compress_size and info.file_size / info.compress_size > limits.max_ratio:
                raise InvalidCode(
                    f"The code archive's member {info.filename} unpacks "
                    f"{format_size(info.file_size)} from {format_size(info.compress_size)}: "
                    "refused as a decompression bomb."
                )
            yield _Member(
                name=_clean_name(info.filename),
                is_dir=info.is_dir(),
                size=info.file_size,
                executable=bool(mode & 0o111),
            )


def _tar_members(path: Path, limits: CodeLimits) -> Iterator[_Member]:
    count = 0
    try:
        # Stream mode: headers are read in order and data skipped, never extracted.
        with tarfile.open(path, mode="r|*") as archive:
            for info in archive:
                count += 1
                if count > limits.max_members:
                    raise _too_many(limits)
                if info.issym() or info.islnk():
                    raise _not_regular(info.name, "a link")
                if not (info.isreg() or info.isdir()):
                    raise _not_regular(info.name, "special")
                yield _Member(
                    name=_clean_name(info.name),
                    is_dir=info.isdir(),
                    size=info.size,
                    executable=bool(info.mode & 0o111),
                )
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise InvalidCode(f"The code archive is not a readable tar file: {exc}.") from exc


def _too_many(limits: CodeLimits) -> InvalidCode:
    return InvalidCode(
        f"The code archive has more than {limits.max_members} members; leave data, "
        "virtual environments and caches out of it."
    )


def _not_regular(name: str, what: str) -> InvalidCode:
    kind = "a link" if what == "a link" else "a device, pipe or other special file"
    return InvalidCode(
        f"The code archive's member {name} is {kind}; only regular files and folders are "
        "allowed. Archive the files themselves."
    )


def _members(path: Path, limits: CodeLimits) -> tuple[str, list[_Member]]:
    size = Path(path).stat().st_size
    if size > limits.max_archive_bytes:
        raise InvalidCode(
            f"The code archive is {format_size(size)}; the limit is "
            f"{format_size(limits.max_archive_bytes)}. Leave data and models out (the data is "
            "mounted at /data), or submit an image."
        )
    kind = sniff(path)
    if kind == "zip":
        reader, fmt = _zip_members, "zip"
    elif kind in ("tar", "gzip"):
        reader, fmt = _tar_members, "tar"
    else:
        raise InvalidCode("The code archive is neither a zip nor a tar(.gz) file.")
    members: list[_Member] = []
    total = 0
    for member in reader(path, limits):
        total += member.size
        if total > limits.max_unpacked_bytes:
            raise InvalidCode(
                f"The code archive unpacks to more than {format_size(limits.max_unpacked_bytes)};"
                " refused before extraction. Leave data and models out of it."
            )
        members.append(member)
    return fmt, members


def _check_layout(members: list[_Member]) -> None:
    """Refuse two files at one path, and a file where a folder must be: extraction would
    otherwise depend on member order."""
    seen: set[str] = set()
    folders: set[str] = set()
    for member in members:
        parts = member.name.split("/") if member.name else []
        folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
        if member.is_dir:
            folders.add(member.name)
        elif member.name in seen:
            raise InvalidCode(f"The code archive has two members named {member.name}.")
        else:
            seen.add(member.name)
    clash = sorted(seen & folders)
    if clash:
        raise InvalidCode(f"The code archive has {clash[0]} both as a file and as a folder.")


def inspect_code(path: Path, limits: CodeLimits | None = None) -> CodeArchive:
    """Check a code archive without extracting it; raise :class:`InvalidCode` with a
    message for the participant when it is refused."""
    limits = limits or CodeLimits()
    fmt, members = _members(Path(path), limits)
    files = {m.name: m for m in members if not m.is_dir}
    _check_layout(members)
    entry = None
    if "run.sh" in files:
        if not files["run.sh"].executable:
            raise InvalidCode(
                "run.sh is not executable: `chmod +x run.sh` before archiving it (or use "
                "main.py as the entry point)."
            )
        entry = "run.sh"
    elif "main.py" in files:
        entry = "main.py"
    if entry is None:
        tops = {name.split("/", 1)[0] for name in files if "/" in name}
        nested = [
            f"{top}/{ep}" for top in sorted(tops) for ep in ENTRY_POINTS if f"{top}/{ep}" in files
        ]
        hint = (
            f" It has {nested[0]}: archive the folder's contents, not the folder "
            "(`cd folder && zip -r ../code.zip .`)."
            if nested
            else ""
        )
        raise InvalidCode(
            "The code archive has no entry point: put main.py (run with python3) or an "
            f"executable run.sh at its root.{hint}"
        )
    return CodeArchive(
        format=fmt,
        entry_point=entry,
        members=len(members),
        unpacked_bytes=sum(m.size for m in members),
    )


def extract_code(path: Path, dest: Path, limits: CodeLimits | None = None) -> CodeArchive:
    """Check the archive, then extract it into the empty folder ``dest`` (created), with
    files readable by anyone (0644, executables 0755) and folders 0755, counting the
    bytes written against ``limits.max_unpacked_bytes``. Raise :class:`InvalidCode`."""
    limits = limits or CodeLimits()
    checked = inspect_code(path, limits)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=False)
    dest.chmod(0o755)
    budget = [limits.max_unpacked_bytes]
    try:
        _extract(path, dest, checked, budget, limits)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as exc:
        raise InvalidCode(f"The code archive is damaged and could not be unpacked: {exc}.") from exc
    return checked


def _extract(
    path: Path, dest: Path, checked: CodeArchive, budget: list[int], limits: CodeLimits
) -> None:
    if checked.format == "zip":
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                name = _clean_name(info.filename)
                executable = bool((info.external_attr >> 16) & 0o111)
                if info.is_dir() or not name:
                    _mkdir(dest, name)
                    continue
                with archive.open(info) as src:
                    _write(dest, name, src, executable, budget, limits)
    else:
        with tarfile.open(path, mode="r|*") as archive:
            for member in archive:
                name = _clean_name(member.name)
                if member.isdir() or not name:
                    _mkdir(dest, name)
                    continue
                if not member.isreg():
                    raise _not_regular(member.name, "special")
                fileobj = archive.extractfile(member)
                assert fileobj is not None
                _write(dest, name, fileobj, bool(member.mode & 0o111), budget, limits)


def _mkdir(dest: Path, name: str) -> Path:
    target = dest.joinpath(*name.split("/")) if name else dest
    target.mkdir(parents=True, exist_ok=True)
    for parent in [target, *target.parents]:
        if parent == dest or dest not in parent.parents:
            break
        parent.chmod(0o755)
    return target


def _write(
    dest: Path,
    name: str,
    src: IO[bytes],
    executable: bool,
    budget: list[int],
    limits: CodeLimits,
) -> None:
    parent, _, base = name.rpartition("/")
    folder = _mkdir(dest, parent)
    target = folder / base
    if target.is_symlink() or target.exists():
        target.unlink()  # a later member of the same name wins, as with tar
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    with os.fdopen(os.open(target, flags, 0o600), "wb") as out:
        while chunk := src.read(_CHUNK):
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise InvalidCode(
                    "The code archive unpacks to more than "
                    f"{format_size(limits.max_unpacked_bytes)}: refused as a decompression bomb."
                )
            out.write(chunk)
    target.chmod(0o755 if executable else 0o644)


def remove_code(dest: Path) -> None:
    """Delete an extracted code folder (best effort)."""
    shutil.rmtree(dest, ignore_errors=True)


def classify_upload(path: Path, limits: CodeLimits | None = None) -> str:
    """``image`` or ``code`` for an uploaded file, judged from its bytes before it is queued.

    A zip is code. A tar (optionally gzip-compressed) is an image when it has a
    ``manifest.json`` at its root (``docker save``), code when it has an entry point at its
    root. A gzip-compressed tar larger than a code archive may be is taken for an image
    without reading it through (the worker checks its structure before running it).
    Raise :class:`NotAnArchive` for anything else, :class:`InvalidCode` for code refused.
    """
    limits = limits or CodeLimits()
    path = Path(path)
    kind = sniff(path)
    if kind == "zip":
        inspect_code(path, limits)
        return "code"
    if kind == "gzip" and not _gzip_holds_tar(path):
        raise NotAnArchive(
            "The file is gzip-compressed but holds no tar archive: upload the output of "
            "`docker save` (optionally gzip-compressed) or a zip/tar.gz of your code."
        )
    if kind is None:
        raise NotAnArchive(
            "The file is neither an image archive (the output of `docker save`, optionally "
            "gzip-compressed) nor a code archive (zip or tar.gz with main.py or run.sh at its "
            "root). Its first bytes are not those of a tar, gzip or zip file."
        )
    if kind == "gzip" and path.stat().st_size > limits.max_archive_bytes:
        return "image"
    has_manifest, has_entry = _tar_roots(path)
    if has_manifest:
        return "image"
    if has_entry:
        inspect_code(path, limits)
        return "code"
    raise NotAnArchive(
        "The tar archive is neither an image (no manifest.json at its root, as `docker save` "
        "writes) nor a code archive (no main.py or run.sh at its root)."
    )


def _tar_roots(path: Path) -> tuple[bool, bool]:
    """Whether the tar has manifest.json and an entry point at its root (headers only)."""
    has_manifest = has_entry = False
    try:
        with tarfile.open(path, mode="r:*") as archive:
            for info in archive:
                name = info.name.removeprefix("./")
                if name == "manifest.json":
                    has_manifest = True
                    break
                if name in ENTRY_POINTS:
                    has_entry = True
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise NotAnArchive(f"The tar archive cannot be read: {exc}.") from exc
    return has_manifest, has_entry
