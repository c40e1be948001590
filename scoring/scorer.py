"""Scoring validated predictions on the public and private parts of the solution."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scoring.metrics import Metric, MetricError
from scoring.split import PRIVATE, PUBLIC, USAGE_COLUMN, usage_codes

__all__ = ["Scores", "score_predictions"]


@dataclass(frozen=True)
class Scores:
    """The two leaderboard numbers of one submission; None where a part has no rows.

    ``additional_public``/``additional_private`` map each additional metric's name to its
    score on that part (None where the part has no rows, or on both parts when the metric
    cannot be computed on these predictions: ``additional_errors`` then holds the reason,
    for organizers only).
    """

    public: float | None
    private: float | None
    additional_public: dict[str, float | None] = field(default_factory=dict)
    additional_private: dict[str, float | None] = field(default_factory=dict)
    additional_errors: dict[str, str] = field(default_factory=dict)


def target_arrays(frame: pd.DataFrame, target_columns: list[str]) -> np.ndarray:
    """Give a metric 1-d arrays for one target column and 2-d arrays for several."""
    if len(target_columns) == 1:
        return frame[target_columns[0]].to_numpy()
    return frame[target_columns].to_numpy()


def score_predictions(
    *,
    solution: pd.DataFrame,
    predictions: pd.DataFrame,
    metric: Metric,
    target_columns: list[str],
    additional: Sequence[Metric] = (),
) -> Scores:
    """Score predictions separately on the Public and Private rows; Ignored rows never count.

    ``solution`` must carry a Usage column (see :func:`scoring.split.assign_usage`) and
    ``predictions`` must cover every solution id (as :func:`read_predictions` ensures);
    rows are aligned by id, never by position.

    The metric is first computed on every row at once, Ignored ones included: values
    outside its domain raise MetricError before any split, so whether such an error
    happens never depends on the part a row belongs to. A metric undefined on one part
    only (one class in a part, for AUC) then raises MetricError naming that part; that
    message is for organizers, never for participants.

    Each metric of ``additional`` (shown next to the score, never ranked) is computed on
    the same parts. One that raises MetricError, on every row or on one part, gets None on
    both parts (its reason in ``Scores.additional_errors``): whether it failed never tells
    which part a row is in, and it never fails the submission.
    """
    if USAGE_COLUMN not in solution.columns:
        raise ValueError(
            f"The solution has no {USAGE_COLUMN} column; add one with "
            "scoring.split.assign_usage before scoring."
        )
    # Work on NumPy arrays and integer part codes (0 Public, 1 Private, 2 Ignored): a
    # million-row solution is scored without copying frames or comparing strings.
    part_code = usage_codes(solution[USAGE_COLUMN])
    if predictions.index.equals(solution.index):
        aligned = predictions
    else:
        kept_index = solution.index[part_code != 2]
        missing = kept_index.difference(predictions.index)
        if len(missing):
            raise ValueError(
                f"The predictions lack {len(missing)} solution id(s) "
                f"(first: {', '.join(map(str, missing[:5]))}); validate them with "
                "scoring.validation.read_predictions first."
            )
        aligned = predictions.reindex(solution.index)
    y_true_all = target_arrays(solution, target_columns)
    y_pred_all = target_arrays(aligned, target_columns)
    metric.func(y_true_all, y_pred_all)  # the metric's domain, on every row: may raise

    parts = [(part, np.flatnonzero(part_code == c)) for c, part in ((0, PUBLIC), (1, PRIVATE))]
    scores: dict[str, float | None] = {}
    for part, rows in parts:
        if rows.size == 0:
            scores[part] = None
            continue
        try:
            scores[part] = metric.func(y_true_all[rows], y_pred_all[rows])
        except MetricError as exc:
            raise MetricError(f"Scoring the {part.lower()} part ({rows.size} rows): {exc}") from exc
    extra: dict[str, dict[str, float | None]] = {PUBLIC: {}, PRIVATE: {}}
    errors: dict[str, str] = {}
    for other in additional:
        try:
            other.func(y_true_all, y_pred_all)  # its domain, on every row first
            values = {
                part: None if rows.size == 0 else other.func(y_true_all[rows], y_pred_all[rows])
                for part, rows in parts
            }
        except MetricError as exc:
            errors[other.name] = str(exc)
            values = {PUBLIC: None, PRIVATE: None}
        for part, value in values.items():
            extra[part][other.name] = value
    return Scores(
        public=scores[PUBLIC],
        private=scores[PRIVATE],
        additional_public=extra[PUBLIC],
        additional_private=extra[PRIVATE],
        additional_errors=errors,
    )
