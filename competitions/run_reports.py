"""The one narrow channel out of a run: what a user may learn about one submission.

A scored run reads the hidden test inputs, and everything it controls can carry them
out: the text of its error messages (a header name, an id, a value echoed back), its
exit code (8 bits a run), its duration and memory to the microsecond and the byte, its
log. So every page, API answer, status poll and CLI line that shows a run takes its
fields from :func:`run_report_for_user`, and nothing else:

- organizers (staff) see everything, as stored;
- a team sees its **debug runs** in full: they read only a public sample;
- a team sees of its **scored runs** a fixed vocabulary: the status, the failure kind,
  a message from a template (for invalid predictions, the validator's position-and-rule
  message: see scoring.validation), durations in whole seconds, peak memory in steps of
  MEMORY_STEP_BYTES, the exit code only as "non-zero" and no log, unless the organizer
  shows log tails (``log_visibility = tail``), which carry far more than an exit code;
- the private score stays hidden until the end or the organizer's reveal.

Submissions handed to templates and serializers are redacted copies made by
:func:`submission_present`; services reload a submission before writing to it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from competitions.models import Competition, Submission
from podium.units import format_duration, format_size

User = AbstractBaseUser | AnonymousUser
Kind = Submission.FailureKind

MEMORY_STEP_BYTES = 64 * 2**20  # peak memory is shown rounded up to this step

DEBUG_VALID_MESSAGE = (
    "The predictions are valid. Debug runs are not scored against hidden labels; "
    "submit a normal run to get a score."
)


@dataclass(frozen=True)
class RunReport:
    """What one user may see about one run.

    ``full`` is True for organizers and debug runs. ``exit_code`` is None when hidden;
    ``exit_status`` is "zero", "non-zero" or None (no exit yet). Durations are seconds,
    ``peak_memory_bytes`` bytes; ``log`` is None when the user may not read it.
    """

    full: bool
    failure_message: str
    exit_code: int | None
    exit_status: str | None
    duration_seconds: float | None
    cpu_seconds: float | None
    peak_memory_bytes: int | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    public_score: float | None
    private_score: float | None
    private_score_hidden: bool
    log: str | None
    note: str


def _is_organizer(user: User) -> bool:
    return bool(user.is_authenticated and user.is_staff)


def _whole_seconds(value: float | None) -> float | None:
    return None if value is None else float(round(value))


def _memory_step(value: int | None) -> int | None:
    if value is None:
        return None
    return max(1, math.ceil(value / MEMORY_STEP_BYTES)) * MEMORY_STEP_BYTES


def _to_second(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else value.replace(microsecond=0)


def _template(submission: Submission, competition: Competition) -> str:
    """The message a team sees for a failed scored run: built from the kind and the
    competition's settings, never from what the run wrote."""
    kind = submission.failure_kind
    if kind == Kind.INVALID_PREDICTIONS:
        return submission.failure_safe_message or (
            "predictions.csv is not a valid predictions file. A debug run shows the full reason."
        )
    if kind in (Kind.INVALID_IMAGE, Kind.INVALID_CODE):
        # Checked before any run: about the uploaded archive, which the team made.
        return submission.failure_message
    templates = {
        Kind.TIME_LIMIT: (
            f"Your run exceeded the time limit ({format_duration(competition.time_limit_seconds)})"
            " and was stopped. The limit in seconds is in PODIUM_TIME_LIMIT_SECONDS."
        ),
        Kind.MEMORY_LIMIT: (
            f"Your run exceeded the memory limit ({format_size(competition.memory_limit_bytes)})"
            " and was killed; files in /tmp and /dev/shm count toward it. The limit in bytes "
            "is in PODIUM_MEMORY_LIMIT_BYTES."
        ),
        Kind.DISK_LIMIT: (
            "Your run ran out of disk space in /output or /tmp. Write only predictions.csv to "
            "/output and keep scratch files small."
        ),
        Kind.RUNTIME_ERROR: (
            "Your run exited with a non-zero exit code. Test the image locally with "
            "`docker run --network none`; a debug run shows its full log."
        ),
        Kind.NO_PREDICTIONS: (
            "Your run finished but left no usable /output/predictions.csv (a regular file "
            "with the columns of /data/sample_submission.csv)."
        ),
        Kind.PLATFORM_ERROR: (
            "The platform failed to run this submission. This is not your fault and does "
            "not count toward your limits; submit again later or tell the organizers."
        ),
    }
    return templates.get(kind, "")


def run_report_for_user(*, user: User, submission: Submission) -> RunReport:
    """Decide what ``user`` may see about ``submission``, field by field.

    The caller has already decided that the user may see the submission at all (it is
    their team's, or they are an organizer: see competitions.selectors).
    """
    competition = submission.competition
    organizer = _is_organizer(user)
    full = organizer or submission.is_debug
    private_visible = organizer or competition.private_leaderboard_visible
    details = competition.log_visibility == Competition.LogVisibility.TAIL
    exit_status = None
    if submission.exit_code is not None:
        exit_status = "zero" if submission.exit_code == 0 else "non-zero"
    note = ""
    if submission.is_debug and submission.status == Submission.Status.SCORED:
        note = DEBUG_VALID_MESSAGE
    if full:
        return RunReport(
            full=True,
            failure_message=submission.failure_message,
            exit_code=submission.exit_code,
            exit_status=exit_status,
            duration_seconds=submission.duration_seconds,
            cpu_seconds=submission.cpu_seconds,
            peak_memory_bytes=submission.peak_memory_bytes,
            started_at=submission.started_at,
            finished_at=submission.finished_at,
            public_score=submission.public_score,
            private_score=submission.private_score if private_visible else None,
            private_score_hidden=not private_visible,
            log=submission.log_tail,
            note=note,
        )
    message = _template(submission, competition) if submission.failure_kind else ""
    if details and submission.failure_kind == Kind.RUNTIME_ERROR:
        message = submission.failure_message
    return RunReport(
        full=False,
        failure_message=message,
        exit_code=submission.exit_code if details or submission.exit_code == 0 else None,
        exit_status=exit_status,
        duration_seconds=_whole_seconds(submission.duration_seconds),
        cpu_seconds=_whole_seconds(submission.cpu_seconds),
        peak_memory_bytes=_memory_step(submission.peak_memory_bytes),
        started_at=_to_second(submission.started_at),
        finished_at=_to_second(submission.finished_at),
        public_score=submission.public_score,
        private_score=submission.private_score if private_visible else None,
        private_score_hidden=not private_visible,
        log=submission.log_tail if details else None,
        note=note,
    )


def submission_present(*, user: User, submission: Submission) -> Submission:
    """Write the user's report over a submission fetched for display, in place.

    The object is for display only (templates, serializers): every field a run
    controls holds what ``user`` may see, ``run_report`` the report itself.
    """
    report = run_report_for_user(user=user, submission=submission)
    fields: dict[str, Any] = {
        "failure_message": report.failure_message,
        "failure_safe_message": "",
        "exit_code": report.exit_code,
        "duration_seconds": report.duration_seconds,
        "cpu_seconds": report.cpu_seconds,
        "peak_memory_bytes": report.peak_memory_bytes,
        "started_at": report.started_at,
        "finished_at": report.finished_at,
        "private_score": report.private_score,
        "log_tail": report.log or "",
    }
    for name, value in fields.items():
        setattr(submission, name, value)
    submission.run_report = report  # type: ignore[attr-defined]
    if report.private_score_hidden:
        submission.private_score_hidden = True  # type: ignore[attr-defined]
    return submission
