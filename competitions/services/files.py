"""Competition data files: store them (fixing the solution's split once) and delete them."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import IO

from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import Q

from competitions.evaluation.metric import metric_lookup
from competitions.models import Competition, CompetitionFile
from competitions.services.data_checks import local_files, solution_usage, stored_usage
from podium.errors import ApplicationError
from scoring.validation import read_solution

CHUNK = 1024 * 1024


def file_sha256(fileobj: IO[bytes]) -> tuple[str, int]:
    """Hash a file in chunks (multi-GB images never sit in memory) and rewind it."""
    digest = hashlib.sha256()
    size = 0
    fileobj.seek(0)
    while chunk := fileobj.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
    fileobj.seek(0)
    return digest.hexdigest(), size


def _solution_with_usage(competition: Competition, source: Path) -> Path:
    """Fix the public/private split when the solution is stored.

    A rescore or a re-import of the same solution then never moves a row between the
    public and the private part; a replaced solution keeps every stored row in its part
    unless its own Usage column says otherwise (data_checks.solution_usage).
    """
    metric = metric_lookup(competition.metric, competition.metric_params)
    solution = read_solution(
        source,
        id_column=competition.id_column,
        target_columns=competition.target_columns,
        metric=metric,
    )
    previous = None
    stored = competition.files.filter(kind=CompetitionFile.Kind.SOLUTION).first()
    if stored is not None:
        with local_files([(stored.name, stored.file)]) as (data,):
            previous = stored_usage(data.path, competition=competition)
    usage, _ = solution_usage(solution, competition=competition, metric=metric, previous=previous)
    out = solution.reset_index() if competition.id_column not in solution.columns else solution
    out = out.copy()
    out["Usage"] = usage.to_numpy()
    handle, name = tempfile.mkstemp(suffix=".csv")
    os.close(handle)
    target = Path(name)
    out.to_csv(target, index=False)
    return target


@transaction.atomic
def competition_file_store(
    *, competition: Competition, kind: str, name: str, content: IO[bytes]
) -> CompetitionFile:
    """Add or replace one data file; a solution gets its fixed Usage column first."""
    temp: Path | None = None
    opened: IO[bytes] | None = None
    try:
        if kind == CompetitionFile.Kind.SOLUTION:
            with tempfile.NamedTemporaryFile(suffix=".csv", delete=False) as raw:
                content.seek(0)
                while chunk := content.read(CHUNK):
                    raw.write(chunk)
            try:
                temp = _solution_with_usage(competition, Path(raw.name))
            except (ValueError, KeyError) as exc:
                raise ApplicationError(f"The solution file is not usable: {exc}") from exc
            finally:
                Path(raw.name).unlink(missing_ok=True)
            content = opened = temp.open("rb")
        sha256, size = file_sha256(content)
        existing = CompetitionFile.objects.filter(
            Q(competition=competition, kind=kind, name=name)
            | Q(
                competition=competition,
                kind=kind,
                kind__in=[CompetitionFile.Kind.SOLUTION, CompetitionFile.Kind.SAMPLE_SUBMISSION],
            )
        )
        for old in existing:
            if old.sha256 == sha256 and old.name == name:
                return old
            competition_file_delete(competition_file=old)
        record = CompetitionFile(
            competition=competition, kind=kind, name=name, sha256=sha256, size=size
        )
        record.file.save(Path(name).name, File(content), save=False)
        try:
            record.save()
        except IntegrityError as exc:
            raise ApplicationError(f"{kind} file {name} exists twice.") from exc
        return record
    finally:
        if opened is not None:
            opened.close()
        if temp is not None:
            temp.unlink(missing_ok=True)


@transaction.atomic
def competition_file_delete(*, competition_file: CompetitionFile) -> None:
    """Delete the record now and its stored file only once that is committed, so that a
    rolled-back import leaves every file its records point to."""
    storage, name = competition_file.file.storage, competition_file.file.name
    competition_file.delete()
    if name:  # a record without a stored file has nothing to delete
        transaction.on_commit(lambda: storage.delete(name))
