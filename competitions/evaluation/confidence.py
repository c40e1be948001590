"""Bootstrap intervals for leaderboard entries, from the kept predictions.

Decision: computed lazily when a leaderboard is (re)built, for its top entries only
(`PODIUM_LEADERBOARD_CI_TOP`, default 20), and cached with the board. Storing an
interval per submission at scoring time would need new model fields, and the paired
comparison of neighbours needs both entries' predictions anyway, which only exist
together at read time. Each interval and each pair verdict is also cached on its own
(keyed by the submission, its predictions file and the solution's checksum), so a
board rebuilt after one new score recomputes only what changed.

The interval and the paired test resample the rows of the board's part (Public or
Private) with the competition's split seed, 1,000 resamples, 95 %.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

import numpy as np
import pandas as pd
from django.core.cache import cache

from competitions.evaluation.data import local_path, stored_solution_read
from competitions.evaluation.metric import competition_metric
from competitions.models import Competition, CompetitionFile, Submission
from scoring.bootstrap import bootstrap_interval, significantly_different
from scoring.scorer import target_arrays
from scoring.split import PRIVATE, PUBLIC, USAGE_COLUMN, canonical_usage
from scoring.validation import read_predictions

logger = logging.getLogger(__name__)

RESAMPLES = 1000
CACHE_SECONDS = 7 * 24 * 3600


def leaderboard_confidence(  # noqa: C901 - cached intervals and paired tests share lazily read data
    *, competition: Competition, kind: str, submission_ids: list[int]
) -> dict[int, dict[str, Any]]:
    """For each submission (in rank order): {"low", "high", "not_significant_vs": {ids}}
    where the set holds the next submission in the list when the paired bootstrap finds
    no significant difference. Submissions without usable predictions are left out."""
    record = competition.files.filter(kind=CompetitionFile.Kind.SOLUTION).first()
    if record is None or not submission_ids:
        return {}
    part = PUBLIC if kind == "public" else PRIVATE
    metric = competition_metric(competition)
    submissions = {
        s.pk: s for s in Submission.objects.filter(pk__in=submission_ids).exclude(predictions="")
    }
    state: dict[str | int, Any] = {}  # "solution", and each submission's pk

    def solution() -> tuple[pd.DataFrame, np.ndarray]:
        if "solution" not in state:
            frame = stored_solution_read(record, competition=competition, metric=metric)
            mask = (canonical_usage(frame[USAGE_COLUMN]) == part).to_numpy()
            state["solution"] = (frame, mask)
        return state["solution"]

    def y_pred(submission: Submission) -> np.ndarray | None:
        key = submission.pk
        if key not in state:
            frame, mask = solution()
            try:
                with local_path(submission.predictions) as path:
                    predictions = read_predictions(
                        path,
                        solution=frame,
                        id_column=competition.id_column,
                        target_columns=competition.target_columns,
                        metric=metric,
                    )
                rows = predictions.loc[frame.index[mask]]
                state[key] = target_arrays(rows, competition.target_columns)
            # A kept file may be missing, unreadable or no longer match the solution, and the
            # metric may be plugin code: whatever fails, the leaderboard renders without it.
            except Exception:  # noqa: BLE001 - the interval is an extra: never break the board
                logger.warning("no predictions to bootstrap for submission %s", submission.pk)
                state[key] = None
        return state[key]

    def y_true() -> np.ndarray:
        frame, mask = solution()
        return target_arrays(frame[mask], competition.target_columns)

    base = f"podium:ci:v1:{record.sha256}:{part}:{competition.metric}:{competition.split_seed or 0}"
    out: dict[int, dict[str, Any]] = {}
    ordered = [pk for pk in submission_ids if pk in submissions]
    for pk in ordered:
        submission = submissions[pk]
        key = f"{base}:{pk}:{submission.predictions.name}"
        interval = cache.get(key)
        if interval is None:
            pred = y_pred(submission)
            if pred is None:
                continue
            try:
                found = bootstrap_interval(
                    metric, y_true(), pred, resamples=RESAMPLES, seed=competition.split_seed or 0
                )
            except Exception:  # a metric undefined on too many resamples, ...
                logger.warning("no bootstrap interval for submission %s", pk, exc_info=True)
                continue
            interval = (found.low, found.high)
            cache.set(key, interval, CACHE_SECONDS)
        out[pk] = {"low": interval[0], "high": interval[1], "not_significant_vs": set()}
    for a, b in itertools.pairwise(ordered):
        if a not in out or b not in out:
            continue
        sa, sb = submissions[a], submissions[b]
        key = f"{base}:pair:{a}:{sa.predictions.name}:{b}:{sb.predictions.name}"
        same = cache.get(key)
        if same is None:
            pa, pb = y_pred(sa), y_pred(sb)
            if pa is None or pb is None:
                continue
            try:
                same = not significantly_different(
                    metric, y_true(), pa, pb, resamples=RESAMPLES, seed=competition.split_seed or 0
                )
            except Exception:  # as for the interval above: the paired test is an extra
                logger.warning("no paired test for %s and %s", a, b, exc_info=True)
                continue
            cache.set(key, same, CACHE_SECONDS)
        if same:
            out[a]["not_significant_vs"].add(b)
    return out
