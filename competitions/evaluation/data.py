"""Competition data as the worker's Docker engine needs it: plain folders on its disk.

Files live in Django's storage (a local folder by default, S3-compatible storage on a
multi-host deployment). Each worker unpacks a competition's files once per version of
its data into PODIUM_WORK_DIR and bind-mounts the folders read-only into every run.

Debug runs get a second prepared version next to the first (`<version>-debug<rows>`):
the same training data, and as test data either the organizer's DEBUG_TEST files or,
when the test set is a single CSV, `debug_sample_rows` of its rows whose ids are Public
in the solution (picked by a hash of the id keyed with the competition's debug-sample
key, derived from its secret split key: the sample is stable, and tells nothing about
the split, whose key is another, even when the organizer set a split_seed). Their
solution holds only those rows, all Public: a debug score is a public-sample score and
never reveals a private label.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
from django.conf import settings
from django.db.models.fields.files import FieldFile

from competitions.debug_runs import debug_runs_available
from competitions.models import Competition, CompetitionFile
from scoring.metrics import Metric
from scoring.split import DEBUG_SAMPLE_PURPOSE, PUBLIC, _hash_keys, canonical_usage, derive_key
from scoring.validation import read_solution


class CompetitionNotReady(Exception):
    """The organizer has not uploaded everything a run needs: not the team's fault."""


@dataclass(frozen=True)
class CompetitionData:
    train_dir: Path
    test_dir: Path
    sample_submission: Path
    solution: Path


class StoredFileChanged(OSError):
    """A file read from storage is not the one its record names (its SHA-256 differs):
    storage lost or altered it. The platform's fault; nothing is run on it."""


def _copy_checked(field: FieldFile, target: IO[bytes], sha256: str | None) -> None:
    """Copy a stored file into ``target`` through the storage API, checking its SHA-256
    when the record holds one. Raises OSError (storage) or StoredFileChanged."""
    digest = hashlib.sha256()
    with field.open("rb") as src:
        while chunk := src.read(1024 * 1024):
            digest.update(chunk)
            target.write(chunk)
    if sha256 and digest.hexdigest() != sha256:
        raise StoredFileChanged(
            f"{field.name} in storage has SHA-256 {digest.hexdigest()}, its record {sha256}."
        )


def _copy(record: CompetitionFile, target: Path, mode: int) -> None:
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    with target.open("wb") as dst:
        _copy_checked(record.file, dst, record.sha256)
    target.chmod(mode)


def competition_data_prepare(*, competition: Competition) -> CompetitionData:
    """Unpack the competition's files (once per data version) and return their paths."""
    files = list(competition.files.order_by("kind", "name"))
    kinds = {f.kind for f in files}
    missing = [
        str(k.label)
        for k in (
            CompetitionFile.Kind.TEST,
            CompetitionFile.Kind.SOLUTION,
            CompetitionFile.Kind.SAMPLE_SUBMISSION,
        )
        if k not in kinds
    ]
    if missing:
        raise CompetitionNotReady(
            f"The competition {competition.slug} has no {', '.join(missing)} yet; "
            "the organizers have to upload it before runs can be scored."
        )
    version = hashlib.sha256(
        "\n".join(f"{f.pk}:{f.kind}:{f.name}:{f.sha256}" for f in files).encode()
    ).hexdigest()[:16]
    root = Path(settings.PODIUM_WORK_DIR) / "data" / competition.slug / version
    data = CompetitionData(
        train_dir=root / "train",
        test_dir=root / "test",
        sample_submission=root / "sample_submission.csv",
        solution=root / "solution.csv",
    )
    if (root / ".complete").exists():
        return data

    staging = root.with_name(f"{version}.{uuid.uuid4().hex}.partial")
    (staging / "train").mkdir(parents=True, mode=0o755)
    (staging / "test").mkdir(mode=0o755)
    for record in files:
        if record.kind == CompetitionFile.Kind.SOLUTION:
            _copy(record, staging / "solution.csv", 0o600)
        elif record.kind == CompetitionFile.Kind.SAMPLE_SUBMISSION:
            _copy(record, staging / "sample_submission.csv", 0o644)
        else:
            _copy(record, staging / record.kind / record.safe_name, 0o644)
    _publish(staging, root)
    return data


def _publish(staging: Path, root: Path) -> None:
    (staging / ".complete").touch()
    # The sandbox user must traverse every folder down to the mounted ones.
    for folder in (staging, *(p for p in staging.rglob("*") if p.is_dir())):
        folder.chmod(0o755)
    try:
        os.rename(staging, root)
    except OSError:
        # Another worker finished the same version first; its copy is as good as ours.
        shutil.rmtree(staging, ignore_errors=True)


def _read_raw(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def _column(frame: pd.DataFrame, name: str) -> str | None:
    return next((c for c in frame.columns if str(c).strip() == name), None)


def _public_ids(solution_path: Path, id_column: str) -> pd.Index:
    solution = _read_raw(solution_path)
    ids = solution[_column(solution, id_column)].str.strip()
    usage_name = next((c for c in solution.columns if c.strip().lower() == "usage"), None)
    usage = canonical_usage(solution[usage_name])
    return pd.Index(ids[(usage == PUBLIC).to_numpy()].to_numpy(), dtype=object)


def _subset_csv(source: Path, target: Path, id_column: str, keep: pd.Index) -> bool:
    """Write the rows of `source` whose id is in `keep`, in their order; False when the
    file has no id column."""
    frame = _read_raw(source)
    column = _column(frame, id_column)
    if column is None:
        return False
    frame[frame[column].str.strip().isin(keep)].to_csv(target, index=False)
    return True


def debug_sample_ids(ids: pd.Index, *, rows: int, key: bytes) -> pd.Index:
    """The `rows` ids of `ids` with the smallest keyed hash: stable as long as the ids
    and the key stay, whatever their order in the file."""
    if rows >= len(ids):
        return ids
    keys = _hash_keys(ids, key)
    return ids[np.sort(np.argsort(keys, kind="stable")[:rows])]


def competition_debug_data_prepare(*, competition: Competition) -> CompetitionData:
    """Prepare (once per data version) the small public sample debug runs see."""
    full = competition_data_prepare(competition=competition)
    debug_files = list(
        competition.files.filter(kind=CompetitionFile.Kind.DEBUG_TEST).order_by("name")
    )
    tests = list(competition.files.filter(kind=CompetitionFile.Kind.TEST))
    if not debug_files and (why := debug_runs_available(competition=competition)):
        raise CompetitionNotReady(why)
    version = full.train_dir.parent.name
    sample_key = derive_key(competition.split_key, DEBUG_SAMPLE_PURPOSE)
    tag = hashlib.sha256(
        "\n".join(
            [str(competition.debug_sample_rows), sample_key.hex()]
            + [f"{f.pk}:{f.name}:{f.sha256}" for f in debug_files]
        ).encode()
    ).hexdigest()[:8]
    root = full.train_dir.parent.with_name(f"{version}-debug-{tag}")
    data = CompetitionData(
        train_dir=full.train_dir,
        test_dir=root / "test",
        sample_submission=root / "sample_submission.csv",
        solution=root / "solution.csv",
    )
    if (root / ".complete").exists():
        return data

    id_column = competition.id_column
    public = _public_ids(full.solution, id_column)
    staging = root.with_name(f"{root.name}.{uuid.uuid4().hex}.partial")
    (staging / "test").mkdir(parents=True, mode=0o755)
    if debug_files:
        ids: list[str] = []
        for record in debug_files:
            target = staging / "test" / record.safe_name
            _copy(record, target, 0o644)
            if target.suffix.lower() == ".csv":
                frame = _read_raw(target)
                if (column := _column(frame, id_column)) is not None:
                    ids.extend(frame[column].str.strip())
        if not ids:
            shutil.rmtree(staging, ignore_errors=True)
            raise CompetitionNotReady(
                f"The debug test files of {competition.slug} hold no CSV file with the id "
                f"column {id_column!r}, so a debug run cannot be scored; the organizers have "
                "to add one."
            )
        keep = pd.Index(pd.unique(pd.Series(ids)), dtype=object).intersection(public)
    else:
        test_path = full.test_dir / tests[0].safe_name
        frame = _read_raw(test_path)
        column = _column(frame, id_column)
        if column is None:
            shutil.rmtree(staging, ignore_errors=True)
            raise CompetitionNotReady(
                f"The test file of {competition.slug} has no id column {id_column!r}, so no "
                "debug sample can be cut from it."
            )
        candidates = pd.Index(frame[column].str.strip(), dtype=object)
        candidates = candidates[candidates.isin(public)]
        keep = debug_sample_ids(candidates, rows=competition.debug_sample_rows, key=sample_key)
        target = staging / "test" / tests[0].safe_name
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        frame[frame[column].str.strip().isin(keep)].to_csv(target, index=False)
        target.chmod(0o644)
    if not _subset_csv(full.sample_submission, staging / "sample_submission.csv", id_column, keep):
        shutil.copyfile(full.sample_submission, staging / "sample_submission.csv")
    (staging / "sample_submission.csv").chmod(0o644)
    solution = _read_raw(full.solution)
    solution = solution[solution[_column(solution, id_column)].str.strip().isin(keep)].copy()
    usage_name = next(c for c in solution.columns if c.strip().lower() == "usage")
    solution[usage_name] = PUBLIC
    solution.to_csv(staging / "solution.csv", index=False)
    (staging / "solution.csv").chmod(0o600)
    _publish(staging, root)
    return data


@contextlib.contextmanager
def local_path(field: FieldFile, *, sha256: str | None = None) -> Iterator[Path]:
    """A path on this machine for a stored file: its own path on local storage, else a
    copy under PODIUM_WORK_DIR/tmp (removed on exit; an image archive is gigabytes, so not
    the system's /tmp) when storage is remote, checked against ``sha256`` when given.
    Raises OSError (storage) or StoredFileChanged."""
    try:
        path = Path(field.path)
    except NotImplementedError:
        path = None  # remote storage: no path of its own
    if path is not None:
        yield path
        return
    folder = Path(settings.PODIUM_WORK_DIR) / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(suffix=Path(field.name or "").suffix, dir=folder) as tmp:
        _copy_checked(field, tmp, sha256)
        tmp.flush()
        yield Path(tmp.name)


def stored_solution_read(
    record: CompetitionFile, *, competition: Competition, metric: Metric
) -> pd.DataFrame:
    """The competition's stored solution (``record``), read as the scorer reads it
    (scoring.validation.read_solution: indexed by id, with its Usage column). Raises
    OSError when storage cannot give the file."""
    with local_path(record.file, sha256=record.sha256) as path:
        return read_solution(
            path,
            id_column=competition.id_column,
            target_columns=competition.target_columns,
            metric=metric,
        )
