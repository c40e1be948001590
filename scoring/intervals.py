"""Confidence intervals of a leaderboard score, and paired comparisons, in O(rows).

A score measured on n rows would move on another sample of n rows; the interval says how
far. Which method is used depends on the metric:

- **Wilson score interval** for a proportion (accuracy, exact match: per-row values 0 or
  1, the score their mean). E. B. Wilson, "Probable inference, the law of succession,
  and statistical inference", JASA 22 (1927) 209-212; recommended over the Wald interval
  by Brown, Cai and DasGupta, "Interval estimation for a binomial proportion",
  Statistical Science 16 (2001) 101-133.
- **Delta method** for any other metric that is a smooth function of means of per-row
  values (``Metric.per_row``/``Metric.finish``: MSE, RMSE, MAE, log loss, RMSLE, MAPE,
  MAP@K, QA F1, ...): the means are asymptotically normal (central limit theorem) with
  covariance Sigma/n, so ``finish(mean)`` is asymptotically normal with variance
  ``g' Sigma g / n``, g the gradient of ``finish`` at the mean (found by central finite
  differences). For RMSE = sqrt(MSE) this is se(RMSE) = se(MSE) / (2 RMSE). See
  A. W. van der Vaart, *Asymptotic Statistics* (1998), chapter 3. The interval is
  ``score +/- z * se`` (normal quantile z); a plain mean (MAE, MSE) is the normal
  interval of a mean.
- **Paired comparison** of two entries scored on the same rows: the delta method on the
  stacked per-row values of both, ``finish(m_a) - finish(m_b)``, keeps the correlation of
  their errors (a hard row is hard for both), as the paired bootstrap does.
- **Bootstrap** (percentile, seeded; scoring.bootstrap) for metrics that are not means of
  per-row values (ROC AUC, F1, quadratic weighted kappa, R2, ...). Above ``max_rows`` rows
  it is an m-out-of-n bootstrap: resamples of ``max_rows`` rows drawn from all n rows,
  their spread around their mean scaled by sqrt(max_rows / n) and centred on the score on
  all rows (Bickel, Goetze and van Zwet, "Resampling fewer than n observations",
  Statistica Sinica 7 (1997) 1-31). This is right for statistics whose spread shrinks
  as 1/sqrt(n), which AUC (a U-statistic), F1 and kappa do; with the default cap of
  10,000 rows the half-width is within about 10-20 % of the full bootstrap's (see
  tests/scoring/test_intervals.py), and its cost no longer grows with n.

The analytic intervals agree with the bootstrap to within its own noise on a few
thousand rows (the tests check it); they are slightly optimistic for tiny n (under
~30 rows) or a score at the edge of its range (accuracy 1.0: Wilson handles that, the
delta method gives a zero width when every row has the same value).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from scoring.bootstrap import bootstrap_scores
from scoring.metrics import Metric, MetricError

__all__ = ["BOOTSTRAP_MAX_ROWS", "Estimate", "paired_difference", "score_interval"]

BOOTSTRAP_MAX_ROWS = 10_000


@dataclass(frozen=True)
class Estimate:
    """An interval [low, high] of a score (or of a difference of scores), its standard
    error and the method that gave it: "wilson", "delta", "bootstrap" or
    "bootstrap-m-of-n"."""

    low: float
    high: float
    std: float
    method: str

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1 (exclusive); got {confidence}.")
    return NormalDist().inv_cdf(1 - (1 - confidence) / 2)


def _rows(metric: Metric, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    assert metric.per_row is not None
    metric.func(y_true, y_pred)  # the same errors as scoring (ranges, classes, shapes)
    rows = np.asarray(metric.per_row(y_true, y_pred), dtype=np.float64)
    return rows.reshape(rows.shape[0], -1)


def _finish(metric: Metric, means: np.ndarray) -> float:
    assert metric.finish is not None
    vector = means[np.newaxis, :]
    return float(metric.finish(vector if means.shape[0] > 1 else vector[:, 0])[0])


def _delta(
    function: Callable[[np.ndarray], float], means: np.ndarray, covariance: np.ndarray
) -> tuple[float, float]:
    """The value of ``function`` at ``means`` and its delta-method standard error."""
    value = function(means)
    grad = np.empty_like(means)
    for j in range(means.shape[0]):
        h = 1e-6 * max(abs(means[j]), 1e-6)
        # One-sided at a boundary of the domain (a mean of 0 for a square root).
        low = means[j] - h if means[j] - h >= 0 or means[j] < 0 else means[j]
        up, down = means.copy(), means.copy()
        up[j] += h
        down[j] = low
        grad[j] = (function(up) - function(down)) / (up[j] - down[j])
    variance = float(grad @ covariance @ grad)
    return value, float(np.sqrt(max(variance, 0.0))) if np.isfinite(variance) else float("nan")


def _covariance(rows: np.ndarray) -> np.ndarray:
    n = rows.shape[0]
    if n < 2:
        return np.zeros((rows.shape[1], rows.shape[1]))
    return np.atleast_2d(np.cov(rows, rowvar=False, ddof=1)) / n


def _is_identity(metric: Metric) -> bool:
    probe = np.array([0.25])
    return metric.finish is not None and _finish(metric, probe) == 0.25


def score_interval(
    metric: Metric,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
    max_rows: int = BOOTSTRAP_MAX_ROWS,
) -> Estimate:
    """Return the interval of ``metric`` on these rows at level ``confidence``.

    O(rows) for metrics with per-row values (Wilson or delta method; ``resamples`` and
    ``seed`` unused); otherwise a seeded bootstrap of ``resamples`` resamples of at most
    ``max_rows`` rows. Raises MetricError when the metric cannot score the rows (or is
    undefined on too many resamples).
    """
    z = _z(confidence)
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    n = y_true.shape[0]
    if n == 0:
        raise MetricError(f"{metric.name} needs at least one row for an interval; got none.")
    if metric.per_row is not None and metric.finish is not None:
        rows = _rows(metric, y_true, y_pred)
        means = rows.mean(axis=0)
        if rows.shape[1] == 1 and _is_identity(metric) and np.isin(rows, (0.0, 1.0)).all():
            p = float(means[0])
            centre = (p + z * z / (2 * n)) / (1 + z * z / n)
            half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
            return Estimate(centre - half, centre + half, float(np.sqrt(p * (1 - p) / n)), "wilson")
        value, se = _delta(lambda m: _finish(metric, m), means, _covariance(rows))
        return Estimate(value - z * se, value + z * se, se, "delta")
    return _bootstrap(metric, y_true, [y_pred], confidence, resamples, seed, max_rows)


def paired_difference(
    metric: Metric,
    y_true: np.ndarray,
    pred_a: np.ndarray,
    pred_b: np.ndarray,
    *,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
    max_rows: int = BOOTSTRAP_MAX_ROWS,
) -> Estimate:
    """Return the interval of ``score(a) - score(b)`` over the same rows (raw metric sign:
    for a loss, negative means ``a`` is better). The two differ significantly at level
    ``1 - confidence`` when the interval excludes 0. Methods and errors as
    :func:`score_interval`.
    """
    z = _z(confidence)
    y_true = np.asarray(y_true)
    if metric.per_row is not None and metric.finish is not None:
        a = _rows(metric, y_true, np.asarray(pred_a))
        b = _rows(metric, y_true, np.asarray(pred_b))
        c = a.shape[1]
        stacked = np.hstack([a, b])

        def difference(m: np.ndarray) -> float:
            return _finish(metric, m[:c]) - _finish(metric, m[c:])

        value, se = _delta(difference, stacked.mean(axis=0), _covariance(stacked))
        return Estimate(value - z * se, value + z * se, se, "delta")
    return _bootstrap(
        metric,
        y_true,
        [np.asarray(pred_a), np.asarray(pred_b)],
        confidence,
        resamples,
        seed,
        max_rows,
    )


def _auc_resamples(
    metric: Metric, truth: np.ndarray, preds: list[np.ndarray], resamples: int, seed: int
) -> np.ndarray | None:
    """Binary ROC AUC on every resample at once, or None for any other case.

    A resample of rows drawn with replacement is a vector of counts per row
    (Multinomial(m, 1/m)); the AUC of a weighted sample is the weighted share of
    (positive, negative) pairs ranked right, ties counting half (Mann-Whitney), which
    the counts give with one cumulative sum over the rows sorted once by score.
    """
    if metric.name != "roc_auc" or truth.ndim != 1 or any(p.ndim != 1 for p in preds):
        return None
    classes = np.unique(truth)
    if classes.size != 2:
        return None
    positive = truth == classes[1]
    m = truth.shape[0]
    index = np.random.default_rng(seed).integers(0, m, size=(resamples, m))
    offsets = (index + np.arange(resamples)[:, np.newaxis] * m).ravel()
    counts = np.bincount(offsets, minlength=resamples * m).reshape(resamples, m)
    out = np.empty((resamples, len(preds)))
    for j, pred in enumerate(preds):
        order = np.argsort(pred, kind="stable")
        score, pos = pred[order], positive[order]
        w = counts[:, order].astype(np.float64)
        w_pos, w_neg = w * pos, w * ~pos
        # Per distinct score: the negative weight strictly below and at that score.
        starts = np.flatnonzero(np.r_[True, score[1:] != score[:-1]])
        neg_at = np.add.reduceat(w_neg, starts, axis=1)
        pos_at = np.add.reduceat(w_pos, starts, axis=1)
        neg_below = np.cumsum(neg_at, axis=1) - neg_at
        right = (pos_at * (neg_below + 0.5 * neg_at)).sum(axis=1)
        pairs = pos_at.sum(axis=1) * neg_at.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, j] = right / pairs
    out = out[np.isfinite(out).all(axis=1)]
    if out.shape[0] < resamples * 0.99:
        raise MetricError(f"{metric.name} is undefined on too many bootstrap resamples.")
    return out


def _bootstrap(
    metric: Metric,
    y_true: np.ndarray,
    preds: list[np.ndarray],
    confidence: float,
    resamples: int,
    seed: int,
    max_rows: int,
) -> Estimate:
    """Percentile bootstrap of one score, or of the difference of two; m-out-of-n above
    ``max_rows`` rows (see the module docstring)."""
    if resamples < 2:
        raise ValueError(f"resamples must be at least 2; got {resamples}.")
    n = y_true.shape[0]
    full = [metric.func(y_true, p) for p in preds]
    value = full[0] - full[1] if len(preds) == 2 else full[0]
    m = min(n, max(2, max_rows))
    rng = np.random.default_rng(seed)
    if m < n:
        # Each resample is m rows drawn with replacement from all n rows: the same as a
        # bootstrap of a random m-row subsample, resampled.
        index = rng.integers(0, n, size=m)
        truth, sample = y_true[index], [p[index] for p in preds]
    else:
        truth, sample = y_true, preds
    auc = _auc_resamples(metric, truth, sample, resamples, seed)
    scores = (
        auc
        if auc is not None
        else bootstrap_scores(metric, truth, sample, resamples=resamples, seed=seed)
    )
    values = scores[:, 0] - scores[:, 1] if len(preds) == 2 else scores[:, 0]
    alpha = 1.0 - confidence
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    scale = np.sqrt(m / n)
    centre = float(np.mean(values))
    method = "bootstrap" if m == n else "bootstrap-m-of-n"
    if m == n:
        return Estimate(float(low), float(high), float(np.std(values, ddof=1)), method)
    return Estimate(
        value + (float(low) - centre) * scale,
        value + (float(high) - centre) * scale,
        float(np.std(values, ddof=1)) * scale,
        method,
    )
