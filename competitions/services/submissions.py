"""Submissions: create (with the team's limits), cancel, select as final, requeue.

Limits are per team, never per user (Kaggle's rule):
- a daily limit per UTC day and an optional total limit over the competition; a
  submission counts unless it was cancelled before it ever ran, failed through the
  platform's fault, is a debug run, or failed through the team's fault while
  `failed_runs_count` is off (a run cancelled after it started has seen the hidden test
  inputs, and whatever it did with them is not free);
- at most `max_concurrent_runs` submissions queued or running at once, debug runs
  included (0 means no limit on concurrent runs).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files import File
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from competitions import standings
from competitions.debug_runs import debug_runs_available
from competitions.evaluation import tasks as evaluation_tasks
from competitions.evaluation import transitions
from competitions.models import AuditRecord, Competition, RuntimeImage, Submission, Team
from competitions.services.common import (
    leaderboard_invalidate,
    membership_for,
    require_member,
    require_organizer,
)
from competitions.services.files import file_sha256
from competitions.services.runtime_images import code_limits, runtime_image_for_code
from podium.errors import ApplicationError
from podium.units import format_size
from sandbox.code import InvalidCode, NotAnArchive, classify_upload

Status = Submission.Status
ACTIVE = (Status.QUEUED, Status.RUNNING)


# Cancelled before any worker claimed it: the run never saw the test inputs.
CANCELLED_UNSTARTED = Q(status=Status.CANCELLED, attempts=0)


def counted_filter(competition: Competition) -> Q:
    """The submissions that count toward a team's limits."""
    q = Q(is_debug=False) & ~CANCELLED_UNSTARTED
    q &= ~Q(failure_kind=Submission.FailureKind.PLATFORM_ERROR)
    if not competition.failed_runs_count:
        q &= ~Q(status=Status.FAILED)
    return q


def debug_counted_filter() -> Q:
    """The debug runs that count toward the daily debug limit: all but runs cancelled
    before they started, and platform errors."""
    return (
        Q(is_debug=True)
        & ~CANCELLED_UNSTARTED
        & ~Q(failure_kind=Submission.FailureKind.PLATFORM_ERROR)
    )


def _utc_day_start(now: dt.datetime) -> dt.datetime:
    return now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def submission_quota(*, team: Team, now: dt.datetime | None = None) -> dict[str, Any]:
    """What the team may still submit, and from when.

    Keys: `used`/`limit` (today, UTC), `remaining` (what the team can still submit
    now: the smaller of today's and the total remainder), `resets_at` (next UTC
    midnight), `total_used`/`total_limit` (None: no total limit), `running` (queued or
    running, debug runs included), `max_concurrent` (None: no limit), `next_allowed_at`
    (None when a submission is allowed now; otherwise when it will be, or None as well
    when that depends on a run finishing or never comes: see `allowed` and `reason`),
    `allowed`, `debug_used`/`debug_limit` (debug runs today, UTC; they never count
    toward the other limits but have this daily limit of their own, so that they are no
    free oracle), `debug_allowed`, `debug_reason`/`debug_code` and `reason`.
    """
    now = now or timezone.now()
    competition = team.competition
    day_start = _utc_day_start(now)
    resets_at = day_start + dt.timedelta(days=1)
    counted = counted_filter(competition)
    stats = Submission.objects.filter(team=team).aggregate(
        used=Count("pk", filter=counted & Q(created_at__gte=day_start, created_at__lt=resets_at)),
        total_used=Count("pk", filter=counted),
        running=Count("pk", filter=Q(status__in=ACTIVE)),
        debug_used=Count(
            "pk",
            filter=debug_counted_filter() & Q(created_at__gte=day_start, created_at__lt=resets_at),
        ),
    )
    limit = competition.daily_submission_limit
    total_limit = competition.total_submission_limit
    max_concurrent = competition.max_concurrent_runs or None
    used, total_used, running = stats["used"], stats["total_used"], stats["running"]
    remaining = max(0, limit - used)
    if total_limit is not None:
        remaining = min(remaining, max(0, total_limit - total_used))
    busy = max_concurrent is not None and running >= max_concurrent

    reason, code, next_allowed_at = "", "", None
    if total_limit is not None and total_used >= total_limit:
        code = "total_limit"
        failed = "count" if competition.failed_runs_count else "do not count"
        reason = (
            f"Your team has used all {total_limit} submissions allowed over the whole "
            f"competition. Failed runs {failed}; runs cancelled before they started, platform "
            "errors and debug runs never do."
        )
    elif used >= limit:
        code, next_allowed_at = "daily_limit", resets_at
        reason = (
            f"Your team has used all {limit} of today's submissions (UTC day). "
            f"The count resets at {resets_at:%Y-%m-%d %H:%M} UTC."
        )
    elif busy:
        code = "concurrent_limit"
        reason = _busy_message(running, max_concurrent)
    debug_limit = competition.debug_daily_limit
    debug_reason, debug_code = "", ""
    if stats["debug_used"] >= debug_limit:
        debug_code = "debug_daily_limit"
        debug_reason = (
            f"Your team has used all {debug_limit} of today's debug runs (UTC day). "
            f"The count resets at {resets_at:%Y-%m-%d %H:%M} UTC."
        )
    elif busy:
        debug_code, debug_reason = "concurrent_limit", _busy_message(running, max_concurrent)
    return {
        "used": used,
        "limit": limit,
        "remaining": remaining,
        "resets_at": resets_at,
        "total_used": total_used,
        "total_limit": total_limit,
        "running": running,
        "max_concurrent": max_concurrent,
        "next_allowed_at": next_allowed_at,
        "allowed": not reason,
        "debug_used": stats["debug_used"],
        "debug_limit": debug_limit,
        "debug_allowed": not debug_reason,
        "debug_reason": debug_reason,
        "debug_code": debug_code,
        "reason": reason,
        "code": code,
    }


def _busy_message(running: int, max_concurrent: int | None) -> str:
    return (
        f"Your team already has {running} submission(s) queued or running; the limit is "
        f"{max_concurrent} at once. Wait for one to finish or cancel one."
    )


def image_size_check(*, competition: Competition, size: int) -> None:
    """Refuse an image archive over the competition's limit (direct or chunked upload)."""
    if size > competition.image_size_limit_bytes:
        raise ApplicationError(
            f"The image archive is {format_size(size)}; the limit is "
            f"{format_size(competition.image_size_limit_bytes)}. Use a smaller base image or "
            "compress it with `docker save IMAGE | gzip > image.tar.gz`.",
            {"code": "image_too_large"},
        )


@contextlib.contextmanager
def _as_path(fileobj: IO[bytes]) -> Iterator[Path]:
    """A path to the uploaded bytes: the upload's own temporary file, else a copy."""
    own = getattr(fileobj, "temporary_file_path", None)
    if own is not None:
        yield Path(own())
        return
    with tempfile.NamedTemporaryFile(prefix="podium-artifact-") as tmp:
        fileobj.seek(0)
        shutil.copyfileobj(fileobj, tmp, 1 << 20)
        tmp.flush()
        fileobj.seek(0)
        yield Path(tmp.name)


def artifact_kind(*, fileobj: IO[bytes]) -> str:
    """``image`` or ``code`` for an uploaded file, judged from its bytes (sandbox.code);
    ApplicationError when it is neither or a code archive is refused (traversal, links,
    devices, bombs, too many members, no entry point)."""
    with _as_path(fileobj) as path:
        try:
            return classify_upload(path, code_limits())
        except NotAnArchive as exc:
            raise ApplicationError(exc.message, {"code": "not_an_archive"}) from exc
        except InvalidCode as exc:
            raise ApplicationError(exc.message, {"code": "invalid_code"}) from exc


@transaction.atomic
def submission_create(  # noqa: C901 - every rule a new submission must pass, in the order a participant reads them
    *,
    user: User,
    competition: Competition,
    image: IO[bytes],
    description: str = "",
    debug: bool = False,
    runtime_image: str | None = None,
    rerun_of: Submission | None = None,
) -> Submission:
    """Store an uploaded image or code archive as a queued submission and enqueue its run.

    The kind is judged from the file's bytes before anything is stored, queued or
    counted (see artifact_kind): a file that is neither an image archive nor a code
    archive is refused. A code archive runs on ``runtime_image`` (a tag the competition
    allows; empty: its first), which must be built on this host. ``rerun_of`` runs a
    previous submission's artifact again (its kind and runtime image are kept).

    A debug run (`debug=True`) runs on a small public sample of the test data, shows
    its full log, is never ranked, is not scored (only validated) and never counts
    toward the submission limits; it does take one of the team's concurrent run slots
    and has a daily limit of its own (`Competition.debug_daily_limit`).
    """
    now = timezone.now()
    membership = membership_for(user, competition)
    if membership is None:
        raise ApplicationError(
            f"Join {competition.title} (accept its rules) before you submit.",
            {"code": "not_joined"},
        )
    if now < competition.start:
        raise ApplicationError(
            f"{competition.title} opens at {competition.start:%Y-%m-%d %H:%M} UTC."
        )
    if debug and (why := debug_runs_available(competition=competition)):
        raise ApplicationError(why, {"code": "debug_unavailable"})
    # Serialise a team's submissions so that two uploads cannot both take the last slot.
    team = (
        Team.objects.select_for_update()
        .select_related("competition")
        .filter(pk=membership.team_id, memberships__user=user)
        .first()
    )
    if team is None:
        # A merge or an accepted invitation moved the participant (and deleted the old team)
        # between reading the membership and taking the lock: nothing was stored.
        raise ApplicationError(
            "Your team changed while you submitted (a merge or an invitation was accepted). "
            "Submit again: it goes to your new team.",
            {"code": "team_changed"},
        )
    quota = submission_quota(team=team, now=now)
    if debug:
        if not quota["debug_allowed"]:
            raise ApplicationError(quota["debug_reason"], {"code": quota["debug_code"]})
    elif not quota["allowed"]:
        raise ApplicationError(quota["reason"], {"code": quota["code"]})
    sha256, size = file_sha256(image)
    if size == 0:
        raise ApplicationError("The uploaded file is empty. Upload the output of `docker save`.")
    # Cheap and first: a file over the image limit is refused whatever it holds.
    image_size_check(competition=competition, size=size)
    runtime: RuntimeImage | None
    kind = rerun_of.kind if rerun_of is not None else artifact_kind(fileobj=image)
    if kind == Submission.Kind.CODE and settings.PODIUM_COMPUTE_REMOTE:
        # Remote compute hosts (podium_compute) load image archives only: refused here, by
        # the platform, before anything is counted, instead of failing on the host.
        raise ApplicationError(
            "This platform runs submissions on remote compute hosts, which do not run code "
            "archives yet: submit an image (the output of `docker save`).",
            {"code": "code_unsupported"},
        )
    if rerun_of is not None:
        runtime = None
        if rerun_of.runtime_image is not None:
            # Still allowed and still built here? The organizers may have changed either.
            runtime = runtime_image_for_code(
                competition=competition, name=rerun_of.runtime_image.name
            )
    else:
        runtime = None
        if kind == Submission.Kind.CODE:
            runtime = runtime_image_for_code(competition=competition, name=runtime_image)
    submission = Submission(
        competition=competition,
        team=team,
        user=user,
        created_at=now,
        description=description[:500],
        is_late=now >= competition.end,
        is_debug=debug,
        image_sha256=sha256,
        image_size=size,
        kind=kind,
        runtime_image=runtime,
        rerun_of=rerun_of,
    )
    name = getattr(image, "name", None) or "image.tar"
    submission.image.save(Path(name).name, File(image), save=False)
    transitions.create(submission)
    if not (debug or submission.is_late):
        leaderboard_invalidate(competition_id=competition.pk)  # its submission count grew
    transaction.on_commit(lambda: evaluation_tasks.enqueue_evaluation(submission.pk))
    return submission


def _locked(submission: Submission) -> Submission:
    """The submission's current row, locked. Objects from the *_for_user selectors may
    carry a blanked private score and must never be saved as they are."""
    return (
        Submission.objects.select_for_update()
        .select_related("competition", "team")
        .get(pk=submission.pk)
    )


@transaction.atomic
def submission_cancel(*, user: User, submission: Submission) -> Submission:
    """Cancel a queued or running submission of the user's team (organizers: any).

    A cancelled run never counts. If a worker is already running it, the worker's
    result is discarded when it finishes (its state guard sees the cancellation).
    """
    current = _locked(submission)
    if not (user.is_authenticated and user.is_staff):
        require_member(user, current.team, "cancel its submissions")
    if current.status not in ACTIVE:
        raise ApplicationError(
            f"Submission {current.pk} is {current.get_status_display().lower()}; only queued "
            "or running submissions can be cancelled.",
            {"code": "not_cancellable"},
        )
    transitions.cancel(submission_id=current.pk)
    leaderboard_invalidate(competition_id=current.competition_id)
    current.refresh_from_db()
    return current


@transaction.atomic
def submission_select(*, user: User, submission: Submission, selected: bool) -> Submission:
    """Choose (or drop) a final submission for the private leaderboard, before the end.

    A team holds at most `final_selections`; where it selects fewer, its best public
    submissions fill the remaining slots automatically (see leaderboards.leaderboard).
    """
    current = _locked(submission)
    competition = current.competition
    require_member(user, current.team, "choose its final submissions")
    Team.objects.select_for_update().filter(pk=current.team_id).first()
    if timezone.now() >= competition.end:
        raise ApplicationError(
            f"Final submissions could be chosen until the end of {competition.title} "
            f"({competition.end:%Y-%m-%d %H:%M} UTC).",
            {"code": "selection_closed"},
        )
    if current.is_selected == selected:
        return current
    if selected:
        if current.is_debug:
            raise ApplicationError(
                "A debug run cannot be a final submission: it ran on a sample only.",
                {"code": "not_selectable"},
            )
        if current.is_late:
            raise ApplicationError(
                "A late submission cannot be a final submission.", {"code": "not_selectable"}
            )
        if current.status != Status.SCORED or current.public_score is None:
            raise ApplicationError(
                f"Only scored submissions can be final submissions; submission {current.pk} "
                f"is {current.get_status_display().lower()}.",
                {"code": "not_selectable"},
            )
        chosen = Submission.objects.filter(team=current.team, is_selected=True).count()
        if chosen >= competition.final_selections:
            raise ApplicationError(
                f"Your team has already chosen {chosen} final submission(s), the limit is "
                f"{competition.final_selections}. Unselect one first.",
                {"code": "selection_limit"},
            )
    current.is_selected = selected
    current.save(update_fields=["is_selected"])
    standings.standing_refresh(team_id=current.team_id)
    leaderboard_invalidate(competition_id=current.competition_id)
    return current


@transaction.atomic
def submission_requeue(*, actor: User, submissions: QuerySet[Submission]) -> int:
    """Run failed submissions again (an organizer's action, e.g. after a platform fix)."""
    require_organizer(actor, "requeue submissions")
    failed = list(
        submissions.select_for_update()
        # A run whose image archive was deleted (retention policy) cannot run again.
        .filter(status=Status.FAILED, image_deleted_at__isnull=True)
        .values_list("pk", "competition_id")
    )
    ids = [pk for pk, _ in failed]
    transitions.requeue_failed(submission_ids=ids)
    by_competition: dict[int, list[int]] = {}
    for pk, competition_id in failed:
        by_competition.setdefault(competition_id, []).append(pk)
    for competition_id, pks in by_competition.items():
        AuditRecord.objects.create(
            competition_id=competition_id,
            actor=actor,
            action=AuditRecord.Action.REQUEUE,
            details={"submissions": pks},
        )
        leaderboard_invalidate(competition_id=competition_id)
    for pk in ids:
        transaction.on_commit(functools.partial(evaluation_tasks.enqueue_evaluation, pk))
    return len(ids)


@transaction.atomic
def submissions_delete(*, actor: User, submissions: QuerySet[Submission]) -> int:
    """Delete submissions (an organizer's action in the admin) and refresh their teams'
    standings in the same transaction, so that no board ranks a deleted run. Returns how
    many submissions were deleted; raises ApplicationError for a non-organizer."""
    require_organizer(actor, "delete submissions")
    rows = list(submissions.select_for_update().values_list("pk", "team_id", "competition_id"))
    Submission.objects.filter(pk__in=[pk for pk, _, _ in rows]).delete()
    for team_id in sorted({team_id for _, team_id, _ in rows}):
        standings.standing_refresh(team_id=team_id)
    for competition_id in sorted({competition_id for _, _, competition_id in rows}):
        leaderboard_invalidate(competition_id=competition_id)
    return len(rows)


DESCRIPTION_MAX_LENGTH = 500


@transaction.atomic
def submission_describe(*, user: User, submission: Submission, description: str) -> Submission:
    """Change a submission's description (a team's own note; any time, any status).

    Raises ApplicationError when the user is not in the submission's team, or (code
    `description_too_long`) when the text is over 500 characters.
    """
    current = _locked(submission)
    require_member(user, current.team, "describe its submissions")
    description = description.strip()
    if len(description) > DESCRIPTION_MAX_LENGTH:
        raise ApplicationError(
            f"A description has at most {DESCRIPTION_MAX_LENGTH} characters; this one has "
            f"{len(description)}.",
            {"code": "description_too_long"},
        )
    current.description = description
    current.save(update_fields=["description"])
    return current
