"""Reading the solution and validating predictions files, message by message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scoring import validation
from scoring.metrics import get_metric
from scoring.validation import InvalidPredictions, read_predictions, read_solution

SOLUTION_CSV = "id,label,Usage\n" + "".join(
    f"{i},{i % 2},{'Public' if i < 4 else 'Private'}\n" for i in range(1, 11)
)


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return path


@pytest.fixture
def solution(tmp_path: Path) -> pd.DataFrame:
    path = _write(tmp_path, "solution.csv", SOLUTION_CSV)
    return read_solution(path, id_column="id", target_columns=["label"])


@pytest.fixture
def label_solution(tmp_path: Path) -> pd.DataFrame:
    path = _write(tmp_path, "solution.csv", "id,species\na,cat\nb,dog\nc,cat\n")
    return read_solution(path, id_column="id", target_columns=["species"])


def _predictions(tmp_path: Path, content: str | bytes, solution: pd.DataFrame, **kwargs):
    path = _write(tmp_path, "predictions.csv", content)
    target = [c for c in solution.columns if c != "Usage"]
    return read_predictions(
        path, solution=solution, id_column="id", target_columns=target, **kwargs
    )


def _invalid(tmp_path: Path, content: str | bytes, solution: pd.DataFrame, **kwargs) -> str:
    with pytest.raises(InvalidPredictions) as info:
        _predictions(tmp_path, content, solution, **kwargs)
    assert str(info.value) == info.value.message
    return info.value.message


def _rows(ids, value="0.5") -> str:
    return "".join(f"{i},{value}\n" for i in ids)


# --------------------------------------------------------------------------- solution


def test_solution_is_indexed_by_string_ids_with_numeric_targets_and_canonical_usage(solution):
    assert solution.index.name == "id"
    assert solution.index.tolist() == [str(i) for i in range(1, 11)]
    assert solution["label"].dtype == np.int64
    assert solution["Usage"].tolist() == ["Public"] * 3 + ["Private"] * 7
    assert isinstance(solution["Usage"].dtype, pd.CategoricalDtype)


def test_solution_keeps_leading_zeros_and_text_labels(tmp_path):
    path = _write(tmp_path, "solution.csv", "id,label,usage\n007,cat,public\nNA,dog,IGNORED\n")
    solution = read_solution(path, id_column="id", target_columns=["label"])
    assert solution.index.tolist() == ["007", "NA"]
    assert solution["label"].tolist() == ["cat", "dog"]
    assert solution["Usage"].tolist() == ["Public", "Ignored"]


def test_solution_without_a_target_column_is_an_organizer_value_error(tmp_path):
    path = _write(tmp_path, "solution.csv", "id,target\n1,0\n")
    with pytest.raises(ValueError, match="lacks the column\\(s\\) label; it has id, target"):
        read_solution(path, id_column="id", target_columns=["label"])


def test_solution_with_repeated_ids_is_an_organizer_value_error(tmp_path):
    path = _write(tmp_path, "solution.csv", "id,label\n1,0\n1,1\n2,0\n")
    with pytest.raises(ValueError, match="repeats 1 id\\(s\\) \\(first: 1\\)"):
        read_solution(path, id_column="id", target_columns=["label"])


def test_solution_with_an_invalid_usage_value_is_an_organizer_value_error(tmp_path):
    path = _write(tmp_path, "solution.csv", "id,label,Usage\n1,0,Public\n2,1,Hidden\n")
    with pytest.raises(ValueError, match="other than Public/Private/Ignored"):
        read_solution(path, id_column="id", target_columns=["label"])


# --------------------------------------------------------------------------- valid files


def test_valid_predictions_come_back_in_solution_order_with_only_the_targets(tmp_path, solution):
    ids = list(range(10, 0, -1))
    content = "id,label\n" + "".join(f"{i},{i / 100}\n" for i in ids)
    result = _predictions(tmp_path, content, solution)
    assert result.index.tolist() == solution.index.tolist()
    assert result.columns.tolist() == ["label"]
    assert result["label"].dtype == np.float64
    assert result.loc["3", "label"] == pytest.approx(0.03)


def test_integral_predictions_for_an_integer_solution_take_its_dtype(tmp_path, solution):
    content = "id,label\n" + "".join(f"{i},{'3.0' if i % 2 else '3'}\n" for i in range(1, 11))
    result = _predictions(tmp_path, content, solution)
    assert result["label"].dtype == np.int64
    assert (result["label"] == 3).all()


def test_bom_crlf_and_surrounding_whitespace_are_accepted(tmp_path, solution):
    rows = "".join(f" {i} , {i % 2} \r\n" for i in range(1, 11))
    content = "\ufeffid,label\r\n".encode() + rows.encode()
    result = _predictions(tmp_path, content, solution)
    assert result["label"].tolist() == [i % 2 for i in range(1, 11)]


def test_label_predictions_are_stripped_strings(tmp_path, label_solution):
    result = _predictions(tmp_path, "id,species\nc, dog\na,cat\nb,dog \n", label_solution)
    assert result["species"].tolist() == ["cat", "dog", "dog"]


def test_nan_and_inf_spelled_unusually_are_still_parsed_then_reported(tmp_path, solution):
    # " 2 " and "-Infinity" take the slow path; the message must still name the id.
    content = "id,label\n" + _rows(range(1, 10), " 2 ") + "10,-Infinity\n"
    message = _invalid(tmp_path, content, solution)
    assert message == (
        "predictions.csv has 1 infinite value(s) in column 'label' (first ids: 10). "
        "Write finite numbers."
    )


# --------------------------------------------------------------------------- malformed files


def test_a_file_over_the_size_limit_is_rejected_with_the_limit(tmp_path, solution):
    message = _invalid(tmp_path, "id,label\n" + _rows(range(1, 11)), solution, max_bytes=20)
    assert message.startswith("predictions.csv is ")
    assert "over the limit of 20 B" in message
    assert "one row for each of the 10 ids in sample_submission.csv" in message


def test_an_empty_file_is_rejected_with_the_expected_header(tmp_path, solution):
    message = _invalid(tmp_path, "", solution)
    assert message == (
        "predictions.csv is empty. Write the header id,label and one row for every id in "
        "sample_submission.csv."
    )


def test_a_blank_lines_only_file_is_rejected_as_empty(tmp_path, solution):
    assert "is empty" in _invalid(tmp_path, "\n\n\n", solution)


def test_a_non_utf8_file_is_rejected_with_the_line_of_the_first_bad_byte(tmp_path, solution):
    content = b"id,label\n1,0\n2,\xe9t\xe9\n"
    message = _invalid(tmp_path, content, solution)
    assert "predictions.csv is not UTF-8 text (first invalid byte on line 3)" in message
    assert "Save it as UTF-8" in message


def test_a_header_only_file_is_rejected_with_the_row_count_expected(tmp_path, solution):
    message = _invalid(tmp_path, "id,label\n", solution)
    assert message == (
        "predictions.csv has a header but no rows. Write one row for every one of the 10 ids "
        "in sample_submission.csv."
    )


def test_a_missing_id_column_is_rejected_with_the_expected_header(tmp_path, solution):
    message = _invalid(tmp_path, "ID,label\n" + _rows(range(1, 11)), solution)
    assert "has no 'id' column (its header is ID,label)" in message
    assert "Expected header: id,label." in message


def test_a_file_without_a_header_line_gets_a_hint(tmp_path, solution):
    message = _invalid(tmp_path, _rows(range(1, 11)), solution)
    assert "has no 'id' column" in message
    assert "The first line looks like data: the file needs a header line." in message


def test_missing_target_columns_are_named_with_the_expected_header(tmp_path):
    path = _write(tmp_path, "solution.csv", "id,x,y\n1,0.5,1.5\n")
    two = read_solution(path, id_column="id", target_columns=["x", "y"])
    message = _invalid(tmp_path, "id,x\n1,0.5\n", two)
    assert message == (
        "predictions.csv is missing the column(s) 'y' (its header is id,x). "
        "Expected header: id,x,y."
    )


def test_extra_columns_are_rejected_with_the_expected_header(tmp_path, solution):
    content = ",id,label\n" + "".join(f"{i},{i + 1},0.5\n" for i in range(10))
    message = _invalid(tmp_path, content, solution)
    assert "has unexpected column(s) ''" in message
    assert "Expected header: id,label. Remove the other columns" in message
    assert "index=False" in message


def test_a_repeated_column_is_rejected(tmp_path, solution):
    message = _invalid(tmp_path, "id,label,label\n1,0,1\n", solution)
    assert "repeats the column(s) 'label' in its header (id,label,label)" in message


def test_duplicated_ids_are_rejected_with_the_first_few_named(tmp_path, solution):
    content = "id,label\n" + _rows([1, 2, 3, 3, 7, 7, 1, 2, 4, 4])
    message = _invalid(tmp_path, content, solution)
    assert message == (
        "predictions.csv has 5 duplicated id(s) (first: 3, 7, 1, 2, 4). "
        "Write exactly one row per id."
    )


def test_rows_past_twice_the_expected_ones_are_not_read(tmp_path, solution):
    """Parsing stops after 2 x 10 + 100 rows: the unclosed quote after them is never
    reached, and the message says which rows it is about."""
    content = "id,label\n" + _rows(range(1, 11)) + _rows([3] * 5000) + '"unclosed,\n'
    message = _invalid(tmp_path, content, solution)
    assert message == (
        "predictions.csv has 1 duplicated id(s) (first: 3). Write exactly one row per id. "
        "Only its first 120 data rows were read: it has more rows than the 10 test ids."
    )


def test_missing_ids_are_counted_and_the_first_few_named(tmp_path, solution):
    content = "id,label\n" + _rows([1, 3, 5, 6, 7])
    message = _invalid(tmp_path, content, solution)
    assert message == (
        "predictions.csv is missing 5 of the 10 test ids (first: 2, 4, 8, 9, 10). "
        "Write one row for every id in sample_submission.csv."
    )


def test_unknown_ids_are_counted_and_the_first_few_named(tmp_path, solution):
    content = "id,label\n" + _rows(range(1, 11)) + _rows([11, 12])
    message = _invalid(tmp_path, content, solution)
    assert message == (
        "predictions.csv has 2 id(s) that are not test ids (first: 11, 12). "
        "Use only the ids in sample_submission.csv."
    )


def test_ids_are_compared_as_text_so_leading_zeros_do_not_merge(tmp_path, solution):
    content = "id,label\n" + _rows(range(1, 10)) + "010,0.5\n"
    message = _invalid(tmp_path, content, solution)
    assert "is missing 1 of the 10 test ids (first: 10)" in message
    assert "It also has 1 id(s) that are not test ids (first: 010)" in message


def test_empty_ids_are_rejected_with_their_row_numbers(tmp_path, solution):
    content = "id,label\n" + _rows(range(1, 11)) + ",0.5\n"
    message = _invalid(tmp_path, content, solution)
    assert "has 1 row(s) with an empty 'id' (data rows 11)" in message


def test_non_numeric_values_are_rejected_naming_ids_and_values(tmp_path, solution):
    content = "id,label\n" + _rows(range(1, 8)) + "8,yes\n9,0.5\n10,1,5\n"
    message = _invalid(tmp_path, content.replace("10,1,5", "10,'1'"), solution)
    assert message == (
        "predictions.csv has 2 non-numeric value(s) in column 'label' "
        "(first: id 8: 'yes', id 10: \"'1'\"). Write a number in every row, such as 0.25 or 3."
    )


@pytest.mark.parametrize("spelling", ["", "nan", "NaN", "NA", "null"])
def test_missing_or_nan_numbers_are_rejected_naming_the_ids(tmp_path, solution, spelling):
    content = "id,label\n" + _rows(range(1, 9)) + f"9,{spelling}\n10,{spelling}\n"
    message = _invalid(tmp_path, content, solution)
    assert message == (
        "predictions.csv has 2 missing or NaN value(s) in column 'label' (first ids: 9, 10). "
        "Write a number in every row."
    )


def test_infinite_numbers_are_rejected_naming_the_ids(tmp_path, solution):
    content = "id,label\n" + _rows(range(2, 11)) + "1,inf\n"
    message = _invalid(tmp_path, content, solution)
    assert "has 1 infinite value(s) in column 'label' (first ids: 1)" in message


def test_short_rows_are_reported_as_missing_values(tmp_path, solution):
    content = "id,label\n" + _rows(range(1, 10)) + "10\n"
    message = _invalid(tmp_path, content, solution)
    assert "1 missing or NaN value(s) in column 'label' (first ids: 10)" in message


def test_rows_with_too_many_fields_are_rejected_as_unreadable_csv(tmp_path, solution):
    content = "id,label\n" + _rows(range(1, 10)) + "10,0,5\n"
    message = _invalid(tmp_path, content, solution)
    assert message.startswith("predictions.csv cannot be read as CSV:")
    assert "Expected 2 fields in line 11, saw 3" in message
    assert "quote values that contain commas" in message


def test_empty_labels_are_rejected_where_labels_are_required(tmp_path, label_solution):
    message = _invalid(tmp_path, "id,species\na,cat\nb,\nc,  \n", label_solution)
    assert message == (
        "predictions.csv has 2 empty value(s) in column 'species' (first ids: b, c). "
        "Write a label in every row."
    )


def test_a_million_row_file_validates(tmp_path):
    n = 1_000_000
    ids = np.arange(n).astype(str)
    solution = pd.DataFrame(
        {"label": np.arange(n) % 2}, index=pd.Index(ids, dtype=object, name="id")
    )
    frame = pd.DataFrame({"id": ids[::-1], "label": np.linspace(0, 1, n)})
    path = tmp_path / "predictions.csv"
    frame.to_csv(path, index=False)
    result = read_predictions(path, solution=solution, id_column="id", target_columns=["label"])
    assert len(result) == n
    assert result.index[0] == "0"
    assert result["label"].iloc[0] == pytest.approx(1.0)


# --------------------------------------------------------------------------- format sniffing


@pytest.mark.parametrize(
    ("head", "what"),
    [
        (b"\x1f\x8b\x08\x00rest", "is a gzip-compressed file, not a CSV file"),
        (b"PK\x03\x04rest", "is a ZIP archive (an Excel .xlsx workbook is one), not a CSV file"),
        (b"\xd0\xcf\x11\xe0rest", "is an old Excel .xls workbook, not a CSV file"),
        (b"PAR1rest", "is a Parquet file, not a CSV file"),
    ],
)
def test_archives_and_binary_formats_are_named_for_what_they_are(tmp_path, solution, head, what):
    message = _invalid(tmp_path, head, solution)
    assert message.startswith(f"predictions.csv {what}.")
    assert "Write plain comma-separated UTF-8 text with the header id,label" in message


def test_utf16_text_is_rejected_asking_for_utf8(tmp_path, solution):
    content = ("id,label\n" + _rows(range(1, 11))).encode("utf-16")
    message = _invalid(tmp_path, content, solution)
    assert message.startswith("predictions.csv is UTF-16 text")
    assert "save it as UTF-8" in message


def test_nul_bytes_are_reported_as_binary_data_with_their_line(tmp_path, solution):
    content = b"id,label\n1,0.5\n2,0\x00\x00\n"
    message = _invalid(tmp_path, content, solution)
    assert message.startswith(
        "predictions.csv contains binary data (a NUL byte at offset 18, line 3)."
    )


def test_json_instead_of_csv_is_named(tmp_path, solution):
    message = _invalid(tmp_path, '[{"id": 1, "label": 0.5}]', solution)
    assert message.startswith("predictions.csv looks like JSON, not CSV.")


def test_html_instead_of_csv_is_named(tmp_path, solution):
    message = _invalid(tmp_path, "<html><body>error</body></html>", solution)
    assert message.startswith("predictions.csv looks like HTML or XML, not CSV.")


@pytest.mark.parametrize(
    ("delimiter", "label"), [(";", "';' (semicolon)"), ("\t", "a tab"), ("|", "'|'")]
)
def test_a_wrong_delimiter_is_detected_and_named(tmp_path, solution, delimiter, label):
    content = f"id{delimiter}label\n" + "".join(f"{i}{delimiter}0,5\n" for i in range(1, 11))
    message = _invalid(tmp_path, content, solution)
    assert message.startswith(f"predictions.csv uses {label} as its delimiter")
    assert "Separate values with commas: id,label." in message


def test_a_header_in_the_wrong_case_gets_a_rename_hint(tmp_path, solution):
    message = _invalid(tmp_path, "ID,Label\n" + _rows(range(1, 11)), solution)
    assert "has no 'id' column (its header is ID,Label)" in message
    assert "Column names are case-sensitive: rename 'ID' to 'id', 'Label' to 'label'." in message


def test_everything_on_one_line_is_shortened_in_the_message(tmp_path, solution):
    content = "id,label," + ",".join(f"{i},{i}.5" for i in range(1, 5000)) + "\n"
    message = _invalid(tmp_path, content, solution)
    assert "has unexpected column(s) '1', '1.5', '2', '2.5', '3'..." in message
    assert len(message) < 400
    repeated = _invalid(tmp_path, "id,label," + "0.5," * 5000 + "\n", solution)
    assert "(5003 columns)). Expected header: id,label" in repeated
    assert len(repeated) < 400


def test_an_unclosed_quote_is_an_unreadable_csv(tmp_path, solution):
    content = "id,label\n" + _rows(range(1, 10)) + '10,"0.5\n'
    message = _invalid(tmp_path, content, solution)
    assert message.startswith("predictions.csv cannot be read as CSV:")
    assert "EOF inside string" in message


def test_quoted_fields_and_quoted_header_are_accepted(tmp_path, solution):
    content = '"id","label"\n' + "".join(f'"{i}","0.{i % 10}"\n' for i in range(1, 11))
    result = _predictions(tmp_path, content, solution)
    assert result.loc["3", "label"] == pytest.approx(0.3)


def test_crlf_line_ends_and_trailing_blank_lines_are_accepted(tmp_path, solution):
    content = "id,label\r\n" + _rows(range(1, 11)).replace("\n", "\r\n") + "\r\n\r\n"
    assert len(_predictions(tmp_path, content, solution)) == 10


def test_a_utf8_bom_before_the_header_is_accepted(tmp_path, solution):
    content = b"\xef\xbb\xbf" + ("id,label\n" + _rows(range(1, 11))).encode()
    assert _predictions(tmp_path, content, solution).index.tolist()[0] == "1"


# --------------------------------------------------------------------------- metric-aware checks


def test_probabilities_out_of_range_are_named_when_the_metric_needs_probabilities(
    tmp_path, solution
):
    content = "id,label\n" + _rows(range(1, 8)) + "8,1.5\n9,-0.25\n10,0.5\n"
    message = _invalid(tmp_path, content, solution, metric=get_metric("log_loss"))
    assert message == (
        "predictions.csv has 2 value(s) in column 'label' outside the range the metric "
        "log_loss accepts (first: id 8: 1.5, id 9: -0.25). Write probabilities between 0 and 1."
    )


def test_scores_outside_zero_one_are_fine_for_roc_auc(tmp_path, solution):
    content = "id,label\n" + "".join(f"{i},{i * 10 - 40}\n" for i in range(1, 11))
    result = _predictions(tmp_path, content, solution, metric=get_metric("roc_auc"))
    assert result["label"].min() == -30


def test_negative_predictions_are_refused_for_rmsle(tmp_path, solution):
    content = "id,label\n" + _rows(range(1, 10), "2.5") + "10,-1\n"
    message = _invalid(tmp_path, content, solution, metric=get_metric("rmsle"))
    assert "1 value(s) in column 'label' outside the range the metric rmsle accepts" in message
    assert "(first: id 10: -1). Write values at least 0." in message


def test_fractional_predictions_are_refused_where_the_metric_compares_classes(tmp_path, solution):
    content = "id,label\n" + _rows(range(1, 9), "1") + "9,0.7\n10,0.2\n"
    message = _invalid(tmp_path, content, solution, metric=get_metric("accuracy"))
    assert message == (
        "predictions.csv has 2 value(s) in column 'label' that are not whole-number class "
        "labels (first: id 9: 0.7, id 10: 0.2). The metric accuracy compares classes: "
        "predict a class such as 0 or 1, not a probability."
    )


def test_over_long_label_values_are_refused_naming_the_ids(tmp_path, label_solution):
    content = f"id,species\na,cat\nb,{'x' * 20_000}\nc,dog\n"
    message = _invalid(tmp_path, content, label_solution)
    assert message == (
        "predictions.csv has 1 value(s) longer than 10,000 characters in column 'species' "
        "(first ids: b). Shorten them; check that each row ends with a line break."
    )


@pytest.fixture
def qa_solution(tmp_path: Path) -> pd.DataFrame:
    path = _write(tmp_path, "solution.csv", 'id,answer\nq1,1905\nq2,"Paris|paris, France"\nq3,[]\n')
    return read_solution(
        path, id_column="id", target_columns=["answer"], metric=get_metric("qa_f1")
    )


def test_text_metrics_keep_numeric_looking_answers_as_text(qa_solution):
    assert qa_solution["answer"].tolist() == ["1905", "Paris|paris, France", "[]"]


def test_text_predictions_may_be_empty_and_stay_unstripped(tmp_path, qa_solution):
    result = _predictions(
        tmp_path,
        'id,answer\nq1,"in 1905 "\nq2,Paris\nq3,\n',
        qa_solution,
        metric=get_metric("qa_f1"),
    )
    assert result["answer"].tolist() == ["in 1905 ", "Paris", ""]


def test_ranking_predictions_are_read_as_text_even_when_the_gold_is_numeric(tmp_path):
    path = _write(tmp_path, "solution.csv", "id,items\n1,3\n2,7\n")
    metric = get_metric("map_at_k", {"k": 3})
    sol = read_solution(path, id_column="id", target_columns=["items"], metric=metric)
    result = _predictions(tmp_path, "id,items\n1,3 4 5\n2,\n", sol, metric=metric)
    assert result["items"].tolist() == ["3 4 5", ""]


def _large_case(tmp_path: Path, n: int = 20_000):
    ids = np.array([f"r{i}" for i in range(n)], dtype=object)
    solution = pd.DataFrame({"y": np.arange(n) % 3}, index=pd.Index(ids, dtype=object, name="id"))
    order = np.random.default_rng(0).permutation(n)
    return solution, ids[order], order


def test_large_shuffled_files_match_ids_by_hash_and_still_name_unknown_ones(tmp_path):
    solution, ids, order = _large_case(tmp_path)
    ids = ids.copy()
    ids[7] = "stranger"
    frame = pd.DataFrame({"id": ids, "y": order % 3})
    path = tmp_path / "predictions.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(InvalidPredictions) as info:
        read_predictions(path, solution=solution, id_column="id", target_columns=["y"])
    assert f"is missing 1 of the 20000 test ids (first: r{order[7]})" in info.value.message
    assert "(first: stranger)" in info.value.message
    frame.loc[7, "id"] = f"r{order[7]}"
    frame.to_csv(path, index=False)
    result = read_predictions(path, solution=solution, id_column="id", target_columns=["y"])
    assert (result["y"].to_numpy() == solution["y"].to_numpy()).all()


def test_hash_collisions_fall_back_to_exact_matching(tmp_path, monkeypatch):
    solution, ids, order = _large_case(tmp_path)
    path = tmp_path / "predictions.csv"
    pd.DataFrame({"id": ids, "y": order % 3}).to_csv(path, index=False)
    # Every id hashing alike is the worst collision there is.
    monkeypatch.setattr(pd.util, "hash_array", lambda values, **kw: np.zeros(len(values), "u8"))
    result = read_predictions(path, solution=solution, id_column="id", target_columns=["y"])
    assert (result["y"].to_numpy() == solution["y"].to_numpy()).all()


# --------------------------------------------------------------------------- ids as bytes
# Large valid files have their ids read as fixed-width bytes and matched on 64-bit words:
# the padded bytes themselves when every solution id fits in 7 bytes, else a hash of the
# words checked word by word. Anything else falls back to matching strings.

PREFIXES = {"exact keys": "r", "hashed keys": "participant-row-"}


def _bytes_case(n: int = 20_000, prefix: str = "r"):
    ids = np.array([f"{prefix}{i}" for i in range(n)], dtype=object)
    solution = pd.DataFrame({"y": np.arange(n) % 3}, index=pd.Index(ids, dtype=object, name="id"))
    order = np.random.default_rng(1).permutation(n)
    return solution, ids[order].copy(), order


def _no_string_matching(monkeypatch) -> None:
    def fail(*args, **kwargs):
        raise AssertionError("the ids were matched as strings")

    monkeypatch.setattr(validation, "_match_ids", fail)


def _read_y(path: Path, solution: pd.DataFrame) -> pd.DataFrame:
    return read_predictions(path, solution=solution, id_column="id", target_columns=["y"])


def _invalid_y(path: Path, solution: pd.DataFrame) -> str:
    with pytest.raises(InvalidPredictions) as info:
        _read_y(path, solution)
    return info.value.message


@pytest.mark.parametrize("prefix", PREFIXES.values(), ids=PREFIXES.keys())
def test_valid_shuffled_files_are_matched_as_bytes(tmp_path, monkeypatch, prefix):
    solution, ids, order = _bytes_case(prefix=prefix)
    path = tmp_path / "predictions.csv"
    pd.DataFrame({"id": ids, "y": order % 3}).to_csv(path, index=False)
    _no_string_matching(monkeypatch)
    result = _read_y(path, solution)
    assert result.index is solution.index
    assert (result["y"].to_numpy() == solution["y"].to_numpy()).all()
    assert result["y"].dtype == np.int64


def test_bom_crlf_and_quoted_ids_are_matched_as_bytes(tmp_path, monkeypatch):
    solution, ids, order = _bytes_case(prefix=PREFIXES["hashed keys"])
    body = "".join(f'"{i}",{y}\r\n' for i, y in zip(ids, order % 3, strict=True))
    path = _write(tmp_path, "predictions.csv", '\ufeff"id",y\r\n' + body)
    _no_string_matching(monkeypatch)
    result = _read_y(path, solution)
    assert (result["y"].to_numpy() == solution["y"].to_numpy()).all()


def test_files_in_solution_order_are_matched_as_bytes(tmp_path, monkeypatch):
    solution, _, _ = _bytes_case()
    path = tmp_path / "predictions.csv"
    pd.DataFrame({"id": solution.index, "y": solution["y"]}).to_csv(path, index=False)
    _no_string_matching(monkeypatch)
    assert (_read_y(path, solution)["y"].to_numpy() == solution["y"].to_numpy()).all()


def test_non_ascii_ids_are_matched_as_utf8_bytes(tmp_path, monkeypatch):
    solution, ids, order = _bytes_case(prefix="é-ü-")
    path = tmp_path / "predictions.csv"
    pd.DataFrame({"id": ids, "y": order % 3}).to_csv(path, index=False)
    _no_string_matching(monkeypatch)
    assert (_read_y(path, solution)["y"].to_numpy() == solution["y"].to_numpy()).all()


@pytest.mark.parametrize("prefix", PREFIXES.values(), ids=PREFIXES.keys())
def test_leading_zeros_still_differ_when_ids_are_bytes(tmp_path, prefix):
    solution, ids, order = _bytes_case(prefix=prefix)
    row = int(np.flatnonzero(ids == f"{prefix}123")[0])
    ids[row] = f"{prefix}0123"
    path = tmp_path / "predictions.csv"
    pd.DataFrame({"id": ids, "y": order % 3}).to_csv(path, index=False)
    message = _invalid_y(path, solution)
    assert f"is missing 1 of the 20000 test ids (first: {prefix}123)" in message
    assert f"It also has 1 id(s) that are not test ids (first: {prefix}0123)" in message


@pytest.mark.parametrize(
    "prefix",
    [*PREFIXES.values(), "abc", "participan-"],
    ids=[*PREFIXES.keys(), "longest id 8 bytes", "longest id 16 bytes"],
)
def test_over_long_ids_starting_like_a_test_id_are_named_in_full(tmp_path, prefix):
    # The byte read cuts ids at the key width: a cut id must never pass for a test id,
    # also when the longest test id ("abc19999", "participan-19999") fills whole words.
    solution, ids, order = _bytes_case(prefix=prefix)
    row = int(np.flatnonzero(ids == f"{prefix}19999")[0])
    ids[row] = f"{prefix}19999" + "x" * 40
    path = tmp_path / "predictions.csv"
    pd.DataFrame({"id": ids, "y": order % 3}).to_csv(path, index=False)
    message = _invalid_y(path, solution)
    assert f"is missing 1 of the 20000 test ids (first: {prefix}19999)" in message
    assert f"(first: {prefix}19999{'x' * 40}); ids are compared as text" in message


def test_space_padded_ids_are_still_accepted_on_large_files(tmp_path):
    solution, ids, order = _bytes_case()
    ids[3] = f"  {ids[3]} "
    path = tmp_path / "predictions.csv"
    pd.DataFrame({"id": ids, "y": order % 3}).to_csv(path, index=False)
    assert (_read_y(path, solution)["y"].to_numpy() == solution["y"].to_numpy()).all()


@pytest.mark.parametrize("prefix", PREFIXES.values(), ids=PREFIXES.keys())
def test_duplicated_ids_are_named_when_ids_are_bytes(tmp_path, prefix):
    solution, ids, order = _bytes_case(prefix=prefix)
    ids[-1] = ids[0]
    path = tmp_path / "predictions.csv"
    pd.DataFrame({"id": ids, "y": order % 3}).to_csv(path, index=False)
    message = _invalid_y(path, solution)
    assert message == (
        f"predictions.csv has 1 duplicated id(s) (first: {ids[0]}). Write exactly one row per id."
    )


def test_non_numeric_values_name_the_id_as_text_when_ids_are_bytes(tmp_path):
    solution, ids, order = _bytes_case()
    values = (order % 3).astype(object)
    values[5] = "maybe"
    path = tmp_path / "predictions.csv"
    pd.DataFrame({"id": ids, "y": values}).to_csv(path, index=False)
    message = _invalid_y(path, solution)
    assert f"(first: id {ids[5]}: 'maybe')" in message


@pytest.mark.parametrize("suffix", ["\x00", "\x00x"])
def test_a_nul_byte_past_the_sniffed_head_never_merges_ids(tmp_path, suffix):
    # Padded bytes cannot tell "r5\0" from "r5": a file holding a NUL is matched as text.
    solution, ids, order = _bytes_case()
    row = int(np.flatnonzero(ids == "r5")[0])
    ids[row], ids[-1] = ids[-1], "r5" + suffix
    values = order % 3
    values[row], values[-1] = values[-1], values[row]
    path = tmp_path / "predictions.csv"
    pd.DataFrame({"id": ids, "y": values}).to_csv(path, index=False)
    assert path.read_bytes().index(b"\x00") > validation.SNIFF_BYTES
    message = _invalid_y(path, solution)
    assert "is missing 1 of the 20000 test ids (first: r5)" in message
    assert "It also has 1 id(s) that are not test ids" in message


def test_byte_key_hash_collisions_fall_back_to_matching_strings(tmp_path, monkeypatch):
    solution, ids, order = _bytes_case(prefix=PREFIXES["hashed keys"])
    path = tmp_path / "predictions.csv"
    pd.DataFrame({"id": ids, "y": order % 3}).to_csv(path, index=False)
    monkeypatch.setattr(validation, "_KEYS", [])
    monkeypatch.setattr(validation, "_hash_words", lambda words: np.zeros(len(words), "u8"))
    assert (_read_y(path, solution)["y"].to_numpy() == solution["y"].to_numpy()).all()


def test_a_hash_match_is_checked_word_by_word(tmp_path, monkeypatch):
    # A hash of the last word only: "bbbbbbbb0000007" collides with "aaaaaaaa0000007".
    n = 20_000
    ids = np.array([f"aaaaaaaa{i:07d}" for i in range(n)], dtype=object)
    solution = pd.DataFrame({"y": np.arange(n) % 3}, index=pd.Index(ids, dtype=object, name="id"))
    written = ids[::-1].copy()
    written[written == "aaaaaaaa0000007"] = "bbbbbbbb0000007"
    path = tmp_path / "predictions.csv"
    pd.DataFrame({"id": written, "y": np.arange(n) % 3}).to_csv(path, index=False)
    monkeypatch.setattr(validation, "_KEYS", [])
    monkeypatch.setattr(validation, "_hash_words", lambda words: words[:, -1].copy())
    message = _invalid_y(path, solution)
    assert "is missing 1 of the 20000 test ids (first: aaaaaaaa0000007)" in message
    assert "not test ids (first: bbbbbbbb0000007)" in message


def test_solution_keys_are_built_once_per_solution(tmp_path, monkeypatch):
    solution, ids, order = _bytes_case()
    path = tmp_path / "predictions.csv"
    pd.DataFrame({"id": ids, "y": order % 3}).to_csv(path, index=False)
    monkeypatch.setattr(validation, "_KEYS", [])
    built = []
    real_build = validation._SolutionKeys.build

    def build(index):
        built.append(index)
        return real_build(index)

    monkeypatch.setattr(validation._SolutionKeys, "build", staticmethod(build))
    _read_y(path, solution)
    _read_y(path, solution)
    assert len(built) == 1
    assert built[0] is solution.index
    # The worker reads the solution again for each submission: equal ids, same keys.
    again = solution.copy(deep=True)
    again.index = pd.Index(list(solution.index), dtype=object, name="id")
    assert (_read_y(path, again)["y"].to_numpy() == solution["y"].to_numpy()).all()
    assert len(built) == 1


def test_a_different_solution_of_the_same_size_gets_its_own_keys(tmp_path, monkeypatch):
    solution, ids, order = _bytes_case()
    path = tmp_path / "predictions.csv"
    pd.DataFrame({"id": ids, "y": order % 3}).to_csv(path, index=False)
    _read_y(path, solution)
    other = solution.copy()
    other.index = pd.Index([f"s{i}" for i in range(len(solution))], dtype=object, name="id")
    message = _invalid_y(path, other)
    assert "is missing 20000 of the 20000 test ids (first: s0, s1, s2, s3, s4)" in message
    shifted = solution.copy()
    shifted.index = pd.Index(np.roll(solution.index.to_numpy(), 1), dtype=object, name="id")
    result = _read_y(path, shifted)
    assert (result["y"].to_numpy() == np.roll(solution["y"].to_numpy(), 1)).all()
    assert (_read_y(path, solution)["y"].to_numpy() == solution["y"].to_numpy()).all()


def test_ids_too_long_for_byte_keys_are_matched_as_strings(tmp_path):
    solution, ids, order = _bytes_case(prefix="x" * validation.MAX_KEY_BYTES)
    path = tmp_path / "predictions.csv"
    pd.DataFrame({"id": ids, "y": order % 3}).to_csv(path, index=False)
    assert validation._SolutionKeys.build(solution.index) is None
    assert (_read_y(path, solution)["y"].to_numpy() == solution["y"].to_numpy()).all()


@pytest.mark.parametrize("huge", ["1e300", "99999999999999999999", "-1e19"])
def test_whole_numbers_no_class_can_be_are_refused_not_wrapped_around(tmp_path, huge):
    path = _write(tmp_path, "solution.csv", "id,label\n1,0\n2,1\n3,1\n")
    solution = read_solution(path, id_column="id", target_columns=["label"])
    assert solution["label"].dtype == np.int64

    with pytest.raises(InvalidPredictions) as info:
        _predictions(tmp_path, f"id,label\n1,0\n2,{huge}\n3,1\n", solution)

    assert info.value.message == (
        "predictions.csv has 1 value(s) in column 'label' outside the classes' range "
        "-9223372036854775808..9223372036854775807 (first ids: 2). Predict one of the classes."
    )
    # The safe message (scored runs) names the file's row, never the id.
    assert info.value.safe == (
        "predictions.csv, data row 2: the value in column 'label' is too large to be a "
        "class. Predict one of the classes."
    )
