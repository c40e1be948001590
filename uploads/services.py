"""Receive multi-GB image archives in resumable chunks and hand them to a submission.

The protocol (kept stable for the command-line client):
- create: a record and an empty file; the size is checked against the competition's
  image limit before a single byte is sent;
- append: bytes at an offset, which must equal what the server already has (else the
  caller learns the right offset and resumes from there). The body is copied from the
  request to disk in small pieces, never held whole; if the connection drops half-way
  the bytes that arrived are kept, so a 5 GB upload resumes instead of restarting;
- consume: a complete upload becomes a submission's image; its file is moved, not
  copied, into storage and the upload is deleted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Protocol

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from competitions.models import Competition, TeamMembership
from competitions.services.submissions import image_size_check
from podium.errors import ApplicationError
from podium.units import format_size
from uploads.models import Upload
from uploads.selectors import upload_get_for_user

logger = logging.getLogger(__name__)

PIECE = 1024 * 1024  # bytes copied from the request to disk at a time


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class UploadOffsetMismatch(ApplicationError):
    """The client sent bytes for an offset the server does not have; `offset` is ours."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"This upload is at byte {offset}; resume from there.", {"offset": offset})
        self.offset = offset


class UploadedImage(File):
    """A complete upload opened for reading, named as the participant's file.

    `temporary_file_path` lets Django's file-system storage move the file into place
    (a rename on the same file system) instead of copying gigabytes.
    """

    def __init__(self, file: IO[bytes], *, name: str, path: Path) -> None:
        super().__init__(file, name=name)
        self._path = path

    def temporary_file_path(self) -> str:
        return str(self._path)


def upload_purge_expired(*, now: dt.datetime | None = None) -> int:
    """Delete uploads untouched for UPLOAD_EXPIRY_SECONDS, with their files."""
    cutoff = (now or timezone.now()) - dt.timedelta(seconds=settings.UPLOAD_EXPIRY_SECONDS)
    count = 0
    for upload in Upload.objects.filter(updated_at__lt=cutoff, consumed_at__isnull=True):
        upload.path.unlink(missing_ok=True)
        upload.delete()
        count += 1
    return count


def upload_create(
    *, user: AbstractBaseUser, competition: Competition, filename: str, size: int
) -> Upload:
    """Start an upload after checking what can be checked before any byte is sent."""
    if not TeamMembership.objects.filter(competition=competition, user=user).exists():
        raise ApplicationError(
            f"Join {competition.title} (accept its rules) before you upload.",
            {"code": "not_joined"},
        )
    if size <= 0:
        raise ApplicationError("The file is empty. Upload the output of `docker save`.")
    image_size_check(competition=competition, size=size)
    upload_purge_expired()
    name = Path(filename.replace("\\", "/")).name[:255] or "image.tar"
    upload = Upload.objects.create(user=user, competition=competition, filename=name, size=size)
    upload.path.parent.mkdir(parents=True, exist_ok=True)
    upload.path.touch(mode=0o600)
    return upload


def upload_append(*, upload: Upload, offset: int, stream: Readable | None, length: int) -> Upload:
    """Write `length` bytes from `stream` at `offset` and record the new offset.

    A lock on the file (not a database transaction, which on SQLite would hold the
    write lock for the whole chunk) serialises writers of one upload. Bytes past the
    recorded offset, left by a writer that died, are cut off first.
    """
    if length < 0 or length > settings.UPLOAD_MAX_CHUNK_SIZE:
        raise ApplicationError(
            f"A chunk may be at most {format_size(settings.UPLOAD_MAX_CHUNK_SIZE)}; "
            f"this one is {format_size(length)}."
        )
    if not upload.path.exists():
        raise Http404("This upload has expired; start a new one.")
    with upload.path.open("r+b") as out:
        fcntl.flock(out, fcntl.LOCK_EX)
        upload.refresh_from_db(fields=["offset", "consumed_at"])
        if upload.consumed_at is not None:
            raise ApplicationError("This upload has already been submitted.")
        if offset != upload.offset:
            raise UploadOffsetMismatch(upload.offset)
        if offset + length > upload.size:
            raise ApplicationError(
                f"{offset + length - upload.size} bytes beyond the announced size of "
                f"{upload.size} bytes."
            )
        out.seek(offset)
        out.truncate()
        written = 0
        try:
            while written < length and stream is not None:
                piece = stream.read(min(PIECE, length - written))
                if not piece:
                    break
                out.write(piece)
                written += len(piece)
        except OSError as exc:
            # The client went away: keep what arrived, it resumes from there.
            logger.info("upload %s: connection lost after %d bytes: %s", upload.pk, written, exc)
        finally:
            out.flush()
            os.fsync(out.fileno())
            upload.offset = offset + written
            Upload.objects.filter(pk=upload.pk).update(
                offset=upload.offset, updated_at=timezone.now()
            )
    return upload


@contextlib.contextmanager
def upload_consume(
    *, user: AbstractBaseUser, upload_id: str, competition: Competition | None = None
) -> Iterator[UploadedImage]:
    """Yield a complete upload of the user's as a file object with the original `.name`.

    Use it around `submission_create(image=...)`. When the block ends without an error
    the upload and its file are deleted; when it raises (a quota, say), the upload is
    kept so the participant can submit it again without sending the bytes again.
    """
    try:
        upload = upload_get_for_user(user=user, upload_id=upload_id)
    except Http404 as exc:
        raise ApplicationError("No such upload: upload the file again.") from exc
    if competition is not None and upload.competition_id != competition.pk:
        raise ApplicationError(f"This upload was made for another competition, not {competition}.")
    if not upload.complete:
        raise ApplicationError(
            f"The upload is incomplete: {format_size(upload.offset)} of "
            f"{format_size(upload.size)} received. Resume it, then submit.",
            {"code": "upload_incomplete"},
        )
    with transaction.atomic():
        claimed = Upload.objects.filter(pk=upload.pk, consumed_at__isnull=True).update(
            consumed_at=timezone.now()
        )
    if not claimed:
        raise ApplicationError("This upload is already being submitted.")
    try:
        with upload.path.open("rb") as handle:
            yield UploadedImage(handle, name=upload.filename, path=upload.path)
    except BaseException:
        if upload.path.exists():
            Upload.objects.filter(pk=upload.pk).update(consumed_at=None)
        else:
            upload.delete()
        raise
    upload.path.unlink(missing_ok=True)
    upload.delete()
