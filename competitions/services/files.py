"""Write actions on competitions, teams and submissions."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
from pathlib import Path
from typing import IO

from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from competitions.models import Competition, CompetitionFile, Submission, Team, TeamMembership
from podium.errors import ApplicationError
from podium.units import format_size
from scoring.metrics import get_metric
from scoring.split import assign_usage
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


@transaction.atomic
def competition_join(*, user: AbstractBaseUser, competition: Competition) -> Team:
    """Accept the rules and give the user a one-person team (idempotent)."""
    membership = (
        TeamMembership.objects.select_related("team")
        .filter(competition=competition, user=user)
        .first()
    )
    if membership:
        return membership.team
    if competition.has_ended:
        raise ApplicationError(f"{competition.title} has ended; entry is closed.")
    base = user.get_username()[:90]
    name, n = base, 1
    while Team.objects.filter(competition=competition, name=name).exists():
        n += 1
        name = f"{base} ({n})"
    team = Team.objects.create(competition=competition, name=name)
    TeamMembership.objects.create(
        team=team, competition=competition, user=user, rules_accepted_at=timezone.now()
    )
    return team


def _counted_today(team: Team, now: dt.datetime) -> int:
    """Submissions that count toward today's (UTC) limit: not cancelled, not our fault."""
    day_start = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (
        Submission.objects.filter(team=team, created_at__gte=day_start)
        .exclude(status=Submission.Status.CANCELLED)
        .exclude(failure_kind=Submission.FailureKind.PLATFORM_ERROR)
        .count()
    )


def submission_quota(*, team: Team, now: dt.datetime | None = None) -> dict[str, object]:
    """How many submissions the team has left today and when the count resets."""
    now = now or timezone.now()
    used = _counted_today(team, now)
    limit = team.competition.daily_submission_limit
    reset = (now.astimezone(dt.UTC) + dt.timedelta(days=1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    return {"used": used, "limit": limit, "remaining": max(0, limit - used), "resets_at": reset}


@transaction.atomic
def submission_create(
    *,
    user: AbstractBaseUser,
    competition: Competition,
    image: IO[bytes],
    description: str = "",
) -> Submission:
    """Store an uploaded image archive as a queued submission and enqueue its scoring."""
    now = timezone.now()
    membership = (
        TeamMembership.objects.select_related("team")
        .filter(competition=competition, user=user)
        .first()
    )
    if membership is None:
        raise ApplicationError(
            f"Join {competition.title} (accept its rules) before you submit.",
            {"code": "not_joined"},
        )
    if now < competition.start:
        raise ApplicationError(
            f"{competition.title} opens at {competition.start:%Y-%m-%d %H:%M} UTC."
        )
    team = Team.objects.select_for_update().get(pk=membership.team_id)
    quota = submission_quota(team=team, now=now)
    if quota["remaining"] == 0:
        raise ApplicationError(
            f"Your team has used all {quota['limit']} of today's submissions (UTC day). "
            f"The count resets at {quota['resets_at']:%Y-%m-%d %H:%M} UTC.",
            {"code": "daily_limit"},
        )
    sha256, size = file_sha256(image)
    if size == 0:
        raise ApplicationError("The uploaded file is empty. Upload the output of `docker save`.")
    if size > competition.image_size_limit_bytes:
        raise ApplicationError(
            f"The image archive is {format_size(size)}; the limit is "
            f"{format_size(competition.image_size_limit_bytes)}. Use a smaller base image or "
            "compress it with `docker save IMAGE | gzip > image.tar.gz`.",
            {"code": "image_too_large"},
        )
    submission = Submission(
        competition=competition,
        team=team,
        user=user,
        created_at=now,
        description=description[:500],
        is_late=now >= competition.end,
        image_sha256=sha256,
        image_size=size,
    )
    name = getattr(image, "name", None) or "image.tar"
    submission.image.save(Path(name).name, File(image), save=False)
    submission.save()
    from scoring.tasks import enqueue_evaluation

    transaction.on_commit(lambda: enqueue_evaluation(submission.pk))
    return submission


def _solution_with_usage(competition: Competition, source: Path) -> Path:
    """Fix the public/private split once, when the solution is stored.

    A rescore or a re-import of the same solution then never moves a row between the
    public and the private part.
    """
    solution = read_solution(
        source, id_column=competition.id_column, target_columns=competition.target_columns
    )
    metric = get_metric(competition.metric)
    stratify = (
        competition.target_columns[0]
        if metric.prediction in ("label", "probability") and len(competition.target_columns) == 1
        else None
    )
    usage = assign_usage(
        solution,
        public_fraction=competition.public_fraction,
        seed=competition.split_seed,
        stratify_column=stratify,
    )
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
    transaction.on_commit(lambda: storage.delete(name))
