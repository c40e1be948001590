"""A predictions file larger than its rows can be is refused before it is parsed.

The security report: a 250 MB predictions.csv of repeated ids (3 M lines) cost the scoring
worker 2 GB of memory and 43 s outside any sandbox limit before it failed at "data row
541". The bound comes from the solution (one row per id, each as wide as a valid row can
be), so the parser never sees such a file; and the parser stops a bounded number of rows
past the expected ones.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from scoring import validation
from scoring.metrics import get_metric
from scoring.validation import (
    MAX_FIELD_CHARS,
    InvalidPredictions,
    predictions_max_bytes,
    read_predictions,
    read_solution,
)

N_TEST = 540


@pytest.fixture
def solution(tmp_path: Path) -> pd.DataFrame:
    path = tmp_path / "solution.csv"
    path.write_text("id,label\n" + "".join(f"{i},{i % 10}\n" for i in range(N_TEST)))
    return read_solution(path, id_column="id", target_columns=["label"])


@pytest.fixture
def qa_solution(tmp_path: Path) -> pd.DataFrame:
    path = tmp_path / "solution.csv"
    path.write_text("id,answer\n" + "".join(f"q{i:04},Paris\n" for i in range(N_TEST)))
    return read_solution(
        path, id_column="id", target_columns=["answer"], metric=get_metric("qa_f1")
    )


def _read(path: Path, solution: pd.DataFrame, target: str, metric: str | None = None):
    return read_predictions(
        path,
        solution=solution,
        id_column="id",
        target_columns=[target],
        metric=get_metric(metric) if metric else None,
    )


def test_file_of_repeated_ids_over_the_bound_is_refused_without_parsing(
    tmp_path: Path, solution: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    bound = predictions_max_bytes(solution=solution, id_column="id", target_columns=["label"])
    path = tmp_path / "predictions.csv"
    row = b"7,0.123456789\n"
    path.write_bytes(b"id,label\n" + row * (3 * bound // len(row)))

    def no_parsing(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was parsed")

    monkeypatch.setattr(validation.pd, "read_csv", no_parsing)
    with pytest.raises(InvalidPredictions) as caught:
        _read(path, solution, "label")

    assert caught.value.message.startswith("predictions.csv is 3 MB, over")
    assert f"over the most that {N_TEST} rows of predictions can take (1 MB)" in (
        caught.value.message
    )
    assert caught.value.safe == (
        f"predictions.csv is over the most that {N_TEST} rows of predictions can take (1 MB). "
        f"Write only the columns id,label, one row for each of the {N_TEST} ids in "
        "sample_submission.csv."
    )


def test_the_widest_valid_file_is_within_the_bound(tmp_path: Path, solution: pd.DataFrame) -> None:
    """Every row as wide as a valid one may be: CRLF, quoted ids, long float spellings."""
    path = tmp_path / "predictions.csv"
    rows = "".join(f'"{i}", -2.2250738585072014e-308 \r\n' for i in range(N_TEST))
    path.write_text('"id","label"\r\n' + rows + "\r\n" * 10)
    bound = predictions_max_bytes(solution=solution, id_column="id", target_columns=["label"])
    assert path.stat().st_size <= bound

    frame = _read(path, solution, "label")

    assert len(frame) == N_TEST


def test_long_text_answers_scale_the_bound_past_its_floor(
    tmp_path: Path, qa_solution: pd.DataFrame
) -> None:
    """A question-answering file of answers of the longest allowed length (9 MB here) is
    read, though 16 x the sample submission (answers empty) would refuse it."""
    answer = "é" * (MAX_FIELD_CHARS // 2) + '"' * (MAX_FIELD_CHARS // 2)
    cell = '"' + answer.replace('"', '""') + '"'
    path = tmp_path / "predictions.csv"
    path.write_text("id,answer\n" + "".join(f"q{i:04},{cell}\n" for i in range(N_TEST)))
    assert path.stat().st_size > 8 * 2**20

    frame = _read(path, qa_solution, "answer", "qa_f1")

    assert frame["answer"].iloc[0] == answer


def test_text_answers_past_the_bound_are_refused(tmp_path: Path, qa_solution: pd.DataFrame) -> None:
    bound = predictions_max_bytes(
        solution=qa_solution, id_column="id", target_columns=["answer"], metric=get_metric("qa_f1")
    )
    path = tmp_path / "predictions.csv"
    with path.open("w") as out:
        out.write("id,answer\n")
        while out.tell() <= bound:
            out.write("q0001," + "x" * 9000 + "\n")

    with pytest.raises(InvalidPredictions, match="over the most that 540 rows of predictions"):
        _read(path, qa_solution, "answer", "qa_f1")


def test_bound_depends_on_no_hidden_label(tmp_path: Path) -> None:
    """The bound is told to scored runs: it must not change with the hidden labels."""
    bounds = set()
    for label in ("a", "a much longer class name " * 20):
        path = tmp_path / f"{len(label)}.csv"
        path.write_text("id,label\n" + "".join(f"{i},{label}\n" for i in range(5000)))
        solution = read_solution(path, id_column="id", target_columns=["label"])
        bounds.add(
            predictions_max_bytes(solution=solution, id_column="id", target_columns=["label"])
        )
    assert len(bounds) == 1
