"""Reading the organizer's solution and checking a participant's predictions file.

Every way a participant can get ``predictions.csv`` wrong ends in one
:class:`InvalidPredictions` whose message says what is wrong, shows the first few
offending ids and says what to do, because that message is all they get back from a
run in a sandbox they cannot watch. Organizer mistakes in ``solution.csv`` raise
``ValueError`` instead: those are ours to fix, not the participant's.

Each error carries two messages. ``message`` quotes the file (header names, ids,
values) and is for debug runs, which see only a public sample, and for organizers.
``safe`` quotes nothing the run wrote: it names positions and rules ("column 3 of the
header is not expected", "data row 17: a value is not a number"), so a scored run,
which reads the hidden test inputs, cannot carry them out through its own error
message. Only the first offending position is named.

The read path is one ``pd.read_csv`` with explicit dtypes followed by vectorised checks,
so validating a file costs about what parsing it costs. Ids are compared as text: "007"
and "7" are different ids, and "NA" is an id, not a missing value. A valid file has its
ids read as fixed-width UTF-8 bytes and matched to the solution's on 64-bit words, byte
for byte (no Python string per row, which is most of what ``read_csv`` costs); any file
short of a perfect match is re-read with its ids as strings, so every message is built
from the ids as written.

Pass the competition's metric (``metric=get_metric(...)``) to both readers: it decides
what a column must hold. ``"text"`` and ``"ranking"`` columns stay strings on both sides
(a gold answer "1905" is text, not a number) and may be empty in the predictions; a
metric with a ``value_range`` (log_loss: probabilities in [0, 1]; rmsle: >= 0) has it
enforced with the offending ids named; a ``"label"`` metric over integer classes refuses
fractional predictions ("predict a class, not a probability"). Without a metric the
checks are those that hold for every metric.

Cases refused, each with its own message: too large, empty, blank lines only, a header
without rows, binary data (NUL bytes), gzip/zip archives (an .xlsx too), UTF-16, JSON or
HTML instead of CSV, non-UTF-8 bytes (line named), ';'/tab/'|' as delimiter, no header
line, the id column missing (with a case hint), target columns missing, extra columns
(the index), repeated columns, unreadable CSV (too many fields, an unclosed quote),
empty/duplicated/unknown/missing ids, ids differing only by leading zeros, non-numeric
values, missing/NaN values, short rows, infinities, values out of the metric's range,
fractional class labels, empty labels, over-long values. Accepted: a UTF-8 BOM, CRLF line
ends, quoted fields, spaces around values, rows in any order, trailing blank lines.

A file larger than its rows can be (:func:`predictions_max_bytes`: one row per solution id,
each as wide as a valid row can be) is refused before it is parsed, and the parser reads
at most twice the expected rows (and 100), so a huge file of repeated ids costs the scoring
worker about what a valid file does.

Safe messages name no position beyond what the participant knows: data rows up to the
expected rows + 1 (file lines + 2), header columns up to the expected columns + 1;
anything further is "after the last expected row/column" (_row_said, _line_said,
_column_said), so a run cannot smuggle a number out as the position of an error.
"""

from __future__ import annotations

import codecs
import mmap
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import is_integer_dtype, is_numeric_dtype

from podium.units import format_size
from scoring.metrics import Metric
from scoring.split import USAGE_COLUMN, USAGE_VALUES, canonical_usage

__all__ = ["InvalidPredictions", "predictions_max_bytes", "read_predictions", "read_solution"]

SAMPLE = "sample_submission.csv"
SHOW = 5  # how many offending ids a message names
SNIFF_BYTES = 1 << 16  # the head of the file inspected for binary formats
MAX_FIELD_CHARS = 10_000  # the longest text value accepted in a predictions cell
FREE_TEXT = ("text", "ranking")  # prediction kinds kept as strings, empty allowed

# Spellings of "no value" in a numeric column; reported as missing rather than non-numeric.
_MISSING = frozenset(["", "nan", "na", "n/a", "null", "none", "-nan", "#n/a"])
_MISSING_NA_VALUES = sorted(_MISSING | {s.upper() for s in _MISSING} | {"NaN", "-NaN"})


# The widest sensible cell of a numeric or class-label column, in bytes: a float64 written
# in full is 24 characters ("-2.2250738585072014e-308"); the rest is room for quotes,
# spaces and long class names. Fixed, not taken from the hidden labels, so the size bound
# (shown to scored runs) tells nothing about them.
_CELL_BYTES = 256
# A UTF-8 character is at most 4 bytes, and a quote inside a quoted field is written twice.
_TEXT_CELL_BYTES_PER_CHAR = 4
# Below this, a file is read whatever its rows (the bound matters for large files only).
MIN_PREDICTIONS_BYTES = 1 << 20


GENERIC_SAFE = "predictions.csv is not a valid predictions file. A debug run shows the full reason."


class InvalidPredictions(Exception):
    """Raise when a predictions file cannot be scored.

    ``message`` may quote the file (debug runs, organizers); ``safe`` names only
    positions and rules, never text the run wrote (scored runs on hidden data).
    """

    def __init__(self, message: str, safe: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.safe = safe if safe is not None else GENERIC_SAFE

    def __str__(self) -> str:
        return self.message


def _first(values: Iterable[object], limit: int = SHOW) -> str:
    """Join the first few values for a message."""
    out = []
    for i, value in enumerate(values):
        if i == limit:
            break
        out.append(str(value))
    return ", ".join(out)


def _check_fits(
    values: np.ndarray,
    dtype: np.dtype,
    index: pd.Index,
    name: str,
    column: str,
    order: np.ndarray,
) -> None:
    """Refuse whole numbers the solution's integer column cannot hold (1e300 as a class):
    cast, they would wrap around to another number instead of being read as written.

    Raises InvalidPredictions (the detail with ids; the safe message with the file's row).
    """
    info = np.iinfo(dtype)
    outside = (values < info.min) | (values > info.max)
    if outside.any():
        raise InvalidPredictions(
            f"{name} has {int(outside.sum())} value(s) in column {column!r} outside the "
            f"classes' range {info.min}..{info.max} (first ids: {_first(index[outside])}). "
            "Predict one of the classes.",
            f"{name}, {_row_said(_first_row(outside, order), len(order))}: the value in "
            f"column {column!r} is too large to be a class. Predict one of the classes.",
        )


def _row_said(row: int, n_rows: int) -> str:
    """A 1-based data row for a safe message, bounded by what the participant knows.

    Rows up to ``n_rows + 1`` (the expected data rows and one more) are named; anything
    further is "a data row after the last expected one": a scored run must not be able to
    choose a number of its own (hidden data written as the position of an error).
    """
    if row <= n_rows + 1:
        return f"data row {row}"
    return f"a data row after the last expected one (data row {n_rows})"


def _line_said(line: int, n_rows: int) -> str:
    """A 1-based line of the file (header = line 1) for a safe message, bounded as in
    :func:`_row_said`: lines up to ``n_rows + 2`` are named, later ones are not."""
    if line <= n_rows + 2:
        return f"line {line}"
    return f"a line after the last expected row (line {n_rows + 1})"


def _column_said(column: int, n_columns: int) -> str:
    """A 1-based header column for a safe message, bounded by ``n_columns + 1``."""
    if column <= n_columns + 1:
        return f"column {column}"
    return f"a column after the last expected one (column {n_columns})"


def _not_utf8(name: str, path: Path, n_rows: int) -> InvalidPredictions:
    line = _first_bad_utf8_line(path)
    advice = "Save it as UTF-8, e.g. with pandas' DataFrame.to_csv(path, index=False)."
    return InvalidPredictions(
        f"{name} is not UTF-8 text (first invalid byte on line {line}). " + advice,
        f"{name} is not UTF-8 text (first invalid byte on {_line_said(line, n_rows)}). " + advice,
    )


def _first_row(mask: np.ndarray, rows: np.ndarray | None = None) -> int:
    """The 1-based data row of the file holding the first offending value.

    ``mask`` is in file order, or in the solution's order when ``rows`` maps each
    solution position to its row in the file (0-based).
    """
    if rows is None:
        return int(np.flatnonzero(mask)[0]) + 1
    return int(rows[mask].min()) + 1


def _first_bad_utf8_line(path: Path) -> int:
    """Return the 1-based line holding the first invalid UTF-8 byte (error path only)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return line + chunk.count(b"\n", 0, max(exc.start, 0))
            line += chunk.count(b"\n")
    return line


def _shown_header(columns: list[str], limit: int = 200) -> str:
    """Show a header in a message, shortened when someone wrote everything on one line."""
    found = ",".join(columns)
    if len(found) <= limit:
        return found
    return f"{found[:limit]}... ({len(columns)} columns)"


# --------------------------------------------------------------------------- solution


def read_solution(  # noqa: C901 - one check after another, each with its own message to the organizer
    path: Path,
    *,
    id_column: str,
    target_columns: list[str],
    metric: Metric | None = None,
) -> pd.DataFrame:
    """Read the hidden solution, indexed by id (str), with the targets and optional Usage.

    A target column is numeric (int64 when every value is integral, else float64) when
    every value parses as a number, and a stripped string label otherwise, so that the
    predictions can be coerced to the same kind. With a ``"text"`` or ``"ranking"``
    metric every target stays a string, unstripped ("007" and " 1905" kept as written).
    Columns other than the id, the targets and Usage (matched case-insensitively) are
    dropped.
    """
    free_text = metric is not None and metric.prediction in FREE_TEXT
    path = Path(path)
    try:
        raw = pd.read_csv(
            path, dtype=str, keep_default_na=False, encoding="utf-8-sig", skipinitialspace=False
        )
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"The solution file {path.name} cannot be read as CSV: {exc}") from exc
    raw.columns = [str(c).strip() for c in raw.columns]
    usage_names = [c for c in raw.columns if c.lower() == USAGE_COLUMN.lower()]
    missing = [c for c in [id_column, *target_columns] if c not in raw.columns]
    if missing:
        raise ValueError(
            f"The solution file {path.name} lacks the column(s) {', '.join(missing)}; "
            f"it has {', '.join(raw.columns)}."
        )
    if len(raw) == 0:
        raise ValueError(f"The solution file {path.name} has no rows.")

    ids = raw[id_column].str.strip()
    if (ids == "").any():
        rows = np.flatnonzero((ids == "").to_numpy()) + 1
        raise ValueError(f"The solution has rows with an empty id (rows {_first(rows)}).")
    dup = ids.duplicated(keep="first")
    if dup.any():
        raise ValueError(
            f"The solution repeats {int(dup.sum())} id(s) (first: {_first(ids[dup].unique())})."
        )

    solution = pd.DataFrame(index=pd.Index(ids.to_numpy(), name=id_column, dtype=object))
    for column in target_columns:
        if free_text:
            solution[column] = raw[column].to_numpy(dtype=object)
            continue
        values = raw[column].str.strip()
        empty = (values == "").to_numpy()
        if empty.any():
            raise ValueError(
                f"The solution column {column!r} has {int(empty.sum())} empty value(s) "
                f"(first ids: {_first(solution.index[empty])})."
            )
        numbers = pd.to_numeric(values, errors="coerce")
        if not numbers.isna().any():
            array = numbers.to_numpy(dtype=np.float64)
            if not np.isfinite(array).all():
                raise ValueError(f"The solution column {column!r} holds infinite values.")
            if (array == np.round(array)).all() and np.abs(array).max() < 2**53:
                solution[column] = array.astype(np.int64)
            else:
                solution[column] = array
        else:
            solution[column] = values.to_numpy(dtype=object)
    if usage_names:
        usage = raw[usage_names[0]]
        usage.index = solution.index
        # Categorical: three values over a million rows, and scoring factorises it for free.
        solution[USAGE_COLUMN] = pd.Categorical(
            canonical_usage(usage).to_numpy(), categories=list(USAGE_VALUES)
        )
    return solution


# --------------------------------------------------------------------------- predictions


_MAGIC = [
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook is one)"),
    (b"\xd0\xcf\x11\xe0", "an old Excel .xls workbook"),
    (b"PAR1", "a Parquet file"),
    (b"\x93NUMPY", "a NumPy .npy file"),
    (b"\x80", "a Python pickle"),
]


def _sniff(path: Path, name: str, expected: str) -> None:
    """Refuse files that are not CSV text at all, saying what they look like instead."""
    try:
        _sniff_format(path, name, expected)
    except InvalidPredictions as exc:
        raise InvalidPredictions(
            exc.message,
            f"{name} is not plain comma-separated UTF-8 text (it holds binary data, an "
            "archive, UTF-16, JSON or HTML). Write plain comma-separated UTF-8 text with the "
            f"header {expected}, e.g. with DataFrame.to_csv(path, index=False).",
        ) from None


def _sniff_format(path: Path, name: str, expected: str) -> None:
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    advice = f"Write plain comma-separated UTF-8 text with the header {expected}"
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise InvalidPredictions(
                f"{name} is {what}, not a CSV file. {advice}, e.g. with "
                "DataFrame.to_csv(path, index=False)."
            )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InvalidPredictions(
            f"{name} is UTF-16 text (it starts with a UTF-16 byte order mark). {advice}: "
            "save it as UTF-8."
        )
    nul = head.find(b"\x00")
    if nul >= 0:
        line = head.count(b"\n", 0, nul) + 1
        raise InvalidPredictions(
            f"{name} contains binary data (a NUL byte at offset {nul}, line {line}). {advice}."
        )
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] in (b"{", b"["):
        raise InvalidPredictions(f"{name} looks like JSON, not CSV. {advice}.")
    if text[:1] == b"<":
        raise InvalidPredictions(f"{name} looks like HTML or XML, not CSV. {advice}.")


def _read_header(path: Path, name: str, expected: str, n_rows: int) -> list[str]:
    """Read only the header row, so column problems are reported before any parsing."""
    try:
        header = pd.read_csv(
            path, header=None, nrows=1, dtype=str, keep_default_na=False, encoding="utf-8-sig"
        )
    except pd.errors.EmptyDataError:
        message = (
            f"{name} is empty. Write the header {expected} and one row for every id in {SAMPLE}."
        )
        raise InvalidPredictions(message, message) from None
    except UnicodeDecodeError:
        raise _not_utf8(name, path, n_rows) from None
    except pd.errors.ParserError as exc:
        advice = f"Write a comma-separated file with the header {expected}."
        raise InvalidPredictions(
            f"{name} cannot be read as CSV: {exc}. " + advice,
            f"{name} cannot be read as CSV (its header line). " + advice,
        ) from None
    return [str(c).strip() for c in header.iloc[0].tolist()]


def _check_header(columns: list[str], name: str, id_column: str, targets: list[str]) -> None:
    expected_list = [id_column, *targets]
    expected = ",".join(expected_list)
    n_expected = len(expected_list)
    found = _shown_header(columns)
    if len(columns) == 1:
        for delimiter, label in ((";", "';' (semicolon)"), ("\t", "a tab"), ("|", "'|'")):
            if delimiter in columns[0]:
                advice = (
                    f"Separate values with commas: {expected}. In pandas, "
                    "DataFrame.to_csv(path, index=False) does; a spreadsheet set to a "
                    "language with decimal commas may not."
                )
                raise InvalidPredictions(
                    f"{name} uses {label} as its delimiter (its header is {found!r}). " + advice,
                    f"{name} uses {label} as its delimiter. " + advice,
                )
    positions = {c: i + 1 for i, c in reversed(list(enumerate(columns)))}
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        again = next(i + 1 for i, c in enumerate(columns) if positions[c] != i + 1)
        raise InvalidPredictions(
            f"{name} repeats the column(s) {', '.join(map(repr, repeated))} in its header "
            f"({found}). Expected header: {expected}",
            f"{name} repeats a column in its header ({_column_said(again, n_expected)} "
            f"repeats {_column_said(positions[columns[again - 1]], n_expected)}). "
            f"Expected header: {expected}",
        )
    no_header_hint = ""
    if all(_looks_numeric(c) for c in columns):
        no_header_hint = " The first line looks like data: the file needs a header line."
    lowered = {c.lower(): c for c in columns}
    case_hints = [
        f"{lowered[c.lower()]!r} to {c!r}"
        for c in expected_list
        if c not in columns and c.lower() in lowered
    ]
    case_hint = (
        f" Column names are case-sensitive: rename {', '.join(case_hints)}." if case_hints else ""
    )
    safe_case_hint = " Column names are case-sensitive." if case_hints else ""
    if id_column not in columns:
        raise InvalidPredictions(
            f"{name} has no {id_column!r} column (its header is {found}). "
            f"Expected header: {expected}.{case_hint}{no_header_hint}",
            f"{name} has no {id_column!r} column. "
            f"Expected header: {expected}.{safe_case_hint}{no_header_hint}",
        )
    missing = [c for c in targets if c not in columns]
    if missing:
        raise InvalidPredictions(
            f"{name} is missing the column(s) {', '.join(map(repr, missing))} "
            f"(its header is {found}). Expected header: {expected}.{case_hint}{no_header_hint}",
            f"{name} is missing the column(s) {', '.join(map(repr, missing))}. "
            f"Expected header: {expected}.{safe_case_hint}{no_header_hint}",
        )
    extra = [c for c in columns if c not in expected_list]
    if extra:
        advice = (
            f"Expected header: {expected}. Remove the other columns (and the index: "
            "DataFrame.to_csv(path, index=False))."
        )
        raise InvalidPredictions(
            f"{name} has unexpected column(s) {_first(map(repr, extra))}"
            f"{'...' if len(extra) > SHOW else ''}. " + advice,
            f"{_column_said(positions[extra[0]], n_expected).capitalize()} of the header of "
            f"{name} is not expected. " + advice,
        )


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_body(
    path: Path,
    name: str,
    id_column: str,
    numeric: list[str],
    labels: list[str],
    expected: str,
    n_rows: int,
    id_dtype: object = str,
) -> pd.DataFrame:
    """Parse the rows with explicit dtypes: numbers straight to float64 on the fast path.

    The C parser refuses some spellings (" 2 ", "-Infinity", "abc") with a message that
    names neither the row nor the id; only then re-read those columns as strings so the
    offending rows can be named. Valid files never pay for the second read.

    ``id_dtype`` may be a fixed-width bytes dtype (see :class:`_SolutionKeys`): the ids
    then come back as raw bytes without a Python object per row. The second read, which
    names offending rows, always reads the ids as strings.
    """
    str_dtypes = {id_column: str, **dict.fromkeys(labels, str)}

    def read(dtypes: dict[str, object], na_values: dict[str, list[str]]) -> pd.DataFrame:
        try:
            return pd.read_csv(
                path,
                dtype=dtypes,
                keep_default_na=False,
                na_values=na_values,
                encoding="utf-8-sig",
                skipinitialspace=False,
                # Rows past the expected ones prove the file wrong (an id repeated or
                # unknown): the parser stops after a bounded number of them instead of
                # reading the rest (enough to name and count the usual mistakes).
                nrows=_rows_read(n_rows),
            )
        except pd.errors.ParserError as exc:
            advice = (
                f"Write a comma-separated file with the header {expected} and quote values "
                "that contain commas."
            )
            raise InvalidPredictions(
                f"{name} cannot be read as CSV: {exc}. " + advice,
                f"{name} cannot be read as CSV (a row with too many fields or an unclosed "
                "quote). " + advice,
            ) from None
        except UnicodeDecodeError:
            raise _not_utf8(name, path, n_rows) from None

    try:
        return read(
            {**str_dtypes, id_column: id_dtype, **dict.fromkeys(numeric, np.float64)},
            dict.fromkeys(numeric, _MISSING_NA_VALUES),
        )
    except ValueError:
        # Parser and decoding errors became InvalidPredictions inside read(); what is left
        # is a value the float parser refused.
        if not numeric and id_dtype is str:
            raise
    frame = read({**str_dtypes, **dict.fromkeys(numeric, str)}, {})
    for column in numeric:
        text = frame[column].str.strip()
        missing = text.str.lower().isin(_MISSING)
        numbers = pd.to_numeric(text.where(~missing), errors="coerce")
        bad = (numbers.isna() & ~missing).to_numpy()
        if bad.any():
            ids = frame[id_column].str.strip()[bad]
            shown = ", ".join(
                f"id {i}: {v!r}" for i, v in zip(ids.head(SHOW), text[bad].head(SHOW), strict=True)
            )
            advice = "Write a number in every row, such as 0.25 or 3."
            raise InvalidPredictions(
                f"{name} has {int(bad.sum())} non-numeric value(s) in column {column!r} "
                f"(first: {shown}). " + advice,
                f"{name}, {_row_said(_first_row(bad), n_rows)}: the value in column "
                f"{column!r} is not a number. " + advice,
            )
        frame[column] = numbers.to_numpy(dtype=np.float64)
    return frame


MAX_KEY_BYTES = 128  # longer solution ids are matched as strings only (bounds the memory)

_MIX1 = np.uint64(0x9E3779B97F4A7C15)
_MIX2 = np.uint64(0xBF58476D1CE4E5B9)
_MIX3 = np.uint64(0x94D049BB133111EB)


def _hash_words(words: np.ndarray) -> np.ndarray:
    """Mix each row of 64-bit words into one 64-bit hash (vectorised, wrapping)."""
    h = words[:, 0] * _MIX1
    for j in range(1, words.shape[1]):
        h ^= words[:, j]
        h *= _MIX1
    h ^= h >> np.uint64(30)
    h *= _MIX2
    h ^= h >> np.uint64(27)
    h *= _MIX3
    h ^= h >> np.uint64(31)
    return h


class _SolutionKeys:
    """The solution's ids as fixed-width UTF-8 bytes, for matching without Python strings.

    Every id is encoded and NUL-padded to ``width`` bytes, one more than the longest id
    (rounded up to whole 64-bit words), so a longer prediction id, which the parser cuts
    to ``width`` bytes, can never equal a solution id. Two ids are equal as text exactly
    when their padded bytes are equal, provided neither holds a NUL byte: the solution's
    are checked here, a predictions file holding one never takes this path. With
    ``width`` 8 the padded bytes themselves are the key; wider ids are looked up by a
    64-bit hash of their words and every match is then compared word by word.
    """

    def __init__(self, words: np.ndarray, width: int) -> None:
        self.words = words  # (n, width // 8) uint64
        self.width = width
        self.dtype = np.dtype(f"S{width}")
        keys = words[:, 0] if words.shape[1] == 1 else _hash_words(words)
        self.exact = words.shape[1] == 1
        self.lookup = pd.Index(keys, dtype=np.uint64)
        self.usable = self.lookup.is_unique  # a hash collision: match as strings

    @classmethod
    def build(cls, index: pd.Index) -> _SolutionKeys | None:
        values = index.to_numpy(dtype=object)
        if len(values) == 0 or not index.is_unique:
            return None
        try:
            encoded = [v.encode("utf-8") for v in values]
        except (AttributeError, UnicodeEncodeError):  # not all str, or lone surrogates
            return None
        longest = max(map(len, encoded))
        if longest >= MAX_KEY_BYTES or b"\x00" in b"".join(encoded):
            return None
        width = (longest // 8 + 1) * 8
        packed = np.array(encoded, dtype=f"S{width}")
        return cls(packed.view(np.uint64).reshape(len(packed), width // 8), width)

    def order(self, ids: np.ndarray) -> np.ndarray | None:
        """Return, for each solution id, the row holding it, or None unless every id of
        the solution appears exactly once and no other id appears (then the caller
        matches the ids as strings and names what is wrong)."""
        n = len(self.words)
        if len(ids) != n or ids.dtype != self.dtype:
            return None
        words = np.ascontiguousarray(ids).view(np.uint64).reshape(n, self.width // 8)
        if np.array_equal(words, self.words):  # in the sample submission's order
            return np.arange(n, dtype=np.intp)
        keys = words[:, 0] if self.exact else _hash_words(words)
        position = self.lookup.get_indexer(keys)
        if (position < 0).any():
            return None
        # np.take, not words[position]: fancy indexing of a 2-d array is ten times slower.
        if not self.exact and not np.array_equal(np.take(self.words, position, axis=0), words):
            return None
        hit = np.zeros(n, dtype=bool)
        hit[position] = True
        if not hit.all():  # n ids all found, some twice: duplicates
            return None
        order = np.empty(n, dtype=np.intp)
        order[position] = np.arange(n)
        return order


KEPT_SOLUTIONS = 2  # how many solutions' keys a worker keeps
_KEYS: list[tuple[pd.Index, _SolutionKeys | None]] = []  # most recently used first


def _solution_keys(index: pd.Index) -> _SolutionKeys | None:
    """The solution's byte keys, built once per solution and kept for the next files.

    A worker reads the solution afresh for each submission: an index equal to a kept
    one (one sequential comparison, ~10 ms for a million ids) reuses its keys, so only
    the first file scored against a solution pays for building them (~0.2 s).
    """
    kept = list(_KEYS)  # a snapshot: threads replace the list, never edit it in place
    found = next((i for i, (cached, _) in enumerate(kept) if cached is index), None)
    if found is None:
        found = next(
            (
                i
                for i, (cached, _) in enumerate(kept)
                if len(cached) == len(index)
                and cached.dtype == index.dtype
                and cached.equals(index)
            ),
            None,
        )
    if found is not None:
        keys = kept.pop(found)[1]
    else:
        keys = _SolutionKeys.build(index)
        if keys is not None and not keys.usable:
            keys = None
    _KEYS[:] = [(index, keys), *kept[: KEPT_SOLUTIONS - 1]]
    return keys


def _has_nul(path: Path) -> bool:
    """Whether the file holds a NUL byte anywhere (one memchr over the mapped file)."""
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        return mm.find(b"\x00") >= 0


_HASHED: list[tuple[pd.Index, pd.Index]] = []  # (solution ids, their 64-bit hashes)


def _positions(ids: np.ndarray, solution_ids: pd.Index) -> np.ndarray:
    """Locate each id in the solution's index (-1 where absent), fast for large files.

    Files written from the sample submission keep its order: one sequential comparison
    settles them. Otherwise ids are matched by 64-bit hashes in an integer hash table
    (much cheaper than a table of Python strings, whose lookups miss the cache), the
    solution's hashes computed once and kept for the next submission; every match is
    then checked against the real id, and any hash collision falls back to the plain
    lookup, so a collision can cost time but never a wrong match.
    """
    values = solution_ids.to_numpy()
    if (
        len(ids) == len(values)
        and len(ids)
        and ids[0] == values[0]
        and ids[-1] == values[-1]
        and np.array_equal(ids, values)
    ):
        return np.arange(len(ids), dtype=np.intp)
    if len(ids) < 10_000 or not solution_ids.is_unique:
        return solution_ids.get_indexer(ids)
    hashed = next((h for index, h in _HASHED if index is solution_ids), None)
    if hashed is None:
        hashed = pd.Index(pd.util.hash_array(solution_ids.to_numpy(), categorize=False))
        _HASHED[:] = [(solution_ids, hashed)]
    if not hashed.is_unique:
        return solution_ids.get_indexer(ids)
    position = hashed.get_indexer(pd.util.hash_array(ids, categorize=False))
    found = position >= 0
    if not (solution_ids.to_numpy()[position[found]] == ids[found]).all():
        return solution_ids.get_indexer(ids)
    return position


def _match_ids(raw: pd.Series, solution_ids: pd.Index, name: str, id_column: str) -> np.ndarray:
    """Return, for each solution id, the row of the predictions holding it, or raise.

    One hash lookup of every prediction id in the solution's index (whose hash table is
    cached on the solution, shared across submissions) decides everything on the valid
    path: unknown ids miss, duplicated ids hit the same position twice, missing ids are
    never hit. Whitespace is stripped only from ids that miss, so clean files never pay
    for a Python-level string pass; messages for the error cases are built only then.
    """
    ids = raw.to_numpy(dtype=object, na_value="")
    n_test = len(solution_ids)
    position = _positions(ids, solution_ids)
    unknown = position < 0
    if unknown.any():
        ids = ids.copy()
        ids[unknown] = pd.Series(ids[unknown], dtype=object).str.strip().to_numpy()
        position[unknown] = solution_ids.get_indexer(ids[unknown])
        unknown = position < 0

    empty = unknown & (ids == "")
    if empty.any():
        rows = np.flatnonzero(empty) + 1
        raise InvalidPredictions(
            f"{name} has {int(empty.sum())} row(s) with an empty {id_column!r} (data rows "
            f"{_first(rows)}). Write the id of every row, as in {SAMPLE}.",
            f"{name}, {_row_said(int(rows[0]), n_test)}: the {id_column!r} is empty. Write the "
            f"id of every row, as in {SAMPLE}.",
        )

    hits = np.bincount(position[~unknown], minlength=n_test)
    if (hits > 1).any() or (unknown.any() and pd.Index(ids[unknown]).has_duplicates):
        index = pd.Index(ids)
        again = index.duplicated(keep="first")
        dup_ids = index[again].unique()
        raise InvalidPredictions(
            f"{name} has {len(dup_ids)} duplicated id(s) (first: {_first(dup_ids)}). "
            "Write exactly one row per id.",
            f"{name}, {_row_said(_first_row(again), n_test)}: the id repeats an earlier row's. "
            "Write exactly one row per id.",
        )

    missing = hits == 0
    if missing.any():
        safe = (
            f"{name} does not have one row for every one of the {n_test} test ids. Write one "
            f"row for every id in {SAMPLE}."
        )
        if unknown.any():
            safe += (
                f" {_row_said(_first_row(unknown), n_test).capitalize()} holds an id that is "
                "not a test id; ids are compared as text, so '007' is not '7'."
            )
        message = (
            f"{name} is missing {int(missing.sum())} of the {n_test} test ids "
            f"(first: {_first(solution_ids[missing])}). Write one row for every id in "
            f"{SAMPLE}."
        )
        if unknown.any():
            message += (
                f" It also has {int(unknown.sum())} id(s) that are not test ids "
                f"(first: {_first(ids[unknown])}); ids are compared as text, so '007' "
                "is not '7'."
            )
        raise InvalidPredictions(message, safe)
    if unknown.any():
        raise InvalidPredictions(
            f"{name} has {int(unknown.sum())} id(s) that are not test ids "
            f"(first: {_first(ids[unknown])}). Use only the ids in {SAMPLE}.",
            f"{name}, {_row_said(_first_row(unknown), n_test)}: the id is not a test id. Use "
            f"only the ids in {SAMPLE}.",
        )

    order = np.empty(n_test, dtype=np.intp)
    order[position] = np.arange(len(ids))
    return order


def _rows_read(n_rows: int) -> int:
    """The most data rows parsed of a predictions file expected to hold ``n_rows``."""
    return 2 * n_rows + 100


def _refuse_extra_rows(raw: pd.Series, solution_ids: pd.Index, name: str, id_column: str) -> None:
    """Refuse a file of more rows than test ids, of which only the first were read.

    Such a file repeats an id or holds an unknown one within the rows read, and the first
    offending row of the file is among them: the messages of :func:`_match_ids` apply, said
    to be about the rows read (the safe message names that first row, as for any file).
    """
    n_test = len(solution_ids)
    read = f" Only its first {len(raw)} data rows were read: it has more rows than the "
    read += f"{n_test} test ids."
    try:
        _match_ids(raw, solution_ids, name, id_column)
    except InvalidPredictions as exc:
        raise InvalidPredictions(exc.message + read, exc.safe) from None
    raise InvalidPredictions(  # unreachable: n + 1 rows cannot hold n ids once each
        f"{name} has more rows than the {n_test} test ids. Write exactly one row per id.",
        f"{name} has more rows than the {n_test} test ids. Write exactly one row per id.",
    )


def predictions_max_bytes(
    *,
    solution: pd.DataFrame,
    id_column: str,
    target_columns: list[str],
    metric: Metric | None = None,
    max_field_chars: int = MAX_FIELD_CHARS,
) -> int:
    """Return the most bytes a valid predictions file for ``solution`` can take.

    The bound is the header plus one row per solution id, each row as wide as a valid row
    can be: the id as long as the longest solution id (ids are public: the sample
    submission lists them), a free-text cell (``"text"``/``"ranking"`` metrics) of
    ``max_field_chars`` characters at 4 bytes each, any other cell of 256 bytes, with
    quotes, separators and CRLF; never below 1 MiB. A larger file cannot be valid, so it
    is refused before it is parsed: a 250 MB file of repeated ids must not cost the
    scoring worker gigabytes of memory outside any sandbox limit.
    """
    free_text = metric is not None and metric.prediction in FREE_TEXT
    ids = solution.index.astype(str)
    id_bytes = max((len(i.encode("utf-8")) for i in ids), default=0)
    cell = _TEXT_CELL_BYTES_PER_CHAR * max_field_chars if free_text else _CELL_BYTES
    row = 2 * id_bytes + 2 + len(target_columns) * (cell + 3) + 2
    header = _TEXT_CELL_BYTES_PER_CHAR * (len(id_column) + sum(map(len, target_columns))) + 64
    return max(MIN_PREDICTIONS_BYTES, header + len(solution) * row + 1024)


def read_predictions(  # noqa: C901 - one check after another, each with its own message to the team
    path: Path,
    *,
    solution: pd.DataFrame,
    id_column: str,
    target_columns: list[str],
    max_bytes: int = 1 << 30,
    metric: Metric | None = None,
    max_field_chars: int = MAX_FIELD_CHARS,
) -> pd.DataFrame:
    """Validate a predictions file and return it indexed by id, in the solution's order.

    The result holds exactly ``target_columns``. A numeric solution column demands
    numbers ("3" and "3.0" both fine): the predictions become float64, or the solution's
    integer dtype when every prediction is integral, so probabilities are never
    truncated and labels "3.0" still equal 3. A label column demands a non-empty string.
    Every id of the solution (Ignored rows included, as on Kaggle) must appear once.
    ``metric`` adds the checks its prediction format needs (see the module docstring).
    A missing file raises FileNotFoundError: that is "no predictions", not invalid ones.
    """
    path = Path(path)
    name = path.name
    expected = ",".join([id_column, *target_columns])
    n_test = len(solution)

    size = path.stat().st_size
    rows_bound = predictions_max_bytes(
        solution=solution,
        id_column=id_column,
        target_columns=target_columns,
        metric=metric,
        max_field_chars=max_field_chars,
    )
    if size > min(max_bytes, rows_bound):
        advice = (
            f"Write only the columns {expected}, one row for each of the {n_test} ids in {SAMPLE}."
        )
        if rows_bound < max_bytes:
            limit = (
                f"the most that {n_test} rows of predictions can take ({format_size(rows_bound)})"
            )
        else:
            limit = f"the limit of {format_size(max_bytes)}"
        raise InvalidPredictions(
            f"{name} is {format_size(size)}, over {limit}. " + advice,
            f"{name} is over {limit}. " + advice,
        )
    if size == 0:
        message = (
            f"{name} is empty. Write the header {expected} and one row for every id in {SAMPLE}."
        )
        raise InvalidPredictions(message, message)

    _sniff(path, name, expected)
    columns = _read_header(path, name, expected, n_test)
    _check_header(columns, name, id_column, target_columns)

    kind = metric.prediction if metric is not None else None
    free_text = kind in FREE_TEXT
    numeric = [c for c in target_columns if not free_text and is_numeric_dtype(solution[c].dtype)]
    labels = [c for c in target_columns if c not in numeric]
    # Ids read as raw bytes when the solution allows it: no Python string per row, and a
    # match on 64-bit words. Anything short of a perfect match (an unknown, duplicated,
    # missing or space-padded id) re-reads the ids as strings, to be named.
    keys = _solution_keys(solution.index)
    if keys is not None and _has_nul(path):
        keys = None
    order = None
    if keys is not None:
        frame = _read_body(path, name, id_column, numeric, labels, expected, n_test, keys.dtype)
        ids = frame[id_column].to_numpy()
        order = keys.order(ids) if ids.dtype == keys.dtype else None
        if order is None and not isinstance(frame[id_column].dtype, pd.StringDtype):
            frame = _read_body(path, name, id_column, numeric, labels, expected, n_test)
    else:
        frame = _read_body(path, name, id_column, numeric, labels, expected, n_test)
    if len(frame) == 0:
        message = (
            f"{name} has a header but no rows. Write one row for every one of the {n_test} "
            f"ids in {SAMPLE}."
        )
        raise InvalidPredictions(message, message)

    if len(frame) >= _rows_read(n_test):
        _refuse_extra_rows(frame[id_column], solution.index, name, id_column)
    if order is None:
        order = _match_ids(frame[id_column], solution.index, name, id_column)
    result = frame[target_columns].take(order)
    result.index = solution.index  # shared, not copied: indexes are immutable

    for column in numeric:
        values = result[column].to_numpy(dtype=np.float64)
        nan = np.isnan(values)
        if nan.any():
            raise InvalidPredictions(
                f"{name} has {int(nan.sum())} missing or NaN value(s) in column {column!r} "
                f"(first ids: {_first(result.index[nan])}). Write a number in every row.",
                f"{name}, {_row_said(_first_row(nan, order), len(order))}: the value in column "
                f"{column!r} is missing or NaN. Write a number in every row.",
            )
        inf = np.isinf(values)
        if inf.any():
            raise InvalidPredictions(
                f"{name} has {int(inf.sum())} infinite value(s) in column {column!r} "
                f"(first ids: {_first(result.index[inf])}). Write finite numbers.",
                f"{name}, {_row_said(_first_row(inf, order), len(order))}: the value in column "
                f"{column!r} is infinite. Write finite numbers.",
            )
        if metric is not None and metric.value_range is not None:
            _check_range(values, metric, result.index, name, column, order)
        integral = values == np.round(values)
        if is_integer_dtype(solution[column].dtype) and integral.all():
            _check_fits(values, solution[column].dtype, result.index, name, column, order)
            result[column] = values.astype(solution[column].dtype)
        elif metric is not None and kind == "label" and is_integer_dtype(solution[column].dtype):
            bad = ~integral
            shown = ", ".join(
                f"id {i}: {v:g}"
                for i, v in zip(result.index[bad][:SHOW], values[bad][:SHOW], strict=True)
            )
            advice = (
                f"The metric {metric.name} compares classes: predict a class such as 0 or 1, "
                "not a probability."
            )
            raise InvalidPredictions(
                f"{name} has {int(bad.sum())} value(s) in column {column!r} that are not "
                f"whole-number class labels (first: {shown}). " + advice,
                f"{name}, {_row_said(_first_row(bad, order), len(order))}: the value in column "
                f"{column!r} is not a whole-number class label. " + advice,
            )
        else:
            result[column] = values
    for column in labels:
        text = result[column].fillna("")
        if not free_text:
            text = text.str.strip()
            empty = (text == "").to_numpy()
            if empty.any():
                raise InvalidPredictions(
                    f"{name} has {int(empty.sum())} empty value(s) in column {column!r} "
                    f"(first ids: {_first(result.index[empty])}). Write a label in every row.",
                    f"{name}, {_row_said(_first_row(empty, order), len(order))}: the value "
                    f"in column {column!r} is empty. Write a label in every row.",
                )
        long = (text.str.len() > max_field_chars).to_numpy()
        if long.any():
            advice = "Shorten them; check that each row ends with a line break."
            raise InvalidPredictions(
                f"{name} has {int(long.sum())} value(s) longer than {max_field_chars:,} "
                f"characters in column {column!r} (first ids: {_first(result.index[long])}). "
                + advice,
                f"{name}, {_row_said(_first_row(long, order), len(order))}: the value in column "
                f"{column!r} is longer than {max_field_chars:,} characters. " + advice,
            )
        result[column] = text.to_numpy(dtype=object)
    return result


def _check_range(
    values: np.ndarray,
    metric: Metric,
    index: pd.Index,
    name: str,
    column: str,
    rows: np.ndarray,
) -> None:
    """Refuse values outside the metric's range, naming the ids and the values."""
    assert metric.value_range is not None
    low, high = metric.value_range
    bad = (values < low) | (values > high)
    if not bad.any():
        return
    shown = ", ".join(
        f"id {i}: {v:g}" for i, v in zip(index[bad][:SHOW], values[bad][:SHOW], strict=True)
    )
    wanted = f"at least {low:g}" if high == np.inf else f"between {low:g} and {high:g}"
    what = "probabilities" if (low, high) == (0.0, 1.0) else "values"
    raise InvalidPredictions(
        f"{name} has {int(bad.sum())} value(s) in column {column!r} outside the range the "
        f"metric {metric.name} accepts (first: {shown}). Write {what} {wanted}.",
        f"{name}, {_row_said(_first_row(bad, rows), len(rows))}: the value in column "
        f"{column!r} is outside the range the metric {metric.name} accepts. Write {what} {wanted}.",
    )
