"""The metric of a competition: its registry name, its parameters, and custom metrics
from the PODIUM_METRICS setting, resolved the same way everywhere."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings

from competitions.evaluation.data import CompetitionNotReady
from scoring.metrics import Metric, MetricError, UnknownMetric, get_metric

if TYPE_CHECKING:
    from competitions.models import Competition


def metric_lookup(name: str, params: dict | None = None) -> Metric:
    """get_metric with the deployment's custom metrics (PODIUM_METRICS)."""
    return get_metric(name, params or {}, extra=settings.PODIUM_METRICS)


def competition_metric(competition: Competition) -> Metric:
    """The competition's metric, bound to its metric_params.

    A wrong name or parameter is the organizer's mistake, never a team's: it is raised as
    CompetitionNotReady, which fails a run as a platform error without counting it.
    """
    try:
        return metric_lookup(competition.metric, competition.metric_params)
    except (UnknownMetric, MetricError) as exc:
        raise CompetitionNotReady(
            f"The competition's metric {competition.metric!r} is misconfigured ({exc}); "
            "the organizers have to fix it."
        ) from exc


# The interval a built-in metric's score lies in (None: unbounded on that side), for chart
# axes that never show impossible values (an accuracy above 1, an RMSE below 0).
_UNIT = (0.0, 1.0)
SCORE_RANGES: dict[str, tuple[float | None, float | None]] = {
    **{
        name: _UNIT
        for name in (
            "accuracy", "average_precision", "balanced_accuracy", "f1", "f1_macro",
            "f1_micro", "f1_weighted", "map_at_k", "ndcg_at_k", "precision", "qa_exact_match",
            "qa_f1", "recall", "roc_auc",
        )
    },
    **{name: (0.0, None) for name in ("log_loss", "mae", "mape", "mse", "rmse", "rmsle", "smape")},
    "quadratic_weighted_kappa": (-1.0, 1.0),
    "r2": (None, 1.0),
}  # fmt: skip


def metric_score_range(name: str) -> tuple[float | None, float | None]:
    """(lowest, highest) score the metric can give; (None, None) for custom metrics."""
    return SCORE_RANGES.get(name, (None, None))
