"""Safe messages carry no number the run chose (security report: a scored run wrote
5,151,614 blank lines, a number made of 4 hidden pixels, then a \\xff byte, and its team
read "first invalid byte on line 5151616": 23 bits of hidden data in one message).

Every position in a safe message is at most the expected data rows + 1 (lines: + 2, the
header being line 1) or the expected columns + 1; anything further is said as "after the
last expected row/column". Each case feeds a hostile file that puts the error at a huge
position; the detailed message (debug runs, organizers) keeps the exact number.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scoring.validation import InvalidPredictions, read_predictions, read_solution

N_TEST = 10
HIDDEN = 5151614  # the tester's number: what a run would smuggle out
# A number a run chooses that fits in a file under the size bound (1 MiB for 10 rows).
CHOSEN = 1_000_003
SOLUTION = "id,label,Usage\n" + "".join(f"{i},{i % 2},Public\n" for i in range(1, N_TEST + 1))
VALID_ROWS = "".join(f"{i},1\n" for i in range(1, N_TEST + 1))
# Numbers the advice itself holds ("0.25 or 3", "'007' is not '7'", the header "id,label").
ADVICE_NUMBERS = {25, 3, 7, 0}


def _hostile_cases() -> list[tuple[str, bytes, str]]:
    many = 2000  # columns beyond the expected ones; enough to be far out of bounds
    # Rows are read up to 2 x 10 + 100 (scoring.validation._rows_read): errors further
    # down are never reached, so the hostile rows below sit within that, past row 11.
    return [
        (
            "not UTF-8 after v blank lines",
            b"id,label\n" + b"\n" * CHOSEN + b"\xff\n",
            "first invalid byte on a line after the last expected row",
        ),
        (
            "not UTF-8 after the tester's blank lines, over the size bound",
            b"id,label\n" + b"\n" * HIDDEN + b"\xff\n",
            "is over the most that 10 rows of predictions can take",
        ),
        (
            "a column repeated far to the right",
            (",".join(f"c{i}" for i in range(many)) + ",c0,id,label\n").encode() + b"1,1\n",
            "repeats a column in its header (a column after the last expected one",
        ),
        (
            "a non-number far down",
            ("id,label\n" + VALID_ROWS * 5 + "11,x\n").encode(),
            "a data row after the last expected one (data row 10): the value in column "
            "'label' is not a number",
        ),
        (
            "an empty id far down",
            ("id,label\n" + VALID_ROWS * 5 + ",1\n").encode(),
            "a data row after the last expected one (data row 10): the 'id' is empty",
        ),
        (
            "a duplicated id far down",
            (
                "id,label\n" + "".join(f"x{i},1\n" for i in range(100)) + "x0,1\n" + VALID_ROWS
            ).encode(),
            "a data row after the last expected one (data row 10): the id repeats",
        ),
    ]


CASES = _hostile_cases()


@pytest.mark.parametrize(("content", "says"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_hostile_position_is_not_told_in_the_safe_message(
    tmp_path: Path, content: bytes, says: str
) -> None:
    (tmp_path / "solution.csv").write_text(SOLUTION)
    solution = read_solution(tmp_path / "solution.csv", id_column="id", target_columns=["label"])
    (tmp_path / "predictions.csv").write_bytes(content)

    with pytest.raises(InvalidPredictions) as caught:
        read_predictions(
            tmp_path / "predictions.csv",
            solution=solution,
            id_column="id",
            target_columns=["label"],
        )

    safe = caught.value.safe
    assert says in safe, safe
    numbers = {int(n) for n in re.findall(r"\d+", safe.replace("predictions.csv", ""))}
    assert all(n <= N_TEST + 2 or n in ADVICE_NUMBERS for n in numbers), (numbers, safe)


def test_the_exact_line_is_kept_in_the_detailed_message(tmp_path: Path) -> None:
    (tmp_path / "solution.csv").write_text(SOLUTION)
    solution = read_solution(tmp_path / "solution.csv", id_column="id", target_columns=["label"])
    (tmp_path / "predictions.csv").write_bytes(b"id,label\n" + b"\n" * CHOSEN + b"\xff\n")
    with pytest.raises(InvalidPredictions) as caught:
        read_predictions(
            tmp_path / "predictions.csv",
            solution=solution,
            id_column="id",
            target_columns=["label"],
        )
    assert f"line {CHOSEN + 2}" in caught.value.message
    assert str(CHOSEN + 2) not in caught.value.safe


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"id,label\n1,1\n\xff,1\n", "first invalid byte on line 3"),
        (b"id,label,extra\n" + VALID_ROWS.replace("\n", ",0\n").encode(), "Column 3 of the"),
        (("id,label\n" + VALID_ROWS[:-4] + "10,x\n").encode(), "data row 10: the value"),
    ],
)
def test_positions_within_bounds_are_still_named(tmp_path: Path, content: bytes, says: str) -> None:
    (tmp_path / "solution.csv").write_text(SOLUTION)
    solution = read_solution(tmp_path / "solution.csv", id_column="id", target_columns=["label"])
    (tmp_path / "predictions.csv").write_bytes(content)
    with pytest.raises(InvalidPredictions) as caught:
        read_predictions(
            tmp_path / "predictions.csv",
            solution=solution,
            id_column="id",
            target_columns=["label"],
        )
    assert says in caught.value.safe, caught.value.safe
