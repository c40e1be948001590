"""Queries that decide what a user may see.

Hidden labels, test inputs, other teams' runs and private scores are reachable only
through the functions here; views and API views never query those models themselves.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.cache import cache
from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
    Window,
)
from django.db.models.functions import RowNumber
from django.db.models.query import ModelIterable
from django.http import Http404

from competitions import run_reports
from competitions.evaluation.confidence import leaderboard_confidence
from competitions.evaluation.metric import metric_lookup
from competitions.models import (
    Competition,
    CompetitionFile,
    Submission,
    Team,
    TeamInvitation,
    TeamMembership,
    TeamMergeRequest,
)
from podium.errors import ApplicationError

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
    submission_id: int | None = None
    # A bootstrap confidence interval of `score` (see competitions.confidence); None when
    # not computed (outside the top entries, or predictions unavailable).
    ci_low: float | None = None
    ci_high: float | None = None
    # The paired bootstrap finds no significant difference from the next entry.
    not_significant_vs_next: bool = False
    # On the private leaderboard: the team's rank on the public one (the shake-up).
    public_rank: int | None = None


def _is_organizer(user: User) -> bool:
    return bool(user.is_authenticated and user.is_staff)


def competition_list(*, user: User) -> QuerySet[Competition]:
    """The competitions a user may see: published ones; organizers also see drafts."""
    competitions = Competition.objects.all()
    if _is_organizer(user):
        return competitions
    return competitions.filter(published_at__isnull=False)


def competition_get(*, slug: str, user: User) -> Competition:
    """One competition the user may see; a draft is 404 for everybody but organizers
    (the same answer as a slug that does not exist, so drafts leak nothing)."""
    try:
        return competition_list(user=user).get(slug=slug)
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
    """The files a user may download: train data and the sample submission, and only
    for members who accepted the competition's rules (Kaggle's rule); never the test
    inputs or the solution. Organizers see all."""
    files = competition.files.all()
    if _is_organizer(user):
        return files
    if not data_download_allowed(user=user, competition=competition):
        return files.none()
    return files.filter(
        kind__in=[CompetitionFile.Kind.TRAIN, CompetitionFile.Kind.SAMPLE_SUBMISSION]
    )


def data_download_allowed(*, user: User, competition: Competition) -> bool:
    """Whether the user may download the competition's public data: organizers, and
    members of a team who accepted the rules."""
    if _is_organizer(user):
        return True
    return bool(
        user.is_authenticated
        and TeamMembership.objects.filter(
            competition=competition, user_id=user.pk, rules_accepted_at__isnull=False
        ).exists()
    )


def competition_file_get_for_user(
    *, user: User, competition: Competition, pk: int
) -> CompetitionFile:
    try:
        return competition_files_for_user(user=user, competition=competition).get(pk=pk)
    except CompetitionFile.DoesNotExist as exc:
        raise Http404("No such file.") from exc


def _presented(queryset: QuerySet[Submission], *, user: User) -> QuerySet[Submission]:
    """Make every object the queryset yields show only what ``user`` may see of its run
    (competitions.run_reports: private score, messages, usage, exit code, log). Such
    objects are for display: services reload a submission before writing."""

    class PresentedIterable(ModelIterable):
        def __iter__(self):  # type: ignore[no-untyped-def]
            for obj in super().__iter__():
                yield run_reports.submission_present(user=user, submission=obj)

    presented = queryset.all()
    presented._iterable_class = PresentedIterable
    return presented


def submissions_for_user(*, user: User, competition: Competition) -> QuerySet[Submission]:
    """The submissions of the user's team in this competition (none for strangers), each
    showing only what the user may see of its run (competitions.run_reports)."""
    team = team_for_user(user=user, competition=competition)
    if team is None:
        return Submission.objects.none()
    queryset = team.submissions.select_related("user", "team", "competition").order_by(
        "-created_at"
    )
    return _presented(queryset, user=user)


def submissions_for_organizer(*, user: User, competition: Competition) -> QuerySet[Submission]:
    """Every submission of a competition, for organizers only."""
    if not _is_organizer(user):
        raise Http404("No such page.")
    return competition.submissions.select_related("user", "team").order_by("-created_at")


def submission_get_for_user(*, user: User, pk: int) -> Submission:
    """A submission of the user's own team; anyone else's is 404, not 403, so that ids
    of other teams' runs leak nothing. It shows only what the user may see of its run
    (competitions.run_reports): the private score is blanked until the user may see it."""
    queryset = Submission.objects.select_related("competition", "team", "user")
    if not _is_organizer(user):
        if not user.is_authenticated:
            raise Http404("No such submission.")
        queryset = queryset.filter(team__memberships__user=user)
    try:
        submission = queryset.get(pk=pk)
    except Submission.DoesNotExist as exc:
        raise Http404("No such submission.") from exc
    return run_reports.submission_present(user=user, submission=submission)


def _can_see_submission(user: User, submission: Submission) -> bool:
    if _is_organizer(user):
        return True
    return bool(
        user.is_authenticated and submission.team.memberships.filter(user_id=user.pk).exists()  # type: ignore[attr-defined]
    )


def submission_log_for_user(*, user: User, submission: Submission) -> str | None:
    """The run's log tail, or None when the user may not read it.

    Organizers read every log; a team reads its debug runs' logs, and its scored runs'
    logs only where the organizer set log_visibility to "tail" (hidden by default: a log
    could print the hidden test inputs). The decision is competitions.run_reports'.
    """
    if not _can_see_submission(user, submission):
        return None
    report = getattr(submission, "run_report", None)
    if report is None:
        report = run_reports.run_report_for_user(user=user, submission=submission)
    return report.log


def submission_queue_position(*, submission: Submission) -> int | None:
    """1-based place among all queued submissions (every team, oldest first)."""
    if submission.status != Submission.Status.QUEUED:
        return None
    ahead = Submission.objects.filter(status=Submission.Status.QUEUED).filter(
        Q(created_at__lt=submission.created_at)
        | Q(created_at=submission.created_at, pk__lt=submission.pk)
    )
    return ahead.count() + 1


def queue_overview(*, user: User) -> dict[str, list[Submission]]:
    """What runs where (running, with worker and start) and what waits, in order."""
    if not _is_organizer(user):
        raise Http404("No such page.")
    base = Submission.objects.select_related("competition", "team", "user")
    return {
        "running": list(base.filter(status=Submission.Status.RUNNING).order_by("started_at")),
        "queued": list(base.filter(status=Submission.Status.QUEUED).order_by("created_at", "pk")),
    }


# Teams


def team_members(*, team: Team) -> list[Any]:
    return list(
        get_user_model()
        .objects.filter(team_memberships__team=team)
        .order_by("team_memberships__joined_at", "pk")
    )


def invitations_for_user(
    *, user: User, competition: Competition | None = None
) -> QuerySet[TeamInvitation]:
    """Pending invitations addressed to the user."""
    if not user.is_authenticated:
        return TeamInvitation.objects.none()
    queryset = TeamInvitation.objects.filter(
        invitee=user, status=TeamInvitation.Status.PENDING
    ).select_related("team__competition", "invited_by")
    if competition is not None:
        queryset = queryset.filter(team__competition=competition)
    return queryset


def invitations_for_team(*, team: Team) -> QuerySet[TeamInvitation]:
    """Pending invitations the team sent."""
    return TeamInvitation.objects.filter(
        team=team, status=TeamInvitation.Status.PENDING
    ).select_related("invitee", "invited_by")


def merge_requests_for_team(*, team: Team) -> QuerySet[TeamMergeRequest]:
    """Pending merge requests the team sent or received."""
    return (
        TeamMergeRequest.objects.filter(Q(source=team) | Q(target=team))
        .filter(status=TeamMergeRequest.Status.PENDING)
        .select_related("source", "target", "requested_by")
    )


# Leaderboards


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


def shakeup_for_user(*, user: User, competition: Competition) -> list[dict[str, Any]]:
    """Each ranked team's move from its public to its private rank, after the reveal."""
    if not competition.private_leaderboard_visible:
        raise ApplicationError(
            "The shake-up is shown once the private leaderboard is revealed.",
            {"code": "private_hidden"},
        )
    entries = leaderboard_for_user(user=user, competition=competition, kind=LeaderboardKind.PRIVATE)
    return [
        {
            "team": e.team,
            "team_id": e.team_id,
            "public_rank": e.public_rank,
            "private_rank": e.rank,
            "delta": None if e.public_rank is None else e.public_rank - e.rank,
        }
        for e in entries
    ]


def _cache_seconds() -> int:
    return int(getattr(settings, "PODIUM_LEADERBOARD_CACHE_SECONDS", 300))


def leaderboard(*, competition: Competition, kind: str) -> list[LeaderboardEntry]:
    """Rank teams by their best score; a tie goes to the earlier submission.

    Public: each team's best public score. Private: the best private score among the
    team's final submissions: those it selected, and its best public ones in the slots
    it left empty, up to `final_selections` (as Kaggle selects automatically). Debug and
    late submissions are never ranked.

    One query computes the board (window functions: the best rows per team with their
    counts), cached under the competition's `updated_at`, which every write that changes
    a board bumps (competitions.services.leaderboard_invalidate); reading that version
    is the second query, and the only one while the cache holds.
    """
    version = (
        Competition.objects.filter(pk=competition.pk).values_list("updated_at", flat=True).first()
    )
    seconds = _cache_seconds()
    key = f"podium:leaderboard:v1:{competition.pk}:{kind}:{version.timestamp() if version else 0}"
    if seconds:
        # A copy in this process first: unpickling 10,000 entries from the shared cache
        # costs more than the rest of a warm request.
        found = _LOCAL_BOARDS.get(key)
        if found is not None and found[0] > time.monotonic():
            return list(found[1])
        cached = cache.get(key)
        if cached is not None:
            _remember(key, cached, seconds)
            return list(cached)
    entries, predictions = _compute_leaderboard(competition, kind)
    entries = _with_confidence(competition, kind, entries, predictions)
    if seconds:
        cache.set(key, entries, seconds)
        _remember(key, entries, seconds)
    return list(entries)


_LOCAL_BOARDS: dict[str, tuple[float, tuple[LeaderboardEntry, ...]]] = {}
_LOCAL_MAX = 16


def _remember(key: str, entries: list[LeaderboardEntry], seconds: int) -> None:
    if len(_LOCAL_BOARDS) >= _LOCAL_MAX:
        _LOCAL_BOARDS.pop(next(iter(_LOCAL_BOARDS)))
    _LOCAL_BOARDS[key] = (time.monotonic() + seconds, tuple(entries))


def _public_board(
    competition: Competition, higher_is_better: bool
) -> tuple[list[LeaderboardEntry], dict[int, str]]:
    """The public board in one query without window functions, so that it reads a few
    index entries per team instead of numbering every submission of the competition.

    Per team: its best public submission (scored, neither late nor debug; a tie goes to
    the earlier submission, then the lower id) is a short range of the partial index
    `submission_lb_best`; its submission count and last submission (neither late, debug
    nor cancelled) a range of `submission_lb_count`. Teams with no such best submission
    are not ranked. The rows come out ranked.
    """
    scored = Submission.objects.filter(
        competition=competition,
        status=Submission.Status.SCORED,
        is_late=False,
        is_debug=False,
        public_score__isnull=False,
    )
    order = F("public_score").desc() if higher_is_better else F("public_score").asc()
    best = (
        scored.filter(team_id=OuterRef("pk")).order_by(order, "created_at", "pk").values("pk")[:1]
    )
    counted = (
        Submission.objects.filter(
            competition=competition, team_id=OuterRef("team_id"), is_late=False, is_debug=False
        )
        .exclude(status=Submission.Status.CANCELLED)
        .order_by()
        .values("team_id")
    )
    rows = (
        Submission.objects.filter(
            pk__in=Team.objects.filter(competition=competition)
            .annotate(best=Subquery(best))
            .values("best")
        )
        .annotate(
            n=Subquery(counted.annotate(n=Count("pk")).values("n")),
            # The newest entry of the range, not an aggregate over it.
            last=Subquery(counted.order_by("-created_at").values("created_at")[:1]),
        )
        # Ranked here: a tie between teams goes to the earlier submission.
        .order_by(order, "created_at", "pk")
        .values_list("pk", "team_id", "team__name", "public_score", "n", "last", "predictions")
    )
    entries: list[LeaderboardEntry] = []
    predictions: dict[int, str] = {}
    for rank, (pk, team_id, name, score, n, last, kept) in enumerate(rows, start=1):
        entries.append(
            LeaderboardEntry(
                rank=rank,
                team_id=team_id,
                team=name,
                score=score,
                submissions=n,
                last_submission=last,
                submission_id=pk,
            )
        )
        predictions[pk] = kept
    return entries, predictions


def _compute_leaderboard(
    competition: Competition, kind: str
) -> tuple[list[LeaderboardEntry], dict[int, str]]:
    """One query: per team, its best public row (`best`) and, for the private board, its
    final submissions (`slot` <= final_selections: selected ones first, then the best
    public), with the team's submission count and last submission as window aggregates."""
    higher_is_better = metric_lookup(competition.metric).greater_is_better
    sign = -1.0 if higher_is_better else 1.0
    public_order = F("public_score").desc() if higher_is_better else F("public_score").asc()
    tail = [public_order, F("created_at").asc(), F("pk").asc()]
    private = kind == LeaderboardKind.PRIVATE
    if not private:
        return _public_board(competition, higher_is_better)
    windows: dict[str, Window] = {
        "best": Window(RowNumber(), partition_by=[F("team_id")], order_by=[F("ok").desc(), *tail]),
        "n": Window(Count("pk"), partition_by=[F("team_id")]),
        "last": Window(Max("created_at"), partition_by=[F("team_id")]),
    }
    keep = Q(best=1)
    # The private board's rows carry their final-selection slot; the public one's repeat
    # `best` there, so that the rows have one shape.
    columns = ["slot"] if private else ["best"]
    if private:
        windows["slot"] = Window(
            RowNumber(),
            partition_by=[F("team_id")],
            order_by=[F("ok").desc(), F("is_selected").desc(), *tail],
        )
        keep |= Q(slot__lte=max(1, competition.final_selections))
    rows = (
        Submission.objects.filter(competition=competition, is_late=False, is_debug=False)
        .exclude(status=Submission.Status.CANCELLED)
        .annotate(
            ok=Case(
                When(Q(status=Submission.Status.SCORED, public_score__isnull=False), then=Value(1)),
                default=Value(0),
                output_field=IntegerField(),
            )
        )
        .annotate(**windows)
        # Only windows may be filtered here: a filter on `ok` would shrink the partitions
        # that `n` and `last` count.
        .filter(keep)
        .values_list(
            "pk",
            "team_id",
            "team__name",
            "ok",
            "best",
            *columns,
            "public_score",
            "private_score",
            "created_at",
            "n",
            "last",
            "predictions",
        )
    )
    Best = tuple[float, dt.datetime, int, str, int, dt.datetime]
    best_public: dict[int, Best] = {}
    best_private: dict[int, Best] = {}

    def better(new: Best, old: Best | None) -> bool:
        return old is None or (sign * new[0], new[1], new[2]) < (sign * old[0], old[1], old[2])

    predictions: dict[int, str] = {}
    final_slots = max(1, competition.final_selections)
    for (
        pk,
        team_id,
        name,
        ok,
        rank_in_team,
        slot,
        public,
        private_score,
        created,
        n,
        last,
        kept,
    ) in rows:
        if not ok:
            continue
        predictions[pk] = kept
        if rank_in_team == 1:
            best_public[team_id] = (public, created, pk, name, n, last)
        if private and slot <= final_slots and private_score is not None:
            candidate = (private_score, created, pk, name, n, last)
            if better(candidate, best_private.get(team_id)):
                best_private[team_id] = candidate

    def ranked(best: dict[int, Best]) -> list[LeaderboardEntry]:
        ids = sorted(best, key=lambda t: (sign * best[t][0], best[t][1], best[t][2]))
        return [
            LeaderboardEntry(
                rank=rank,
                team_id=team_id,
                team=best[team_id][3],
                score=best[team_id][0],
                submissions=best[team_id][4],
                last_submission=best[team_id][5],
                submission_id=best[team_id][2],
            )
            for rank, team_id in enumerate(ids, start=1)
        ]

    public_board = ranked(best_public)
    public_ranks = {e.team_id: e.rank for e in public_board}
    board = [replace(e, public_rank=public_ranks.get(e.team_id)) for e in ranked(best_private)]
    return board, predictions


def _with_confidence(
    competition: Competition,
    kind: str,
    entries: list[LeaderboardEntry],
    predictions: dict[int, str],
) -> list[LeaderboardEntry]:
    """Attach bootstrap intervals to the top entries (see evaluation.confidence); no query
    at all when none of them kept predictions."""
    top = int(getattr(settings, "PODIUM_LEADERBOARD_CI_TOP", 20))
    if top <= 0 or not any(predictions.get(e.submission_id or 0) for e in entries[:top]):
        return entries
    found = leaderboard_confidence(
        competition=competition,
        kind=kind,
        submission_ids=[
            e.submission_id for e in entries[:top] if predictions.get(e.submission_id or 0)
        ],
    )
    out = []
    for i, entry in enumerate(entries):
        info = found.get(entry.submission_id) if entry.submission_id else None
        if info is None:
            out.append(entry)
            continue
        nxt = entries[i + 1].submission_id if i + 1 < len(entries) else None
        out.append(
            replace(
                entry,
                ci_low=info["low"],
                ci_high=info["high"],
                not_significant_vs_next=bool(nxt and nxt in info["not_significant_vs"]),
            )
        )
    return out


def submissions_stale(*, competition: Competition) -> QuerySet[Submission]:
    """Ranked submissions whose scores (or invalid-predictions verdict) come from another
    solution than the one stored now: stale until a rescore (organizers only)."""
    current = (
        competition.files.filter(kind=CompetitionFile.Kind.SOLUTION)
        .values_list("sha256", flat=True)
        .first()
    )
    if current is None:
        return Submission.objects.none()
    return (
        Submission.objects.filter(competition=competition, is_debug=False)
        .filter(
            Q(status=Submission.Status.SCORED)
            | Q(
                status=Submission.Status.FAILED,
                failure_kind=Submission.FailureKind.INVALID_PREDICTIONS,
            )
        )
        .exclude(scored_solution_sha256="")
        .exclude(scored_solution_sha256=current)
    )
