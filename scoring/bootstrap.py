"""Bootstrap confidence intervals for leaderboard scores, and paired comparisons.

A leaderboard score is measured on a finite sample of rows; resampling those rows with
replacement shows how much the score would move on another sample of the same size.
The interval is the percentile interval of the resampled scores; ``std`` is their
standard deviation (the bootstrap standard error).

Speed: a metric with ``per_row``/``finish`` (accuracy, mse, rmse, mae, rmsle, mape,
smape, log_loss, map_at_k, ndcg_at_k, qa_exact_match, qa_f1, and any custom
:class:`~scoring.metrics.Metric` that sets them) is a function of the mean of per-row
values, so a resample only needs that mean:

- when the per-row values take few distinct values (accuracy, exact match: 0 or 1; or
  pairs of them in a paired comparison), the counts of each value in a resample of n
  rows drawn with replacement are exactly Multinomial(n, frequencies), so R resamples
  cost one ``rng.multinomial`` call, whatever n;
- otherwise an index matrix of resamples x rows is drawn and gathered, in chunks of
  resamples sized to bound memory (1,000 x 1,000,000 indices would be 4 GB at once);
  there is no Python loop over resamples, only over chunks, which run on a few
  threads (NumPy releases the GIL there); each chunk has its own generator spawned
  from the seed, so the result does not depend on the number of threads.

Any other metric (roc_auc, f1, r2, qwk, ...) is recomputed on each resample in a
Python loop. A resample on which such a metric is undefined (one class only, for AUC)
is dropped; if more than 1% are, :class:`~scoring.metrics.MetricError` is raised,
because the interval would then describe a different population.

Everything is seeded: the same inputs and seed give the same interval.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from scoring.metrics import Metric, MetricError

__all__ = [
    "Interval",
    "bootstrap_interval",
    "bootstrap_scores",
    "paired_difference_interval",
    "significantly_different",
]

FEW_DISTINCT = 256  # at most this many distinct per-row values: multinomial counts
INDEX_BUDGET = 1 << 23  # indices drawn at once per thread (64 MB of int64)
MAX_THREADS = 8
MAX_UNDEFINED = 0.01  # share of resamples a looped metric may fail on


@dataclass(frozen=True)
class Interval:
    """A bootstrap percentile interval and the bootstrap standard error."""

    low: float
    high: float
    std: float

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


def _check(resamples: int, confidence: float) -> None:
    if resamples < 2:
        raise ValueError(f"resamples must be at least 2; got {resamples}.")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1 (exclusive); got {confidence}.")


def _interval(scores: np.ndarray, confidence: float) -> Interval:
    alpha = 1.0 - confidence
    low, high = np.quantile(scores, [alpha / 2, 1 - alpha / 2])
    return Interval(float(low), float(high), float(np.std(scores, ddof=1)))


def _mean_resamples(values: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Return (resamples, columns) means of ``values`` (rows, columns) over bootstrap samples."""
    n, columns = values.shape
    distinct, inverse = _few_distinct(values)
    if distinct is not None:
        frequencies = np.bincount(inverse, minlength=len(distinct)) / n
        counts = rng.multinomial(n, frequencies, size=resamples)
        return counts @ distinct / n
    out = np.empty((resamples, columns))
    chunk = max(1, min(resamples, INDEX_BUDGET // max(n, 1)))
    starts = range(0, resamples, chunk)
    # One child generator per chunk, derived from the seed alone: the result does not
    # depend on how many threads run the chunks or in which order they finish.
    seeds = rng.bit_generator.seed_seq.spawn(len(starts))  # type: ignore[attr-defined]
    columns_data = [np.ascontiguousarray(values[:, j]) for j in range(columns)]

    def run(k: int) -> None:
        start = starts[k]
        stop = min(start + chunk, resamples)
        index = np.random.default_rng(seeds[k]).integers(0, n, size=(stop - start, n))
        for j, column in enumerate(columns_data):
            out[start:stop, j] = np.take(column, index).mean(axis=1)

    # NumPy releases the GIL while drawing and gathering, so threads use every core.
    workers = min(len(starts), os.cpu_count() or 1, MAX_THREADS)
    if workers <= 1:
        for k in range(len(starts)):
            run(k)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(run, range(len(starts))))
    return out


def _few_distinct(values: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """Return the distinct rows and each row's code, or None when there are many."""
    if values.shape[1] == 1:
        column = values[:, 0]
        # Cheap test first: continuous losses bail out without sorting a million rows.
        if np.unique(column[:4096]).size > FEW_DISTINCT:
            return None, np.empty(0, dtype=np.intp)
        distinct, inverse = np.unique(column, return_inverse=True)
        if distinct.size > FEW_DISTINCT:
            return None, inverse
        return distinct[:, np.newaxis], inverse
    if np.unique(values[:4096], axis=0).shape[0] > FEW_DISTINCT:
        return None, np.empty(0, dtype=np.intp)
    distinct, inverse = np.unique(values, axis=0, return_inverse=True)
    if distinct.shape[0] > FEW_DISTINCT:
        return None, inverse
    return distinct, inverse.reshape(-1)


def bootstrap_scores(
    metric: Metric,
    y_true: np.ndarray,
    predictions: Sequence[np.ndarray],
    *,
    resamples: int = 1000,
    seed: int = 0,
) -> np.ndarray:
    """Score each of ``predictions`` on the same bootstrap resamples of the rows.

    Returns an array of shape (resamples, len(predictions)); row r holds every
    prediction's score on resample r, which is what a paired comparison needs.
    Resamples on which a looped metric is undefined are dropped (see the module docstring).
    """
    y_true = np.asarray(y_true)
    preds = [np.asarray(p) for p in predictions]
    n = y_true.shape[0]
    if n == 0:
        raise MetricError(f"{metric.name} needs at least one row to bootstrap; got none.")
    for p in preds:
        if p.shape[0] != n:
            raise MetricError(
                f"{metric.name} needs as many predictions as true values; "
                f"got {p.shape[0]} predictions for {n} rows."
            )
    rng = np.random.default_rng(seed)

    if metric.per_row is not None and metric.finish is not None:
        blocks = []
        for p in preds:
            metric.func(y_true, p)  # the same errors as scoring (ranges, classes, shapes)
            rows = np.asarray(metric.per_row(y_true, p), dtype=np.float64)
            blocks.append(rows.reshape(n, -1))
        widths = [b.shape[1] for b in blocks]
        means = _mean_resamples(np.hstack(blocks), resamples, rng)
        out = np.empty((resamples, len(preds)))
        start = 0
        for j, width in enumerate(widths):
            part = means[:, start : start + width]
            out[:, j] = metric.finish(part if width > 1 else part[:, 0])
            start += width
        return out

    out = np.full((resamples, len(preds)), np.nan)
    for r in range(resamples):
        index = rng.integers(0, n, size=n)
        truth = y_true[index]
        try:
            out[r] = [metric.func(truth, p[index]) for p in preds]
        except MetricError:
            continue
    undefined = np.isnan(out).any(axis=1)
    if undefined.mean() > MAX_UNDEFINED:
        raise MetricError(
            f"{metric.name} is undefined on {int(undefined.sum())} of {resamples} bootstrap "
            f"resamples of these {n} rows (a class too rare to appear in every resample?); "
            "no interval is given."
        )
    return out[~undefined]


def bootstrap_interval(
    metric: Metric,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Interval:
    """Return the percentile bootstrap interval of ``metric`` on these rows."""
    _check(resamples, confidence)
    scores = bootstrap_scores(metric, y_true, [y_pred], resamples=resamples, seed=seed)
    return _interval(scores[:, 0], confidence)


def paired_difference_interval(
    metric: Metric,
    y_true: np.ndarray,
    pred_a: np.ndarray,
    pred_b: np.ndarray,
    *,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Interval:
    """Return the bootstrap interval of ``score(a) - score(b)`` over the same resampled rows.

    Why paired: two leaderboard entries are scored on the same rows, and their errors are
    strongly correlated (a hard row is hard for both). Resampling the rows once and
    scoring both entries on each resample keeps that correlation, so the spread of the
    difference reflects only where the entries disagree. Two separate intervals ignore
    it and overlap even when one entry beats the other on nearly every row; comparing
    them is too conservative. The sign follows the raw metric, not "better": for a
    loss, a negative difference means ``a`` is better.
    """
    _check(resamples, confidence)
    scores = bootstrap_scores(metric, y_true, [pred_a, pred_b], resamples=resamples, seed=seed)
    return _interval(scores[:, 0] - scores[:, 1], confidence)


def significantly_different(
    metric: Metric,
    y_true: np.ndarray,
    pred_a: np.ndarray,
    pred_b: np.ndarray,
    *,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> bool:
    """Decide whether two entries differ: the paired difference interval excludes zero.

    This is a two-sided bootstrap test at level ``1 - confidence`` for one pair; when
    checking every neighbouring pair of a leaderboard, expect about ``1 - confidence``
    of truly tied pairs to be flagged anyway.
    """
    interval = paired_difference_interval(
        metric, y_true, pred_a, pred_b, resamples=resamples, seed=seed, confidence=confidence
    )
    return not interval.contains(0.0)
