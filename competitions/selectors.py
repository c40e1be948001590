"""Queries that decide what a user may see.

Hidden labels, test inputs, other teams' runs and private scores are reachable only
through the functions here; views and API views never query those models themselves.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Count, Max, QuerySet
from django.http import Http404

from competitions.models import Competition, CompetitionFile, Submission, Team
from podium.errors import ApplicationError
from scoring.metrics import get_metric

User = AbstractBaseUser | AnonymousUser


class LeaderboardKind:
    PUBLIC = "public"
    PRIVATE = "private"
    ALL = (PUBLIC, PRIVATE)


@dataclass(frozen=True)
class LeaderboardEntry:
    rank: int
    team_id: int
    team: str
    score: float
    submissions: int
    last_submission: dt.datetime | None


def _is_organizer(user: User) -> bool:
    return bool(user.is_authenticated and user.is_staff)


def competition_list() -> QuerySet[Competition]:
    return Competition.objects.all()


def competition_get(*, slug: str) -> Competition:
    try:
        return Competition.objects.get(slug=slug)
    except Competition.DoesNotExist as exc:
        raise Http404(f"No competition {slug!r}.") from exc


def team_for_user(*, user: User, competition: Competition) -> Team | None:
    if not user.is_authenticated:
        return None
    return Team.objects.filter(competition=competition, memberships__user=user).first()


def private_scores_visible(*, user: User, competition: Competition) -> bool:
    """Organizers always; participants only after the end or the organizer's reveal."""
    return _is_organizer(user) or competition.private_leaderboard_visible


def competition_files_for_user(
    *, user: User, competition: Competition
) -> QuerySet[CompetitionFile]:
    """The files a user may download: train data and the sample submission, never the
    test inputs or the solution (organizers see all)."""
    files = competition.files.all()
    if _is_organizer(user):
        return files
    return files.filter(
        kind__in=[CompetitionFile.Kind.TRAIN, CompetitionFile.Kind.SAMPLE_SUBMISSION]
    )


def competition_file_get_for_user(
    *, user: User, competition: Competition, pk: int
) -> CompetitionFile:
    try:
        return competition_files_for_user(user=user, competition=competition).get(pk=pk)
    except CompetitionFile.DoesNotExist as exc:
        raise Http404("No such file.") from exc


def submissions_for_user(*, user: User, competition: Competition) -> QuerySet[Submission]:
    """The submissions of the user's team in this competition (none for strangers)."""
    team = team_for_user(user=user, competition=competition)
    if team is None:
        return Submission.objects.none()
    return team.submissions.select_related("user", "team", "competition").order_by("-created_at")


def submission_get_for_user(*, user: User, pk: int) -> Submission:
    """A submission of the user's own team; anyone else's is 404, not 403, so that ids
    of other teams' runs leak nothing."""
    queryset = Submission.objects.select_related("competition", "team", "user")
    if not _is_organizer(user):
        if not user.is_authenticated:
            raise Http404("No such submission.")
        queryset = queryset.filter(team__memberships__user=user)
    try:
        return queryset.get(pk=pk)
    except Submission.DoesNotExist as exc:
        raise Http404("No such submission.") from exc


def leaderboard_for_user(
    *, user: User, competition: Competition, kind: str = LeaderboardKind.PUBLIC
) -> list[LeaderboardEntry]:
    if kind not in LeaderboardKind.ALL:
        raise ApplicationError(f"Unknown leaderboard {kind!r}: use public or private.")
    if kind == LeaderboardKind.PRIVATE and not private_scores_visible(
        user=user, competition=competition
    ):
        raise ApplicationError(
            "The private leaderboard is hidden until the competition ends.",
            {"code": "private_hidden"},
        )
    return leaderboard(competition=competition, kind=kind)


def leaderboard(*, competition: Competition, kind: str) -> list[LeaderboardEntry]:
    """Rank teams by their best score; a tie goes to the earlier submission.

    Public: each team's best public score. Private: the best private score among the
    team's final selections, which are (until participants can choose) its
    `final_selections` best public submissions, as Kaggle selects automatically.
    Late submissions are never ranked. Two queries, whatever the number of teams.
    """
    higher_is_better = get_metric(competition.metric).greater_is_better
    sign = -1.0 if higher_is_better else 1.0
    scored = (
        Submission.objects.filter(
            competition=competition,
            status=Submission.Status.SCORED,
            is_late=False,
            public_score__isnull=False,
        )
        .values_list("team_id", "public_score", "private_score", "created_at")
        .order_by("created_at")
    )
    by_team: dict[int, list[tuple[float, float | None, dt.datetime]]] = defaultdict(list)
    for team_id, public, private, created in scored:
        by_team[team_id].append((public, private, created))

    best: dict[int, tuple[float, dt.datetime]] = {}
    for team_id, runs in by_team.items():
        ranked = sorted(runs, key=lambda r: (sign * r[0], r[2]))
        if kind == LeaderboardKind.PUBLIC:
            best[team_id] = (ranked[0][0], ranked[0][2])
            continue
        finals = [r for r in ranked[: competition.final_selections] if r[1] is not None]
        if finals:
            top = min(finals, key=lambda r: (sign * r[1], r[2]))
            best[team_id] = (top[1], top[2])
    if not best:
        return []

    stats = {
        row["team_id"]: row
        for row in Submission.objects.filter(competition=competition, is_late=False)
        .exclude(status=Submission.Status.CANCELLED)
        .values("team_id", "team__name")
        .annotate(n=Count("id"), last=Max("created_at"))
    }
    order = sorted(best, key=lambda t: (sign * best[t][0], best[t][1]))
    return [
        LeaderboardEntry(
            rank=rank,
            team_id=team_id,
            team=stats[team_id]["team__name"],
            score=best[team_id][0],
            submissions=stats[team_id]["n"],
            last_submission=stats[team_id]["last"],
        )
        for rank, team_id in enumerate(order, start=1)
    ]
