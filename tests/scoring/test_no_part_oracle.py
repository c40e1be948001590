"""Errors never reveal the part of a row (issue 10, item 2).

The attack: put one value the metric cannot take on a chosen row. Scoring part by part
failed with a message naming "the public part (60 rows)" or "the private part (120
rows)", or scored normally when the row was Ignored: one run told the part of any row.
Now the metric's domain is checked on every row at once before any split, so the
outcome and the team's message are the same wherever the row lies.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from competitions.evaluation.pipeline import Rejected, score_kept_predictions
from competitions.models import Competition
from scoring.metrics import MetricError, get_metric
from scoring.scorer import score_predictions
from scoring.validation import read_solution

PARTS = ["Public"] * 6 + ["Private"] * 12 + ["Ignored"] * 2  # row i's part


def _solution_file(tmp_path: Path) -> Path:
    labels = [i % 2 for i in range(len(PARTS))]
    frame = pd.DataFrame({"id": range(len(PARTS)), "label": labels, "Usage": PARTS})
    path = tmp_path / "solution.csv"
    frame.to_csv(path, index=False)
    return path


def _predictions_with_a_bad_row(tmp_path: Path, row: int) -> Path:
    labels = [i % 2 for i in range(len(PARTS))]
    labels[row] = 2  # a third class: f1 (binary) cannot take it
    path = tmp_path / f"predictions-{row}.csv"
    pd.DataFrame({"id": range(len(PARTS)), "label": labels}).to_csv(path, index=False)
    return path


def test_one_bad_row_gives_the_same_answer_whatever_its_part(tmp_path: Path) -> None:
    competition = Competition(metric="f1", id_column="id", target_columns=["label"])
    metric = get_metric("f1")
    solution = read_solution(
        _solution_file(tmp_path), id_column="id", target_columns=["label"], metric=metric
    )
    outcomes = {}
    for row in (0, 10, 19):  # a public, a private and an ignored row
        outcome = score_kept_predictions(
            competition=competition,
            solution=solution,
            predictions_path=_predictions_with_a_bad_row(tmp_path, row),
            metric=metric,
        )
        assert isinstance(outcome, Rejected), f"row {row} ({PARTS[row]}) was scored"
        outcomes[PARTS[row]] = outcome

    assert len({o.safe for o in outcomes.values()}) == 1
    assert len({o.message for o in outcomes.values()}) == 1  # even the organizer's detail
    for outcome in outcomes.values():
        for word in ("public", "private", "ignored", "part", "6 rows", "12 rows", "18"):
            assert word not in outcome.safe.lower()
            assert word not in outcome.message.lower()


def test_the_scorer_checks_the_whole_before_splitting() -> None:
    metric = get_metric("f1")
    index = pd.Index([str(i) for i in range(len(PARTS))], name="id")
    solution = pd.DataFrame(
        {"label": [i % 2 for i in range(len(PARTS))], "Usage": PARTS}, index=index
    )
    messages = set()
    for row in (0, 10, 19):
        predictions = solution[["label"]].copy()
        predictions.iloc[row, 0] = 2
        with pytest.raises(MetricError) as caught:
            score_predictions(
                solution=solution, predictions=predictions, metric=metric, target_columns=["label"]
            )
        messages.add(str(caught.value))
    assert len(messages) == 1
    assert "part" not in messages.pop()
