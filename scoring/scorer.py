"""Scoring validated predictions on the public and private parts of the solution."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scoring.metrics import Metric, MetricError
from scoring.split import IGNORED, PRIVATE, PUBLIC, USAGE_COLUMN, canonical_usage

__all__ = ["Scores", "score_predictions"]


@dataclass(frozen=True)
class Scores:
    """The two leaderboard numbers of one submission; None where a part has no rows."""

    public: float | None
    private: float | None


def _targets(frame: pd.DataFrame, target_columns: list[str]) -> np.ndarray:
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
) -> Scores:
    """Score predictions separately on the Public and Private rows; Ignored rows never count.

    ``solution`` must carry a Usage column (see :func:`scoring.split.assign_usage`) and
    ``predictions`` must cover every solution id (as :func:`read_predictions` ensures);
    rows are aligned by id, never by position. A metric undefined on a part raises
    MetricError naming that part.
    """
    if USAGE_COLUMN not in solution.columns:
        raise ValueError(
            f"The solution has no {USAGE_COLUMN} column; add one with "
            "scoring.split.assign_usage before scoring."
        )
    usage = canonical_usage(solution[USAGE_COLUMN])
    kept = solution[(usage != IGNORED).to_numpy()]
    if predictions.index.equals(solution.index):
        aligned = predictions[(usage != IGNORED).to_numpy()]
    else:
        missing = kept.index.difference(predictions.index)
        if len(missing):
            raise ValueError(
                f"The predictions lack {len(missing)} solution id(s) "
                f"(first: {', '.join(map(str, missing[:5]))}); validate them with "
                "scoring.validation.read_predictions first."
            )
        aligned = predictions.loc[kept.index]
    kept_usage = usage[(usage != IGNORED).to_numpy()].to_numpy()

    scores: dict[str, float | None] = {}
    for part in (PUBLIC, PRIVATE):
        mask = kept_usage == part
        if not mask.any():
            scores[part] = None
            continue
        y_true = _targets(kept[mask], target_columns)
        y_pred = _targets(aligned[mask], target_columns)
        try:
            scores[part] = metric.func(y_true, y_pred)
        except MetricError as exc:
            raise MetricError(
                f"Scoring the {part.lower()} part ({mask.sum()} rows): {exc}"
            ) from exc
    return Scores(public=scores[PUBLIC], private=scores[PRIVATE])
