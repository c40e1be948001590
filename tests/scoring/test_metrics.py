"""The metric registry: hand-computed values, agreement with scikit-learn, edge cases."""

from __future__ import annotations

import collections
import dataclasses
import json
import math
import re
import string

import numpy as np
import pytest
from sklearn import metrics as skm

from scoring.metrics import (
    METRICS,
    InvalidMetricParams,
    Metric,
    MetricError,
    UnknownMetric,
    get_metric,
    normalize_answer,
    parse_gold_answers,
)

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


# --------------------------------------------------------------------------- the full registry

DIRECTIONS = {
    "accuracy": (True, "label"),
    "balanced_accuracy": (True, "label"),
    "f1": (True, "label"),
    "f1_macro": (True, "label"),
    "f1_micro": (True, "label"),
    "f1_weighted": (True, "label"),
    "precision": (True, "label"),
    "recall": (True, "label"),
    "roc_auc": (True, "probability"),
    "average_precision": (True, "probability"),
    "log_loss": (False, "probability"),
    "quadratic_weighted_kappa": (True, "label"),
    "mse": (False, "value"),
    "rmse": (False, "value"),
    "mae": (False, "value"),
    "rmsle": (False, "value"),
    "r2": (True, "value"),
    "mape": (False, "value"),
    "smape": (False, "value"),
    "map_at_k": (True, "ranking"),
    "ndcg_at_k": (True, "ranking"),
    "qa_exact_match": (True, "text"),
    "qa_f1": (True, "text"),
}


def test_registry_holds_exactly_the_documented_metrics_with_their_directions():
    assert set(METRICS) == set(DIRECTIONS)
    for name, (greater, prediction) in DIRECTIONS.items():
        metric = get_metric(name)
        assert (metric.greater_is_better, metric.prediction) == (greater, prediction), name


def _labels(rng, n=300, k=4):
    return rng.integers(0, k, n), rng.integers(0, k, n)


def _binary_scores(rng, n=300):
    y = rng.integers(0, 2, n)
    return y, np.clip(0.35 * y + 0.65 * rng.random(n), 0.001, 0.999)


def _positive_values(rng, n=300):
    y = rng.gamma(2.0, 3.0, n) + 0.1
    return y, np.abs(y + rng.normal(0, 1.5, n))


CASES = {
    "f1": (lambda r: (r.integers(0, 2, 300), r.integers(0, 2, 300)), skm.f1_score),
    "precision": (
        lambda r: (r.integers(0, 2, 300), r.integers(0, 2, 300)),
        skm.precision_score,
    ),
    "recall": (lambda r: (r.integers(0, 2, 300), r.integers(0, 2, 300)), skm.recall_score),
    "f1_micro": (_labels, lambda t, p: skm.f1_score(t, p, average="micro")),
    "f1_weighted": (_labels, lambda t, p: skm.f1_score(t, p, average="weighted")),
    "average_precision": (_binary_scores, skm.average_precision_score),
    "rmsle": (_positive_values, skm.root_mean_squared_log_error),
    "mape": (_positive_values, skm.mean_absolute_percentage_error),
    "log_loss": (_binary_scores, skm.log_loss),
    "accuracy": (_labels, skm.accuracy_score),
    "quadratic_weighted_kappa": (
        lambda r: (r.integers(0, 6, 300), np.clip(r.integers(0, 6, 300), 0, 5)),
        lambda t, p: skm.cohen_kappa_score(t, p, weights="quadratic"),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("seed", range(5))
def test_new_metrics_agree_with_scikit_learn_on_random_inputs(name, seed):
    make, reference = CASES[name]
    y_true, y_pred = make(np.random.default_rng(100 + seed))
    assert get_metric(name).func(y_true, y_pred) == pytest.approx(reference(y_true, y_pred))


@pytest.mark.parametrize("average", ["binary", "macro", "micro", "weighted"])
@pytest.mark.parametrize("name", ["f1", "precision", "recall"])
def test_the_average_parameter_matches_scikit_learn(name, average):
    rng = np.random.default_rng(7)
    k = 2 if average == "binary" else 3
    y_true, y_pred = rng.integers(0, k, 200), rng.integers(0, k, 200)
    reference = {"f1": skm.f1_score, "precision": skm.precision_score, "recall": skm.recall_score}
    expected = reference[name](y_true, y_pred, average=average, zero_division=0)
    assert get_metric(name, {"average": average}).func(y_true, y_pred) == pytest.approx(expected)


def test_positive_label_picks_the_class_for_binary_f1_with_text_labels():
    y_true = np.array(["spam", "ham", "spam", "ham", "spam"], dtype=object)
    y_pred = np.array(["spam", "spam", "ham", "ham", "spam"], dtype=object)
    for positive in ("spam", "ham"):
        expected = skm.f1_score(y_true, y_pred, pos_label=positive)
        metric = get_metric("f1", {"positive_label": positive})
        assert metric.func(y_true, y_pred) == pytest.approx(expected)
    # Default: the greater of the two labels, as for roc_auc.
    assert get_metric("f1").func(y_true, y_pred) == pytest.approx(
        skm.f1_score(y_true, y_pred, pos_label="spam")
    )


def test_positive_label_given_as_json_string_matches_numeric_labels():
    y_true, y_pred = np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0])
    assert get_metric("recall", {"positive_label": "0"}).func(y_true, y_pred) == 1.0
    assert get_metric("recall", {"positive_label": 1}).func(y_true, y_pred) == 0.5


def test_binary_f1_on_three_classes_says_to_choose_an_average():
    with pytest.raises(MetricError, match="f1 is binary but these rows hold 3 classes"):
        get_metric("f1").func(np.array([0, 1, 2]), np.array([0, 1, 2]))


def test_roc_auc_and_average_precision_take_a_positive_label():
    rng = np.random.default_rng(3)
    y = np.where(rng.random(200) < 0.4, "yes", "no").astype(object)
    score = (y == "yes") * 0.3 + rng.random(200)
    assert get_metric("roc_auc", {"positive_label": "no"}).func(y, score) == pytest.approx(
        skm.roc_auc_score(y == "no", score)
    )
    assert get_metric("average_precision").func(y, score) == pytest.approx(
        skm.average_precision_score(y == "yes", score)
    )


def _one_hot_case(seed: int, n: int = 300, k: int = 4):
    rng = np.random.default_rng(seed)
    classes = rng.integers(0, k, n)
    proba = rng.dirichlet(np.ones(k), n)
    proba[np.arange(n), classes] += 0.3 * rng.random(n)
    proba /= proba.sum(axis=1, keepdims=True)
    return classes, np.eye(k, dtype=np.int64)[classes], proba


@pytest.mark.parametrize("seed", range(3))
def test_multiclass_roc_auc_is_scikit_learn_one_vs_rest(seed):
    classes, one_hot, proba = _one_hot_case(seed)
    for average in ("macro", "weighted"):
        expected = skm.roc_auc_score(classes, proba, multi_class="ovr", average=average)
        metric = get_metric("roc_auc", {"average": average})
        assert metric.func(one_hot, proba) == pytest.approx(expected)
        assert metric.func(classes, proba) == pytest.approx(expected)


def test_multiclass_roc_auc_does_not_need_scores_summing_to_one():
    classes, one_hot, proba = _one_hot_case(4)
    scaled = proba * np.array([1.0, 10.0, 0.5, 3.0])
    assert get_metric("roc_auc").func(one_hot, scaled) == pytest.approx(
        skm.roc_auc_score(classes, proba, multi_class="ovr")
    )


def test_multiclass_roc_auc_names_a_class_without_positives():
    one_hot = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0]])
    with pytest.raises(MetricError, match=r"class column\(s\) 3 have only one kind"):
        get_metric("roc_auc").func(one_hot, np.full((3, 3), 1 / 3))


@pytest.mark.parametrize("seed", range(3))
def test_multiclass_log_loss_is_scikit_learn_log_loss(seed):
    classes, one_hot, proba = _one_hot_case(seed)
    expected = skm.log_loss(classes, proba, labels=[0, 1, 2, 3])
    assert get_metric("log_loss").func(one_hot, proba) == pytest.approx(expected)


def test_multiclass_log_loss_rescales_rows_to_sum_to_one_as_kaggle_does():
    # scikit-learn only warns about rows not summing to 1; Kaggle rescales them.
    classes, one_hot, proba = _one_hot_case(9, k=3)
    expected = skm.log_loss(classes, proba, labels=[0, 1, 2])
    assert get_metric("log_loss").func(one_hot, proba * 0.5) == pytest.approx(expected)


@pytest.mark.parametrize("seed", range(3))
def test_multi_output_regression_metrics_average_columns_like_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    y = rng.gamma(2.0, 2.0, (100, 3))
    pred = np.abs(y + rng.normal(0, 1, (100, 3)))
    for name, reference in [
        ("mse", skm.mean_squared_error),
        ("rmse", skm.root_mean_squared_error),
        ("mae", skm.mean_absolute_error),
        ("rmsle", skm.root_mean_squared_log_error),
        ("r2", skm.r2_score),
        ("mape", skm.mean_absolute_percentage_error),
    ]:
        assert get_metric(name).func(y, pred) == pytest.approx(reference(y, pred)), name


def test_rmsle_refuses_negative_values():
    with pytest.raises(MetricError, match="rmsle needs non-negative values; some predictions"):
        get_metric("rmsle").func(np.array([1.0, 2.0]), np.array([1.0, -0.5]))


def test_mape_refuses_zero_true_values_and_points_to_smape():
    with pytest.raises(MetricError, match=r"mape is undefined where the true value is 0 \(1 row"):
        get_metric("mape").func(np.array([0.0, 2.0]), np.array([1.0, 2.0]))


def reference_smape(y_true, y_pred) -> float:
    """Kaggle's SMAPE in percent, with 0/0 counted as 0."""
    total = 0.0
    for a, f in zip(y_true, y_pred, strict=True):
        if a == 0 and f == 0:
            continue
        total += 2 * abs(f - a) / (abs(a) + abs(f))
    return 100 * total / len(y_true)


@pytest.mark.parametrize("seed", range(5))
def test_smape_matches_a_reference_implementation(seed):
    rng = np.random.default_rng(seed)
    y = rng.normal(0, 5, 200)
    pred = y + rng.normal(0, 2, 200)
    y[:5] = 0
    pred[:3] = 0  # three 0/0 rows
    assert get_metric("smape").func(y, pred) == pytest.approx(reference_smape(y, pred))


def test_smape_bounds():
    assert get_metric("smape").func(np.array([1.0, 0.0]), np.array([1.0, 0.0])) == 0.0
    assert get_metric("smape").func(np.array([1.0, 2.0]), np.array([-1.0, 0.0])) == 200.0


# --------------------------------------------------------------------------- ranking


def reference_apk(actual: list, predicted: list, k: int) -> float:
    """Average precision at k as in Kaggle's ml_metrics (Ben Hamner)."""
    if len(predicted) > k:
        predicted = predicted[:k]
    score = 0.0
    num_hits = 0.0
    for i, p in enumerate(predicted):
        if p in actual and p not in predicted[:i]:
            num_hits += 1.0
            score += num_hits / (i + 1.0)
    if not actual:
        return 0.0
    return score / min(len(actual), k)


def reference_ndcg(gold: dict, predicted: list, k: int) -> float:
    """Linear-gain NDCG@k written out longhand; repeated items gain nothing."""
    dcg = 0.0
    seen = set()
    for i, item in enumerate(predicted[:k]):
        gain = gold.get(item, 0.0) if item not in seen else 0.0
        seen.add(item)
        dcg += gain / math.log2(i + 2)
    ideal = sorted(gold.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def _ranking_case(seed: int, n: int = 120):
    rng = np.random.default_rng(seed)
    items = [f"i{j}" for j in range(15)]
    gold, ranked = [], []
    for _ in range(n):
        relevant = list(rng.choice(items, size=rng.integers(0, 5), replace=False))
        guess = list(rng.choice(items, size=rng.integers(0, 12), replace=True))
        gold.append(relevant)
        ranked.append(guess)
    return gold, ranked


@pytest.mark.parametrize("k", [1, 3, 5, 10])
@pytest.mark.parametrize("seed", range(3))
def test_map_at_k_matches_the_kaggle_reference(seed, k):
    gold, ranked = _ranking_case(seed)
    expected = np.mean([reference_apk(g, r, k) for g, r in zip(gold, ranked, strict=True)])
    y_true = np.array([" ".join(g) for g in gold], dtype=object)
    y_pred = np.array([" ".join(r) for r in ranked], dtype=object)
    assert get_metric("map_at_k", {"k": k}).func(y_true, y_pred) == pytest.approx(expected)


@pytest.mark.parametrize("k", [1, 3, 10])
@pytest.mark.parametrize("seed", range(3))
def test_ndcg_at_k_matches_a_reference_with_graded_relevance(seed, k):
    gold, ranked = _ranking_case(seed)
    rng = np.random.default_rng(seed)
    graded = [{item: float(rng.integers(1, 4)) for item in g} for g in gold]
    expected = np.mean([reference_ndcg(g, r, k) for g, r in zip(graded, ranked, strict=True)])
    y_true = np.array(
        [" ".join(f"{i}:{int(v)}" for i, v in g.items()) for g in graded], dtype=object
    )
    y_pred = np.array([" ".join(r) for r in ranked], dtype=object)
    assert get_metric("ndcg_at_k", {"k": k}).func(y_true, y_pred) == pytest.approx(expected)


def test_ndcg_matches_scikit_learn_for_distinct_rankings():
    rng = np.random.default_rng(0)
    n_items, k = 8, 5
    relevance = rng.integers(0, 3, (50, n_items)).astype(float)
    relevance[:, 0] = 1  # every query has something relevant
    scores = rng.random((50, n_items))
    y_true = np.array(
        [" ".join(f"i{j}:{int(r)}" for j, r in enumerate(row) if r > 0) for row in relevance],
        dtype=object,
    )
    y_pred = np.array([" ".join(f"i{j}" for j in np.argsort(-row)) for row in scores], dtype=object)
    assert get_metric("ndcg_at_k", {"k": k}).func(y_true, y_pred) == pytest.approx(
        skm.ndcg_score(relevance, scores, k=k)
    )


def test_ranking_edge_cases():
    m = get_metric("map_at_k", {"k": 3})
    # perfect, empty prediction, no relevant items, duplicates do not count twice
    assert m.func(np.array(["a b"]), np.array(["a b"])) == 1.0
    assert m.func(np.array(["a b"]), np.array([""])) == 0.0
    assert m.func(np.array([""]), np.array(["a"])) == 0.0
    assert m.func(np.array(["a"]), np.array(["a a a"])) == 1.0
    assert m.func(np.array(["a b"]), np.array(["b b a"])) == pytest.approx((1 + 2 / 3) / 2)
    assert get_metric("ndcg_at_k").func(np.array(["a"]), np.array(["x a"])) == pytest.approx(
        1 / math.log2(3)
    )


def test_default_k_is_ten_and_invalid_k_is_refused():
    assert get_metric("map_at_k").params == {"k": 10}
    for bad in (0, -1, 2.5, "5", True):
        with pytest.raises(InvalidMetricParams, match="map_at_k: invalid k"):
            get_metric("map_at_k", {"k": bad})


# --------------------------------------------------------------------------- question answering


def reference_squad_normalize(s: str) -> str:
    """normalize_answer from the official SQuAD evaluation script."""

    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def reference_squad_f1(prediction: str, ground_truth: str) -> float:
    pred_tokens = reference_squad_normalize(prediction).split()
    gold_tokens = reference_squad_normalize(ground_truth).split()
    if len(pred_tokens) == 0 or len(gold_tokens) == 0:
        return float(pred_tokens == gold_tokens)
    common = collections.Counter(pred_tokens) & collections.Counter(gold_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(pred_tokens)
    recall = num_same / len(gold_tokens)
    return (2 * precision * recall) / (precision + recall)


QA = [
    ("The Eiffel Tower", ["Eiffel Tower", "the tower"], 1.0, 1.0),
    ("eiffel tower!", ["The Eiffel Tower"], 1.0, 1.0),
    ("in 1905", ["1905"], 0.0, 2 / 3),
    ("Albert Einstein", ["Einstein", "A. Einstein"], 0.0, 2 / 3),
    ("", [""], 1.0, 1.0),
    ("Paris", [""], 0.0, 0.0),
    ("", ["Paris"], 0.0, 0.0),
    ("a the an", ["An"], 1.0, 1.0),
    ("Denver Broncos", ["Carolina Panthers"], 0.0, 0.0),
]


@pytest.mark.parametrize(("prediction", "golds", "em", "f1"), QA)
def test_qa_metrics_on_hand_checked_answers(prediction, golds, em, f1):
    y_true = np.array([json.dumps(golds)], dtype=object)
    y_pred = np.array([prediction], dtype=object)
    assert get_metric("qa_exact_match").func(y_true, y_pred) == pytest.approx(em)
    assert get_metric("qa_f1").func(y_true, y_pred) == pytest.approx(f1)


def test_qa_metrics_match_the_squad_reference_on_random_answers():
    rng = np.random.default_rng(0)
    words = ["the", "a", "cat", "Cat", "sat,", "on", "mat.", "dog", "An", "big", "red"]
    golds, preds = [], []
    for _ in range(300):
        answers = [
            " ".join(rng.choice(words, rng.integers(1, 5))) for _ in range(rng.integers(1, 4))
        ]
        golds.append(answers)
        preds.append(" ".join(rng.choice(words, rng.integers(0, 5))))
    em = np.mean(
        [
            max(float(reference_squad_normalize(p) == reference_squad_normalize(g)) for g in gs)
            for gs, p in zip(golds, preds, strict=True)
        ]
    )
    f1 = np.mean(
        [max(reference_squad_f1(p, g) for g in gs) for gs, p in zip(golds, preds, strict=True)]
    )
    y_true = np.array(["|".join(g) for g in golds], dtype=object)
    y_pred = np.array(preds, dtype=object)
    assert get_metric("qa_exact_match").func(y_true, y_pred) == pytest.approx(em)
    assert get_metric("qa_f1").func(y_true, y_pred) == pytest.approx(f1)


def test_gold_answers_parse_from_pipes_json_and_empty_json_list():
    assert parse_gold_answers("Paris|paris, France") == ["Paris", "paris, France"]
    assert parse_gold_answers('["a|b", "c"]') == ["a|b", "c"]
    assert parse_gold_answers("[]") == [""]
    assert parse_gold_answers("[not json") == ["[not json"]
    assert normalize_answer("  The  Big, RED dog! ") == "big red dog"


# --------------------------------------------------------------------------- params & per-row forms


def test_unknown_params_are_refused_naming_the_accepted_ones():
    with pytest.raises(
        InvalidMetricParams, match="accuracy takes no parameter\\(s\\) k; accepted: none"
    ):
        get_metric("accuracy", {"k": 3})
    with pytest.raises(InvalidMetricParams, match="accepted: average, positive_label"):
        get_metric("f1", {"avg": "macro"})
    with pytest.raises(InvalidMetricParams, match="f1: invalid average 'samples'"):
        get_metric("f1", {"average": "samples"})


def test_get_metric_without_params_returns_the_registry_entry():
    assert get_metric("rmse") is METRICS["rmse"]
    assert get_metric("rmse", {}) is METRICS["rmse"]
    assert get_metric("f1", {"average": "macro"}).params == {
        "average": "macro",
        "positive_label": None,
    }


def test_compute_is_func_with_the_bound_params():
    metric = get_metric("map_at_k", {"k": 1})
    y_true, y_pred = np.array(["a", "b"]), np.array(["x a", "b"])
    assert metric.compute(y_true, y_pred) == metric.func(y_true, y_pred) == 0.5


@pytest.mark.parametrize("name", sorted(n for n, m in METRICS.items() if m.per_row is not None))
def test_per_row_form_reproduces_the_score(name):
    metric = METRICS[name]
    rng = np.random.default_rng(0)
    if metric.prediction == "value":
        y_true, y_pred = _positive_values(rng)
    elif metric.prediction == "probability":
        y_true, y_pred = _binary_scores(rng)
    elif metric.prediction == "label":
        y_true, y_pred = _labels(rng)
    else:
        gold, ranked = _ranking_case(1)
        y_true = np.array([" ".join(g) or "x" for g in gold], dtype=object)
        y_pred = np.array([" ".join(r) for r in ranked], dtype=object)
    rows = metric.per_row(y_true, y_pred)
    assert rows.shape[0] == len(y_true)
    assert metric.finish(rows.mean(axis=0)[None])[0] == pytest.approx(metric.func(y_true, y_pred))


def test_stratification_is_advised_for_classification_metrics_only():
    assert get_metric("accuracy").stratify and get_metric("log_loss").stratify
    assert not get_metric("rmse").stratify and not get_metric("qa_f1").stratify


# --------------------------------------------------------------------------- custom metrics


def median_absolute_error(y_true, y_pred, scale=1.0):
    """Median absolute error, scaled."""
    return float(np.median(np.abs(np.asarray(y_true) - np.asarray(y_pred)))) * scale


median_absolute_error.greater_is_better = False
median_absolute_error.params = {"scale": 1.0}


def hit_rate(y_true, y_pred):
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


CUSTOM = f"{__name__}:median_absolute_error"


def test_a_dotted_path_metric_declares_its_direction_and_params():
    metric = get_metric("medae", {"scale": 2.0}, extra={"medae": CUSTOM})
    assert metric.name == "medae"
    assert metric.greater_is_better is False
    assert metric.prediction == "value"
    assert metric.description == "Median absolute error, scaled."
    assert metric.func(np.array([1.0, 2.0, 5.0]), np.array([1.0, 3.0, 3.0])) == 2.0
    with pytest.raises(InvalidMetricParams, match="medae takes no parameter\\(s\\) k"):
        get_metric("medae", {"k": 1}, extra={"medae": CUSTOM})


def test_a_dotted_path_metric_without_attributes_gets_the_documented_defaults():
    metric = get_metric("hits", extra={"hits": f"{__name__}.hit_rate"})
    assert (metric.greater_is_better, metric.prediction, metric.value_range) == (
        True,
        "value",
        None,
    )
    assert metric.description == "Custom metric hits."


def test_custom_metrics_are_guarded_like_built_in_ones():
    metric = get_metric("hits", extra={"hits": f"{__name__}:hit_rate"})
    with pytest.raises(MetricError, match="hits needs at least one row"):
        metric.func(np.array([]), np.array([]))


def test_a_broken_dotted_path_raises_metric_error():
    with pytest.raises(MetricError, match="cannot be imported"):
        get_metric("x", extra={"x": "no_such_module_podium:f"})
    with pytest.raises(MetricError, match="is not a dotted path"):
        get_metric("x", extra={"x": "nodots"})


def test_builtin_names_win_over_extra_and_unknown_names_list_the_extras():
    assert get_metric("rmse", extra={"rmse": CUSTOM}) is METRICS["rmse"]
    with pytest.raises(UnknownMetric, match="medae"):
        get_metric("nope", extra={"medae": CUSTOM})


def test_entry_points_are_searched_before_extra(monkeypatch):
    from importlib.metadata import EntryPoint

    import scoring.metrics as metrics_module

    def fake_entry_points(*, group):
        assert group == "podium.metrics"
        return [EntryPoint("medae", CUSTOM, group)]

    monkeypatch.setattr(metrics_module, "entry_points", fake_entry_points)
    metric = get_metric("medae", extra={"medae": f"{__name__}:hit_rate"})
    assert metric.greater_is_better is False


def test_a_custom_metric_object_is_used_as_is_under_its_name():
    custom = dataclasses.replace(METRICS["mae"], name="whatever")
    import sys

    sys.modules[__name__].CUSTOM_METRIC_OBJECT = custom
    metric = get_metric("my_mae", extra={"my_mae": f"{__name__}:CUSTOM_METRIC_OBJECT"})
    assert metric.name == "my_mae"
    assert metric.per_row is METRICS["mae"].per_row
