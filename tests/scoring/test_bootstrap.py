"""Bootstrap intervals and paired comparisons: seeded, statistically sound, vectorised."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import scoring.bootstrap as bootstrap
from scoring.bootstrap import (
    Interval,
    bootstrap_interval,
    bootstrap_scores,
    paired_difference_interval,
    significantly_different,
)
from scoring.metrics import MetricError, get_metric


def _classification(n: int, accuracy: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    pred = np.where(rng.random(n) < accuracy, y, 1 - y)
    return y, pred


def _regression(n: int, noise: float = 1.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n)
    return y, y + noise * rng.normal(size=n)


def _looped(metric):
    """The same metric without its per-row form, forcing the resample loop."""
    return dataclasses.replace(metric, per_row=None, finish=None)


def test_same_seed_gives_the_same_interval_and_another_seed_another():
    y, pred = _regression(2000)
    metric = get_metric("rmse")
    first = bootstrap_interval(metric, y, pred, seed=3)
    assert first == bootstrap_interval(metric, y, pred, seed=3)
    assert first != bootstrap_interval(metric, y, pred, seed=4)
    assert isinstance(first, Interval)


def test_interval_contains_the_score_and_widens_with_confidence():
    y, pred = _regression(1000)
    metric = get_metric("mae")
    score = metric.func(y, pred)
    narrow = bootstrap_interval(metric, y, pred, confidence=0.5)
    wide = bootstrap_interval(metric, y, pred, confidence=0.99)
    assert narrow.contains(score) and wide.contains(score)
    assert wide.low < narrow.low < narrow.high < wide.high


def test_accuracy_std_matches_the_binomial_standard_error():
    y, pred = _classification(5000, 0.8)
    p = float(np.mean(y == pred))
    interval = bootstrap_interval(get_metric("accuracy"), y, pred, resamples=4000)
    assert interval.std == pytest.approx(np.sqrt(p * (1 - p) / len(y)), rel=0.05)
    assert interval.low == pytest.approx(p - 1.96 * interval.std, abs=0.004)


def test_mean_metric_std_matches_the_standard_error_of_the_mean():
    y, pred = _regression(5000)
    errors = np.abs(pred - y)
    interval = bootstrap_interval(get_metric("mae"), y, pred, resamples=4000)
    assert interval.std == pytest.approx(errors.std() / np.sqrt(len(y)), rel=0.05)


@pytest.mark.parametrize("name", ["rmse", "accuracy", "log_loss", "mse"])
def test_vectorised_and_looped_bootstraps_agree(name):
    if name in ("accuracy",):
        y, pred = _classification(600, 0.7)
    elif name == "log_loss":
        rng = np.random.default_rng(1)
        y = rng.integers(0, 2, 600)
        pred = np.clip(0.3 + 0.4 * y + 0.2 * rng.normal(size=600), 0.01, 0.99)
    else:
        y, pred = _regression(600)
    metric = get_metric(name)
    fast = bootstrap_interval(metric, y, pred, resamples=3000, seed=0)
    slow = bootstrap_interval(_looped(metric), y, pred, resamples=3000, seed=1)
    assert fast.std == pytest.approx(slow.std, rel=0.1)
    assert fast.low == pytest.approx(slow.low, abs=0.3 * slow.std)
    assert fast.high == pytest.approx(slow.high, abs=0.3 * slow.std)


def test_vectorised_path_never_calls_the_metric_per_resample(monkeypatch):
    y, pred = _regression(500)
    metric = get_metric("rmse")
    calls = []

    def counting(t, p):
        calls.append(1)
        return metric.func(t, p)

    bootstrap_interval(dataclasses.replace(metric, func=counting), y, pred, resamples=500)
    assert len(calls) == 1  # the up-front check only


def test_result_does_not_depend_on_chunking_threads(monkeypatch):
    y, pred = _regression(3000)
    metric = get_metric("rmse")
    monkeypatch.setattr(bootstrap, "INDEX_BUDGET", 3000 * 7)
    monkeypatch.setattr(bootstrap, "MAX_THREADS", 1)
    single = bootstrap_interval(metric, y, pred, resamples=100)
    monkeypatch.setattr(bootstrap, "MAX_THREADS", 4)
    assert bootstrap_interval(metric, y, pred, resamples=100) == single


def test_multi_column_regression_is_resampled_by_row():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(800, 2))
    pred = y + rng.normal(size=(800, 2))
    metric = get_metric("rmse")
    fast = bootstrap_interval(metric, y, pred, resamples=2000)
    slow = bootstrap_interval(_looped(metric), y, pred, resamples=2000, seed=5)
    assert fast.contains(metric.func(y, pred))
    assert fast.std == pytest.approx(slow.std, rel=0.1)


def test_looped_metric_such_as_roc_auc_gets_an_interval():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    score = y + rng.normal(size=400)
    metric = get_metric("roc_auc")
    interval = bootstrap_interval(metric, y, score, resamples=300)
    assert interval.contains(metric.func(y, score))
    assert 0.0 < interval.std < 0.05


def test_a_metric_undefined_on_many_resamples_refuses_to_give_an_interval():
    y = np.zeros(200, dtype=int)
    y[0] = 1  # one positive: about a third of resamples have none
    with pytest.raises(MetricError, match=r"roc_auc is undefined on \d+ of 200 bootstrap"):
        bootstrap_interval(get_metric("roc_auc"), y, np.linspace(0, 1, 200), resamples=200)


def test_bootstrap_scores_have_one_column_per_prediction_on_the_same_resamples():
    y, a = _classification(300, 0.8)
    scores = bootstrap_scores(get_metric("accuracy"), y, [a, a], resamples=50)
    assert scores.shape == (50, 2)
    np.testing.assert_array_equal(scores[:, 0], scores[:, 1])


def test_identical_entries_are_not_significantly_different():
    y, pred = _regression(1000)
    metric = get_metric("rmse")
    assert paired_difference_interval(metric, y, pred, pred) == Interval(0.0, 0.0, 0.0)
    assert not significantly_different(metric, y, pred, pred)


def test_a_uniformly_better_entry_is_significantly_different():
    y, b = _regression(2000, noise=1.0)
    a = y + 0.97 * (b - y)  # 3% smaller error on every row
    metric = get_metric("rmse")
    assert significantly_different(metric, y, a, b)
    interval = paired_difference_interval(metric, y, a, b)
    assert interval.high < 0  # a loss: a is better, so score(a) - score(b) < 0


def test_pairing_detects_what_overlapping_separate_intervals_hide():
    y, b = _regression(2000, noise=1.0)
    a = y + 0.97 * (b - y)
    metric = get_metric("rmse")
    separate_a = bootstrap_interval(metric, y, a)
    separate_b = bootstrap_interval(metric, y, b)
    assert separate_a.high > separate_b.low  # the separate intervals overlap...
    paired = paired_difference_interval(metric, y, a, b)
    assert paired.std < 0.2 * separate_a.std  # ...the paired one is far narrower


def test_random_relabelling_noise_is_not_significant():
    y, a = _classification(1000, 0.75, seed=1)
    _, b = _classification(1000, 0.75, seed=2)
    b = np.where(np.random.default_rng(9).random(1000) < 0.5, a, b)
    metric = get_metric("accuracy")
    interval = paired_difference_interval(metric, y, a, b)
    assert interval.low < float(np.mean(a == y) - np.mean(b == y)) < interval.high


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"resamples": 1}, "resamples must be at least 2"),
        ({"confidence": 1.0}, "confidence must be between 0 and 1"),
        ({"confidence": 0.0}, "confidence must be between 0 and 1"),
    ],
)
def test_invalid_settings_are_refused(kwargs, match):
    y, pred = _regression(10)
    with pytest.raises(ValueError, match=match):
        bootstrap_interval(get_metric("mae"), y, pred, **kwargs)


def test_mismatched_lengths_raise_metric_error():
    with pytest.raises(MetricError, match="got 2 predictions for 3 rows"):
        bootstrap_interval(get_metric("mae"), np.zeros(3), np.zeros(2))


def test_invalid_predictions_raise_the_metric_s_own_error():
    with pytest.raises(MetricError, match="log_loss needs probabilities between 0 and 1"):
        bootstrap_interval(get_metric("log_loss"), np.array([0, 1]), np.array([0.5, 1.5]))
