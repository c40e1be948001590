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
