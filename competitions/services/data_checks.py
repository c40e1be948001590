"""One check of a competition's data, shared by the admin and `import_competition`.

Run before anything is stored and before a competition reaches participants, so that no
team ever spends a submission on data that cannot score it. Every refusal names the file,
the lines and the rule, in the same words whichever way the data came in.

Rules (each problem found is reported, not only the first):

- the slug is a valid slug (letters, digits, hyphens, underscores);
- the metric is in the registry and takes the given parameters;
- the solution has the id column and the target columns, no empty and no repeated id;
  its Usage column (optional) holds only Public, Private or Ignored;
- test, sample submission and solution ids agree: every solution id once in the sample
  submission and once in the test data (test CSV files that have the id column; test
  data without one, such as images, is not compared), no missing, extra or repeated id;
- the split leaves at least one row in the public and one in the private part;
- the sample submission is a valid submission (the columns, the labels and the values
  the metric takes), its labels occur in the solution, and the metric can be computed on
  the public and on the private part (ROC AUC needs both classes in each part).

Line numbers count the header as line 1.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np
import pandas as pd
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.validators import validate_slug
from django.db.models.fields.files import FieldFile

from competitions.evaluation.metric import additional_metrics_parse, metric_lookup
from competitions.models import CompetitionFile
from podium.errors import ApplicationError
from scoring.metrics import Metric, MetricError, UnknownMetric
from scoring.scorer import score_predictions
from scoring.split import (
    IGNORED,
    PRIVATE,
    PUBLIC,
    USAGE_COLUMN,
    USAGE_VALUES,
    assign_usage,
    split_hash_key,
)
from scoring.validation import InvalidPredictions, read_predictions, read_solution

if TYPE_CHECKING:
    from competitions.models import Competition

SHOW = 5  # how many ids or lines a message names


class CompetitionDataInvalid(ApplicationError):
    """The competition's data breaks one or more rules; `problems` lists each, one line
    naming the file, the lines and the rule."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems), {"problems": problems})
        self.problems = problems


@dataclass(frozen=True)
class DataFile:
    """A data file to check: its name as organizers see it and a local path."""

    name: str
    path: Path


@dataclass(frozen=True)
class DataReport:
    """What the check found: rows per part of the split, and how many rows of the stored
    solution an explicit Usage column moved to another part (0 without one)."""

    rows: int = 0
    public: int = 0
    private: int = 0
    ignored: int = 0
    moved: int = 0
    replaced_solution: bool = False


# --------------------------------------------------------------------------- the split


def solution_usage(
    solution: pd.DataFrame, *, competition: Competition, metric: Metric, previous: pd.Series | None
) -> tuple[pd.Series, int]:
    """The Usage of each row of a (new) solution, and how many stored rows it moves.

    ``solution`` is what :func:`scoring.validation.read_solution` returns; ``previous``
    the Usage of the stored solution by id, or None. A row already stored keeps its part
    unless the new file has an explicit Usage column (that is the only way to move a
    row, and the count of moved rows is returned). New rows get the usual split.
    """
    fresh = assign_usage(
        solution,
        public_fraction=competition.public_fraction,
        # The secret key (or the organizer's override seed): kept when data is replaced.
        key=split_hash_key(secret_hex=competition.split_key, seed=competition.split_seed),
        # Classification splits keep each class's share in both parts (one-hot class
        # columns included); regression and ranking splits are plain.
        stratify_column=competition.target_columns if metric.stratify else None,
    )
    fresh = fresh.astype(object)
    if previous is None or previous.empty:
        return fresh, 0
    common = fresh.index.intersection(previous.index)
    if USAGE_COLUMN in solution.columns:
        moved = int((fresh.loc[common] != previous.loc[common].astype(object)).sum())
        return fresh, moved
    fresh.loc[common] = previous.loc[common].astype(object).to_numpy()
    return fresh, 0


def stored_usage(path: Path, *, competition: Competition) -> pd.Series | None:
    """The Usage by id of a stored solution (which always has one), or None if unreadable."""
    try:
        stored = read_solution(
            path,
            id_column=competition.id_column,
            target_columns=[],
            metric=None,
        )
    except ValueError:
        return None
    if USAGE_COLUMN not in stored.columns:
        return None
    return stored[USAGE_COLUMN].astype(object)


# --------------------------------------------------------------------------- reading


def _lines(positions: Sequence[int] | np.ndarray) -> str:
    """'line 3' / 'lines 3, 7, 9 ...' for 0-based data rows (the header is line 1)."""
    shown = [str(int(p) + 2) for p in list(positions)[:SHOW]]
    more = " ..." if len(positions) > SHOW else ""
    return f"line{'s' if len(positions) > 1 else ''} {', '.join(shown)}{more}"


def _ids(values: pd.Index | Sequence[object]) -> str:
    values = list(values)
    more = " ..." if len(values) > SHOW else ""
    return ", ".join(str(v) for v in values[:SHOW]) + more


def _read_raw(data: DataFile, problems: list[str]) -> pd.DataFrame | None:
    try:
        frame = pd.read_csv(data.path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        problems.append(f"{data.name}: the file is empty; it needs a header line and rows.")
        return None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        problems.append(f"{data.name}: cannot be read as UTF-8 CSV ({exc}).")
        return None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _id_column(
    data: DataFile, frame: pd.DataFrame, id_column: str, problems: list[str]
) -> pd.Series | None:
    """The stripped ids, after checking for empty and repeated ones."""
    if id_column not in frame.columns:
        problems.append(
            f"{data.name}: no id column {id_column!r} (its columns: "
            f"{', '.join(frame.columns[:10])}). Rule: every file with rows has the id column."
        )
        return None
    ids = frame[id_column].str.strip()
    empty = np.flatnonzero((ids == "").to_numpy())
    if empty.size:
        problems.append(
            f"{data.name}: {empty.size} empty id(s) at {_lines(empty)}. Rule: every row has an id."
        )
    repeated = np.flatnonzero(ids.duplicated(keep=False).to_numpy() & (ids != "").to_numpy())
    if repeated.size:
        problems.append(
            f"{data.name}: id(s) {_ids(pd.unique(ids.iloc[repeated]))} appear more than "
            f"once ({_lines(repeated)}). Rule: each id appears exactly once."
        )
    return ids


def _agree(
    data: DataFile, ids: pd.Series, solution_name: str, expected: pd.Index, problems: list[str]
) -> None:
    present = pd.Index(ids[ids != ""].unique(), dtype=object)
    missing = expected.difference(present, sort=False)
    extra_rows = np.flatnonzero((~ids.isin(expected) & (ids != "")).to_numpy())
    if len(missing):
        problems.append(
            f"{data.name}: {len(missing)} id(s) of {solution_name} are missing (first: "
            f"{_ids(missing)}). Rule: test data, sample submission and solution hold the "
            "same ids."
        )
    if extra_rows.size:
        problems.append(
            f"{data.name}: {extra_rows.size} id(s) are not in {solution_name} (first: "
            f"{_ids(ids.iloc[extra_rows])} at {_lines(extra_rows)}). Rule: test data, sample "
            "submission and solution hold the same ids."
        )


def _usage_problems(data: DataFile, frame: pd.DataFrame, problems: list[str]) -> None:
    names = [c for c in frame.columns if c.lower() == USAGE_COLUMN.lower()]
    if not names:
        return
    values = frame[names[0]].str.strip().str.lower()
    bad = np.flatnonzero(~values.isin([v.lower() for v in USAGE_VALUES]).to_numpy())
    if bad.size:
        shown = ", ".join(repr(v) for v in pd.unique(frame[names[0]].iloc[bad])[:SHOW])
        problems.append(
            f"{data.name}: the Usage column holds {shown} at {_lines(bad)}. Rule: Usage is "
            "Public, Private or Ignored."
        )


# --------------------------------------------------------------------------- the check


def slug_problem(slug: str) -> str | None:
    """Why a slug cannot be used, in the words both the admin and bundles show, or None."""
    try:
        validate_slug(slug)
    except ValidationError:
        return (
            f"slug {slug!r} is not a valid slug. Rule: letters, digits, hyphens and "
            "underscores only."
        )
    return None


def competition_data_check(  # noqa: C901 - a flat list of data rules, each adding its own problem
    *,
    competition: Competition,
    test: Sequence[DataFile] = (),
    sample_submission: DataFile | None = None,
    solution: DataFile | None = None,
    stored_solution: DataFile | None = None,
    require_all: bool = False,
) -> DataReport:
    """Check a competition's settings and data files together; raise
    CompetitionDataInvalid listing every problem, or return what the split will be.

    ``competition`` may be unsaved (its fields as they are about to be saved).
    ``stored_solution`` is the solution stored now when ``solution`` replaces it (its
    split is kept). With ``require_all`` the test data, the sample submission and the
    solution must all be there (what publishing needs); otherwise absent files are
    simply not compared.
    """
    problems: list[str] = []
    if (problem := slug_problem(competition.slug)) is not None:
        problems.append(problem)
    try:
        metric = metric_lookup(competition.metric, competition.metric_params)
    except (UnknownMetric, MetricError) as exc:
        problems.append(f"metric: {exc}")
        raise CompetitionDataInvalid(problems) from exc
    try:
        additional_metrics_parse(competition.additional_metrics, main=metric)
    except (UnknownMetric, MetricError) as exc:
        problems.append(str(exc))  # names additional_metrics itself
    id_column, targets = competition.id_column, list(competition.target_columns)
    if not targets:
        problems.append("target columns: none given. Rule: name at least one target column.")
    if require_all:
        absent = [
            label
            for label, present in (
                ("test data", bool(test)),
                ("sample submission", sample_submission is not None),
                ("solution", solution is not None),
            )
            if not present
        ]
        if absent:
            problems.append(
                f"data: no {', no '.join(absent)}. Rule: a competition needs its test data, "
                "sample submission and solution before participants can submit."
            )
    if problems:
        raise CompetitionDataInvalid(problems)

    report = DataReport(replaced_solution=stored_solution is not None and solution is not None)
    expected: pd.Index | None = None
    expected_from = ""
    scored: pd.DataFrame | None = None
    if solution is not None:
        raw = _read_raw(solution, problems)
        if raw is not None:
            missing = [c for c in [id_column, *targets] if c not in raw.columns]
            if missing:
                problems.append(
                    f"{solution.name}: no column(s) {', '.join(map(repr, missing))} (its "
                    f"columns: {', '.join(raw.columns[:10])}). Rule: the solution has the id "
                    "column and the target columns."
                )
            elif len(raw) == 0:
                problems.append(f"{solution.name}: no rows. Rule: the solution has rows.")
            else:
                before = len(problems)
                ids = _id_column(solution, raw, id_column, problems)
                _usage_problems(solution, raw, problems)
                if ids is not None:
                    expected = pd.Index(ids[ids != ""].unique(), dtype=object)
                    expected_from = solution.name
                if len(problems) == before:
                    scored, report = _split(
                        solution, stored_solution, competition, metric, problems, report
                    )
    sample_ids: pd.Series | None = None
    if sample_submission is not None:
        raw_sample = _read_raw(sample_submission, problems)
        if raw_sample is not None:
            sample_ids = _id_column(sample_submission, raw_sample, id_column, problems)
    test_data, test_ids = _test_ids(test, id_column, problems)
    if expected is None and sample_ids is not None and sample_submission is not None:
        expected = pd.Index(sample_ids[sample_ids != ""].unique(), dtype=object)
        expected_from = sample_submission.name
    if expected is not None:
        if sample_ids is not None and sample_submission is not None and solution is not None:
            _agree(sample_submission, sample_ids, expected_from, expected, problems)
        if test_data is not None and test_ids is not None:
            _agree(test_data, test_ids, expected_from, expected, problems)
    if not problems and scored is not None and sample_submission is not None:
        _score_sample(sample_submission, solution, scored, competition, metric, problems)  # type: ignore[arg-type]
    if problems:
        raise CompetitionDataInvalid(problems)
    return report


def _test_ids(
    test: Sequence[DataFile], id_column: str, problems: list[str]
) -> tuple[DataFile | None, pd.Series | None]:
    """The ids of the test CSV files that have the id column, as one file (several test
    files are named together), checked for empty and repeated ids."""
    csvs = [d for d in test if d.path.suffix.lower() == ".csv"]
    found: list[tuple[DataFile, pd.Series]] = []
    for data in csvs:
        frame = _read_raw(data, problems)
        if frame is not None and id_column in frame.columns:
            found.append((data, frame[id_column]))
    if not found:
        if csvs and not problems:
            problems.append(
                f"{', '.join(d.name for d in csvs)}: no test CSV file has the id column "
                f"{id_column!r}. Rule: test rows carry the ids the solution uses."
            )
        return None, None
    data = DataFile(", ".join(d.name for d, _ in found), found[0][0].path)
    combined = pd.concat([ids for _, ids in found], ignore_index=True)
    ids = _id_column(data, pd.DataFrame({id_column: combined}), id_column, problems)
    return data, ids


def _split(
    solution: DataFile,
    stored: DataFile | None,
    competition: Competition,
    metric: Metric,
    problems: list[str],
    report: DataReport,
) -> tuple[pd.DataFrame | None, DataReport]:
    """Read the solution as scoring will, and split it as storing it will."""
    try:
        frame = read_solution(
            solution.path,
            id_column=competition.id_column,
            target_columns=list(competition.target_columns),
            metric=metric,
        )
    except ValueError as exc:
        problems.append(f"{solution.name}: {exc}")
        return None, report
    previous = stored_usage(stored.path, competition=competition) if stored else None
    if stored is not None and previous is None and USAGE_COLUMN not in frame.columns:
        problems.append(
            f"{solution.name}: the stored solution has no id column "
            f"{competition.id_column!r} to match its rows with, so their split cannot be "
            "kept. Rule: replacing a solution keeps every row in its part; add a Usage "
            "column to the new file to split it explicitly."
        )
        return None, report
    try:
        usage, moved = solution_usage(
            frame, competition=competition, metric=metric, previous=previous
        )
    except ValueError as exc:
        problems.append(f"{solution.name}: {exc}")
        return None, report
    counts = usage.value_counts()
    report = DataReport(
        rows=len(usage),
        public=int(counts.get(PUBLIC, 0)),
        private=int(counts.get(PRIVATE, 0)),
        ignored=int(counts.get(IGNORED, 0)),
        moved=moved,
        replaced_solution=report.replaced_solution,
    )
    empty = [part for part in (PUBLIC, PRIVATE) if not counts.get(part, 0)]
    if empty:
        problems.append(
            f"{solution.name}: the split leaves no {' and no '.join(empty)} row "
            f"({report.public} public, {report.private} private, {report.ignored} ignored of "
            f"{report.rows}). Rule: at least one row in the public and in the private part "
            "(set Usage, or a public fraction strictly between 0 and 1)."
        )
        return None, report
    frame = frame.copy()
    frame[USAGE_COLUMN] = pd.Categorical(usage.to_numpy(), categories=list(USAGE_VALUES))
    return frame, report


def _score_sample(
    sample: DataFile,
    solution: DataFile,
    frame: pd.DataFrame,
    competition: Competition,
    metric: Metric,
    problems: list[str],
) -> None:
    """Score the sample submission on each part, as a team's first submission would be."""
    targets = list(competition.target_columns)
    if metric.prediction == "probability" and len(targets) == 1:
        classes = pd.unique(frame[targets[0]])
        if len(classes) > 2:
            problems.append(
                f"{solution.name}: metric {metric.name} scores two classes (one score column) "
                f"but column {targets[0]!r} holds {len(classes)} classes "
                f"({_ids(sorted(map(str, classes)))}). Rule: a classification metric needs "
                "the labels it will see: choose a multiclass metric, or give one 0/1 column "
                "per class as the target columns."
            )
            return
    with _named_copy(sample) as path:
        try:
            predictions = read_predictions(
                path,
                solution=frame,
                id_column=competition.id_column,
                target_columns=targets,
                metric=metric,
            )
        except InvalidPredictions as exc:
            problems.append(
                f"{sample.name}: not a valid submission for metric {metric.name}: {exc.message} "
                "Rule: the sample submission is a submission the metric can score."
            )
            return
    if metric.prediction == "label" and len(targets) == 1:
        known = set(frame[targets[0]].tolist())
        unknown = [v for v in pd.unique(predictions[targets[0]]) if v not in known]
        if unknown:
            problems.append(
                f"{sample.name}: label(s) {_ids(unknown)} never occur in {solution.name} "
                f"(its labels: {_ids(sorted(map(str, known)))}). Rule: the sample submission "
                "shows labels the metric will see."
            )
        positive = metric.params.get("positive_label")
        if positive is not None and str(positive) not in {str(v) for v in known}:
            problems.append(
                f"{solution.name}: the positive label {positive!r} of metric {metric.name} "
                "never occurs. Rule: a classification metric needs the labels it will see."
            )
    try:
        score_predictions(
            solution=frame, predictions=predictions, metric=metric, target_columns=targets
        )
    except MetricError as exc:
        problems.append(
            f"{solution.name}: metric {metric.name} cannot be computed: {exc} Rule: the "
            "metric can be computed on the public and on the private part."
        )


@contextlib.contextmanager
def _named_copy(data: DataFile) -> Iterator[Path]:
    """The file under its own name (messages of the predictions reader quote it)."""
    if data.path.name == Path(data.name).name:
        yield data.path
        return
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / Path(data.name).name
        shutil.copyfile(data.path, target)
        yield target


# --------------------------------------------------------------------------- stored files


def is_checked(kind: str, name: str) -> bool:
    """Whether the check reads this file: the solution, the sample submission and test CSV
    files (training data and other test files are never copied for it)."""
    if kind in (CompetitionFile.Kind.SOLUTION, CompetitionFile.Kind.SAMPLE_SUBMISSION):
        return True
    return kind == CompetitionFile.Kind.TEST and name.lower().endswith(".csv")


@contextlib.contextmanager
def local_files(items: Sequence[tuple[str, File | IO[bytes]]]) -> Iterator[list[DataFile]]:
    """Local paths for stored or uploaded files: (name, file object or FieldFile) pairs
    become DataFile entries, copied to a temporary folder and removed afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        out: list[DataFile] = []
        for i, (name, source) in enumerate(items):
            target = Path(tmp) / str(i) / Path(name).name
            target.parent.mkdir()
            opened = source.open("rb") if isinstance(source, FieldFile) else source
            opened.seek(0)
            with target.open("wb") as dst:
                shutil.copyfileobj(opened, dst, 1024 * 1024)
            opened.seek(0)
            if isinstance(source, FieldFile):
                source.close()
            out.append(DataFile(name, target))
        yield out


def competition_data_validate(*, competition: Competition) -> DataReport:
    """Check the stored data of a saved competition with every file required: what the
    publish step calls. Raises CompetitionDataInvalid (an ApplicationError) listing every
    problem; returns the split's counts."""
    records = [r for r in competition.files.all() if is_checked(r.kind, r.name)]
    items = [(r.name, r.file) for r in records]
    with local_files(items) as paths:
        by_kind: dict[str, list[DataFile]] = {}
        for record, data in zip(records, paths, strict=True):
            by_kind.setdefault(record.kind, []).append(data)
        return competition_data_check(
            competition=competition,
            test=by_kind.get(CompetitionFile.Kind.TEST, []),
            sample_submission=next(
                iter(by_kind.get(CompetitionFile.Kind.SAMPLE_SUBMISSION, [])), None
            ),
            solution=next(iter(by_kind.get(CompetitionFile.Kind.SOLUTION, [])), None),
            require_all=True,
        )
