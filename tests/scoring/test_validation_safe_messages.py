"""The validator's safe messages quote nothing a run wrote (issue 10, item 1).

A scored run reads the hidden test inputs; whatever it writes into predictions.csv
(header names, ids, values) must not come back in the message its team reads. Each
case below hides a secret in the file where a detailed message would quote it: the
detailed message (for debug runs and organizers) does quote it, the safe one never
does, and still says where and what is wrong.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scoring.metrics import get_metric
from scoring.validation import InvalidPredictions, read_predictions, read_solution

SECRET = "s3cr3tTESTinput"
IDS = range(1, 11)
NUMBERS = "id,label,Usage\n" + "".join(f"{i},{i % 2},Public\n" for i in IDS)
TEXT = "id,answer,Usage\n" + "".join(f"{i},gold{i},Public\n" for i in IDS)


def _rows(value: str = "1", ids: object = IDS) -> str:
    return "".join(f"{i},{value}\n" for i in ids)  # type: ignore[attr-defined]


# (case, solution, metric, predictions file, what the safe message must say)
CASES = [
    ("extra column", NUMBERS, None, f"id,label,{SECRET}\n" + _rows("1,1"), "Column 3 of the"),
    (
        "repeated column",
        NUMBERS,
        None,
        f"id,{SECRET},{SECRET},label\n" + _rows("1,1,1"),
        "column 3 repeats column 2",
    ),
    ("no id column", NUMBERS, None, f"{SECRET},label\n" + _rows(), "has no 'id' column"),
    (
        "id column in another case",
        NUMBERS,
        None,
        f"ID,label,{SECRET}\n" + _rows("1,1"),
        "case-sensitive",
    ),
    ("delimiter", NUMBERS, None, f"id;label;{SECRET}\n1;1;1\n", "as its delimiter"),
    (
        "not a number",
        NUMBERS,
        None,
        "id,label\n" + _rows("1", range(1, 10)) + f"10,{SECRET}\n",
        "data row 10",
    ),
    (
        "unknown id",
        NUMBERS,
        None,
        "id,label\n" + _rows("1", range(1, 10)) + f"{SECRET},1\n",
        "Data row 10 holds an id",
    ),
    (
        "only unknown ids",
        NUMBERS,
        None,
        "id,label\n" + _rows("1") + f"{SECRET},1\n",
        "data row 11: the id is not a test id",
    ),
    (
        "duplicated id",
        NUMBERS,
        None,
        "id,label\n" + _rows("1") + "3,1\n",
        "data row 11: the id repeats",
    ),
    (
        "out of range",
        NUMBERS,
        "log_loss",
        "id,label\n" + _rows("0.5", range(1, 10)) + "10,7.25\n",
        "data row 10",
    ),
    (
        "fractional class",
        NUMBERS,
        "accuracy",
        "id,label\n" + _rows("1", range(1, 10)) + "10,0.625\n",
        "data row 10",
    ),
    (
        "unclosed quote",
        NUMBERS,
        None,
        "id,label\n" + _rows("1", range(1, 10)) + f'10,"{SECRET}\n',
        "cannot be read as CSV",
    ),
    ("json", NUMBERS, None, f'{{"{SECRET}": 1}}\n', "not plain comma-separated"),
    ("binary", NUMBERS, None, f"id,label\n1,{SECRET}\x00\n", "not plain comma-separated"),
    (
        "empty label",
        TEXT,
        "accuracy",
        "id,answer\n" + _rows("x", range(1, 10)) + "10, \n",
        "data row 10",
    ),
    (
        "over-long text",
        TEXT,
        "qa_f1",
        "id,answer\n" + _rows("x", range(1, 10)) + f"10,{SECRET * 800}\n",
        "data row 10",
    ),
]


@pytest.mark.parametrize(
    ("solution_csv", "metric", "content", "says"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_the_safe_message_names_positions_and_rules_never_content(
    tmp_path: Path, solution_csv: str, metric: str | None, content: str, says: str
) -> None:
    (tmp_path / "solution.csv").write_text(solution_csv)
    target = solution_csv.split(",")[1]
    found_metric = get_metric(metric) if metric else None
    solution = read_solution(
        tmp_path / "solution.csv", id_column="id", target_columns=[target], metric=found_metric
    )
    (tmp_path / "predictions.csv").write_text(content)

    with pytest.raises(InvalidPredictions) as caught:
        read_predictions(
            tmp_path / "predictions.csv",
            solution=solution,
            id_column="id",
            target_columns=[target],
            metric=found_metric,
        )

    safe = caught.value.safe
    assert says in safe
    assert SECRET not in safe and SECRET.lower() not in safe.lower()
    for written in ("7.25", "0.625"):
        assert written not in safe  # values the run wrote are not echoed either


def test_the_detailed_message_still_quotes_for_debug_runs_and_organizers(tmp_path: Path) -> None:
    (tmp_path / "solution.csv").write_text(NUMBERS)
    solution = read_solution(tmp_path / "solution.csv", id_column="id", target_columns=["label"])
    (tmp_path / "predictions.csv").write_text(f"id,label,{SECRET}\n" + _rows("1,1"))
    with pytest.raises(InvalidPredictions) as caught:
        read_predictions(
            tmp_path / "predictions.csv",
            solution=solution,
            id_column="id",
            target_columns=["label"],
        )
    assert SECRET in caught.value.message
    assert SECRET not in caught.value.safe
