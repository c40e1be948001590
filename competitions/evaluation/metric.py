"""The metric of a competition: its registry name, its parameters, and custom metrics
from the PODIUM_METRICS setting, resolved the same way everywhere."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

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


def _entry(entry: Any) -> tuple[str, dict[str, Any]]:
    """(name, params) of one additional_metrics entry; MetricError for another shape."""
    if isinstance(entry, str):
        return entry, {}
    if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
        params = entry.get("params") or {}
        if set(entry) - {"name", "params"} or not isinstance(params, Mapping):
            raise MetricError(
                f"additional_metrics: {entry!r}: an entry holds only name and params (a mapping)."
            )
        return entry["name"], dict(params)
    raise MetricError(
        f"additional_metrics: {entry!r} is neither a metric name nor "
        '{"name": ..., "params": {...}}.'
    )


def additional_metrics_parse(value: Any, *, main: Metric | None) -> list[Metric]:
    """The metrics a competition shows next to its score (``Competition.additional_metrics``),
    bound to their parameters, in the declared order.

    ``value`` is a list whose entries are a metric name (``"qa_exact_match"``) or a mapping
    ``{"name": ..., "params": {...}}``; ``main`` is the ranking metric, when known. Raises
    MetricError (or UnknownMetric) with a message for the organizer when the value is not
    such a list, a name is unknown or repeated, repeats the ranking metric, takes other
    parameters, or reads another kind of prediction than the ranking metric (predictions
    are validated for the ranking metric only).
    """
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        raise MetricError(
            f"additional_metrics must be a list of metric names, like [qa_exact_match]; "
            f"got {value!r}."
        )
    found: list[Metric] = []
    for entry in value:
        name, params = _entry(entry)
        if main is not None and name == main.name:
            raise MetricError(f"additional_metrics: {name} is the ranking metric already.")
        if any(m.name == name for m in found):
            raise MetricError(f"additional_metrics: {name} is listed twice.")
        try:
            metric = metric_lookup(name, dict(params))
        except (UnknownMetric, MetricError) as exc:
            raise MetricError(f"additional_metrics: {exc}") from exc
        if main is not None and metric.prediction != main.prediction:
            raise MetricError(
                f"additional_metrics: {name} reads {metric.prediction} predictions but the "
                f"ranking metric {main.name} reads {main.prediction} predictions; an "
                "additional metric scores the same predictions file."
            )
        found.append(metric)
    return found


def competition_additional_metrics(competition: Competition) -> list[Metric]:
    """The competition's additional metrics (see :func:`additional_metrics_parse`).

    A misconfiguration is the organizer's mistake: raised as CompetitionNotReady, as for
    :func:`competition_metric`.
    """
    try:
        return additional_metrics_parse(
            competition.additional_metrics, main=competition_metric(competition)
        )
    except (UnknownMetric, MetricError) as exc:
        raise CompetitionNotReady(
            f"The competition's additional metrics are misconfigured ({exc}); "
            "the organizers have to fix them."
        ) from exc


# What pages call a built-in metric (a leaderboard column's heading); others show the name.
METRIC_TITLES: dict[str, str] = {
    "accuracy": "Accuracy",
    "average_precision": "Average precision",
    "balanced_accuracy": "Balanced accuracy",
    "f1": "F1",
    "f1_macro": "Macro F1",
    "f1_micro": "Micro F1",
    "f1_weighted": "Weighted F1",
    "log_loss": "Log loss",
    "mae": "MAE",
    "map_at_k": "MAP@k",
    "mape": "MAPE",
    "mse": "MSE",
    "ndcg_at_k": "NDCG@k",
    "precision": "Precision",
    "qa_exact_match": "Exact match",
    "qa_f1": "Token F1",
    "quadratic_weighted_kappa": "Quadratic weighted kappa",
    "r2": "R²",
    "recall": "Recall",
    "rmse": "RMSE",
    "rmsle": "RMSLE",
    "roc_auc": "ROC AUC",
    "smape": "SMAPE",
}


def metric_title(name: str) -> str:
    """A metric's display name ("Exact match" for qa_exact_match); the name itself for
    custom metrics."""
    return METRIC_TITLES.get(name, name)


def additional_metric_columns(competition: Competition) -> list[tuple[str, str]]:
    """(name, display name) of each additional metric a competition declares, in order,
    read from the stored value without looking the metrics up (pages never fail on it)."""
    columns: list[tuple[str, str]] = []
    for entry in competition.additional_metrics or []:
        name = entry.get("name") if isinstance(entry, Mapping) else entry
        if isinstance(name, str) and name not in (n for n, _ in columns):
            columns.append((name, metric_title(name)))
    return columns


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
