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
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection
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
    return shakeup_rows(entries)


def shakeup_rows(entries: list[LeaderboardEntry]) -> list[dict[str, Any]]:
    """Each private board entry's move: ``team``, ``team_id``, ``public_rank`` (None: not
    on the public board), ``private_rank`` and ``delta`` (places gained)."""
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


# A board's rows are read with fixed SQL (built once per board at import), not the ORM:
# compiling a queryset cost more than reading the page. One row: the standing's rank, its
# team, the stored interval (with its paired comparison) of the submission that ranks it,
# the additional scores and the stored public rank. A page is a range of the
# ``standing_*_page`` index; the own entry is one more row by primary key.
_STANDING = TeamStanding._meta.db_table
_TEAM = Team._meta.db_table
_INTERVAL = ScoreInterval._meta.db_table


def _select(kind: str, mark: int) -> str:
    # Names from the models and the two board kinds only; every value is a parameter.
    return (
        f'SELECT {mark}, s."{kind}_rank", s."team_id", t."name", s."{kind}_score", '  # noqa: S608
        f's."submissions", s."last_submission", s."{kind}_submission_id", i."low", i."high", '
        f'i."compared_with", i."not_significant", s."{kind}_additional_scores", '
        f's."public_rank" '
        f'FROM "{_STANDING}" s INNER JOIN "{_TEAM}" t ON t."id" = s."team_id" '
        f'LEFT OUTER JOIN "{_INTERVAL}" i ON i."submission_id" = s."{kind}_submission_id" '
        f"AND i.\"part\" = '{kind}' "
        f'WHERE s."competition_id" = %s AND s."{kind}_rank" '
    )


# Per board: (the page and the own entry: competition, first rank, last rank, competition,
# team), (the board's size: competition).
_SQL = {
    kind: (
        f"{_select(kind, 0)}BETWEEN %s AND %s "
        f'UNION ALL {_select(kind, 1)}IS NOT NULL AND s."team_id" = %s',
        f'SELECT MAX("{kind}_rank") FROM "{_STANDING}" WHERE "competition_id" = %s',  # noqa: S608
    )
    for kind in LeaderboardKind.ALL
}

# A read row, decoded: (rank, team id, team name, score, submissions, last submission,
# submission id, ci low, ci high, compared with, not significant, additional, public rank).
Row = tuple[Any, ...]


def _when(value: Any) -> dt.datetime | None:
    """A stored time as an aware UTC datetime (SQLite hands back naive ones or text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _scores(value: Any) -> dict[str, Any]:
    if isinstance(value, str | bytes):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def _decode(raw: tuple[Any, ...]) -> Row:
    (_, rank, team_id, name, score, n, last, sub, low, high, compared, same, extra, public) = raw
    return (
        rank,
        team_id,
        name,
        score,
        n,
        _when(last),
        sub,
        low,
        high,
        compared,
        bool(same),
        _scores(extra),
        public,
    )


def _read(
    competition_id: int, kind: str, first: int, last: int, team_id: int | None = None
) -> tuple[list[Row], Row | None]:
    """The rows ranked ``first`` to ``last`` in order, and ``team_id``'s own row (None
    when it is not on the board): one query."""
    page, own = [], None
    with connection.cursor() as cursor:
        cursor.execute(_SQL[kind][0], [competition_id, first, last, competition_id, team_id])
        for raw in cursor.fetchall():
            if raw[0]:
                own = _decode(raw)
            else:
                page.append(_decode(raw))
    page.sort(key=lambda row: row[0])
    return page, own


def _size(competition_id: int, kind: str) -> int:
    """How many teams the board ranks (its last rank: the ranks are dense)."""
    with connection.cursor() as cursor:
        cursor.execute(_SQL[kind][1], [competition_id])
        (last,) = cursor.fetchone()
    return last or 0


def additional_columns(competition: Competition) -> list[tuple[str, str]]:
    """(metric name, display name) of the board's additional columns, in declared order."""
    return additional_metric_columns(competition)


def _entries(
    rows: list[Row], kind: str, names: list[str], after: int | None = None
) -> list[LeaderboardEntry]:
    """Entries from consecutive rows; `names` are the additional metrics' columns;
    `after` is the submission ranked just after the last row, for its paired
    comparison (None: not shown)."""
    private = kind == LeaderboardKind.PRIVATE
    nexts = [row[6] for row in rows[1:]] + [after] if rows else []
    return [
        LeaderboardEntry(
            rank=rank,
            team_id=team_id,
            team=name,
            score=score,
            submissions=n,
            last_submission=last,
            submission_id=submission_id,
            ci_low=low,
            ci_high=high,
            not_significant_vs_next=bool(same and nxt and compared == nxt),
            public_rank=public if private else None,
            additional=tuple((metric, extra.get(metric)) for metric in names),
        )
        for (
            (
                rank,
                team_id,
                name,
                score,
                n,
                last,
                submission_id,
                low,
                high,
                compared,
                same,
                extra,
                public,
            ),
            nxt,
        ) in zip(rows, nexts, strict=True)
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

    Reads only stored standings and intervals, in two queries whatever the page, its
    size or the number of teams: the board's size (its last stored rank) and the page
    with the own entry (a range of stored ranks, one row by key; team names and
    intervals by key). Raises ApplicationError for an unknown kind, a page or page size
    out of range, or a private board the user may not see yet.
    """
    _check_kind(user=user, competition=competition, kind=kind)
    if page < 1 or not 1 <= page_size <= PAGE_SIZE_MAX:
        raise ApplicationError(
            f"page must be 1 or more and page_size between 1 and {PAGE_SIZE_MAX}; got page "
            f"{page}, page_size {page_size}.",
            {"code": "bad_page"},
        )
    total = _size(competition.pk, kind)
    offset = (page - 1) * page_size
    # Past the board's end no rank is asked for: a rank beyond any row (page=10**19)
    # would overflow the database's integer instead. One row past the page gives the last
    # entry's neighbour for its paired comparison.
    first, last = (offset + 1, offset + page_size + 1) if offset < total else (1, 0)
    rows, own_row = _read(competition.pk, kind, first, last, None if team is None else team.pk)
    after = rows[page_size][6] if len(rows) > page_size else None
    names = [name for name, _ in additional_columns(competition)]
    entries = _entries(rows[:page_size], kind, names, after)
    # On the page, the own entry is the page's (its comparison with the next one shows);
    # elsewhere its comparison is not shown, as its neighbour is not.
    own = None
    if own_row is not None:
        own = next((e for e in entries if e.team_id == own_row[1]), None)
        own = own or _entries([own_row], kind, names)[0]
    return LeaderboardPage(
        kind=kind, page=page, page_size=page_size, total=total, entries=entries, own=own
    )


# The whole board is read in ranges of this many ranks (the CSV streams them).
CHUNK = 2000


def _board_chunks(competition: Competition, kind: str) -> Iterator[list[LeaderboardEntry]]:
    """The whole board, best first, in lists of CHUNK entries: one query per chunk."""
    total = _size(competition.pk, kind)
    names = [name for name, _ in additional_columns(competition)]
    for start in range(1, total + 1, CHUNK):
        rows, _ = _read(competition.pk, kind, start, start + CHUNK)
        after = rows[CHUNK][6] if len(rows) > CHUNK else None
        yield _entries(rows[:CHUNK], kind, names, after)


def leaderboard(*, competition: Competition, kind: str) -> list[LeaderboardEntry]:
    """The whole board, ranked, with stored intervals: O(teams) rows of the standings.

    For pages use :func:`leaderboard_page_for_user`; this serves the shake-up.
    """
    return [entry for chunk in _board_chunks(competition, kind) for entry in chunk]


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
    for entries in _board_chunks(competition, kind):
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

    Reads the stored standings (two counts on the board's index and the team's stored
    rank), never the board."""
    score = submission.public_score
    if score is None or submission.is_debug or submission.is_late:
        return None
    higher = metric_lookup(competition.metric).greater_is_better
    sort = -score if higher else score  # as competitions.standings stores it
    board = TeamStanding.objects.filter(competition=competition, public_sort__isnull=False).exclude(
        team_id=submission.team_id
    )
    better = board.filter(public_sort__lt=sort).count()
    team_rank = (
        TeamStanding.objects.filter(team_id=submission.team_id, public_sort__isnull=False)
        .values_list("public_rank", flat=True)
        .first()
    )
    return SubmissionRank(rank=better + 1, teams=board.count() + 1, team_rank=team_rank)


def metric_direction(competition: Competition) -> str:
    """ "higher is better" or "lower is better" for the competition's metric ("" when the
    metric is unknown: the organizer's mistake, shown elsewhere)."""
    try:
        higher = metric_lookup(competition.metric).greater_is_better
    except (UnknownMetric, MetricError):
        return ""
    return "higher is better" if higher else "lower is better"
