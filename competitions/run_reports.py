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
- the private score stays hidden until the end or the organizer's reveal, and so do the
  additional metrics' private scores (``private_additional``); the additional metrics'
  scores (public and private) are scores of hidden data and follow the main score in
  every rule here, the release hold included;
- a scored run's end is released to its team only at the next multiple of
  PODIUM_RESULT_RELEASE_QUANTUM_SECONDS after its start (:func:`release_at`): until then
  the run shows as running, with no result; once released, its finish time is that
  boundary and its durations are whole quanta. A run can choose when it ends, so its end
  polled to the tenth of a second carried ~16 bits a run; quantised it carries at most
  log2(time limit / quantum) bits (7 bits for 2 h in minutes), like its score.

Submissions handed to templates and serializers are redacted copies made by
:func:`submission_present`; services reload a submission before writing to it.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as AuthUser
from django.utils import timezone

from competitions.evaluation.metric import additional_metric_columns
from competitions.models import Competition, Submission
from podium.units import format_duration, format_size

User = AuthUser | AnonymousUser
Kind = Submission.FailureKind

MEMORY_STEP_BYTES = 64 * 2**20  # peak memory is shown rounded up to this step

DEBUG_VALID_MESSAGE = (
    "The predictions are valid. Debug runs are not scored against hidden labels; "
    "submit a normal run to get a score."
)


@dataclass(frozen=True)
class RunReport:
    """What one user may see about one run.

    ``full`` is True for organizers and debug runs. ``status`` is what the user sees
    ("running" for a finished run whose result is not yet released: see release_at);
    ``exit_code`` is None when hidden;
    ``exit_status`` is "zero", "non-zero" or None (no exit yet). Durations are seconds,
    ``peak_memory_bytes`` bytes; ``log`` is None when the user may not read it.
    ``public_additional``/``private_additional`` map each additional metric's name to its
    score (None: not computable on these predictions); empty where the corresponding
    score is not shown.
    """

    full: bool
    status: str
    failure_kind: str
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
    public_additional: dict[str, float | None] = field(default_factory=dict)
    private_additional: dict[str, float | None] = field(default_factory=dict)


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


def _quantum_seconds() -> int:
    return max(0, int(settings.PODIUM_RESULT_RELEASE_QUANTUM_SECONDS))


def _whole_quanta(seconds: float | None) -> float | None:
    """Round a duration in seconds up to whole quanta (whole seconds with no quantum)."""
    quantum = _quantum_seconds()
    if seconds is None or quantum == 0:
        return _whole_seconds(seconds)
    return float(max(1, math.ceil(seconds / quantum)) * quantum)


def release_at(submission: Submission) -> dt.datetime | None:
    """When a finished run's end (status, result, finish time) may be shown to its team:
    the first multiple of PODIUM_RESULT_RELEASE_QUANTUM_SECONDS after its start that is not
    before its finish (its finish itself with no quantum, or when it never started).
    None while the run has not finished."""
    if submission.finished_at is None:
        return None
    quantum = _quantum_seconds()
    if quantum == 0 or submission.started_at is None:
        return submission.finished_at
    elapsed = (submission.finished_at - submission.started_at).total_seconds()
    quanta = max(1, math.ceil(elapsed / quantum))
    return submission.started_at + dt.timedelta(seconds=quanta * quantum)


def _held(submission: Submission, now: dt.datetime) -> bool:
    """A scored run that has finished but whose end its team may not see yet."""
    if _quantum_seconds() == 0:
        return False
    if submission.status not in (Submission.Status.SCORED, Submission.Status.FAILED):
        return False
    release = release_at(submission)
    return release is not None and now < release


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
    templates: dict[str, str] = {
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
            "Your run exited with a non-zero exit code. "
            + (
                f"Test your code locally on {submission.runtime_image or 'its runtime image'} "
                "with no network; a debug run shows its full log."
                if submission.kind == Submission.Kind.CODE
                else "Test the image locally with `docker run --network none`; a debug run "
                "shows its full log."
            )
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


def _private_additional(submission: Submission, visible: bool) -> dict[str, float | None]:
    return dict(submission.private_additional_scores or {}) if visible else {}


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
            status=submission.status,
            failure_kind=submission.failure_kind,
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
            public_additional=dict(submission.public_additional_scores or {}),
            private_additional=_private_additional(submission, private_visible),
        )
    if _held(submission, timezone.now()):
        return RunReport(
            full=False,
            status=Submission.Status.RUNNING,
            failure_kind="",
            failure_message="",
            exit_code=None,
            exit_status=None,
            duration_seconds=None,
            cpu_seconds=None,
            peak_memory_bytes=None,
            started_at=_to_second(submission.started_at),
            finished_at=None,
            public_score=None,
            private_score=None,
            private_score_hidden=not private_visible,
            log=None,
            note="",
        )
    message = _template(submission, competition) if submission.failure_kind else ""
    if details and submission.failure_kind == Kind.RUNTIME_ERROR:
        message = submission.failure_message
    finished_at = submission.finished_at
    if submission.status in (Submission.Status.SCORED, Submission.Status.FAILED):
        finished_at = release_at(submission)
    return RunReport(
        full=False,
        status=submission.status,
        failure_kind=submission.failure_kind,
        failure_message=message,
        exit_code=submission.exit_code if details or submission.exit_code == 0 else None,
        exit_status=exit_status,
        # Durations a run controls, no finer than its released end.
        duration_seconds=_whole_quanta(submission.duration_seconds),
        cpu_seconds=_whole_quanta(submission.cpu_seconds),
        peak_memory_bytes=_memory_step(submission.peak_memory_bytes),
        started_at=_to_second(submission.started_at),
        finished_at=_to_second(finished_at),
        public_score=submission.public_score,
        private_score=submission.private_score if private_visible else None,
        private_score_hidden=not private_visible,
        log=submission.log_tail if details else None,
        note=note,
        public_additional=dict(submission.public_additional_scores or {}),
        private_additional=_private_additional(submission, private_visible),
    )


def submission_present(*, user: User, submission: Submission) -> Submission:
    """Write the user's report over a submission fetched for display, in place.

    The object is for display only (templates, serializers): every field a run
    controls holds what ``user`` may see, ``run_report`` the report itself.
    """
    report = run_report_for_user(user=user, submission=submission)
    fields: dict[str, Any] = {
        "status": report.status,
        "failure_kind": report.failure_kind,
        "public_score": report.public_score,
        "failure_message": report.failure_message,
        "failure_safe_message": "",
        "exit_code": report.exit_code,
        "duration_seconds": report.duration_seconds,
        "cpu_seconds": report.cpu_seconds,
        "peak_memory_bytes": report.peak_memory_bytes,
        "started_at": report.started_at,
        "finished_at": report.finished_at,
        "private_score": report.private_score,
        "public_additional_scores": report.public_additional,
        "private_additional_scores": report.private_additional,
        "log_tail": report.log or "",
    }
    for name, value in fields.items():
        setattr(submission, name, value)
    submission.run_report = report  # type: ignore[attr-defined]
    if report.private_score_hidden:
        submission.private_score_hidden = True  # type: ignore[attr-defined]
    return submission


@dataclass(frozen=True)
class AdditionalScore:
    """One additional metric's scores as a report shows them: ``title`` is its display
    name; ``public``/``private`` None when not computable, not computed or not shown
    (``private_shown`` False while the private scores are hidden); ``computed`` False for
    a run scored before the metric was declared (a rescore computes it)."""

    name: str
    title: str
    public: float | None
    private: float | None
    private_shown: bool
    computed: bool


def additional_scores_of_report(
    *, competition: Competition, report: RunReport
) -> list[AdditionalScore]:
    """The competition's additional metrics, in declared order, with what ``report`` (of
    :func:`run_report_for_user`) lets its user see of them."""
    return [
        AdditionalScore(
            name=name,
            title=title,
            public=report.public_additional.get(name),
            private=report.private_additional.get(name),
            private_shown=not report.private_score_hidden,
            computed=name in report.public_additional,
        )
        for name, title in additional_metric_columns(competition)
    ]
