"""A competition's metric: registry names, parameters, and custom metrics from settings."""

from __future__ import annotations

import numpy as np
import pytest
from factories import CompetitionFactory

from competitions.evaluation.data import CompetitionNotReady
from competitions.evaluation.metric import competition_metric, metric_lookup

pytestmark = pytest.mark.django_db


def mean_absolute_miss(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(y_true, float) - np.asarray(y_pred, float))))


mean_absolute_miss.greater_is_better = False  # type: ignore[attr-defined]


def test_custom_metric_from_the_podium_metrics_setting(settings) -> None:
    settings.PODIUM_METRICS = {"miss": f"{__name__}:mean_absolute_miss"}
    competition = CompetitionFactory(metric="miss")

    metric = competition_metric(competition)

    assert metric.greater_is_better is False
    assert metric.func(np.array([1.0, 2.0]), np.array([2.0, 4.0])) == pytest.approx(1.5)


def test_metric_params_are_bound(settings) -> None:
    competition = CompetitionFactory(metric="map_at_k", metric_params={"k": 1})
    metric = competition_metric(competition)
    # Only the first ranked item counts with k=1.
    assert metric.func(np.array(["a", "b"]), np.array(["a b", "a b"])) == pytest.approx(0.5)


def test_a_misconfigured_metric_is_the_organizers_problem() -> None:
    competition = CompetitionFactory(metric="map_at_k", metric_params={"k": "many"})
    with pytest.raises(CompetitionNotReady, match="organizers have to fix it"):
        competition_metric(competition)
    with pytest.raises(CompetitionNotReady, match="misconfigured"):
        competition_metric(CompetitionFactory(metric="no_such_metric"))


def test_lookup_without_params_gives_the_registry_entry() -> None:
    assert metric_lookup("rmse").greater_is_better is False
    assert metric_lookup("accuracy").greater_is_better is True
