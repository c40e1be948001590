"""Owner-only files and folders for everything the platform keeps under PODIUM_HOME.

PODIUM_HOME holds the secret key, the database (password hashes, tokens, sessions), the
hidden solutions and test inputs, participants' images and code, kept predictions, mail
(password-reset links) and logs. Another local user of the host must read none of it, so:

- every platform process (``manage.py``, the WSGI/ASGI application, the Celery worker)
  starts with the umask 077 (:func:`use_private_umask`): whatever it creates (the SQLite
  database and its WAL, log files, broker messages, cache and mail files) is 0600, its
  folders 0700;
- stored files (uploads, bundle imports) are 0600 in 0700 folders whatever the umask
  (FILE_UPLOAD_PERMISSIONS, FILE_UPLOAD_DIRECTORY_PERMISSIONS in podium/settings.py);
- at start-up every process makes PODIUM_HOME, its folders and the files directly in it
  owner-only, and the first start of an install walks the whole tree
  (:func:`secure_home`, from podium.apps), so an existing install is fixed by its next
  start.

The one exception is what the sandbox mounts into a run, whose user (uid 65534) is not
the owner: the worker's work folder (PODIUM_WORK_DIR) is 0700, which keeps other users of
the host out, and the data prepared inside it keeps the modes the run needs
(competitions/evaluation/data.py, sandbox/code.py). Docker bind-mounts those folders
directly, so the run never has to pass through the 0700 folders above them.

Plain Python (no Django): the sandbox and compute workers may use it too.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Collection
from pathlib import Path

PRIVATE_UMASK = 0o077
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
_GROUP_OTHER = 0o077


def use_private_umask() -> int:
    """Make files this process creates from now on owner-only (umask 077); return the old
    umask. Called once by each platform entry point, never on import."""
    return os.umask(PRIVATE_UMASK)


def _strip(path: str, mode: int) -> bool:
    if not mode & _GROUP_OTHER:
        return False
    with contextlib.suppress(FileNotFoundError):
        os.chmod(path, stat.S_IMODE(mode) & ~_GROUP_OTHER, follow_symlinks=False)
        return True
    return False


def make_private(root: Path, *, keep_inside: Collection[Path] = ()) -> int:
    """Remove every group and other permission bit from ``root`` and everything below it.

    Symbolic links are neither followed nor changed. The folders in ``keep_inside`` are
    made owner-only themselves but what is inside them is left as it is (the worker's
    prepared run data, which the run's user must read). Files that vanish meanwhile
    (another process removed them) are skipped. Return how many paths were changed;
    raise OSError when ``root`` or a folder cannot be read or changed (not our own).
    """
    kept = {os.path.realpath(p) for p in keep_inside}
    changed = 0
    for folder, dirs, files in os.walk(root, followlinks=False):
        with contextlib.suppress(FileNotFoundError):
            changed += _strip(folder, os.lstat(folder).st_mode)
        if os.path.realpath(folder) in kept:
            dirs[:] = []
            continue
        for name in files:
            path = os.path.join(folder, name)
            try:
                info = os.lstat(path)
            except FileNotFoundError:
                continue
            if not stat.S_ISLNK(info.st_mode):
                changed += _strip(path, info.st_mode)
        # os.walk lists links to folders among dirs and does not descend into them.
        for name in list(dirs):
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISLNK(os.lstat(os.path.join(folder, name)).st_mode):
                    dirs.remove(name)
    return changed


WALKED_MARKER = ".owner-only"


def secure_home(home: Path, *, folders: Collection[Path], keep_inside: Collection[Path]) -> int:
    """Make ``home`` owner-only at a process's start; return how many paths were changed.

    Cheap on every start: ``home`` and ``folders`` (the platform's own, created by then)
    become 0700 and the files directly in ``home`` (secret key, database, its WAL) 0600.
    Once per install, while ``home`` has no marker file ``.owner-only``, the whole tree
    is walked (:func:`make_private`, ``keep_inside`` left as they are) and the marker
    written: everything an older release left becomes owner-only, and the platform's own
    processes create nothing readable after that, so a big media folder is not walked on
    every start. Delete the marker to have the next start walk again (``podiumctl up``
    does, once per start). Raise OSError as :func:`make_private` does.
    """
    changed = 0
    for folder in (home, *folders):
        with contextlib.suppress(FileNotFoundError):
            changed += _strip(str(folder), os.lstat(folder).st_mode)
    marker = home / WALKED_MARKER
    if not marker.exists():
        changed += make_private(home, keep_inside=keep_inside)
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE)
        os.close(fd)
        return changed
    with os.scandir(home) as entries:
        for entry in entries:
            with contextlib.suppress(FileNotFoundError):
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISREG(info.st_mode):
                    changed += _strip(entry.path, info.st_mode)
    return changed


def readable_by_others(root: Path) -> list[str]:
    """Paths under ``root`` (itself included; links skipped) that a user other than the
    owner could read, write or enter: any group or other permission bit set, each as
    "PATH -rw-r--r--". For tests and an operator's check of an install."""
    found = []
    for folder, _dirs, files in os.walk(root, followlinks=False):
        for path in (folder, *(os.path.join(folder, name) for name in files)):
            with contextlib.suppress(FileNotFoundError):
                info = os.lstat(path)
                if not stat.S_ISLNK(info.st_mode) and info.st_mode & _GROUP_OTHER:
                    found.append(f"{path} {stat.filemode(info.st_mode)}")
    return found
