"""Confidence intervals of leaderboard scores, computed where the scoring happens.

The worker calls :func:`submission_intervals_store` after it records a score: the
interval of each part's score (public, private) is stored (``ScoreInterval``), and so is
the paired comparison of each entry with the entry ranked next on each board, for the
pairs that changed. Whatever changes a board (a score, a rescore, a selection, a merge, a
deletion, a reveal) enqueues :func:`board_comparisons_refresh` (task
``scoring.board_comparisons``, see competitions.standings), so that stored comparisons
follow the board. A rescore recomputes every ranked entry's intervals and
neighbour comparisons in the background (:func:`competition_intervals_refresh`, task
``scoring.competition_intervals``). Web requests only read stored values
(competitions.leaderboards).

Methods (scoring.intervals): Wilson for proportions, the delta method for other means of
per-row values, O(rows); a seeded bootstrap, capped in rows, for the rest. The level and
the bootstrap's resamples are the competition's (``interval_confidence``,
``interval_resamples``; 0 resamples: no intervals).
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

import numpy as np
import pandas as pd
from django.db import transaction
from django.db.models import Q

from competitions.evaluation.data import local_path, stored_solution_read
from competitions.evaluation.metric import competition_metric, metric_score_range
from competitions.models import (
    Competition,
    CompetitionFile,
    ScoreInterval,
    Submission,
    TeamStanding,
)
from scoring.intervals import paired_difference, score_interval
from scoring.metrics import Metric
from scoring.scorer import target_arrays
from scoring.split import PRIVATE, PUBLIC, USAGE_COLUMN, canonical_usage
from scoring.validation import read_predictions

logger = logging.getLogger(__name__)

PARTS = {"public": PUBLIC, "private": PRIVATE}


class _Rows:
    """The solution's rows of each part and the kept predictions, read once each."""

    def __init__(self, competition: Competition, record: CompetitionFile, metric: Metric) -> None:
        self.competition = competition
        self.record = record
        self.metric = metric
        self.frame: pd.DataFrame | None = None
        self.predictions: dict[int, pd.DataFrame | None] = {}

    def solution(self) -> pd.DataFrame:
        if self.frame is None:
            self.frame = stored_solution_read(
                self.record, competition=self.competition, metric=self.metric
            )
        return self.frame

    def mask(self, kind: str) -> np.ndarray:
        frame = self.solution()
        return (canonical_usage(frame[USAGE_COLUMN]) == PARTS[kind]).to_numpy()

    def y_true(self, kind: str) -> np.ndarray:
        frame = self.solution()
        return target_arrays(frame[self.mask(kind)], self.competition.target_columns)

    def y_pred(self, submission: Submission, kind: str) -> np.ndarray | None:
        if submission.pk not in self.predictions:
            try:
                with local_path(submission.predictions) as path:
                    self.predictions[submission.pk] = read_predictions(
                        path,
                        solution=self.solution(),
                        id_column=self.competition.id_column,
                        target_columns=self.competition.target_columns,
                        metric=self.metric,
                    )
            # A kept file may be missing, unreadable or no longer match the solution, and the
            # metric may be plugin code: whatever fails, the run keeps its score.
            except Exception:  # noqa: BLE001 - the interval is an extra: never fail the scoring
                logger.warning("no predictions for the interval of submission %s", submission.pk)
                self.predictions[submission.pk] = None
        found = self.predictions[submission.pk]
        if found is None:
            return None
        rows = found.loc[self.solution().index[self.mask(kind)]]
        return target_arrays(rows, self.competition.target_columns)


def _setup(competition: Competition) -> _Rows | None:
    if competition.interval_resamples <= 0:
        return None
    record = competition.files.filter(kind=CompetitionFile.Kind.SOLUTION).first()
    if record is None:
        return None
    return _Rows(competition, record, competition_metric(competition))


def _options(competition: Competition) -> dict[str, Any]:
    return {
        "confidence": competition.interval_confidence,
        "resamples": competition.interval_resamples,
        "seed": competition.split_seed or 0,
    }


def _store_interval(rows: _Rows, submission: Submission, kind: str) -> bool:
    pred = rows.y_pred(submission, kind)
    if pred is None:
        return False
    try:
        found = score_interval(rows.metric, rows.y_true(kind), pred, **_options(rows.competition))
    except Exception:  # a metric undefined on too many resamples, ...
        logger.warning("no interval for submission %s", submission.pk, exc_info=True)
        return False
    # An asymptotic interval (normal, delta method) can pass the metric's possible scores
    # (an F1 above 1); it is cut to them.
    lowest, highest = metric_score_range(rows.competition.metric)
    low = found.low if lowest is None else max(lowest, found.low)
    high = found.high if highest is None else min(highest, found.high)
    ScoreInterval.objects.update_or_create(
        submission=submission,
        part=kind,
        defaults={
            "low": low,
            "high": high,
            "method": found.method,
            "confidence": rows.competition.interval_confidence,
            "solution_sha256": rows.record.sha256,
        },
    )
    return True


def _store_pair(rows: _Rows | None, upper: Submission, lower: Submission | None, kind: str) -> bool:
    """Store the paired comparison of `upper` with `lower` (the entry ranked just after it)
    on `upper`'s interval, or clear it when there is none to make (no entry after it, no
    kept predictions, a failing test): a stored comparison never names another entry
    than the one ranked next. Written only while the board still pairs the two (a later
    change enqueues its own refresh). Returns whether a comparison was stored."""
    found = None
    if rows is not None and lower is not None:
        a, b = rows.y_pred(upper, kind), rows.y_pred(lower, kind)
        if a is not None and b is not None:
            try:
                found = paired_difference(
                    rows.metric, rows.y_true(kind), a, b, **_options(rows.competition)
                )
            except Exception:
                logger.warning("no paired test for %s and %s", upper.pk, lower.pk, exc_info=True)
    with transaction.atomic():
        if lower is not None and _next_on_board(upper.competition_id, kind, upper.pk) != lower.pk:
            return False  # the board moved on meanwhile
        ScoreInterval.objects.filter(submission=upper, part=kind).update(
            compared_with=lower.pk if found is not None and lower is not None else None,
            not_significant=found is not None and found.contains(0.0),
        )
    return found is not None


def _board_ids(competition_id: int, kind: str) -> list[int]:
    """The submissions ranking the teams of a board, best first."""
    return list(
        TeamStanding.objects.filter(
            competition_id=competition_id, **{f"{kind}_sort__isnull": False}
        )
        .order_by(f"{kind}_sort", f"{kind}_at", f"{kind}_submission_id")
        .values_list(f"{kind}_submission_id", flat=True)
    )


def _next_on_board(competition_id: int, kind: str, submission_id: int) -> int | None:
    """The submission ranked just after `submission_id` on a board (None: last or gone)."""
    standing = TeamStanding.objects.filter(
        competition_id=competition_id, **{f"{kind}_submission_id": submission_id}
    ).first()
    if standing is None:
        return None
    return _neighbours(standing, kind)[1]


def board_comparisons_refresh(*, competition_id: int) -> int:
    """Make every stored paired comparison pair its entry with the one ranked next now.

    Walks each board (one query for its order, one for its stored comparisons) and
    recomputes only the pairs that changed: after a score, a rescore, a selection, a
    merge, a deletion, a reveal. An entry that is last, or no longer ranks its team, has
    its comparison cleared. Idempotent; run by the task ``scoring.board_comparisons``
    (never in a request). Returns how many comparisons were stored or cleared.
    """
    competition = Competition.objects.filter(pk=competition_id).first()
    if competition is None:
        return 0
    return _pairs_refresh(competition, None)


def _pairs_refresh(competition: Competition, rows: _Rows | None) -> int:
    competition_id = competition.pk
    touched = 0
    for kind in PARTS:
        ids = _board_ids(competition_id, kind)
        after = dict(itertools.zip_longest(ids, ids[1:]))
        board = TeamStanding.objects.filter(
            competition_id=competition_id, **{f"{kind}_sort__isnull": False}
        ).values(f"{kind}_submission_id")
        # Off the board (no longer its team's best, its team gone): nothing to compare with.
        touched += (
            ScoreInterval.objects.filter(
                part=kind, submission__competition_id=competition_id, compared_with__isnull=False
            )
            .exclude(submission_id__in=board)
            .update(compared_with=None, not_significant=False)
        )
        stored = dict(
            ScoreInterval.objects.filter(part=kind, submission_id__in=board).values_list(
                "submission_id", "compared_with"
            )
        )
        stale = [pk for pk in ids if pk in stored and stored[pk] != after[pk]]
        if not stale:
            continue
        if rows is None:
            rows = _setup(competition)
        subs = Submission.objects.in_bulk([*stale, *(after[pk] for pk in stale if after[pk])])
        for pk in stale:
            lower = subs.get(after[pk]) if after[pk] else None
            _store_pair(rows, subs[pk], lower, kind)
            touched += 1
    return touched


def _neighbours(standing: TeamStanding, kind: str) -> tuple[int | None, int | None]:
    """The submissions ranked just before and just after a standing on the `kind` board."""
    sort, at, sub = (getattr(standing, f"{kind}_{f}") for f in ("sort", "at", "submission_id"))
    board = TeamStanding.objects.filter(
        competition_id=standing.competition_id, **{f"{kind}_sort__isnull": False}
    )
    ahead = board.filter(
        Q(**{f"{kind}_sort__lt": sort})
        | Q(**{f"{kind}_sort": sort, f"{kind}_at__lt": at})
        | Q(**{f"{kind}_sort": sort, f"{kind}_at": at, f"{kind}_submission_id__lt": sub})
    )
    behind = board.exclude(team_id=standing.team_id).exclude(pk__in=ahead.values("pk"))
    order = [f"{kind}_sort", f"{kind}_at", f"{kind}_submission_id"]
    before = ahead.order_by(*(f"-{f}" for f in order)).values_list(f"{kind}_submission_id").first()
    after = behind.order_by(*order).values_list(f"{kind}_submission_id").first()
    return (before[0] if before else None), (after[0] if after else None)


def submission_intervals_store(*, submission_id: int) -> int:
    """Store the intervals of a scored submission's public and private scores, then bring
    the boards' paired comparisons up to date (:func:`board_comparisons_refresh`).

    Returns how many intervals were stored (0 for a debug, late or unscored run, or when
    the competition has no intervals). Data problems are logged, never raised: a run's
    result never depends on its interval.
    """
    submission = Submission.objects.select_related("competition").get(pk=submission_id)
    if (
        submission.is_debug
        or submission.is_late
        or submission.status != Submission.Status.SCORED
        or not submission.predictions
    ):
        return 0
    rows = _setup(submission.competition)
    if rows is None:
        return 0
    stored = 0
    for kind in PARTS:
        if getattr(submission, f"{kind}_score") is not None:
            stored += _store_interval(rows, submission, kind)
    _pairs_refresh(submission.competition, rows)
    return stored


def competition_intervals_refresh(*, competition_id: int) -> int:
    """Recompute the intervals of every ranked entry of a competition and the paired
    comparisons of each pair of neighbours, board by board (after a rescore). Returns
    how many intervals were stored."""
    competition = Competition.objects.get(pk=competition_id)
    rows = _setup(competition)
    if rows is None:
        return 0
    stored = 0
    for kind in PARTS:
        ids = list(
            TeamStanding.objects.filter(competition=competition, **{f"{kind}_sort__isnull": False})
            .order_by(f"{kind}_sort", f"{kind}_at", f"{kind}_submission_id")
            .values_list(f"{kind}_submission_id", flat=True)
        )
        subs = Submission.objects.in_bulk(ids)
        for pk in ids:
            if pk in subs and subs[pk].predictions:
                stored += _store_interval(rows, subs[pk], kind)
        for upper, lower in itertools.zip_longest(ids, ids[1:]):
            if upper in subs:
                _store_pair(rows, subs[upper], subs.get(lower), kind)
    return stored
