"""The public/private split: deterministic, exact in size, stratified, organizer-overridable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scoring.split import assign_usage, usage_codes


def _solution(n: int, *, labels: list | None = None) -> pd.DataFrame:
    ids = pd.Index([f"id{i}" for i in range(n)], name="id", dtype=object)
    if labels is None:
        labels = [i % 3 for i in range(n)]
    return pd.DataFrame({"label": labels}, index=ids)


def test_same_inputs_give_the_same_split_every_time():
    solution = _solution(500)
    first = assign_usage(solution, public_fraction=0.3, seed=17)
    second = assign_usage(solution.copy(), public_fraction=0.3, seed=17)
    pd.testing.assert_series_equal(first, second)


def test_split_is_pinned_to_ids_and_seed_not_library_random_streams():
    # A regression guard: these assignments must never change once a competition runs.
    usage = assign_usage(_solution(10), public_fraction=0.3, seed=17)
    assert usage[usage == "Public"].index.tolist() == ["id0", "id1", "id9"]


def test_split_does_not_depend_on_row_order():
    solution = _solution(300)
    shuffled = solution.sample(frac=1.0, random_state=3)
    usage = assign_usage(solution, public_fraction=0.4, seed=5)
    usage_shuffled = assign_usage(shuffled, public_fraction=0.4, seed=5)
    pd.testing.assert_series_equal(usage, usage_shuffled.loc[usage.index])


def test_different_seeds_give_different_splits():
    solution = _solution(200)
    a = assign_usage(solution, public_fraction=0.5, seed=1)
    b = assign_usage(solution, public_fraction=0.5, seed=2)
    assert not a.equals(b)


@pytest.mark.parametrize(("n", "fraction"), [(10, 0.3), (540, 0.25), (7, 0.5), (1000, 0.0)])
def test_public_row_count_is_the_rounded_fraction(n, fraction):
    usage = assign_usage(_solution(n), public_fraction=fraction, seed=0)
    assert (usage == "Public").sum() == round(n * fraction)
    assert set(usage.unique()) <= {"Public", "Private"}
    assert usage.index.equals(_solution(n).index)
    assert usage.name == "Usage"


def test_fraction_one_makes_every_row_public():
    usage = assign_usage(_solution(20), public_fraction=1.0, seed=0)
    assert (usage == "Public").all()


def test_fraction_outside_zero_one_is_refused():
    with pytest.raises(ValueError, match="between 0 and 1"):
        assign_usage(_solution(10), public_fraction=1.5, seed=0)


def test_stratified_split_keeps_each_class_share_on_the_public_side():
    labels = ["a"] * 700 + ["b"] * 200 + ["c"] * 100
    solution = _solution(1000, labels=labels)
    usage = assign_usage(solution, public_fraction=0.3, seed=9, stratify_column="label")
    public = solution[usage == "Public"]
    assert len(public) == 300
    assert public["label"].value_counts().to_dict() == {"a": 210, "b": 60, "c": 30}


def test_stratified_split_rounds_per_class_shares_to_the_exact_total():
    labels = [0] * 5 + [1] * 5 + [2] * 5
    solution = _solution(15, labels=labels)
    usage = assign_usage(solution, public_fraction=0.5, seed=1, stratify_column="label")
    counts = solution[usage == "Public"]["label"].value_counts()
    assert counts.sum() == round(15 * 0.5)
    assert set(counts.to_numpy()) <= {2, 3}


def test_stratification_is_skipped_when_a_class_has_a_single_row():
    labels = [0] * 50 + [1] * 49 + [2]
    solution = _solution(100, labels=labels)
    stratified = assign_usage(solution, public_fraction=0.3, seed=4, stratify_column="label")
    plain = assign_usage(solution, public_fraction=0.3, seed=4)
    pd.testing.assert_series_equal(stratified, plain)


def test_unknown_stratify_column_is_refused_with_the_columns_listed():
    with pytest.raises(ValueError, match="no such column"):
        assign_usage(_solution(10), public_fraction=0.3, seed=0, stratify_column="target")


def test_an_existing_usage_column_is_returned_canonicalised():
    solution = _solution(4)
    solution["Usage"] = ["public", "PRIVATE", " Ignored ", "Private"]
    usage = assign_usage(solution, public_fraction=0.9, seed=0, stratify_column="label")
    assert usage.tolist() == ["Public", "Private", "Ignored", "Private"]
    assert usage.index.equals(solution.index)


def test_an_invalid_usage_value_is_refused_naming_the_row():
    solution = _solution(3)
    solution["Usage"] = ["Public", "Privat", "Private"]
    with pytest.raises(ValueError, match="id1: 'Privat'"):
        assign_usage(solution, public_fraction=0.3, seed=0)


def test_split_of_a_large_solution_is_exact_and_balanced():
    rng = np.random.default_rng(0)
    solution = _solution(20_000, labels=rng.integers(0, 2, 20_000).tolist())
    usage = assign_usage(solution, public_fraction=0.2, seed=11, stratify_column="label")
    assert (usage == "Public").sum() == 4000
    rate = solution.groupby(usage)["label"].mean()
    assert abs(rate["Public"] - rate["Private"]) < 0.01


def test_usage_codes_number_public_private_ignored_whatever_the_spelling():
    usage = pd.Series(["public", " PRIVATE", "Ignored", "Public"] * 3)
    assert usage_codes(usage).tolist() == [0, 1, 2, 0] * 3
    categorical = pd.Series(pd.Categorical(["Private", "Public"], categories=["Public", "Private"]))
    assert usage_codes(categorical).tolist() == [1, 0]


def test_usage_codes_refuse_unknown_values_naming_rows():
    with pytest.raises(ValueError, match="1 value\\(s\\) other than Public/Private/Ignored"):
        usage_codes(pd.Series(["Public", "Hidden"], index=["a", "b"]))


def test_stratified_split_of_one_hot_columns_is_stratified_by_class():
    labels = np.array([0] * 600 + [1] * 300 + [2] * 100)
    one_hot = pd.DataFrame(np.eye(3, dtype=int)[labels], columns=["a", "b", "c"])
    one_hot.index = pd.Index([f"id{i}" for i in range(1000)], name="id", dtype=object)
    usage = assign_usage(one_hot, public_fraction=0.2, seed=3, stratify_column=["a", "b", "c"])
    public = labels[(usage == "Public").to_numpy()]
    assert np.bincount(public).tolist() == [120, 60, 20]
