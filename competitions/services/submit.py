"""Upload -> submission: the one use case behind the Submit page and the API's submit."""

from __future__ import annotations

from typing import IO

from django.contrib.auth.models import User

from competitions.models import Competition, Submission
from competitions.services.submissions import submission_create
from uploads.services import upload_consume


def submission_submit(
    *,
    user: User,
    competition: Competition,
    image: IO[bytes] | None = None,
    upload_id: str | None = None,
    description: str = "",
    debug: bool = False,
) -> Submission:
    """Make a queued submission from an image archive sent in the request (``image``) or
    from a complete resumable upload of the user's (``upload_id``); exactly one is given.

    An upload is consumed in the same transaction as the submission is made: when the
    submission is refused (quota, size, not joined) the upload and its bytes stay. Raises
    ApplicationError (see submission_create and upload_consume); ValueError when both or
    neither of ``image`` and ``upload_id`` are given (the caller's bug).
    """
    if (image is None) == (upload_id is None):
        raise ValueError("give exactly one of image and upload_id")
    if upload_id is not None:
        with upload_consume(user=user, upload_id=upload_id, competition=competition) as upload:
            return submission_create(
                user=user,
                competition=competition,
                image=upload,
                description=description,
                debug=debug,
            )
    assert image is not None
    return submission_create(
        user=user, competition=competition, image=image, description=description, debug=debug
    )
