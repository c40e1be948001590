"""Scoring on the public and private parts, checked against scikit-learn on the same rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from scoring.metrics import Metric, MetricError, get_metric
from scoring.scorer import Scores, score_predictions
from scoring.split import assign_usage
from scoring.validation import read_predictions, read_solution


def _index(n: int) -> pd.Index:
    return pd.Index([str(i) for i in range(n)], dtype=object, name="id")


def _binary_case(n: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    solution = pd.DataFrame({"label": rng.integers(0, 2, n)}, index=_index(n))
    solution["Usage"] = assign_usage(solution, public_fraction=0.3, seed=seed)
    predictions = pd.DataFrame({"label": rng.uniform(0, 1, n)}, index=_index(n))
    return solution, predictions


@pytest.mark.parametrize(
    ("name", "reference"), [("roc_auc", skm.roc_auc_score), ("log_loss", skm.log_loss)]
)
def test_public_and_private_scores_equal_scikit_learn_on_their_rows(name, reference):
    solution, predictions = _binary_case()
    scores = score_predictions(
        solution=solution,
        predictions=predictions,
        metric=get_metric(name),
        target_columns=["label"],
    )
    for part, value in (("Public", scores.public), ("Private", scores.private)):
        rows = solution.index[solution["Usage"] == part]
        expected = reference(solution.loc[rows, "label"], predictions.loc[rows, "label"])
        assert value == pytest.approx(expected)
    assert scores.public != pytest.approx(scores.private)


def test_predictions_are_aligned_by_id_not_by_position():
    solution, predictions = _binary_case()
    shuffled = predictions.sample(frac=1.0, random_state=1)
    metric = get_metric("roc_auc")
    kwargs = {"solution": solution, "metric": metric, "target_columns": ["label"]}
    assert score_predictions(predictions=shuffled, **kwargs) == score_predictions(
        predictions=predictions, **kwargs
    )


def test_ignored_rows_never_change_either_score():
    solution = pd.DataFrame(
        {
            "label": ["a", "b", "a", "b", "a", "b"],
            "Usage": ["Public", "Public", "Private", "Private", "Ignored", "Ignored"],
        },
        index=_index(6),
    )
    good = pd.DataFrame({"label": ["a", "b", "a", "a", "a", "b"]}, index=_index(6))
    wrong_on_ignored = good.copy()
    wrong_on_ignored["label"] = ["a", "b", "a", "a", "b", "a"]
    metric = get_metric("accuracy")
    first = score_predictions(
        solution=solution, predictions=good, metric=metric, target_columns=["label"]
    )
    second = score_predictions(
        solution=solution, predictions=wrong_on_ignored, metric=metric, target_columns=["label"]
    )
    assert first == second == Scores(public=1.0, private=0.5)


def test_a_part_without_rows_scores_none():
    solution = pd.DataFrame(
        {"y": [1.0, 2.0, 3.0], "Usage": ["private", "Private", "Ignored"]}, index=_index(3)
    )
    predictions = pd.DataFrame({"y": [1.0, 4.0, 9.0]}, index=_index(3))
    scores = score_predictions(
        solution=solution, predictions=predictions, metric=get_metric("mae"), target_columns=["y"]
    )
    assert scores == Scores(public=None, private=1.0)


def test_several_target_columns_are_passed_to_the_metric_as_two_dimensional_arrays():
    seen: list[tuple[int, ...]] = []
    metric = get_metric("rmse")

    def spy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        seen.append(y_true.shape)
        return metric.func(y_true, y_pred)

    spying = type(metric)(
        metric.name, spy, metric.greater_is_better, metric.prediction, metric.description
    )
    rng = np.random.default_rng(5)
    solution = pd.DataFrame(rng.normal(size=(50, 2)), columns=["x", "y"], index=_index(50))
    solution["Usage"] = assign_usage(solution, public_fraction=0.4, seed=2)
    predictions = pd.DataFrame(rng.normal(size=(50, 2)), columns=["x", "y"], index=_index(50))
    scores = score_predictions(
        solution=solution, predictions=predictions, metric=spying, target_columns=["x", "y"]
    )
    assert seen == [(50, 2), (20, 2), (30, 2)]  # every row first (the domain), then each part
    public = solution["Usage"] == "Public"
    expected = skm.root_mean_squared_error(
        solution.loc[public, ["x", "y"]], predictions.loc[public, ["x", "y"]]
    )
    assert scores.public == pytest.approx(expected)


def test_a_single_target_column_is_passed_as_a_one_dimensional_array():
    seen: list[tuple[int, ...]] = []
    metric = get_metric("accuracy")

    def spy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        seen.append(y_true.shape)
        seen.append(y_pred.shape)
        return metric.func(y_true, y_pred)

    spying = type(metric)("spy", spy, True, "label", "")
    solution = pd.DataFrame({"c": [0, 1, 1], "Usage": ["Public"] * 3}, index=_index(3))
    predictions = pd.DataFrame({"c": [0, 1, 0]}, index=_index(3))
    score_predictions(
        solution=solution, predictions=predictions, metric=spying, target_columns=["c"]
    )
    assert seen == [(3,), (3,)] * 2  # every row first (the domain), then the public part


def test_an_undefined_metric_on_a_part_names_the_part():
    solution = pd.DataFrame(
        {"label": [1, 1, 0, 1], "Usage": ["Public", "Public", "Private", "Private"]},
        index=_index(4),
    )
    predictions = pd.DataFrame({"label": [0.2, 0.9, 0.1, 0.7]}, index=_index(4))
    with pytest.raises(MetricError, match="Scoring the public part \\(2 rows\\): roc_auc needs"):
        score_predictions(
            solution=solution,
            predictions=predictions,
            metric=get_metric("roc_auc"),
            target_columns=["label"],
        )


def test_a_solution_without_usage_is_refused():
    solution = pd.DataFrame({"label": [0, 1]}, index=_index(2))
    with pytest.raises(ValueError, match="no Usage column"):
        score_predictions(
            solution=solution,
            predictions=solution,
            metric=get_metric("accuracy"),
            target_columns=["label"],
        )


def test_predictions_lacking_solution_ids_are_refused():
    solution = pd.DataFrame({"label": [0, 1], "Usage": ["Public", "Private"]}, index=_index(2))
    predictions = pd.DataFrame({"label": [0]}, index=_index(1))
    with pytest.raises(ValueError, match="lack 1 solution id\\(s\\) \\(first: 1\\)"):
        score_predictions(
            solution=solution,
            predictions=predictions,
            metric=get_metric("accuracy"),
            target_columns=["label"],
        )


@pytest.mark.parametrize("prefix", ["", "participant-row-"])
def test_a_shuffled_file_read_as_bytes_scores_as_scikit_learn_on_aligned_rows(tmp_path, prefix):
    n = 20_000
    rng = np.random.default_rng(3)
    ids = np.array([f"{prefix}{i}" for i in range(n)], dtype=object)
    truth = rng.normal(10, 3, n).round(4)
    frame = pd.DataFrame({"target": truth}, index=pd.Index(ids, name="id", dtype=object))
    frame["Usage"] = assign_usage(frame, public_fraction=0.3, seed=3)
    frame.reset_index().to_csv(tmp_path / "solution.csv", index=False)
    solution = read_solution(tmp_path / "solution.csv", id_column="id", target_columns=["target"])
    pred = (truth + rng.normal(0, 1, n)).round(4)
    order = rng.permutation(n)
    path = tmp_path / "predictions.csv"
    pd.DataFrame({"id": ids[order], "target": pred[order]}).to_csv(path, index=False)
    metric = get_metric("rmse")
    predictions = read_predictions(
        path, solution=solution, id_column="id", target_columns=["target"], metric=metric
    )
    scores = score_predictions(
        solution=solution, predictions=predictions, metric=metric, target_columns=["target"]
    )
    usage = solution["Usage"].to_numpy()
    for part, value in (("Public", scores.public), ("Private", scores.private)):
        rows = usage == part
        assert value == pytest.approx(skm.root_mean_squared_error(truth[rows], pred[rows]))


# Additional metrics: shown next to the score, computed on the same parts, never failing it.


def test_additional_metrics_are_scored_on_the_same_parts_as_the_metric():
    solution, predictions = _binary_case()
    scores = score_predictions(
        solution=solution,
        predictions=predictions,
        metric=get_metric("roc_auc"),
        target_columns=["label"],
        additional=[get_metric("log_loss"), get_metric("average_precision")],
    )
    for part, values in (
        ("Public", scores.additional_public),
        ("Private", scores.additional_private),
    ):
        rows = solution.index[solution["Usage"] == part]
        y, p = solution.loc[rows, "label"], predictions.loc[rows, "label"]
        assert values == {
            "log_loss": pytest.approx(skm.log_loss(y, p)),
            "average_precision": pytest.approx(skm.average_precision_score(y, p)),
        }
    assert list(scores.additional_public) == ["log_loss", "average_precision"]  # declared order
    assert scores.additional_errors == {}
    alone = score_predictions(
        solution=solution,
        predictions=predictions,
        metric=get_metric("roc_auc"),
        target_columns=["label"],
    )
    assert (scores.public, scores.private) == (alone.public, alone.private)  # never ranked


def _picky(name: str, fails_on: str) -> Metric:
    """A label metric (accuracy) that is undefined wherever ``fails_on`` is a true label."""

    def func(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        if (np.asarray(y_true) == fails_on).any():
            raise MetricError(f"{name} is undefined where the label is {fails_on}")
        return float((np.asarray(y_true) == np.asarray(y_pred)).mean())

    return Metric(name, func, True, "label", "test metric")


def _needs(name: str, label: str) -> Metric:
    """A label metric defined on all rows, undefined on a part where ``label`` is absent."""

    def func(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        if not (np.asarray(y_true) == label).any():
            raise MetricError(f"{name} needs a true label {label}")
        return 1.0

    return Metric(name, func, True, "label", "test metric")


def test_an_additional_metric_undefined_on_one_part_is_none_on_both_and_fails_nothing():
    # "c" occurs only in the private part: the metric is undefined there (and on all rows).
    solution = pd.DataFrame(
        {
            "label": ["a", "b", "a", "c", "a", "b"],
            "Usage": ["Public", "Public", "Private", "Private", "Private", "Public"],
        },
        index=_index(6),
    )
    predictions = pd.DataFrame({"label": ["a", "a", "a", "c", "b", "b"]}, index=_index(6))
    scores = score_predictions(
        solution=solution,
        predictions=predictions,
        metric=get_metric("accuracy"),
        target_columns=["label"],
        additional=[_picky("picky_c", "c"), _picky("picky_z", "z"), _needs("needs_c", "c")],
    )
    assert (scores.public, scores.private) == (pytest.approx(2 / 3), pytest.approx(2 / 3))
    # Whether it failed never tells which part a row is in: None on both parts.
    # needs_c is defined on every row and on the private part, undefined on the public one.
    expected = {"picky_c": None, "picky_z": pytest.approx(2 / 3), "needs_c": None}
    assert scores.additional_public == expected
    assert scores.additional_private == expected
    assert "undefined where the label is c" in scores.additional_errors["picky_c"]
    assert set(scores.additional_errors) == {"picky_c", "needs_c"}


def test_an_additional_metric_on_a_part_without_rows_is_none_there():
    solution = pd.DataFrame({"label": ["a", "b"], "Usage": ["Public", "Public"]}, index=_index(2))
    predictions = pd.DataFrame({"label": ["a", "a"]}, index=_index(2))
    scores = score_predictions(
        solution=solution,
        predictions=predictions,
        metric=get_metric("accuracy"),
        target_columns=["label"],
        additional=[get_metric("f1_macro")],
    )
    assert scores.additional_public == {
        "f1_macro": pytest.approx(skm.f1_score(["a", "b"], ["a", "a"], average="macro"))
    }
    assert scores.additional_private == {"f1_macro": None}
    assert scores.additional_errors == {}
