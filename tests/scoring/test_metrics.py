"""The metric registry: hand-computed values, agreement with scikit-learn, edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from scoring.metrics import METRICS, Metric, MetricError, UnknownMetric, get_metric

REQUIRED = [
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "roc_auc",
    "log_loss",
    "rmse",
    "mae",
    "mse",
    "r2",
]


def test_registry_holds_every_required_metric_with_consistent_fields():
    for name in REQUIRED:
        metric = get_metric(name)
        assert isinstance(metric, Metric)
        assert metric.name == name
        assert metric.prediction in {"label", "probability", "value"}
        assert metric.description
    assert get_metric("log_loss").greater_is_better is False
    assert get_metric("rmse").greater_is_better is False
    assert get_metric("roc_auc").greater_is_better is True


def test_unknown_metric_raises_a_key_error_listing_known_names():
    with pytest.raises(UnknownMetric) as info:
        get_metric("acuracy")
    assert isinstance(info.value, KeyError)
    assert "'acuracy'" in str(info.value)
    assert "Known metrics: accuracy, average_precision, balanced_accuracy" in str(info.value)
    assert not str(info.value).startswith('"')


@pytest.mark.parametrize(
    ("name", "y_true", "y_pred", "expected"),
    [
        ("accuracy", [0, 1, 1, 0], [0, 1, 0, 0], 3 / 4),
        ("accuracy", ["cat", "dog", "cat"], ["cat", "cat", "cat"], 2 / 3),
        # recalls: class 0 -> 2/2, class 1 -> 1/2
        ("balanced_accuracy", [0, 0, 1, 1], [0, 0, 1, 0], 0.75),
        # class a: P=1/2 R=1 F1=2/3; class b: P=1 R=1/2 F1=2/3
        ("f1_macro", ["a", "b", "b"], ["a", "a", "b"], 2 / 3),
        # positives {0.8, 0.4} vs negatives {0.1, 0.5}: 3 of 4 pairs ordered correctly
        ("roc_auc", [0, 1, 0, 1], [0.1, 0.8, 0.5, 0.4], 0.75),
        ("log_loss", [1, 0], [0.8, 0.4], -(math.log(0.8) + math.log(0.6)) / 2),
        ("rmse", [1.0, 2.0, 3.0], [1.0, 2.0, 5.0], math.sqrt(4 / 3)),
        ("mae", [1.0, 2.0, 3.0], [2.0, 2.0, 5.0], 1.0),
        ("mse", [1.0, 2.0, 3.0], [2.0, 2.0, 5.0], 5 / 3),
        # SS_res = 2, SS_tot = 2 -> 0
        ("r2", [1.0, 2.0, 3.0], [2.0, 2.0, 2.0], 0.0),
        ("quadratic_weighted_kappa", [0, 1, 2], [0, 1, 2], 1.0),
    ],
)
def test_metric_matches_a_hand_computed_value(name, y_true, y_pred, expected):
    value = get_metric(name).func(np.asarray(y_true), np.asarray(y_pred))
    assert isinstance(value, float)
    assert value == pytest.approx(expected)


def _random_case(name: str, rng: np.random.Generator):
    n = 200
    prediction = METRICS[name].prediction
    if prediction == "label":
        return rng.integers(0, 4, n), rng.integers(0, 4, n)
    if prediction == "probability":
        return rng.integers(0, 2, n), rng.uniform(0.01, 0.99, n)
    return rng.normal(10, 3, n), rng.normal(10, 3, n)


SKLEARN = {
    "accuracy": skm.accuracy_score,
    "balanced_accuracy": skm.balanced_accuracy_score,
    "f1_macro": lambda t, p: skm.f1_score(t, p, average="macro"),
    "roc_auc": skm.roc_auc_score,
    "log_loss": skm.log_loss,
    "quadratic_weighted_kappa": lambda t, p: skm.cohen_kappa_score(t, p, weights="quadratic"),
    "rmse": skm.root_mean_squared_error,
    "mae": skm.mean_absolute_error,
    "mse": skm.mean_squared_error,
    "r2": skm.r2_score,
}


@pytest.mark.parametrize("name", sorted(SKLEARN))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metric_agrees_with_scikit_learn_on_random_inputs(name, seed):
    y_true, y_pred = _random_case(name, np.random.default_rng(seed))
    assert get_metric(name).func(y_true, y_pred) == pytest.approx(SKLEARN[name](y_true, y_pred))


@pytest.mark.parametrize(
    ("name", "y", "best"),
    [
        ("accuracy", [0, 1, 2, 1], 1.0),
        ("balanced_accuracy", [0, 1, 2, 1], 1.0),
        ("f1_macro", [0, 1, 2, 1], 1.0),
        ("rmse", [0.5, 1.5, -2.0], 0.0),
        ("mae", [0.5, 1.5, -2.0], 0.0),
        ("mse", [0.5, 1.5, -2.0], 0.0),
        ("r2", [0.5, 1.5, -2.0], 1.0),
    ],
)
def test_perfect_predictions_get_the_best_score(name, y, best):
    assert get_metric(name).func(np.asarray(y), np.asarray(y)) == pytest.approx(best)


def test_roc_auc_is_one_for_perfectly_ranked_scores():
    y_true = np.array([0, 0, 1, 1])
    assert get_metric("roc_auc").func(y_true, np.array([0.1, 0.2, 0.7, 0.9])) == 1.0


def test_log_loss_of_confident_correct_probabilities_is_near_zero():
    value = get_metric("log_loss").func(np.array([0, 1]), np.array([0.0, 1.0]))
    assert 0.0 <= value < 1e-9


@pytest.mark.parametrize("only_class", [0, 1])
def test_roc_auc_on_one_class_raises_a_clear_metric_error_instead_of_nan(only_class):
    with pytest.raises(MetricError, match="roc_auc needs both classes") as info:
        get_metric("roc_auc").func(np.full(5, only_class), np.linspace(0, 1, 5))
    assert isinstance(info.value, ValueError)
    assert "1 class(es)" in str(info.value)


def test_log_loss_on_one_zero_one_class_is_still_defined():
    value = get_metric("log_loss").func(np.array([1, 1]), np.array([0.5, 0.5]))
    assert value == pytest.approx(math.log(2))


def test_log_loss_rejects_probabilities_outside_zero_one():
    with pytest.raises(MetricError, match=r"between 0 and 1; got values from -0\.5 to 1\."):
        get_metric("log_loss").func(np.array([0, 1]), np.array([-0.5, 1.0]))


def test_regression_metric_on_text_raises_metric_error():
    with pytest.raises(MetricError, match="rmse needs numeric predictions"):
        get_metric("rmse").func(np.array([1.0, 2.0]), np.array(["a", "b"], dtype=object))


def test_undefined_r2_on_a_single_row_raises_instead_of_returning_nan():
    with pytest.raises(MetricError, match="r2 is undefined on these 1 rows"):
        get_metric("r2").func(np.array([1.0]), np.array([2.0]))


def test_empty_input_raises_metric_error():
    with pytest.raises(MetricError, match="at least one row"):
        get_metric("accuracy").func(np.array([]), np.array([]))


def test_length_mismatch_raises_metric_error():
    with pytest.raises(MetricError, match="got 2 predictions for 3 rows"):
        get_metric("mae").func(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0]))


def test_regression_metrics_accept_several_target_columns():
    y_true = np.array([[1.0, 2.0], [3.0, 4.0]])
    y_pred = np.array([[1.0, 2.0], [3.0, 6.0]])
    assert get_metric("mae").func(y_true, y_pred) == pytest.approx(0.5)
