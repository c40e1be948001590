"""Receive multi-GB image archives in resumable chunks and hand them to a submission.

The protocol (kept stable for the command-line client):
- create: a record and an empty file; the size is checked against the competition's
  image limit before a single byte is sent;
- append: bytes at an offset, which must equal what the server already has (else the
  caller learns the right offset and resumes from there). The body is copied from the
  request to disk in small pieces, never held whole; if the connection drops half-way
  the bytes that arrived are kept, so a 5 GB upload resumes instead of restarting;
- consume: a complete upload becomes a submission's image; its file is moved, not
  copied, into storage and the upload is deleted, in one transaction with the submission;
- delete: the participant abandons it.
Open uploads are bounded per user (count and declared bytes), and a periodic task
(`uploads.purge`) deletes expired uploads and stray files.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Protocol

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.files import File
from django.core.files.storage import Storage
from django.db import transaction
from django.db.models import Count, Sum
from django.http import Http404
from django.utils import timezone

from competitions.models import Competition, Submission, TeamMembership
from competitions.services.submissions import image_size_check
from podium import numbers
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


def _open_uploads(user: User) -> tuple[int, int]:
    """How many uploads the user has open (unfinished or not yet submitted), and their bytes."""
    stats = Upload.objects.filter(user=user).aggregate(count=Count("pk"), size=Sum("size"))
    return stats["count"], stats["size"] or 0


def upload_quota_check(*, user: User, size: int) -> None:
    """Refuse a new upload of `size` bytes that would exceed the user's quota of open uploads.

    The quota is UPLOAD_MAX_OPEN (uploads) and UPLOAD_MAX_OPEN_BYTES (declared bytes summed
    over the open uploads, this one included); it bounds the disk one participant can fill
    with bytes that are not (yet) a submission. Raises ApplicationError (code
    `upload_quota`) naming the limit and what to do.
    """
    count, total = _open_uploads(user)
    if count + 1 > settings.UPLOAD_MAX_OPEN:
        raise ApplicationError(
            f"You have {count} unfinished or unsubmitted upload(s); the limit is "
            f"{settings.UPLOAD_MAX_OPEN}. Finish or submit one, or delete it "
            "(DELETE /api/v1/uploads/ID/), then start this one.",
            {"code": "upload_quota"},
        )
    if total + size > settings.UPLOAD_MAX_OPEN_BYTES:
        raise ApplicationError(
            f"Your open uploads already hold {format_size(total)}; with this one "
            f"({format_size(size)}) they would exceed your limit of "
            f"{format_size(settings.UPLOAD_MAX_OPEN_BYTES)}. Finish or submit one, or delete "
            "it (DELETE /api/v1/uploads/ID/), then start this one.",
            {"code": "upload_quota"},
        )


# Room for a multipart body's boundaries, headers and description beside the image bytes.
MULTIPART_OVERHEAD = 1024 * 1024


def upload_request_length_check(*, competition: Competition, content_length: str | None) -> None:
    """Refuse a direct (multipart) image upload by its declared length, before any byte is read.

    `content_length` is the request's Content-Length header (bytes) as sent. Raises
    ApplicationError with code `length_required` when it is missing or not a number, and
    `image_too_large` when the body exceeds the competition's image limit by more than
    MULTIPART_OVERHEAD.
    """
    try:
        length = numbers.whole_number(content_length, name="Content-Length")
    except ApplicationError:
        length = -1
    if length < 0:
        raise ApplicationError(
            "Send a Content-Length header with an image upload (or use the resumable "
            "uploads: POST /api/v1/uploads/).",
            {"code": "length_required"},
        )
    if length > competition.image_size_limit_bytes + MULTIPART_OVERHEAD:
        image_size_check(competition=competition, size=length - MULTIPART_OVERHEAD)


def _older_than(path: Path, cutoff: float) -> bool:
    try:
        return path.lstat().st_mtime < cutoff
    except FileNotFoundError:
        return False


def upload_purge_expired(*, now: dt.datetime | None = None) -> int:
    """Delete uploads untouched for UPLOAD_EXPIRY_SECONDS and their files; return how many.

    Every upload counts, whether or not a submission was once started from it: a request
    that died half-way through a submission leaves nothing that protects the upload from
    this (nor anything that keeps its owner from submitting it again).
    """
    cutoff = (now or timezone.now()) - dt.timedelta(seconds=settings.UPLOAD_EXPIRY_SECONDS)
    count = 0
    for upload in Upload.objects.filter(updated_at__lt=cutoff):
        upload.path.unlink(missing_ok=True)
        upload.delete()
        count += 1
    return count


def upload_purge_files(*, now: dt.datetime | None = None) -> int:
    """Delete stray files: in UPLOADS_DIR, those of no upload; in FILE_UPLOAD_TEMP_DIR, all.

    Only files unchanged for UPLOAD_TEMP_GRACE_SECONDS go, so a file being written (an
    upload starting, a request streaming its body to a temporary file) is never touched;
    a request cannot outlive the web server's timeout, which must stay below that grace.
    Returns the number of files deleted.
    """
    cutoff = (now or timezone.now()).timestamp() - settings.UPLOAD_TEMP_GRACE_SECONDS
    known = {upload.path.name for upload in Upload.objects.only("id")}
    count = 0
    folders = [(Path(settings.UPLOADS_DIR), known), (Path(settings.FILE_UPLOAD_TEMP_DIR), set())]
    for folder, keep in folders:
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.name in keep or not path.is_file() or not _older_than(path, cutoff):
                continue
            path.unlink(missing_ok=True)
            count += 1
    return count


def _stored_files(storage: Storage, folder: str) -> Iterator[str]:
    """Every file name under ``folder`` in ``storage``, through the storage API (a local
    folder or a bucket alike). Raises OSError when storage cannot list it."""
    try:
        folders, files = storage.listdir(folder)
    except FileNotFoundError:
        return
    for name in files:
        yield f"{folder}/{name}"
    for sub in folders:
        yield from _stored_files(storage, f"{folder}/{sub}")


def upload_purge_orphan_images(*, now: dt.datetime | None = None) -> int:
    """Delete image archives in storage that no submission refers to; return how many.

    A request that dies while making a submission (web server killed, database error)
    may have moved the image into storage before its transaction rolled back; the upload
    itself is intact, so that copy is garbage. Only files unchanged for
    UPLOAD_TEMP_GRACE_SECONDS go, never one a request in flight is writing. Storage is
    walked through its API (``submissions/`` in the local folder or the bucket).
    """
    storage = Submission._meta.get_field("image").storage
    cutoff = (now or timezone.now()) - dt.timedelta(seconds=settings.UPLOAD_TEMP_GRACE_SECONDS)
    referenced = set(Submission.objects.exclude(image="").values_list("image", flat=True))
    count = 0
    for name in _stored_files(storage, "submissions"):
        if name in referenced:
            continue
        try:
            if storage.get_modified_time(name) >= cutoff:
                continue
        except FileNotFoundError:
            continue
        storage.delete(name)
        count += 1
    return count


def upload_purge(*, now: dt.datetime | None = None) -> dict[str, int]:
    """The periodic clean-up: expired uploads, stray files, orphaned images. Counts."""
    return {
        "uploads": upload_purge_expired(now=now),
        "files": upload_purge_files(now=now),
        "images": upload_purge_orphan_images(now=now),
    }


def upload_create(*, user: User, competition: Competition, filename: str, size: int) -> Upload:
    """Start an upload of `size` bytes after checking what can be checked before any byte.

    Refused (ApplicationError) when the user has not joined, the size is not positive or
    over the competition's image limit, or it would exceed the user's quota of open
    uploads (see upload_quota_check).
    """
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
    with transaction.atomic():
        # One user's creates are serialised (the row lock; SQLite's write lock), so two
        # concurrent ones cannot both take the last place in the quota.
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        upload_quota_check(user=user, size=size)
        upload = Upload.objects.create(user=user, competition=competition, filename=name, size=size)
    upload.path.parent.mkdir(parents=True, exist_ok=True)
    upload.path.touch(mode=0o600)
    return upload


def upload_delete(*, upload: Upload) -> None:
    """Abandon an upload: its record and its bytes go (the participant restarts)."""
    with transaction.atomic():
        Upload.objects.filter(pk=upload.pk).delete()
    upload.path.unlink(missing_ok=True)


class UploadChecksumMismatch(ApplicationError):
    """The chunk's bytes do not have the checksum the client declared (tus: 460)."""

    def __init__(self, algorithm: str, offset: int) -> None:
        super().__init__(
            f"The chunk's {algorithm} checksum does not match the one sent in Upload-Checksum; "
            f"it was discarded. Send it again from byte {offset}.",
            {"code": "checksum_mismatch", "offset": offset},
        )
        self.offset = offset


# tus's checksum extension: algorithms a client may name in Upload-Checksum.
CHECKSUM_ALGORITHMS = ("sha1", "sha256", "md5")


def upload_append(  # noqa: C901 - each refusal of a chunk (offset, size, checksum, state) in protocol order
    *,
    upload: Upload,
    offset: int,
    stream: Readable | None,
    length: int,
    checksum: tuple[str, bytes] | None = None,
) -> Upload:
    """Write `length` bytes from `stream` at `offset` and record the new offset.

    A lock on the file (not a database transaction, which on SQLite would hold the
    write lock for the whole chunk) serialises writers of one upload. Bytes past the
    recorded offset, left by a writer that died, are cut off first.

    With `checksum` (an algorithm of CHECKSUM_ALGORITHMS and the expected digest), the
    chunk counts only if it arrived whole with that digest; otherwise its bytes are cut
    off again and UploadChecksumMismatch is raised (an incomplete chunk is discarded too).
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
        digest = hashlib.new(checksum[0]) if checksum else None
        try:
            while written < length and stream is not None:
                piece = stream.read(min(PIECE, length - written))
                if not piece:
                    break
                out.write(piece)
                if digest is not None:
                    digest.update(piece)
                written += len(piece)
        except OSError as exc:
            # The client went away: keep what arrived, it resumes from there.
            logger.info("upload %s: connection lost after %d bytes: %s", upload.pk, written, exc)
        finally:
            verified = checksum is None or (
                digest is not None and written == length and digest.digest() == checksum[1]
            )
            if not verified:
                out.truncate(offset)  # a chunk that cannot be verified does not count
                written = 0
            out.flush()
            os.fsync(out.fileno())
            upload.offset = offset + written
            Upload.objects.filter(pk=upload.pk).update(
                offset=upload.offset, updated_at=timezone.now()
            )
    if not verified and checksum is not None:
        raise UploadChecksumMismatch(checksum[0], offset)
    return upload


@contextlib.contextmanager
def upload_consume(
    *, user: User, upload_id: str, competition: Competition | None = None
) -> Iterator[UploadedImage]:
    """Yield a complete upload of the user's as a file object with the original `.name`.

    Use it around `submission_create(image=...)`. The block runs in one transaction with
    the deletion of the upload's record, so a submission is made from an upload at most
    once: when the block ends without an error the upload is gone; when it raises (a
    quota, say) or the process dies half-way (a web server crash), nothing was committed
    and the upload and its bytes stay, ready to be submitted again at once.

    Storage receives a hard link to the bytes, moved into place (no copy), so the
    upload's own file is untouched until the transaction has committed.
    """
    try:
        upload_get_for_user(user=user, upload_id=upload_id)
    except Http404 as exc:
        raise ApplicationError("No such upload: upload the file again.") from exc
    with transaction.atomic():
        # A concurrent consume of the same upload waits here, then finds it gone.
        upload = Upload.objects.select_for_update().filter(pk=upload_id, user=user).first()
        if upload is None:
            raise ApplicationError(
                "This upload has just been submitted; see your submissions.",
                {"code": "upload_submitted"},
            )
        if competition is not None and upload.competition_id != competition.pk:
            raise ApplicationError(
                f"This upload was made for another competition, not {competition}."
            )
        if not upload.complete:
            raise ApplicationError(
                f"The upload is incomplete: {format_size(upload.offset)} of "
                f"{format_size(upload.size)} received. Resume it, then submit.",
                {"code": "upload_incomplete"},
            )
        if not upload.path.exists():
            upload.delete()
            raise ApplicationError("This upload has expired; upload the file again.")
        path = upload.path
        link = path.with_name(f"{path.stem}.{uuid.uuid4().hex[:8]}.submit")
        os.link(path, link)
        # Fresh mtime: the purge of orphaned images must not take the copy that storage is
        # receiving for an upload finished long ago (a hard link shares the inode's times).
        os.utime(link)
        try:
            with link.open("rb") as handle:
                yield UploadedImage(handle, name=upload.filename, path=link)
            upload.delete()
        finally:
            link.unlink(missing_ok=True)
        transaction.on_commit(lambda: path.unlink(missing_ok=True))
