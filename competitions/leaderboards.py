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
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
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


# A board's row as one query reads it: the standing, its team's name and the stored
# interval (with its paired comparison) of the submission that ranks it.
ROW = (
    "team_id",
    "team__name",
    "score",
    "submissions",
    "last_submission",
    "submission_id",
    "ci__low",
    "ci__high",
    "ci__compared_with",
    "ci__not_significant",
    "additional",
)
ROW_WIDTH = len(ROW)


def _board(competition: Competition, kind: str) -> QuerySet[TeamStanding]:
    """The standings on a board (the ``standing_*_rank`` partial index's rows)."""
    return TeamStanding.objects.filter(competition=competition, **{f"{kind}_sort__isnull": False})


def _with_row(standings: QuerySet[TeamStanding], kind: str) -> QuerySet[TeamStanding]:
    """Name the `kind` board's columns as ROW reads them, with the stored interval of the
    ranking submission (lookups on the interval's unique (submission, part) index; the
    submissions themselves are never read)."""
    interval = ScoreInterval.objects.filter(
        submission_id=OuterRef(f"{kind}_submission_id"), part=kind
    )
    return standings.annotate(
        score=F(f"{kind}_score"),
        submission_id=F(f"{kind}_submission_id"),
        additional=F(f"{kind}_additional_scores"),
        **{
            f"ci__{name}": Subquery(interval.values(name)[:1])
            for name in ("low", "high", "compared_with", "not_significant")
        },
    )


def _order(kind: str) -> tuple[str, str, str]:
    return (f"{kind}_sort", f"{kind}_at", f"{kind}_submission_id")


def _ranked(
    competition: Competition, kind: str, *extra: Any
) -> QuerySet[TeamStanding, tuple[Any, ...]]:
    """The rows of a board (ROW, then `extra`), best first: a tie goes to the earlier
    submission, then the lower id. One query: an index range of the standings, its
    teams' names (by primary key) and stored intervals (by unique index)."""
    return (
        _with_row(_board(competition, kind), kind).order_by(*_order(kind)).values_list(*ROW, *extra)
    )


def _ahead(competition: Competition, kind: str, sort: Any, at: Any, submission_id: Any) -> Q:
    """The standings ranked before (sort, at, submission_id) on the `kind` board."""
    return Q(competition=competition, **{f"{kind}_sort__isnull": False}) & (
        Q(**{f"{kind}_sort__lt": sort})
        | Q(**{f"{kind}_sort": sort, f"{kind}_at__lt": at})
        | Q(**{f"{kind}_sort": sort, f"{kind}_at": at, f"{kind}_submission_id__lt": submission_id})
    )


def _rank_subquery(competition: Competition, kind: str) -> Any:
    """How many standings rank before the outer row on the `kind` board: a count over
    the board's covering index up to the row's score, plus the ties ranked before it (an
    equality seek), instead of one scan of the whole board for the OR of the two."""

    def count(where: Q) -> Subquery:
        return Subquery(
            TeamStanding.objects.filter(where)
            .order_by()
            .values("competition")
            .annotate(n=Count("pk"))
            .values("n")
        )

    sort, at, sub = (OuterRef(f"{kind}_{f}") for f in ("sort", "at", "submission_id"))
    board = Q(competition=competition, **{f"{kind}_sort__isnull": False})
    better = board & Q(**{f"{kind}_sort__lt": sort})
    tied = (
        board
        & Q(**{f"{kind}_sort": sort})
        & (Q(**{f"{kind}_at__lt": at}) | Q(**{f"{kind}_at": at, f"{kind}_submission_id__lt": sub}))
    )
    return Coalesce(count(better), 0) + Coalesce(count(tied), 0)


def _public_rank_subquery(competition: Competition) -> Subquery:
    return _rank_subquery(competition, LeaderboardKind.PUBLIC)


def additional_columns(competition: Competition) -> list[tuple[str, str]]:
    """(metric name, display name) of the board's additional columns, in declared order."""
    return additional_metric_columns(competition)


def _additional(names: list[str], stored: dict[str, Any] | None) -> tuple:
    stored = stored or {}
    return tuple((name, stored.get(name)) for name in names)


def _entries(
    rows: list[tuple],
    kind: str,
    first_rank: int,
    public_ranks: dict[int, int | None],
    names: list[str],
    after: int | None = None,
) -> list[LeaderboardEntry]:
    """Entries from ROW rows ranked from `first_rank`; `names` are the additional metrics'
    columns; `after` is the submission ranked just after the last row, for its paired
    comparison."""
    private = kind == LeaderboardKind.PRIVATE
    nexts = [row[5] for row in rows[1:]] + [after] if rows else []
    return [
        LeaderboardEntry(
            rank=first_rank + i,
            team_id=team_id,
            team=name,
            score=score,
            submissions=n,
            last_submission=last,
            submission_id=submission_id,
            ci_low=low,
            ci_high=high,
            not_significant_vs_next=bool(same and nxt and compared == nxt),
            public_rank=public_ranks.get(team_id) if private else None,
            additional=_additional(names, extra),
        )
        for i, (
            (team_id, name, score, n, last, submission_id, low, high, compared, same, extra),
            nxt,
        ) in enumerate(zip(rows, nexts, strict=True))
    ]


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

    Reads only stored standings and intervals, in three queries whatever the page, its
    size or the number of teams: the count of the board (its partial index), the page
    (an index range, with team names and intervals by key), and the own
    entry with its rank (a count over the index up to it). Raises ApplicationError for
    an unknown kind, a page or page size out of range, or a private board the user may
    not see yet.
    """
    _check_kind(user=user, competition=competition, kind=kind)
    if page < 1 or not 1 <= page_size <= PAGE_SIZE_MAX:
        raise ApplicationError(
            f"page must be 1 or more and page_size between 1 and {PAGE_SIZE_MAX}; got page "
            f"{page}, page_size {page_size}.",
            {"code": "bad_page"},
        )
    total = _board(competition, kind).count()
    offset = (page - 1) * page_size
    private = kind == LeaderboardKind.PRIVATE
    window: QuerySet[TeamStanding, tuple[Any, ...]] = _ranked(competition, kind)
    if private:
        window = _ranked(competition, kind, "public_sort").annotate(
            ahead=_public_rank_subquery(competition)
        )
    # Past the board's end nothing is read: an offset beyond any row (page=10**19) would
    # overflow the database's integer instead.
    rows: list[tuple[Any, ...]] = (
        list(window[offset : offset + page_size + 1]) if offset < total else []
    )
    public_ranks: dict[int, int | None] = {}
    if private:
        width = ROW_WIDTH
        public_ranks = {r[0]: (None if r[width] is None else (r[width + 1] or 0) + 1) for r in rows}
        rows = [r[:width] for r in rows]
    after = rows[page_size][5] if len(rows) > page_size else None
    names = [name for name, _ in additional_columns(competition)]
    entries = _entries(rows[:page_size], kind, offset + 1, public_ranks, names, after)
    own = None if team is None else _own_entry(competition, kind, team)
    # On the page, the own entry is the page's (its comparison with the next one shows).
    own = next((e for e in entries if own is not None and e.team_id == own.team_id), own)
    return LeaderboardPage(
        kind=kind, page=page, page_size=page_size, total=total, entries=entries, own=own
    )


def _own_entry(competition: Competition, kind: str, team: Team) -> LeaderboardEntry | None:
    """The team's entry wherever it ranks (one query, whether or not it is on the page:
    the same count of queries for every reader with a team)."""
    private = kind == LeaderboardKind.PRIVATE
    mine = _with_row(_board(competition, kind).filter(team=team), kind).annotate(
        ahead=_rank_subquery(competition, kind)
    )
    extra = ["ahead"]
    if private:
        mine = mine.annotate(public_ahead=_public_rank_subquery(competition))
        extra += ["public_sort", "public_ahead"]
    found = mine.values_list(*ROW, *extra).first()
    if found is None:
        return None
    width = ROW_WIDTH
    row, ahead = found[:width], found[width]
    public_ranks: dict[int, int | None] = {}
    if private:
        public_ranks = {team.pk: None if found[width + 1] is None else (found[width + 2] or 0) + 1}
    names = [name for name, _ in additional_columns(competition)]
    # Its paired comparison shows on its own row only where the page shows its neighbour.
    (entry,) = _entries([row], kind, (ahead or 0) + 1, public_ranks, names)
    return entry


def _public_ranks(competition: Competition) -> dict[int, int | None]:
    """Each ranked team's public rank (the whole public board's index, in order)."""
    public = _board(competition, LeaderboardKind.PUBLIC).order_by(*_order(LeaderboardKind.PUBLIC))
    return {
        team_id: rank for rank, team_id in enumerate(public.values_list("team_id", flat=True), 1)
    }


def leaderboard(*, competition: Competition, kind: str) -> list[LeaderboardEntry]:
    """The whole board, ranked, with stored intervals: O(teams) rows of the standings.

    For pages use :func:`leaderboard_page_for_user`; this serves the shake-up and the
    CSV download.
    """
    rows = list(_ranked(competition, kind))
    public_ranks: dict[int, int | None] = {}
    if kind == LeaderboardKind.PRIVATE:
        public_ranks = _public_ranks(competition)
    names = [name for name, _ in additional_columns(competition)]
    return _entries(rows, kind, 1, public_ranks, names)


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
        public_ranks = _public_ranks(competition)
    rows = list(_ranked(competition, kind))
    chunk = 2000
    for start in range(0, len(rows), chunk):
        after = rows[start + chunk][5] if start + chunk < len(rows) else None
        entries = _entries(rows[start : start + chunk], kind, start + 1, public_ranks, names, after)
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
