"""kombu's filesystem transport, with messages that appear whole and are taken once.

Podium's default broker is a folder (no server to install). kombu's own filesystem
transport (5.x) has two races that lose or corrupt deliveries when several processes share
the folder (known upstream: celery/kombu#1551):

- ``_put`` creates the message file and only then writes it, so a worker listing the folder
  in between reads an empty file and its consumer fails on the JSON;
- ``_get`` with ``store_processed`` off moves the file to the system's temporary folder,
  which is a copy and a delete when that folder is on another file system (a tmpfs
  ``/tmp``): two workers can both copy the same message before either deletes it.

Here a message is written under a temporary name that no reader matches and renamed into
place (``os.replace``: atomic within a folder), and a reader claims a message by renaming it
into ``processed_folder``, which must be on the same file system as the queue folder (the
settings put both under the broker folder): exactly one rename succeeds. The folder layout
and file names are kombu's, so a queue written by either transport is read by the other.

Django-free: the platform's Celery app (:mod:`podium.celery`) and the compute workers'
(:mod:`podium_compute.celery`) call :func:`register`, so that every ``filesystem://`` URL in
the process uses it, whatever the configuration is switched to at run time (a setting
naming the transport would also apply to a ``redis://`` URL).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from queue import Empty
from time import monotonic
from typing import Any

import kombu.transport
from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

TRANSPORT = "podium.broker:FilesystemTransport"
PARTIAL_SUFFIX = ".part"


class Channel(filesystem.Channel):
    """A filesystem channel whose writes are atomic and whose reads claim by rename."""

    # kombu-stubs name the argument "message" in AbstractChannel and "payload" in the
    # filesystem Channel: no signature satisfies both.
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Write ``payload`` (a kombu message dict) as one file of ``queue``.

        Raises kombu's ChannelError when the folder cannot be written (full, read-only).
        """
        data = str_to_bytes(dumps(payload))  # before any file exists: nothing half-made
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # A leading dot and the suffix: neither kombu's "<stamp>_<id>.<queue>.msg" match nor a
        # "*.msg" glob sees a message that is still being written.
        partial = os.path.join(self.data_folder_out, f".{name}{PARTIAL_SUFFIX}")
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(partial, final)
        except OSError as exc:
            with contextlib.suppress(OSError):  # never created, or already renamed
                os.unlink(partial)
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    def _get(self, queue: str, timeout: float | None = None) -> Any:
        """The oldest message of ``queue``, taken by this channel alone.

        Raises queue.Empty when there is none; kombu's ChannelError when a claimed message
        cannot be read.
        """
        wanted = f"{queue}.msg"
        processed = self.processed_folder
        for filename in sorted(os.listdir(self.data_folder_in)):
            if filename.partition(".")[2] != wanted:
                continue
            claimed = os.path.join(processed, filename)
            try:
                os.rename(os.path.join(self.data_folder_in, filename), claimed)
            except FileNotFoundError:
                continue  # another worker took it first
            except OSError as exc:
                raise ChannelError(f"Cannot take {filename!r} from the queue folder") from exc
            try:
                with open(claimed, "rb") as message:
                    payload = message.read()
                if not self.store_processed:
                    os.unlink(claimed)
            except OSError as exc:
                raise ChannelError(f"Cannot read file {claimed!r} from queue.") from exc
            return loads(bytes_to_str(payload))
        raise Empty()


class FilesystemTransport(filesystem.Transport):
    """kombu's filesystem transport with :class:`Channel`."""

    Channel = Channel


def register() -> None:
    """Make ``filesystem://`` broker URLs use :class:`FilesystemTransport` in this process
    (kombu's alias table, which its URL parsing reads; its resolved-class cache is cleared
    for the name). Idempotent."""
    kombu.transport.TRANSPORT_ALIASES["filesystem"] = TRANSPORT
    # kombu-stubs do not declare the cache; it exists in kombu 5.x.
    cache: dict[str | None, Any] = getattr(kombu.transport, "_transport_cache", {})
    cache.pop("filesystem", None)
