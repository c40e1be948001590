"""The metric registry: pure functions from (y_true, y_pred) arrays to one float.

Every metric goes through the same guard so that the scoring service never records a
``nan`` or ``inf`` score: a metric that cannot be computed on the given rows raises
:class:`MetricError` (a ``ValueError``) with a message an organizer can act on.
Nothing here imports Django, reads settings or touches the database.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn import metrics as skm

__all__ = ["METRICS", "Metric", "MetricError", "UnknownMetric", "get_metric"]

MetricFunc = Callable[[np.ndarray, np.ndarray], float]


class MetricError(ValueError):
    """Raise when a metric is undefined on the given rows (e.g. one class only for AUC)."""


class UnknownMetric(KeyError):
    """Raise for a metric name that is not in the registry, listing the known names."""

    def __init__(self, name: str) -> None:
        self.message = f"Unknown metric {name!r}. Known metrics: {', '.join(sorted(METRICS))}."
        super().__init__(self.message)

    def __str__(self) -> str:
        # KeyError's own __str__ shows repr(message), quotes and all; show the text.
        return self.message


@dataclass(frozen=True)
class Metric:
    """A named scoring function plus what the leaderboard and validation need to know.

    ``prediction`` says what the predictions column holds: ``"label"`` (a class, compared
    with the solution's labels), ``"probability"`` (a number in [0, 1] for the positive
    class) or ``"value"`` (a real number, for regression).
    """

    name: str
    func: MetricFunc
    greater_is_better: bool
    prediction: str
    description: str


def _guarded(name: str) -> Callable[[MetricFunc], MetricFunc]:
    """Wrap a metric so shape problems and undefined results become :class:`MetricError`.

    scikit-learn returns ``nan`` with a warning in several degenerate cases (r2 on one
    row, for example); a leaderboard cannot rank ``nan``, so refuse it here, once.
    """

    def decorate(func: MetricFunc) -> MetricFunc:
        @functools.wraps(func)
        def wrapper(y_true: np.ndarray, y_pred: np.ndarray) -> float:
            y_true = np.asarray(y_true)
            y_pred = np.asarray(y_pred)
            if y_true.shape[0] == 0:
                raise MetricError(f"{name} needs at least one row; got none.")
            if y_true.shape[0] != y_pred.shape[0]:
                raise MetricError(
                    f"{name} needs as many predictions as true values; "
                    f"got {y_pred.shape[0]} predictions for {y_true.shape[0]} rows."
                )
            try:
                value = float(func(y_true, y_pred))
            except MetricError:
                raise
            except (ValueError, TypeError) as exc:
                raise MetricError(f"{name} could not be computed: {exc}") from exc
            if not np.isfinite(value):
                raise MetricError(
                    f"{name} is undefined on these {y_true.shape[0]} rows (got {value})."
                )
            return value

        return wrapper

    return decorate


def _as_float(values: np.ndarray, name: str, what: str) -> np.ndarray:
    """Convert to float64, explaining which side was not numeric."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise MetricError(f"{name} needs numeric {what}: {exc}") from exc


def _binary_classes(y_true: np.ndarray, name: str) -> np.ndarray:
    """Return the sorted classes of a binary target, refusing anything but two of them."""
    classes = np.unique(y_true)
    if classes.size != 2:
        shown = ", ".join(str(c) for c in classes[:5])
        raise MetricError(
            f"{name} needs both classes among the true values; these {y_true.shape[0]} rows "
            f"hold {classes.size} class(es): {shown}. Choose a split in which every part "
            "has positive and negative rows."
        )
    return classes


@_guarded("accuracy")
def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Share of rows whose predicted label equals the true label."""
    return skm.accuracy_score(y_true, y_pred)


@_guarded("balanced_accuracy")
def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean recall over the true classes, so a majority-class guess scores 1/k."""
    return skm.balanced_accuracy_score(y_true, y_pred)


@_guarded("f1_macro")
def f1_macro(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Unweighted mean of per-class F1; a class never predicted counts as F1 = 0."""
    return skm.f1_score(y_true, y_pred, average="macro", zero_division=0)


@_guarded("roc_auc")
def roc_auc(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Area under the ROC curve; the positive class is the greater of the two labels."""
    _binary_classes(y_true, "roc_auc")
    return skm.roc_auc_score(y_true, _as_float(y_pred, "roc_auc", "scores"))


@_guarded("log_loss")
def log_loss(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Binary cross-entropy of the positive-class probability (the greater label).

    A part with only one class is still well defined when the labels are 0/1, so pass
    the labels explicitly then; other label sets must show both classes.
    """
    p = _as_float(y_pred, "log_loss", "probabilities")
    if p.size and (p.min() < 0.0 or p.max() > 1.0):
        raise MetricError(
            f"log_loss needs probabilities between 0 and 1; got values from {p.min():g} "
            f"to {p.max():g}."
        )
    classes = np.unique(y_true)
    if classes.size <= 2 and set(classes.tolist()) <= {0, 1}:
        labels = [0, 1]
    else:
        labels = list(_binary_classes(y_true, "log_loss"))
    return skm.log_loss(y_true, p, labels=labels)


@_guarded("quadratic_weighted_kappa")
def quadratic_weighted_kappa(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Cohen's kappa with quadratic weights, for ordinal labels (Kaggle's QWK)."""
    return skm.cohen_kappa_score(y_true, y_pred, weights="quadratic")


@_guarded("rmse")
def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root mean squared error."""
    return skm.root_mean_squared_error(
        _as_float(y_true, "rmse", "true values"), _as_float(y_pred, "rmse", "predictions")
    )


@_guarded("mae")
def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error."""
    return skm.mean_absolute_error(
        _as_float(y_true, "mae", "true values"), _as_float(y_pred, "mae", "predictions")
    )


@_guarded("mse")
def mse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean squared error."""
    return skm.mean_squared_error(
        _as_float(y_true, "mse", "true values"), _as_float(y_pred, "mse", "predictions")
    )


@_guarded("r2")
def r2(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Coefficient of determination (1 is perfect, 0 is predicting the mean)."""
    return skm.r2_score(
        _as_float(y_true, "r2", "true values"), _as_float(y_pred, "r2", "predictions")
    )


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("accuracy", accuracy, True, "label", "Share of correctly predicted labels."),
        Metric(
            "balanced_accuracy",
            balanced_accuracy,
            True,
            "label",
            "Mean per-class recall; robust to class imbalance.",
        ),
        Metric("f1_macro", f1_macro, True, "label", "Unweighted mean of the per-class F1."),
        Metric(
            "roc_auc",
            roc_auc,
            True,
            "probability",
            "Area under the ROC curve; predict a score or probability for the positive class.",
        ),
        Metric(
            "log_loss",
            log_loss,
            False,
            "probability",
            "Binary cross-entropy; predict the probability of the positive class.",
        ),
        Metric(
            "quadratic_weighted_kappa",
            quadratic_weighted_kappa,
            True,
            "label",
            "Agreement on ordinal labels, penalising far-off predictions quadratically.",
        ),
        Metric("rmse", rmse, False, "value", "Root mean squared error."),
        Metric("mae", mae, False, "value", "Mean absolute error."),
        Metric("mse", mse, False, "value", "Mean squared error."),
        Metric("r2", r2, True, "value", "Coefficient of determination."),
    ]
}


def get_metric(name: str) -> Metric:
    """Look a metric up by its registry name, failing with the list of known names."""
    try:
        return METRICS[name]
    except KeyError:
        raise UnknownMetric(name) from None
