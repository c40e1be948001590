"""Helpers the service modules share: who is who, and the leaderboard's version."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.utils import timezone

from competitions.models import Competition, Team, TeamMembership
from podium.errors import ApplicationError


def require_organizer(actor: User, what: str) -> None:
    if not (actor.is_authenticated and actor.is_staff):
        raise ApplicationError(f"Only organizers can {what}.", {"code": "not_organizer"})


def require_member(user: User, team: Team, what: str) -> None:
    """Refuse anyone who is not in the team; the message names no other team's details."""
    if not (user.is_authenticated and TeamMembership.objects.filter(team=team, user=user).exists()):
        raise ApplicationError(
            f"Only members of team {team.name} can {what}.", {"code": "not_member"}
        )


def membership_for(user: User, competition: Competition) -> TeamMembership | None:
    if not user.is_authenticated:
        return None
    return (
        TeamMembership.objects.select_related("team")
        .filter(competition=competition, user=user)
        .first()
    )


def leaderboard_invalidate(*, competition_id: int) -> None:
    """Mark the competition's leaderboards stale.

    Cached leaderboards are keyed by `Competition.updated_at`, which every reader loads
    anyway, so bumping it is the one invalidation that reaches every process (web
    servers, API servers, workers) whatever cache backend they use.
    """
    Competition.objects.filter(pk=competition_id).update(updated_at=timezone.now())
