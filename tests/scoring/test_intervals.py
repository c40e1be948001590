"""Analytic intervals (scoring.intervals) agree with the bootstrap on small data."""

from __future__ import annotations

import numpy as np
import pytest

from scoring.bootstrap import bootstrap_interval, paired_difference_interval
from scoring.intervals import paired_difference, score_interval
from scoring.metrics import get_metric

N = 3000


def data(metric: str, seed: int = 1):
    rng = np.random.default_rng(seed)
    if metric == "accuracy":
        truth = rng.integers(0, 3, N)
        a = np.where(rng.random(N) < 0.8, truth, (truth + 1) % 3)
        b = np.where(rng.random(N) < 0.78, truth, (truth + 2) % 3)
        return truth, a, b
    if metric == "log_loss":
        truth = rng.integers(0, 2, N)
        a = np.clip(0.7 * truth + 0.15 + rng.normal(0, 0.15, N), 0.01, 0.99)
        b = np.clip(0.6 * truth + 0.2 + rng.normal(0, 0.15, N), 0.01, 0.99)
        return truth, a, b
    truth = rng.normal(0, 1, N)
    a = truth + rng.normal(0, 0.5, N)
    b = truth + rng.normal(0, 0.55, N)
    return truth, a, b


@pytest.mark.parametrize("name", ["accuracy", "rmse", "mse", "mae", "log_loss"])
def test_analytic_interval_agrees_with_the_bootstrap(name: str) -> None:
    metric = get_metric(name, {})
    truth, a, _ = data(name)
    analytic = score_interval(metric, truth, a, confidence=0.9)
    boot = bootstrap_interval(metric, truth, a, resamples=2000, seed=3, confidence=0.9)
    assert analytic.method == ("wilson" if name == "accuracy" else "delta")
    width = boot.high - boot.low
    assert abs(analytic.low - boot.low) < 0.1 * width
    assert abs(analytic.high - boot.high) < 0.1 * width


@pytest.mark.parametrize("name", ["accuracy", "rmse", "mae"])
def test_analytic_paired_difference_agrees_with_the_paired_bootstrap(name: str) -> None:
    metric = get_metric(name, {})
    truth, a, b = data(name, seed=2)
    analytic = paired_difference(metric, truth, a, b)
    boot = paired_difference_interval(metric, truth, a, b, resamples=2000, seed=5)
    width = boot.high - boot.low
    assert abs(analytic.low - boot.low) < 0.12 * width
    assert abs(analytic.high - boot.high) < 0.12 * width


def test_capped_bootstrap_for_auc_agrees_with_the_full_bootstrap() -> None:
    metric = get_metric("roc_auc", {})
    rng = np.random.default_rng(4)
    truth = rng.integers(0, 2, 4000)
    score = truth * 0.8 + rng.normal(0, 0.6, 4000)
    capped = score_interval(metric, truth, score, resamples=400, seed=1, max_rows=1000)
    full = score_interval(metric, truth, score, resamples=400, seed=1, max_rows=10_000)
    assert (capped.method, full.method) == ("bootstrap-m-of-n", "bootstrap")
    full_half = (full.high - full.low) / 2
    assert abs((capped.high - capped.low) / 2 - full_half) < 0.2 * full_half
    assert capped.contains(metric.func(truth, score))


def test_an_interval_contains_the_score_and_shrinks_with_more_rows() -> None:
    metric = get_metric("rmse", {})
    rng = np.random.default_rng(0)
    truth = rng.normal(size=40_000)
    pred = truth + rng.normal(0, 0.3, 40_000)
    small = score_interval(metric, truth[:400], pred[:400])
    large = score_interval(metric, truth, pred)
    assert large.contains(metric.func(truth, pred))
    assert (large.high - large.low) < (small.high - small.low) / 5


def test_a_perfect_accuracy_has_a_wilson_interval_below_one() -> None:
    metric = get_metric("accuracy", {})
    truth = np.arange(100) % 2
    found = score_interval(metric, truth, truth)
    assert found.high == pytest.approx(1.0)
    assert 0.9 < found.low < 1.0


def test_vectorised_auc_bootstrap_agrees_with_the_looped_bootstrap() -> None:
    metric = get_metric("roc_auc", {})
    rng = np.random.default_rng(6)
    truth = rng.integers(0, 2, 1500)
    score = np.round(truth * 0.5 + rng.normal(0, 0.6, 1500), 1)  # with ties
    fast = score_interval(metric, truth, score, resamples=1000, seed=2)
    looped = bootstrap_interval(metric, truth, score, resamples=1000, seed=2)
    width = looped.high - looped.low
    assert fast.method == "bootstrap"
    assert abs(fast.low - looped.low) < 0.1 * width
    assert abs(fast.high - looped.high) < 0.1 * width
