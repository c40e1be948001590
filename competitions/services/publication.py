"""Draft -> published: the step that puts a competition in front of participants."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from competitions.models import AuditRecord, Competition, CompetitionFile
from competitions.services.common import leaderboard_invalidate, require_organizer
from competitions.services.data_checks import competition_data_validate
from podium.errors import ApplicationError

REQUIRED_KINDS = (
    CompetitionFile.Kind.TRAIN,
    CompetitionFile.Kind.TEST,
    CompetitionFile.Kind.SOLUTION,
    CompetitionFile.Kind.SAMPLE_SUBMISSION,
)


def competition_publication_validate(*, competition: Competition) -> None:
    """Refuse to publish a competition whose data participants could not use.

    The single call site of data validation at publication: the four kinds of files
    (training data, test inputs, solution, sample submission) must be there, and the
    shared data check (competitions.services.data_checks: ids agree, Usage values, the
    metric computable on each part) must pass on the stored files.

    Raises ApplicationError naming the missing files, or CompetitionDataInvalid (an
    ApplicationError) naming each file, row and rule that fails.
    """
    present = set(competition.files.values_list("kind", flat=True))
    missing = [CompetitionFile.Kind(kind).label for kind in REQUIRED_KINDS if kind not in present]
    if missing:
        raise ApplicationError(
            f"{competition.title} cannot be published: it has no "
            + ", no ".join(missing)
            + ". Upload them in the competition's files first.",
            {"code": "data_missing", "missing": missing},
        )
    competition_data_validate(competition=competition)


@transaction.atomic
def competition_publish(*, actor: User | None, competition: Competition) -> None:
    """Validate the competition's data, then show it to everybody (lists, pages, API).

    `actor` is the organizer (None for a bundle import run from the command line, which
    is the operator's own act). Records an AuditRecord. Raises ApplicationError when the
    actor is not an organizer, the competition is already published or its data is
    invalid; nothing changes then.
    """
    if actor is not None:
        require_organizer(actor, "publish a competition")
    locked = Competition.objects.select_for_update().get(pk=competition.pk)
    if locked.published_at is not None:
        raise ApplicationError(
            f"{competition.title} is already published (since "
            f"{locked.published_at:%Y-%m-%d %H:%M} UTC).",
            {"code": "already_published"},
        )
    competition_publication_validate(competition=locked)
    now = timezone.now()
    Competition.objects.filter(pk=competition.pk).update(published_at=now, updated_at=now)
    competition.published_at = now
    leaderboard_invalidate(competition_id=competition.pk)
    AuditRecord.objects.create(
        competition=competition,
        actor=actor,
        action=AuditRecord.Action.PUBLISH,
        details={"published_at": now.isoformat(), "open": competition.is_open},
    )
