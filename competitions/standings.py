"""Every write of a team's stored standing (``TeamStanding``): the leaderboard maintained
on write.

Whatever changes a board (a score recorded, a submission created, cancelled or failed, a
rescore, a final selection, a team merge or a move into another team, a change of the
competition's metric or number of final selections) calls one function here in the same
transaction, so a reader never scans submissions (competitions.leaderboards). Deleting a
team deletes its standing (cascade); revealing or hiding the private board changes who
may read the stored private standing, not the standing itself.

A refresh recomputes one team's standing from that team's own submissions (a few rows,
an index range), so its cost does not grow with the size of the board.

The ranking rules, the same as the from-scratch computation (:func:`standing_compute`):
- public: the team's best public score among its scored submissions that are neither
  late nor debug runs; a tie goes to the earlier submission, then the lower id;
- private: the best private score among the team's final submissions: the ones it
  selected, then its best public ones in the slots it left empty, up to
  ``final_selections`` (at least one), as Kaggle selects automatically;
- ``submissions``/``last_submission``: its submissions neither late, debug nor cancelled;
- ``*_additional_scores``: copies of those submissions' additional metrics (never ranked);
- ``*_rank``: the place on each board (1 = first), dense: every write that moves a team's
  key (sort, at, submission) shifts by one the ranks of the teams it passes (a range
  update) and counts its own, under the competition's board lock; a rebuild or a team's
  deletion renumbers the board in one pass (:func:`ranks_rebuild`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import F, Q

from competitions.evaluation import queue
from competitions.evaluation.metric import metric_lookup
from competitions.models import Competition, Submission, Team, TeamStanding
from scoring.metrics import MetricError, UnknownMetric

Status = Submission.Status


@dataclass(frozen=True)
class Standing:
    """A team's standing as computed from its submissions (unsaved)."""

    submissions: int
    last_submission: dt.datetime | None
    public: tuple[int, float, dt.datetime] | None  # (submission id, score, created_at)
    private: tuple[int, float, dt.datetime] | None


def standing_compute(
    rows: Iterable[tuple[int, str, float | None, float | None, dt.datetime, bool]],
    *,
    higher_is_better: bool,
    final_selections: int,
) -> Standing:
    """Compute a standing from a team's submissions that are neither late nor debug runs:
    rows of (id, status, public_score, private_score, created_at, is_selected)."""
    sign = -1.0 if higher_is_better else 1.0
    count = 0
    last: dt.datetime | None = None
    ok = []
    for pk, status, public, private, created, selected in rows:
        if status == Status.CANCELLED:
            continue
        count += 1
        last = created if last is None or created > last else last
        if status == Status.SCORED and public is not None:
            ok.append((pk, public, private, created, selected))
    best_public = min(ok, key=lambda r: (sign * r[1], r[3], r[0]), default=None)
    finals = sorted(ok, key=lambda r: (not r[4], sign * r[1], r[3], r[0]))
    with_private = [
        (pk, public, private, created, selected)
        for pk, public, private, created, selected in finals[: max(1, final_selections)]
        if private is not None
    ]
    best_private = min(with_private, key=lambda r: (sign * r[2], r[3], r[0]), default=None)
    return Standing(
        submissions=count,
        last_submission=last,
        public=None if best_public is None else (best_public[0], best_public[1], best_public[3]),
        private=None
        if best_private is None
        else (best_private[0], best_private[2], best_private[3]),
    )


def higher_is_better(competition: Competition) -> bool:
    """The direction of the competition's metric; a misconfigured metric (which fails every
    run as a platform error until fixed, and rebuilds the standings when changed) ranks as
    higher-is-better meanwhile instead of failing the write."""
    try:
        return metric_lookup(competition.metric).greater_is_better
    except (UnknownMetric, MetricError):
        return True


def _rows(team_id: int) -> list[tuple[int, str, float | None, float | None, dt.datetime, bool]]:
    return list(
        Submission.objects.filter(team_id=team_id, is_late=False, is_debug=False)
        .order_by()
        .values_list("pk", "status", "public_score", "private_score", "created_at", "is_selected")
    )


RANKED_FIELDS = (
    "public_submission_id",
    "public_sort",
    "public_at",
    "private_submission_id",
    "private_sort",
    "private_at",
)


@dataclass(frozen=True)
class _BoardComparisons:
    """The on-commit callback that enqueues a board's comparison refresh (one per
    competition and transaction: see :func:`board_changed`)."""

    competition_id: int

    def __call__(self) -> None:
        queue.enqueue_board_comparisons(self.competition_id)


def board_changed(*, competition_id: int) -> None:
    """Enqueue, once the transaction commits, the refresh of the competition's stored
    paired comparisons (task ``scoring.board_comparisons``): an entry's neighbour may
    have changed. Once per competition and transaction, however many teams changed; a
    rolled-back change enqueues nothing. A broker failure is logged, never raised (the
    change is committed; the next change or rescore refreshes the comparisons)."""
    pending = transaction.get_connection().run_on_commit
    if any(_BoardComparisons(competition_id) == call for _, call, *_ in pending):
        return
    transaction.on_commit(_BoardComparisons(competition_id), robust=True)


BOARDS = ("public", "private")
# A board's key as RANKED_FIELDS hold it, three values per board: (submission, sort, at);
# ranked by (sort, at, submission).
Key = tuple[float, dt.datetime, int]


def board_lock(*, competition_id: int) -> None:
    """Hold the competition's board lock until the transaction ends, so that no two
    transactions move the ranks of one board at once: a row lock on the competition where
    the database has them (PostgreSQL); SQLite runs one write transaction at a time
    anyway. Take it before writing any standing of the competition (a deletion
    included), or two writers could wait on each other."""
    if connection.features.has_select_for_update:
        list(
            Competition.objects.select_for_update()
            .filter(pk=competition_id)
            .values_list("pk", flat=True)
        )


def _key(fields: tuple | None, board: int) -> Key | None:
    if fields is None or fields[3 * board + 1] is None:
        return None
    submission_id, sort, at = fields[3 * board : 3 * board + 3]
    return (sort, at, submission_id)


def _before(kind: str, key: Key) -> Q:
    """The standings ranked before ``key`` on ``kind``."""
    sort, at, submission_id = key
    return (
        Q(**{f"{kind}_sort__lt": sort})
        | Q(**{f"{kind}_sort": sort, f"{kind}_at__lt": at})
        | Q(
            **{
                f"{kind}_sort": sort,
                f"{kind}_at": at,
                f"{kind}_submission_id__lt": submission_id,
            }
        )
    )


def _move(
    competition_id: int, team_id: int, kind: str, old_rank: int | None, new: Key | None
) -> None:
    """Keep ``kind``'s ranks dense when one team leaves its rank ``old_rank`` (None: it
    was not on the board) for the place of its new key ``new`` (None: off the board).

    Its new rank is one more than the count of the others ranked before ``new``; the
    others between the two ranks move one place (one update over the ranks' index). The
    old key is not needed: a deleted ranked submission has already nulled it (SET_NULL).
    Costs the teams between the two places, not the board."""
    rank = f"{kind}_rank"
    others = TeamStanding.objects.filter(
        competition_id=competition_id, **{f"{kind}_sort__isnull": False}
    ).exclude(team_id=team_id)
    place = None if new is None else others.filter(_before(kind, new)).count() + 1
    if old_rank is not None and place is not None:
        if place < old_rank:
            others.filter(**{f"{rank}__gte": place, f"{rank}__lt": old_rank}).update(
                **{rank: F(rank) + 1}
            )
        elif place > old_rank:
            others.filter(**{f"{rank}__gt": old_rank, f"{rank}__lte": place}).update(
                **{rank: F(rank) - 1}
            )
    elif old_rank is not None:
        others.filter(**{f"{rank}__gt": old_rank}).update(**{rank: F(rank) - 1})
    elif place is not None:
        others.filter(**{f"{rank}__gte": place}).update(**{rank: F(rank) + 1})
    TeamStanding.objects.filter(team_id=team_id).update(**{rank: place})


def ranks_rebuild(*, competition_id: int) -> None:
    """Renumber both boards of a competition from their keys in one pass (after a rebuild
    of the standings or the deletion of teams): O(teams) rows read, only the ranks that
    differ written. Takes the board lock."""
    board_lock(competition_id=competition_id)
    table = connection.ops.quote_name(TeamStanding._meta.db_table)
    for kind in BOARDS:
        rank = f"{kind}_rank"
        board = TeamStanding.objects.filter(competition_id=competition_id)
        board.filter(**{f"{kind}_sort__isnull": True, f"{rank}__isnull": False}).update(
            **{rank: None}
        )
        ordered = (
            board.filter(**{f"{kind}_sort__isnull": False})
            .order_by(f"{kind}_sort", f"{kind}_at", f"{kind}_submission_id")
            .values_list("team_id", rank)
        )
        changed = [(i, team_id) for i, (team_id, was) in enumerate(ordered, 1) if was != i]
        if changed:
            with connection.cursor() as cursor:
                cursor.executemany(  # names from the model, values as parameters
                    f"UPDATE {table} SET {connection.ops.quote_name(rank)} = %s "  # noqa: S608
                    "WHERE team_id = %s",
                    changed,
                )


def _save(team_id: int, competition: Competition, standing: Standing, ranks: bool = True) -> None:
    """Store a team's standing; with ``ranks``, keep both boards' ranks dense (else the
    caller renumbers them: :func:`ranks_rebuild`)."""
    if ranks:
        board_lock(competition_id=competition.pk)
    stored = (
        TeamStanding.objects.filter(team_id=team_id)
        .values_list(*RANKED_FIELDS, "public_rank", "private_rank")
        .first()
    )
    before = None if stored is None else stored[: len(RANKED_FIELDS)]
    old_ranks = (None, None) if stored is None else stored[len(RANKED_FIELDS) :]
    if standing.submissions == 0:  # nothing counted: no row, as for a new team
        TeamStanding.objects.filter(team_id=team_id).delete()
        if before is not None and any(v is not None for v in before):
            board_changed(competition_id=competition.pk)
            for board, kind in enumerate(BOARDS):
                if ranks and old_ranks[board] is not None:
                    _move(competition.pk, team_id, kind, old_ranks[board], None)
        return
    sign = -1.0 if higher_is_better(competition) else 1.0
    public, private = standing.public, standing.private
    after = (
        public[0] if public else None,
        sign * public[1] if public else None,
        public[2] if public else None,
        private[0] if private else None,
        sign * private[1] if private else None,
        private[2] if private else None,
    )
    if after != (before or (None,) * len(RANKED_FIELDS)):
        board_changed(competition_id=competition.pk)
    # The ranked submissions' additional scores, copied (one query on primary keys).
    extra = {
        pk: (public_extra, private_extra)
        for pk, public_extra, private_extra in Submission.objects.filter(
            pk__in=[r[0] for r in (public, private) if r is not None]
        ).values_list("pk", "public_additional_scores", "private_additional_scores")
    }
    TeamStanding.objects.update_or_create(
        team_id=team_id,
        defaults={
            "competition_id": competition.pk,
            "submissions": standing.submissions,
            "last_submission": standing.last_submission,
            "public_submission_id": public[0] if public else None,
            "public_score": public[1] if public else None,
            "public_sort": sign * public[1] if public else None,
            "public_at": public[2] if public else None,
            "private_submission_id": private[0] if private else None,
            "private_score": private[1] if private else None,
            "private_sort": sign * private[1] if private else None,
            "private_at": private[2] if private else None,
            "public_additional_scores": extra[public[0]][0] if public else {},
            "private_additional_scores": extra[private[0]][1] if private else {},
        },
    )
    if ranks:
        for board, kind in enumerate(BOARDS):
            new = _key(after, board)
            if _key(before, board) != new or (new is None) != (old_ranks[board] is None):
                _move(competition.pk, team_id, kind, old_ranks[board], new)


@transaction.atomic
def standing_refresh(*, team_id: int) -> None:
    """Recompute and store one team's standing (nothing when the team no longer exists)."""
    team = Team.objects.select_related("competition").filter(pk=team_id).first()
    if team is None:
        return
    competition = team.competition
    standing = standing_compute(
        _rows(team_id),
        higher_is_better=higher_is_better(competition),
        final_selections=competition.final_selections,
    )
    _save(team_id, competition, standing)


def standings_refresh_for_submissions(*, submission_ids: Iterable[int]) -> None:
    """Refresh the standings of the teams of these submissions (after a status write)."""
    ids = list(submission_ids)
    if not ids:
        return
    teams = set(Submission.objects.filter(pk__in=ids).values_list("team_id", flat=True))
    for team_id in sorted(teams):
        standing_refresh(team_id=team_id)


def changed(done: bool | int, *, submission_ids: Iterable[int]) -> bool | int:
    """Refresh the teams of ``submission_ids`` when a guarded write ``done`` changed
    something, and return ``done``: a transition's one line of standings upkeep."""
    if done:
        standings_refresh_for_submissions(submission_ids=submission_ids)
    return done


@transaction.atomic
def standings_rebuild(*, competition_id: int) -> int:
    """Recompute every team's standing of a competition from scratch (a change of its
    metric or of its number of final selections, a data migration); return the count."""
    board_lock(competition_id=competition_id)
    competition = Competition.objects.get(pk=competition_id)
    higher = higher_is_better(competition)
    by_team: dict[int, list] = {
        pk: [] for pk in Team.objects.filter(competition=competition).values_list("pk", flat=True)
    }
    for team_id, *row in (
        Submission.objects.filter(competition=competition, is_late=False, is_debug=False)
        .order_by()
        .values_list(
            "team_id", "pk", "status", "public_score", "private_score", "created_at", "is_selected"
        )
    ):
        by_team.setdefault(team_id, []).append(tuple(row))
    TeamStanding.objects.filter(competition=competition).exclude(team_id__in=by_team).delete()
    board_changed(competition_id=competition.pk)
    for team_id, rows in by_team.items():
        standing = standing_compute(
            rows, higher_is_better=higher, final_selections=competition.final_selections
        )
        _save(team_id, competition, standing, ranks=False)
    ranks_rebuild(competition_id=competition.pk)
    return len(by_team)
