"""An organizer's actions on a competition's results; each leaves an AuditRecord."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from competitions import standings
from competitions.evaluation.pipeline import competition_predictions_rescore
from competitions.models import AuditRecord, Competition
from competitions.services.common import leaderboard_invalidate, require_organizer


@transaction.atomic
def competition_reveal_private(*, actor: User, competition: Competition) -> None:
    """Show the private leaderboard (and private scores) to everybody now."""
    require_organizer(actor, "reveal the private leaderboard")
    now = timezone.now()
    Competition.objects.filter(pk=competition.pk).update(private_revealed_at=now, updated_at=now)
    competition.private_revealed_at = now
    AuditRecord.objects.create(
        competition=competition,
        actor=actor,
        action=AuditRecord.Action.REVEAL,
        details={"revealed_at": now.isoformat()},
    )
    standings.board_changed(competition_id=competition.pk)  # its comparisons shown now


@transaction.atomic
def competition_hide_private(*, actor: User, competition: Competition) -> None:
    """Undo a reveal. After the end the private leaderboard is public anyway."""
    require_organizer(actor, "hide the private leaderboard")
    now = timezone.now()
    Competition.objects.filter(pk=competition.pk).update(private_revealed_at=None, updated_at=now)
    competition.private_revealed_at = None
    AuditRecord.objects.create(
        competition=competition,
        actor=actor,
        action=AuditRecord.Action.HIDE,
        details={"still_visible_because_ended": competition.has_ended},
    )


def competition_rescore(*, actor: User | None, competition: Competition) -> int:
    """Score every scored or invalid-prediction submission again from its kept
    predictions against the current solution, without running any container.

    Returns how many submissions were rescored. The AuditRecord lists the counts and
    every score or status that changed. `actor` None means a system task.
    """
    if actor is not None:
        require_organizer(actor, "rescore a competition")
    with transaction.atomic():
        report = competition_predictions_rescore(competition=competition)
        AuditRecord.objects.create(
            competition=competition, actor=actor, action=AuditRecord.Action.RESCORE, details=report
        )
        leaderboard_invalidate(competition_id=competition.pk)
    return int(report["rescored"])
