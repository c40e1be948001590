"""The leaderboard read model: pages of the public and private boards, the full board as
CSV, the shake-up.

Boards are read from the stored standings (``TeamStanding``, maintained on write by
competitions.standings), never from submissions: a page is a range of the
``standing_*_rank`` index plus the stored intervals of its rows (``ScoreInterval``,
computed by the worker), a constant number of queries whatever the size of the board.
What a user may see of a board is decided here too (the private board stays hidden until
the end or the reveal, see selectors.private_scores_visible).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.http import StreamingHttpResponse

from competitions.evaluation.metric import additional_metric_columns, metric_lookup
from competitions.models import Competition, ScoreInterval, Team, TeamStanding
from competitions.selectors import User, private_scores_visible
from podium.errors import ApplicationError
from scoring.metrics import MetricError, UnknownMetric

PAGE_SIZE = 100
PAGE_SIZE_MAX = 1000


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
    # The stored confidence interval of `score` (competitions.evaluation.confidence); None
    # while not computed yet (or predictions unavailable).
    ci_low: float | None = None
    ci_high: float | None = None
    # The stored paired comparison found no significant difference from the next entry.
    not_significant_vs_next: bool = False
    # On the private leaderboard: the team's rank on the public one (the shake-up).
    public_rank: int | None = None
    # The competition's additional metrics (shown, never ranked) of the ranked submission on
    # this board's part: (metric name, score or None) in declared order.
    additional: tuple[tuple[str, float | None], ...] = ()


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


@dataclass(frozen=True)
class LeaderboardPage:
    """One page of a board: ``entries`` ranked, ``total`` teams on the board, and ``own``:
    the reader's team's entry wherever it ranks (None when it is not on the board)."""

    kind: str
    page: int
    page_size: int
    total: int
    entries: list[LeaderboardEntry]
    own: LeaderboardEntry | None


def _check_kind(*, user: User, competition: Competition, kind: str) -> None:
    if kind not in LeaderboardKind.ALL:
        raise ApplicationError(f"Unknown leaderboard {kind!r}: use public or private.")
    if kind == LeaderboardKind.PRIVATE and not private_scores_visible(
        user=user, competition=competition
    ):
        raise ApplicationError(
            "The private leaderboard is hidden until the competition ends.",
            {"code": "private_hidden"},
        )


# The columns of a board row (_ranked), the ranked submission's additional scores last.
def _row_fields(kind: str) -> tuple[str, ...]:
    return (
        "team_id",
        "team__name",
        f"{kind}_score",
        "submissions",
        "last_submission",
        f"{kind}_submission_id",
        f"{kind}_additional_scores",
    )


ROW_WIDTH = 7


def _ranked(competition: Competition, kind: str) -> QuerySet[TeamStanding, tuple[Any, ...]]:
    """The standings on a board, best first: a tie goes to the earlier submission."""
    return (
        TeamStanding.objects.filter(competition=competition, **{f"{kind}_sort__isnull": False})
        .order_by(f"{kind}_sort", f"{kind}_at", f"{kind}_submission_id")
        .values_list(*_row_fields(kind))
    )


def additional_columns(competition: Competition) -> list[tuple[str, str]]:
    """(metric name, display name) of the board's additional columns, in declared order."""
    return additional_metric_columns(competition)


def _additional(names: list[str], stored: dict[str, Any] | None) -> tuple:
    stored = stored or {}
    return tuple((name, stored.get(name)) for name in names)


def _ahead(competition: Competition, kind: str, sort: Any, at: Any, submission_id: Any) -> Q:
    """The standings ranked before (sort, at, submission_id) on the `kind` board."""
    return Q(competition=competition, **{f"{kind}_sort__isnull": False}) & (
        Q(**{f"{kind}_sort__lt": sort})
        | Q(**{f"{kind}_sort": sort, f"{kind}_at__lt": at})
        | Q(**{f"{kind}_sort": sort, f"{kind}_at": at, f"{kind}_submission_id__lt": submission_id})
    )


def _public_rank_subquery(competition: Competition) -> Subquery:
    ahead = (
        TeamStanding.objects.filter(
            _ahead(
                competition,
                LeaderboardKind.PUBLIC,
                OuterRef("public_sort"),
                OuterRef("public_at"),
                OuterRef("public_submission_id"),
            )
        )
        .order_by()
        .values("competition")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Subquery(ahead)


def _entries(
    rows: list[tuple],
    kind: str,
    first_rank: int,
    public_ranks: dict[int, int | None],
    names: list[str],
) -> list[LeaderboardEntry]:
    entries = [
        LeaderboardEntry(
            rank=first_rank + i,
            team_id=team_id,
            team=name,
            score=score,
            submissions=n,
            last_submission=last,
            submission_id=submission_id,
            public_rank=public_ranks.get(team_id) if kind == LeaderboardKind.PRIVATE else None,
            additional=_additional(names, extra),
        )
        for i, (team_id, name, score, n, last, submission_id, extra) in enumerate(rows)
    ]
    return entries


def _with_intervals(
    entries: list[LeaderboardEntry], kind: str, after: int | None = None
) -> list[LeaderboardEntry]:
    """Attach the stored intervals (one query); `after` is the submission ranked just
    after the last entry, for its paired comparison."""
    ids = [e.submission_id for e in entries if e.submission_id]
    if not ids:
        return entries
    stored = {
        pk: (low, high, compared, same)
        for pk, low, high, compared, same in ScoreInterval.objects.filter(
            submission_id__in=ids, part=kind
        ).values_list("submission_id", "low", "high", "compared_with", "not_significant")
    }
    out = []
    for i, entry in enumerate(entries):
        found = stored.get(entry.submission_id or 0)
        if found is None:
            out.append(entry)
            continue
        nxt = entries[i + 1].submission_id if i + 1 < len(entries) else after
        out.append(
            replace(
                entry,
                ci_low=found[0],
                ci_high=found[1],
                not_significant_vs_next=bool(found[3] and nxt and found[2] == nxt),
            )
        )
    return out


def leaderboard_page_for_user(
    *,
    user: User,
    competition: Competition,
    kind: str = LeaderboardKind.PUBLIC,
    page: int = 1,
    page_size: int = PAGE_SIZE,
    team: Team | None = None,
) -> LeaderboardPage:
    """One page (1-based) of a board with its stored intervals, and ``team``'s own entry.

    Reads only stored standings and intervals: at most seven queries, whatever the page
    size or the number of teams. Raises ApplicationError for an unknown kind, a page or
    page size out of range, or a private board the user may not see yet.
    """
    _check_kind(user=user, competition=competition, kind=kind)
    if page < 1 or not 1 <= page_size <= PAGE_SIZE_MAX:
        raise ApplicationError(
            f"page must be 1 or more and page_size between 1 and {PAGE_SIZE_MAX}; got page "
            f"{page}, page_size {page_size}.",
            {"code": "bad_page"},
        )
    ranked = _ranked(competition, kind)
    total = ranked.count()
    offset = (page - 1) * page_size
    private = kind == LeaderboardKind.PRIVATE
    window: QuerySet[TeamStanding, tuple[Any, ...]] = ranked[offset : offset + page_size + 1]
    if private:
        window = ranked.values_list(
            *_row_fields(kind),
            "public_sort",
            "public_submission_id",
        ).annotate(ahead=_public_rank_subquery(competition))[offset : offset + page_size + 1]
    rows: list[tuple[Any, ...]] = list(window)
    public_ranks: dict[int, int | None] = {}
    if private:
        width = ROW_WIDTH
        public_ranks = {r[0]: (None if r[width] is None else (r[width + 2] or 0) + 1) for r in rows}
        rows = [r[:width] for r in rows]
    after = rows[page_size][5] if len(rows) > page_size else None
    names = [name for name, _ in additional_columns(competition)]
    entries = _entries(rows[:page_size], kind, offset + 1, public_ranks, names)
    entries = _with_intervals(entries, kind, after)
    own = next((e for e in entries if team is not None and e.team_id == team.pk), None)
    if team is not None and own is None:
        own = _own_entry(competition, kind, team)
    return LeaderboardPage(
        kind=kind, page=page, page_size=page_size, total=total, entries=entries, own=own
    )


def _own_entry(competition: Competition, kind: str, team: Team) -> LeaderboardEntry | None:
    standing = TeamStanding.objects.filter(team=team, **{f"{kind}_sort__isnull": False}).first()
    if standing is None:
        return None
    sort, at, sub = (getattr(standing, f"{kind}_{f}") for f in ("sort", "at", "submission_id"))
    rank = TeamStanding.objects.filter(_ahead(competition, kind, sort, at, sub)).count() + 1
    public_rank = None
    if kind == LeaderboardKind.PRIVATE and standing.public_sort is not None:
        public_rank = (
            TeamStanding.objects.filter(
                _ahead(
                    competition,
                    LeaderboardKind.PUBLIC,
                    standing.public_sort,
                    standing.public_at,
                    standing.public_submission_id,
                )
            ).count()
            + 1
        )
    entry = LeaderboardEntry(
        rank=rank,
        team_id=team.pk,
        team=team.name,
        score=getattr(standing, f"{kind}_score"),
        submissions=standing.submissions,
        last_submission=standing.last_submission,
        submission_id=sub,
        public_rank=public_rank,
        additional=_additional(
            [name for name, _ in additional_columns(competition)],
            getattr(standing, f"{kind}_additional_scores"),
        ),
    )
    return _with_intervals([entry], kind)[0]


def leaderboard(*, competition: Competition, kind: str) -> list[LeaderboardEntry]:
    """The whole board, ranked, with stored intervals: O(teams) rows of the standings.

    For pages use :func:`leaderboard_page_for_user`; this serves the shake-up and the
    CSV download.
    """
    rows = list(_ranked(competition, kind))
    public_ranks: dict[int, int | None] = {}
    if kind == LeaderboardKind.PRIVATE:
        public_ranks = {
            team_id: rank
            for rank, (team_id, *_) in enumerate(_ranked(competition, LeaderboardKind.PUBLIC), 1)
        }
    names = [name for name, _ in additional_columns(competition)]
    entries = _entries(rows, kind, 1, public_ranks, names)
    return _with_intervals(entries, kind)


CSV_COLUMNS = [
    "rank",
    "team",
    "score",
    "ci_low",
    "ci_high",
    "submissions",
    "last_submission",
    "public_rank",
]


# A cell starting so is run as a formula by spreadsheets (CSV injection, OWASP): such
# text gets a leading apostrophe; control characters are dropped.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text_cell(value: str) -> str:
    value = "".join(c for c in value if c.isprintable())
    return "'" + value if value.startswith(FORMULA_STARTS) else value


class _Echo:
    def write(self, value: str) -> str:
        return value


def leaderboard_csv_for_user(
    *, user: User, competition: Competition, kind: str = LeaderboardKind.PUBLIC
) -> Iterator[str]:
    """The whole board as CSV lines (header first) for a streamed response: columns
    CSV_COLUMNS then one per additional metric (its registry name), UTC ISO 8601 times,
    team names safe for spreadsheets (no formulas, no control characters), pages of 2,000
    entries.

    Raises ApplicationError (before yielding anything) as leaderboard_page_for_user.
    """
    _check_kind(user=user, competition=competition, kind=kind)
    return _csv_lines(competition, kind)


def _csv_lines(competition: Competition, kind: str) -> Iterator[str]:
    writer = csv.writer(_Echo())
    names = [name for name, _ in additional_columns(competition)]
    # After the fixed columns: one per additional metric, headed by its registry name.
    yield writer.writerow([*CSV_COLUMNS, *names])
    public_ranks: dict[int, int | None] = {}
    if kind == LeaderboardKind.PRIVATE:
        public_ranks = {
            team_id: rank
            for rank, (team_id, *_) in enumerate(_ranked(competition, LeaderboardKind.PUBLIC), 1)
        }
    rows = list(_ranked(competition, kind))
    chunk = 2000
    for start in range(0, len(rows), chunk):
        entries = _with_intervals(
            _entries(rows[start : start + chunk], kind, start + 1, public_ranks, names), kind
        )
        yield "".join(
            writer.writerow(
                [
                    e.rank,
                    _text_cell(e.team),
                    repr(e.score),
                    "" if e.ci_low is None else repr(e.ci_low),
                    "" if e.ci_high is None else repr(e.ci_high),
                    e.submissions,
                    e.last_submission.isoformat() if e.last_submission else "",
                    "" if e.public_rank is None else e.public_rank,
                    *("" if value is None else repr(value) for _, value in e.additional),
                ]
            )
            for e in entries
        )


def leaderboard_csv_response(
    lines: Iterator[str], competition: Competition, kind: str
) -> StreamingHttpResponse:
    """A streamed CSV download of a board (the web page's and the API's)."""
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="{competition.slug}-{kind}-leaderboard.csv"'
    )
    return response


@dataclass(frozen=True)
class SubmissionRank:
    """Where a submission's public score places on the public leaderboard: ``rank`` among
    ``teams`` (the other teams' best scores, ties sharing a rank), and the team's own
    current rank (None when not on the board)."""

    rank: int
    teams: int
    team_rank: int | None


def submission_public_rank(*, competition: Competition, submission: Any) -> SubmissionRank | None:
    """The public rank this submission's score takes (None: not a ranked, scored run).

    Reads the stored standings (three counts on the board's index), never the board."""
    score = submission.public_score
    if score is None or submission.is_debug or submission.is_late:
        return None
    higher = metric_lookup(competition.metric).greater_is_better
    sort = -score if higher else score  # as competitions.standings stores it
    board = TeamStanding.objects.filter(competition=competition, public_sort__isnull=False).exclude(
        team_id=submission.team_id
    )
    better = board.filter(public_sort__lt=sort).count()
    own = TeamStanding.objects.filter(team_id=submission.team_id, public_sort__isnull=False).first()
    team_rank = None
    if own is not None:
        ahead = _ahead(
            competition,
            LeaderboardKind.PUBLIC,
            own.public_sort,
            own.public_at,
            own.public_submission_id,
        )
        team_rank = TeamStanding.objects.filter(ahead).count() + 1
    return SubmissionRank(rank=better + 1, teams=board.count() + 1, team_rank=team_rank)


def metric_direction(competition: Competition) -> str:
    """ "higher is better" or "lower is better" for the competition's metric ("" when the
    metric is unknown: the organizer's mistake, shown elsewhere)."""
    try:
        higher = metric_lookup(competition.metric).greater_is_better
    except (UnknownMetric, MetricError):
        return ""
    return "higher is better" if higher else "lower is better"
