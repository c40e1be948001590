"""The leaderboard read model: public and private boards, the shake-up, their cache.

What a user may see of a board is decided here too (the private board stays hidden until
the reveal, see selectors.private_scores_visible); each board is computed in one query
and cached under the competition's ``updated_at`` (bumped by
services.common.leaderboard_invalidate).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
    Window,
)
from django.db.models.functions import RowNumber

from competitions.evaluation.confidence import leaderboard_confidence
from competitions.evaluation.metric import metric_lookup
from competitions.models import (
    Competition,
    Submission,
    Team,
)
from competitions.selectors import User, private_scores_visible
from podium.errors import ApplicationError
from scoring.metrics import MetricError, UnknownMetric


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
    return settings.PODIUM_LEADERBOARD_CACHE_SECONDS


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
    if kind != LeaderboardKind.PRIVATE:
        return _public_board(competition, higher_is_better)
    windows: dict[str, Window] = {
        "best": Window(RowNumber(), partition_by=[F("team_id")], order_by=[F("ok").desc(), *tail]),
        "n": Window(Count("pk"), partition_by=[F("team_id")]),
        "last": Window(Max("created_at"), partition_by=[F("team_id")]),
        # Each row's final-selection slot: selected submissions first, then the best public.
        "slot": Window(
            RowNumber(),
            partition_by=[F("team_id")],
            order_by=[F("ok").desc(), F("is_selected").desc(), *tail],
        ),
    }
    keep = Q(best=1) | Q(slot__lte=max(1, competition.final_selections))
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
            "slot",
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
        if slot <= final_slots and private_score is not None:
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
    top = settings.PODIUM_LEADERBOARD_CI_TOP
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


@dataclass(frozen=True)
class SubmissionRank:
    """Where a submission's public score places on the public leaderboard: ``rank`` among
    ``teams`` (the other teams' best scores, ties sharing a rank), and the team's own
    current rank (None when not on the board)."""

    rank: int
    teams: int
    team_rank: int | None


def submission_public_rank(*, competition: Competition, submission: Any) -> SubmissionRank | None:
    """The public rank this submission's score takes (None: not a ranked, scored run)."""
    score = submission.public_score
    if score is None or submission.is_debug or submission.is_late:
        return None
    higher = metric_lookup(competition.metric).greater_is_better
    entries = leaderboard(competition=competition, kind=LeaderboardKind.PUBLIC)
    others = [e for e in entries if e.team_id != submission.team_id]
    better = sum(1 for e in others if (e.score > score if higher else e.score < score))
    team_rank = next((e.rank for e in entries if e.team_id == submission.team_id), None)
    return SubmissionRank(rank=better + 1, teams=len(others) + 1, team_rank=team_rank)


def metric_direction(competition: Competition) -> str:
    """ "higher is better" or "lower is better" for the competition's metric ("" when the
    metric is unknown: the organizer's mistake, shown elsewhere)."""
    try:
        higher = metric_lookup(competition.metric).greater_is_better
    except (UnknownMetric, MetricError):
        return ""
    return "higher is better" if higher else "lower is better"
