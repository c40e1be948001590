"""The metric registry: pure functions from (y_true, y_pred) arrays to one float.

Every metric goes through the same guard so that the scoring service never records a
``nan`` or ``inf`` score: a metric that cannot be computed on the given rows raises
:class:`MetricError` (a ``ValueError``) with a message an organizer can act on.
Nothing here imports Django, reads settings or touches the database.

Prediction formats (``Metric.prediction``), as the predictions file holds them:

``"label"``
    One column, a class label compared with the solution's label (accuracy, F1, QWK...).
``"probability"``
    One column: a score or probability for the positive class (binary). With several
    ``target_columns``, one column per class: the solution holds the classes one-hot
    (0/1, one column per class, like Kaggle's Otto), the predictions a probability per
    class. ``roc_auc`` then averages one-vs-rest AUCs and ``log_loss`` becomes the
    multiclass cross-entropy (rows are rescaled to sum to 1, as Kaggle does;
    scikit-learn only warns).
    Metrics that need true probabilities set ``value_range=(0, 1)``, which
    :func:`scoring.validation.read_predictions` enforces when given the metric.
``"value"``
    One or more real-valued columns (regression); several columns are averaged
    uniformly, as scikit-learn's ``multioutput="uniform_average"``.
``"ranking"``
    One column holding a space-separated ranked list of item ids, best first; the
    solution cell holds the relevant items, space-separated (``ndcg_at_k`` also accepts
    graded relevance as ``item:grade``).
``"text"``
    One column of free text (question answering). The solution cell holds the gold
    answers: a ``|``-separated list or a JSON list of strings (``["1905", "in 1905"]``);
    ``[]`` means "no answer", matched by an empty prediction (SQuAD 2.0).

Metric parameters: ``get_metric(name, params)`` returns the metric with its parameters
bound, so ``metric.func(y_true, y_pred)`` (and :meth:`Metric.compute`) never takes
keyword arguments and every caller (scorer, bootstrap) stays parameter-agnostic.
Unknown parameter names or invalid values raise :class:`InvalidMetricParams` (a
:class:`MetricError`) at ``get_metric`` time, so a bundle import can refuse them. The
parameters of each metric are in ``Metric.params`` (its defaults, merged with yours):

- ``k`` (``map_at_k``, ``ndcg_at_k``): rank cut-off, default 10.
- ``average`` (``f1``, ``precision``, ``recall``): ``binary`` (default), ``macro``,
  ``micro`` or ``weighted``; (``roc_auc`` with several columns): ``macro`` or ``weighted``.
- ``positive_label`` (binary ``f1``/``precision``/``recall``, ``roc_auc``,
  ``average_precision``, ``log_loss``): default: the greater of the two classes (1 for
  0/1 labels). JSON numbers and strings are both accepted ("1" matches 1).

Custom metrics: ``get_metric(name, params, extra=...)`` looks in the registry, then in
the entry points of group ``podium.metrics`` (``name = "pkg.mod:func"``), then in
``extra``, a mapping of names to dotted paths (``{"my_metric": "pkg.mod:func"}`` or
``"pkg.mod.func"``). The object found may be a :class:`Metric` (used as is, renamed)
or a function ``func(y_true, y_pred, **params) -> float`` whose attributes declare the
rest: ``greater_is_better`` (default ``True``: a loss MUST set it to ``False``),
``prediction`` (default ``"value"``), ``value_range`` (default ``None``),
``params`` (a dict of defaults and the accepted names; default: any ``params`` are
passed through) and its docstring's first line as the description.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import re
import string
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from importlib.metadata import entry_points
from typing import Any

import numpy as np
from sklearn import metrics as skm

__all__ = [
    "ENTRY_POINT_GROUP",
    "METRICS",
    "PREDICTION_KINDS",
    "InvalidMetricParams",
    "Metric",
    "MetricError",
    "UnknownMetric",
    "get_metric",
    "normalize_answer",
    "parse_gold_answers",
]

ENTRY_POINT_GROUP = "podium.metrics"
PREDICTION_KINDS = ("label", "probability", "value", "ranking", "text")

MetricFunc = Callable[[np.ndarray, np.ndarray], float]
RowFunc = Callable[[np.ndarray, np.ndarray], np.ndarray]
FinishFunc = Callable[[np.ndarray], np.ndarray]

_EPS = float(np.finfo(np.float64).eps)


class MetricError(ValueError):
    """Raise when a metric is undefined on the given rows (e.g. one class only for AUC)."""


class InvalidMetricParams(MetricError):
    """Raise for metric parameters the metric does not take or cannot use."""


class UnknownMetric(KeyError):
    """Raise for a metric name that is not in the registry, listing the known names."""

    def __init__(self, name: str, known: list[str] | None = None) -> None:
        names = sorted(known if known is not None else METRICS)
        self.message = f"Unknown metric {name!r}. Known metrics: {', '.join(names)}."
        super().__init__(self.message)

    def __str__(self) -> str:
        # KeyError's own __str__ shows repr(message), quotes and all; show the text.
        return self.message


def _identity_finish(means: np.ndarray) -> np.ndarray:
    """Turn means of shape (R,) or (R, columns) into R scores; columns count equally."""
    return means.mean(axis=-1) if means.ndim > 1 else means


@dataclass(frozen=True)
class Metric:
    """A named scoring function plus what the leaderboard and validation need to know.

    ``func(y_true, y_pred) -> float`` has its parameters already bound (see the module
    docstring). ``prediction`` is one of :data:`PREDICTION_KINDS`. ``value_range`` is the
    closed interval a numeric prediction must lie in, or None. ``per_row`` and ``finish``
    are set for metrics that are a function of a mean of per-row values, so that
    ``func(t, p) == finish(per_row(t, p).mean(axis=0)[None])[0]`` (``finish`` maps means
    of shape (R,) or (R, columns) to R scores): that is what lets
    :mod:`scoring.bootstrap` resample without calling the metric once per resample.
    """

    name: str
    func: MetricFunc
    greater_is_better: bool
    prediction: str
    description: str
    params: Mapping[str, Any] = field(default_factory=dict)
    value_range: tuple[float, float] | None = None
    per_row: RowFunc | None = None
    finish: FinishFunc | None = None

    def compute(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        """Score ``y_pred`` against ``y_true`` with the bound parameters."""
        return self.func(y_true, y_pred)

    @property
    def stratify(self) -> bool:
        """Whether a public/private split should be stratified by the target (classification)."""
        return self.prediction in ("label", "probability")


# --------------------------------------------------------------------------- guard & helpers


def _guarded(name: str, func: MetricFunc) -> MetricFunc:
    """Wrap a metric so shape problems and undefined results become :class:`MetricError`.

    scikit-learn returns ``nan`` with a warning in several degenerate cases (r2 on one
    row, for example); a leaderboard cannot rank ``nan``, so refuse it here, once.
    """

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
        except (ValueError, TypeError, ZeroDivisionError) as exc:
            raise MetricError(f"{name} could not be computed: {exc}") from exc
        if not np.isfinite(value):
            raise MetricError(f"{name} is undefined on these {y_true.shape[0]} rows (got {value}).")
        return value

    return wrapper


def _as_float(values: np.ndarray, name: str, what: str) -> np.ndarray:
    """Convert to float64, explaining which side was not numeric."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise MetricError(f"{name} needs numeric {what}: {exc}") from exc


def _coerce_label(label: Any, like: np.ndarray) -> Any:
    """Make a JSON-supplied label comparable with the true values ("1" matches 1)."""
    if like.dtype.kind in "iufb":
        try:
            return float(label)
        except (TypeError, ValueError):
            return label
    return str(label)


def _positive(y_true: np.ndarray, observed: np.ndarray, positive_label: Any, name: str) -> Any:
    """Return the positive class: the given one, else the greater of two (1 for 0/1)."""
    if positive_label is not None:
        return _coerce_label(positive_label, y_true)
    classes = np.unique(observed)
    if classes.size > 2:
        shown = ", ".join(str(c) for c in classes[:5])
        raise MetricError(
            f"{name} is binary but these rows hold {classes.size} classes ({shown}...); "
            'set metric_params {"average": "macro"} (or micro/weighted) for multiclass.'
        )
    if classes.dtype.kind in "iufb" and set(classes.tolist()) <= {0, 1}:
        return 1
    return classes[-1]


def _binary_truth(y_true: np.ndarray, positive_label: Any, name: str) -> np.ndarray:
    """Turn a binary target into 0/1 against the positive class, demanding both classes."""
    classes = np.unique(y_true)
    if positive_label is None:
        if classes.size != 2:
            shown = ", ".join(str(c) for c in classes[:5])
            raise MetricError(
                f"{name} needs both classes among the true values; these {y_true.shape[0]} "
                f"rows hold {classes.size} class(es): {shown}. Choose a split in which every "
                "part has positive and negative rows."
            )
        positive = classes[-1]
    else:
        positive = _coerce_label(positive_label, y_true)
    truth = (y_true == positive).astype(np.float64)
    if truth.min() == truth.max():
        raise MetricError(
            f"{name} needs both classes among the true values; these {y_true.shape[0]} rows "
            f"hold 1 class(es): {y_true[0]}. Choose a split in which every part has "
            "positive and negative rows."
        )
    return truth


def _one_hot(y_true: np.ndarray, n_classes: int, name: str) -> np.ndarray:
    """Give a multiclass target as an (n, k) matrix: one-hot columns or class indices."""
    if y_true.ndim == 2:
        truth = _as_float(y_true, name, "true values (one 0/1 column per class)")
        if truth.shape[1] != n_classes:
            raise MetricError(
                f"{name} needs {n_classes} true columns, one per class; got {truth.shape[1]}."
            )
        return truth
    codes = _as_float(y_true, name, "true class indices").astype(np.int64)
    if codes.min() < 0 or codes.max() >= n_classes:
        raise MetricError(f"{name} needs class indices between 0 and {n_classes - 1}.")
    return np.eye(n_classes)[codes]


def _row_normalised(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return p / p.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------- classification


def _accuracy_rows(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    same = y_true == y_pred
    if same.ndim > 1:
        same = same.all(axis=1)
    return same.astype(np.float64)


def _classify(
    average: str, positive_label: Any, scorer: Callable[..., float], name: str
) -> MetricFunc:
    """Build an F1/precision/recall function for one averaging mode."""

    def compute(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        if average == "binary":
            observed = np.concatenate([np.unique(y_true), np.unique(y_pred)])
            positive = _positive(y_true, observed, positive_label, name)
            return scorer(y_true == positive, y_pred == positive, zero_division=0)
        return scorer(y_true, y_pred, average=average, zero_division=0)

    return compute


def _f1(average: str = "binary", positive_label: Any = None) -> MetricFunc:
    return _classify(average, positive_label, skm.f1_score, "f1")


def _precision(average: str = "binary", positive_label: Any = None) -> MetricFunc:
    return _classify(average, positive_label, skm.precision_score, "precision")


def _recall(average: str = "binary", positive_label: Any = None) -> MetricFunc:
    return _classify(average, positive_label, skm.recall_score, "recall")


def _roc_auc(average: str = "macro", positive_label: Any = None) -> MetricFunc:
    def compute(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        scores = _as_float(y_pred, "roc_auc", "scores")
        if scores.ndim == 1:
            return skm.roc_auc_score(_binary_truth(y_true, positive_label, "roc_auc"), scores)
        truth = _one_hot(y_true, scores.shape[1], "roc_auc")
        present = truth.sum(axis=0)
        absent = np.flatnonzero((present == 0) | (present == truth.shape[0]))
        if absent.size:
            raise MetricError(
                f"roc_auc (one-vs-rest) needs positive and negative rows for every class; "
                f"class column(s) {', '.join(str(i + 1) for i in absent[:5])} have only one "
                "kind in these rows."
            )
        # Mean of per-class binary AUCs: scikit-learn's OvR without its demand that the
        # scores sum to 1, which a ranking metric has no use for.
        per_class = [skm.roc_auc_score(truth[:, j], scores[:, j]) for j in range(truth.shape[1])]
        weights = present if average == "weighted" else None
        return float(np.average(per_class, weights=weights))

    return compute


def _average_precision(positive_label: Any = None) -> MetricFunc:
    def compute(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        truth = _binary_truth(y_true, positive_label, "average_precision")
        return skm.average_precision_score(truth, _as_float(y_pred, "average_precision", "scores"))

    return compute


def _log_loss_rows(positive_label: Any = None) -> RowFunc:
    def rows(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        p = _as_float(y_pred, "log_loss", "probabilities")
        if p.size and (p.min() < 0.0 or p.max() > 1.0):
            raise MetricError(
                f"log_loss needs probabilities between 0 and 1; got values from {p.min():g} "
                f"to {p.max():g}."
            )
        if p.ndim == 2:
            truth = _one_hot(y_true, p.shape[1], "log_loss")
            return -(truth * np.log(_row_normalised(p))).sum(axis=1)
        classes = np.unique(y_true)
        if positive_label is None and classes.size <= 2 and set(classes.tolist()) <= {0, 1}:
            truth = (y_true == 1).astype(np.float64)
        elif positive_label is None:
            truth = _binary_truth(y_true, None, "log_loss")
        else:
            truth = (y_true == _coerce_label(positive_label, y_true)).astype(np.float64)
        p = np.clip(p, _EPS, 1 - _EPS)
        return -(truth * np.log(p) + (1 - truth) * np.log1p(-p))

    return rows


def _qwk() -> MetricFunc:
    return lambda t, p: skm.cohen_kappa_score(t, p, weights="quadratic")


# --------------------------------------------------------------------------- regression


def _regression_rows(
    name: str, loss: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> Callable[[], RowFunc]:
    def factory() -> RowFunc:
        def rows(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
            t = _as_float(y_true, name, "true values")
            p = _as_float(y_pred, name, "predictions")
            if t.shape != p.shape:
                raise MetricError(f"{name} needs the same shape on both sides.")
            return loss(t, p)

        return rows

    return factory


def _log_error(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    if (t < 0).any() or (p < 0).any():
        side = "true values" if (t < 0).any() else "predictions"
        raise MetricError(f"rmsle needs non-negative values; some {side} are negative.")
    return (np.log1p(p) - np.log1p(t)) ** 2


def _percentage_error(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    zero = t == 0
    if zero.any():
        raise MetricError(
            f"mape is undefined where the true value is 0 ({int(zero.sum())} row(s)); "
            "use smape for targets that can be zero."
        )
    return np.abs(p - t) / np.abs(t)


def _smape_error(t: np.ndarray, p: np.ndarray) -> np.ndarray:
    denominator = np.abs(t) + np.abs(p)
    safe = np.where(denominator == 0, 1.0, denominator)
    return np.where(denominator == 0, 0.0, 200.0 * np.abs(p - t) / safe)


def _sqrt_finish(means: np.ndarray) -> np.ndarray:
    return _identity_finish(np.sqrt(means))


def _r2() -> MetricFunc:
    def compute(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        return skm.r2_score(_as_float(y_true, "r2", "true values"), _as_float(y_pred, "r2", "p"))

    return compute


# --------------------------------------------------------------------------- ranking


def _tokens(cell: object) -> list[str]:
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return []
    return str(cell).split()


def _graded(cell: object) -> dict[str, float]:
    """Parse "a b:3 c" into relevance grades (1 where no grade is written)."""
    grades: dict[str, float] = {}
    for token in _tokens(cell):
        item, sep, grade = token.rpartition(":")
        if sep:
            try:
                grades[item] = float(grade)
                continue
            except ValueError:
                pass
        grades[token] = 1.0
    return grades


def _map_rows(k: int = 10) -> RowFunc:
    def rows(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        out = np.zeros(len(y_true))
        for i, (gold, ranked) in enumerate(zip(y_true, y_pred, strict=True)):
            relevant = set(_tokens(gold))
            if not relevant:
                continue
            seen: set[str] = set()
            hits = 0
            total = 0.0
            for rank, item in enumerate(_tokens(ranked)[:k], start=1):
                if item in relevant and item not in seen:
                    hits += 1
                    total += hits / rank
                seen.add(item)
            out[i] = total / min(len(relevant), k)
        return out

    return rows


def _ndcg_rows(k: int = 10) -> RowFunc:
    discounts = 1.0 / np.log2(np.arange(2, k + 2))

    def rows(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        out = np.zeros(len(y_true))
        for i, (gold, ranked) in enumerate(zip(y_true, y_pred, strict=True)):
            grades = _graded(gold)
            ideal = sorted(grades.values(), reverse=True)[:k]
            idcg = float(np.dot(ideal, discounts[: len(ideal)]))
            if idcg <= 0:
                continue
            seen: set[str] = set()
            gains: list[float] = []
            for item in _tokens(ranked):
                if len(gains) == k:
                    break
                gains.append(0.0 if item in seen else grades.get(item, 0.0))
                seen.add(item)
            out[i] = float(np.dot(gains, discounts[: len(gains)])) / idcg
        return out

    return rows


# --------------------------------------------------------------------------- question answering

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation and articles, squeeze whitespace (the SQuAD script)."""
    text = str(text).lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def parse_gold_answers(cell: object) -> list[str]:
    """Read a solution cell of gold answers: a JSON list, or answers separated by "|"."""
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return [""]
    text = str(cell)
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            answers = [str(a) for a in parsed]
            return answers or [""]  # [] is SQuAD 2.0's "no answer"
    return text.split("|")


def _token_f1(prediction: str, gold: str) -> float:
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    if not pred_tokens or not gold_tokens:
        return float(pred_tokens == gold_tokens)
    common = Counter(pred_tokens) & Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _text(cell: object) -> str:
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return ""
    return str(cell)


def _exact_match_rows() -> RowFunc:
    def rows(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        return np.fromiter(
            (
                float(any(normalize_answer(_text(p)) == normalize_answer(g) for g in golds))
                for golds, p in zip(map(parse_gold_answers, y_true), y_pred, strict=True)
            ),
            dtype=np.float64,
            count=len(y_true),
        )

    return rows


def _qa_f1_rows() -> RowFunc:
    def rows(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        return np.fromiter(
            (
                max(_token_f1(_text(p), g) for g in golds)
                for golds, p in zip(map(parse_gold_answers, y_true), y_pred, strict=True)
            ),
            dtype=np.float64,
            count=len(y_true),
        )

    return rows


# --------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class _Spec:
    """How to build a metric from its parameters.

    Exactly one of ``make`` (params -> func) and ``rows`` (params -> per-row func, the
    score being ``finish(mean of rows)``) is set.
    """

    name: str
    greater_is_better: bool
    prediction: str
    description: str
    make: Callable[..., MetricFunc] | None = None
    rows: Callable[..., RowFunc] | None = None
    finish: FinishFunc = _identity_finish
    value_range: tuple[float, float] | None = None
    checks: Mapping[str, Callable[[Any], bool]] = field(default_factory=dict)

    def defaults(self) -> dict[str, Any]:
        factory = self.make or self.rows
        assert factory is not None
        return {
            p.name: p.default
            for p in inspect.signature(factory).parameters.values()
            if p.default is not inspect.Parameter.empty
        }

    def build(self, params: Mapping[str, Any] | None = None) -> Metric:
        defaults = self.defaults()
        given = dict(params or {})
        unknown = sorted(set(given) - set(defaults))
        if unknown:
            accepted = ", ".join(sorted(defaults)) or "none"
            raise InvalidMetricParams(
                f"{self.name} takes no parameter(s) {', '.join(unknown)}; accepted: {accepted}."
            )
        for key, check in self.checks.items():
            if key in given and not check(given[key]):
                raise InvalidMetricParams(f"{self.name}: invalid {key} {given[key]!r}.")
        bound = {**defaults, **given}
        if self.rows is not None:
            per_row = self.rows(**bound)
            finish = self.finish

            def func(y_true: np.ndarray, y_pred: np.ndarray) -> float:
                means = np.asarray(per_row(y_true, y_pred)).mean(axis=0)
                return float(finish(means[np.newaxis, ...])[0])

            return Metric(
                self.name,
                _guarded(self.name, func),
                self.greater_is_better,
                self.prediction,
                self.description,
                params=bound,
                value_range=self.value_range,
                per_row=per_row,
                finish=finish,
            )
        assert self.make is not None
        return Metric(
            self.name,
            _guarded(self.name, self.make(**bound)),
            self.greater_is_better,
            self.prediction,
            self.description,
            params=bound,
            value_range=self.value_range,
        )


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


_BINARY_AVERAGES = {"average": lambda v: v in ("binary", "macro", "micro", "weighted")}
_AUC_AVERAGES = {"average": lambda v: v in ("macro", "weighted")}
_K = {"k": _positive_int}

_SPECS: list[_Spec] = [
    _Spec(
        "accuracy",
        True,
        "label",
        "Share of correctly predicted labels.",
        rows=lambda: _accuracy_rows,
    ),
    _Spec(
        "balanced_accuracy",
        True,
        "label",
        "Mean per-class recall; robust to class imbalance.",
        make=lambda: skm.balanced_accuracy_score,
    ),
    _Spec(
        "f1", True, "label", "F1 of the positive class (binary).", make=_f1, checks=_BINARY_AVERAGES
    ),
    _Spec(
        "f1_macro",
        True,
        "label",
        "Unweighted mean of the per-class F1.",
        make=lambda: _f1("macro"),
    ),
    _Spec("f1_micro", True, "label", "F1 over all decisions pooled.", make=lambda: _f1("micro")),
    _Spec(
        "f1_weighted",
        True,
        "label",
        "Mean of the per-class F1 weighted by class frequency.",
        make=lambda: _f1("weighted"),
    ),
    _Spec(
        "precision",
        True,
        "label",
        "Precision of the positive class (binary).",
        make=_precision,
        checks=_BINARY_AVERAGES,
    ),
    _Spec(
        "recall",
        True,
        "label",
        "Recall of the positive class (binary).",
        make=_recall,
        checks=_BINARY_AVERAGES,
    ),
    _Spec(
        "roc_auc",
        True,
        "probability",
        "Area under the ROC curve; predict a score for the positive class, or one score "
        "per class (one-vs-rest).",
        make=_roc_auc,
        checks=_AUC_AVERAGES,
    ),
    _Spec(
        "average_precision",
        True,
        "probability",
        "Area under the precision-recall curve; predict a score for the positive class.",
        make=_average_precision,
    ),
    _Spec(
        "log_loss",
        False,
        "probability",
        "Cross-entropy; predict the probability of the positive class, or one probability "
        "per class.",
        rows=_log_loss_rows,
        value_range=(0.0, 1.0),
    ),
    _Spec(
        "quadratic_weighted_kappa",
        True,
        "label",
        "Agreement on ordinal labels, penalising far-off predictions quadratically.",
        make=_qwk,
    ),
    _Spec(
        "mse",
        False,
        "value",
        "Mean squared error.",
        rows=_regression_rows("mse", lambda t, p: (p - t) ** 2),
    ),
    _Spec(
        "rmse",
        False,
        "value",
        "Root mean squared error.",
        rows=_regression_rows("rmse", lambda t, p: (p - t) ** 2),
        finish=_sqrt_finish,
    ),
    _Spec(
        "mae",
        False,
        "value",
        "Mean absolute error.",
        rows=_regression_rows("mae", lambda t, p: np.abs(p - t)),
    ),
    _Spec(
        "rmsle",
        False,
        "value",
        "Root mean squared logarithmic error; predictions must be non-negative.",
        rows=_regression_rows("rmsle", _log_error),
        finish=_sqrt_finish,
        value_range=(0.0, float("inf")),
    ),
    _Spec("r2", True, "value", "Coefficient of determination.", make=_r2),
    _Spec(
        "mape",
        False,
        "value",
        "Mean absolute percentage error, as a fraction (0.1 is 10%); true values must be non-zero.",
        rows=_regression_rows("mape", _percentage_error),
    ),
    _Spec(
        "smape",
        False,
        "value",
        "Symmetric mean absolute percentage error in percent (0 to 200); 0/0 counts as 0.",
        rows=_regression_rows("smape", _smape_error),
    ),
    _Spec(
        "map_at_k",
        True,
        "ranking",
        "Mean average precision at k of a space-separated ranked list of items.",
        rows=_map_rows,
        checks=_K,
    ),
    _Spec(
        "ndcg_at_k",
        True,
        "ranking",
        "Normalised discounted cumulative gain at k of a space-separated ranked list.",
        rows=_ndcg_rows,
        checks=_K,
    ),
    _Spec(
        "qa_exact_match",
        True,
        "text",
        "Share of answers equal to a gold answer after SQuAD normalisation.",
        rows=_exact_match_rows,
    ),
    _Spec(
        "qa_f1",
        True,
        "text",
        "Mean token-overlap F1 with the best-matching gold answer (SQuAD).",
        rows=_qa_f1_rows,
    ),
]

_BY_NAME: dict[str, _Spec] = {spec.name: spec for spec in _SPECS}
METRICS: dict[str, Metric] = {spec.name: spec.build() for spec in _SPECS}


# --------------------------------------------------------------------------- custom metrics


def _load_dotted(path: str) -> Any:
    """Import ``pkg.mod:attr`` or ``pkg.mod.attr``."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise MetricError(f"{path!r} is not a dotted path like 'package.module:function'.")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise MetricError(f"The custom metric {path!r} cannot be imported: {exc}") from exc
    return obj


def _custom(name: str, obj: Any, params: Mapping[str, Any] | None) -> Metric:
    """Turn a custom metric object (a Metric or a function with attributes) into a Metric."""
    given = dict(params or {})
    if isinstance(obj, Metric):
        if given:
            raise InvalidMetricParams(f"The custom metric {name} takes no parameters.")
        return replace(obj, name=name)
    if not callable(obj):
        raise MetricError(f"The custom metric {name} is not a function: {obj!r}.")
    prediction = getattr(obj, "prediction", "value")
    if prediction not in PREDICTION_KINDS:
        raise MetricError(
            f"The custom metric {name} declares prediction={prediction!r}; "
            f"use one of {', '.join(PREDICTION_KINDS)}."
        )
    declared = getattr(obj, "params", None)
    if isinstance(declared, Mapping):
        unknown = sorted(set(given) - set(declared))
        if unknown:
            raise InvalidMetricParams(
                f"{name} takes no parameter(s) {', '.join(unknown)}; accepted: "
                f"{', '.join(sorted(declared)) or 'none'}."
            )
        given = {**declared, **given}
    func = functools.partial(obj, **given) if given else obj
    doc = (inspect.getdoc(obj) or "").strip().splitlines()
    value_range = getattr(obj, "value_range", None)
    return Metric(
        name,
        _guarded(name, func),
        bool(getattr(obj, "greater_is_better", True)),
        prediction,
        doc[0] if doc else f"Custom metric {name}.",
        params=given,
        value_range=tuple(value_range) if value_range is not None else None,
    )


def _entry_point(name: str) -> Any | None:
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            try:
                return ep.load()
            except Exception as exc:  # a broken plugin must not look like an unknown name
                raise MetricError(
                    f"The metric {name!r} from entry point {ep.value!r} cannot be loaded: {exc}"
                ) from exc
    return None


def get_metric(
    name: str,
    params: Mapping[str, Any] | None = None,
    *,
    extra: Mapping[str, str] | None = None,
) -> Metric:
    """Look a metric up and bind its parameters; fail with the list of known names.

    Order: the built-in registry, then entry points of group ``podium.metrics``, then
    ``extra`` (name -> dotted path, e.g. the PODIUM_METRICS setting). ``params`` are the
    competition's ``metric_params``; invalid ones raise :class:`InvalidMetricParams`.
    """
    spec = _BY_NAME.get(name)
    if spec is not None:
        return METRICS[name] if not params else spec.build(params)
    found = _entry_point(name)
    if found is None and extra and name in extra:
        found = _load_dotted(extra[name])
    if found is None:
        known = [*METRICS, *(extra or {})]
        raise UnknownMetric(name, known)
    return _custom(name, found, params)
