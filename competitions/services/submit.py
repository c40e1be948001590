"""Upload -> submission: the one use case behind the Submit page and the API's submit.

Also the ways to run an artifact again without sending it again: a previous submission
(``submission_rerun``) or an artifact the team already uploaded, named by its SHA-256.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files import File

from competitions.models import Competition, Submission
from competitions.services.common import membership_for, require_member
from competitions.services.submissions import submission_create
from podium.errors import ApplicationError
from uploads.services import upload_consume


def submission_submit(
    *,
    user: User,
    competition: Competition,
    image: IO[bytes] | None = None,
    upload_id: str | None = None,
    sha256: str | None = None,
    description: str = "",
    debug: bool = False,
    runtime_image: str | None = None,
) -> Submission:
    """Make a queued submission from an image or code archive sent in the request
    (``image``), from a complete resumable upload of the user's (``upload_id``) or from an
    artifact the user's team already uploaded, named by its hex SHA-256 (``sha256``);
    exactly one is given. ``runtime_image`` picks what a code archive runs on.

    An upload is consumed in the same transaction as the submission is made: when the
    submission is refused (quota, size, not joined) the upload and its bytes stay. Raises
    ApplicationError (see submission_create and upload_consume; ``unknown_artifact`` when
    no kept artifact of the team has ``sha256``); ValueError when not exactly one source
    is given (the caller's bug).
    """
    if sum(x is not None for x in (image, upload_id, sha256)) != 1:
        raise ValueError("give exactly one of image, upload_id and sha256")
    if sha256 is not None:
        source = _kept_artifact(user=user, competition=competition, sha256=sha256)
        return submission_rerun(user=user, source=source, description=description, debug=debug)
    if upload_id is not None:
        with upload_consume(user=user, upload_id=upload_id, competition=competition) as upload:
            return submission_create(
                user=user,
                competition=competition,
                image=upload,
                description=description,
                debug=debug,
                runtime_image=runtime_image,
            )
    assert image is not None
    return submission_create(
        user=user,
        competition=competition,
        image=image,
        description=description,
        debug=debug,
        runtime_image=runtime_image,
    )


def _kept_artifact(*, user: User, competition: Competition, sha256: str) -> Submission:
    membership = membership_for(user, competition)
    source = None
    if membership is not None:
        source = (
            Submission.objects.filter(
                team_id=membership.team_id,
                image_sha256=sha256.lower(),
                image_deleted_at__isnull=True,
            )
            .exclude(image="")
            .order_by("-created_at")
            .first()
        )
    if source is None:
        raise ApplicationError(
            "Your team has no kept artifact with this SHA-256; upload the file.",
            {"code": "unknown_artifact"},
        )
    return source


class _StoredArtifact(File):
    """A kept artifact opened for a new submission, through a hard link that storage may
    move into place (no copy of a multi-GB archive); the original stays untouched."""

    def __init__(self, file: IO[bytes], *, name: str, path: Path) -> None:
        super().__init__(file, name=name)
        self._path = path

    def temporary_file_path(self) -> str:
        return str(self._path)


@contextlib.contextmanager
def _artifact_file(source: Submission) -> Iterator[File]:
    name = Path(str(source.image.name)).name
    try:
        path = Path(source.image.path)
    except NotImplementedError:  # remote storage: storage copies it
        with source.image.open("rb") as handle:
            yield File(handle, name=name)
        return
    link = Path(settings.PODIUM_HOME) / "tmp" / f"rerun-{uuid.uuid4().hex}{path.suffix}"
    link.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(path, link)
    except OSError:
        with path.open("rb") as handle:
            yield File(handle, name=name)
        return
    try:
        with link.open("rb") as handle:
            yield _StoredArtifact(handle, name=name, path=link)
    finally:
        link.unlink(missing_ok=True)


def submission_rerun(
    *,
    user: User,
    source: Submission,
    description: str = "",
    debug: bool = False,
) -> Submission:
    """Run a previous submission's image or code archive again, as a new submission or a
    debug run, without uploading it again; the limits apply as to any submission.

    Raise ApplicationError when the user is not in the source's team, or its archive was
    deleted after its run (retention: image archives are kept
    PODIUM_IMAGE_RETENTION_DAYS, code archives PODIUM_CODE_RETENTION_DAYS) or is missing.
    """
    require_member(user, source.team, "run its submissions again")
    if source.image_deleted_at is not None or not source.image:
        raise ApplicationError(
            f"The archive of submission {source.pk} was deleted after its run: this server "
            f"keeps image archives {_days(settings.PODIUM_IMAGE_RETENTION_DAYS)} and code "
            f"archives {_days(settings.PODIUM_CODE_RETENTION_DAYS)} after a run. Upload it "
            "again to run it.",
            {"code": "artifact_deleted"},
        )
    if not source.image.storage.exists(str(source.image.name)):
        raise ApplicationError(
            f"The archive of submission {source.pk} is missing on the server; upload it again.",
            {"code": "artifact_deleted"},
        )
    with _artifact_file(source) as artifact:
        return submission_create(
            user=user,
            competition=source.competition,
            image=artifact,
            description=description or f"Re-run of submission {source.pk}",
            debug=debug,
            rerun_of=source,
        )


def _days(days: float) -> str:
    return "not at all" if days <= 0 else f"{days:g} day(s)"
