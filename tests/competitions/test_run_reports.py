"""competitions.run_reports: the one function that decides what a user sees of a run.

Unit tests of the decision, kind by kind; tests/scoring/test_hidden_data_channels.py
drives hostile runs in real containers through every channel.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.test.utils import override_settings
from django.utils import timezone
from factories import CompetitionFactory, MembershipFactory, SubmissionFactory, UserFactory

from competitions.models import Competition, RuntimeImage, Submission
from competitions.run_reports import (
    MEMORY_STEP_BYTES,
    release_at,
    run_report_for_user,
    submission_present,
)

pytestmark = pytest.mark.django_db

SECRET = "hidden-test-input-3.14159"
Kind = Submission.FailureKind
# Invalid images and code archives are judged before any run, from the uploaded archive
# alone (sandbox.images, sandbox.code): their message is shown as it is.
FAILURES = [k for k in Kind if k not in (Kind.NONE, Kind.INVALID_IMAGE, Kind.INVALID_CODE)]


def _failed(kind: str, **fields: object) -> tuple[Submission, object]:
    member = MembershipFactory(team__competition=CompetitionFactory())
    submission = SubmissionFactory(
        team=member.team,
        user=member.user,
        status=Submission.Status.FAILED,
        failure_kind=kind,
        failure_message=f"detail quoting {SECRET}",
        public_score=None,
        private_score=None,
        exit_code=173,
        duration_seconds=12.345678,
        cpu_seconds=3.999,
        peak_memory_bytes=100 * 2**20 + 12345,
        started_at=dt.datetime(2030, 1, 1, 12, 0, 0, 123456, tzinfo=dt.UTC),
        finished_at=dt.datetime(2030, 1, 1, 12, 0, 12, 469134, tzinfo=dt.UTC),
        log_tail=f"log {SECRET}",
        **fields,
    )
    return submission, member.user


@pytest.mark.parametrize("kind", FAILURES)
def test_a_team_sees_a_template_never_the_stored_detail_of_a_scored_run(kind: str) -> None:
    submission, user = _failed(kind)

    report = run_report_for_user(user=user, submission=submission)

    assert report.failure_message  # says something...
    assert SECRET not in report.failure_message  # ...but not what the run wrote
    assert "173" not in report.failure_message
    assert report.log is None
    assert (report.exit_code, report.exit_status) == (None, "non-zero")
    assert (report.duration_seconds, report.cpu_seconds) == (12.0, 4.0)
    assert report.peak_memory_bytes == 2 * MEMORY_STEP_BYTES
    assert report.started_at.microsecond == report.finished_at.microsecond == 0


@pytest.mark.parametrize("kind", FAILURES)
def test_organizers_and_debug_runs_see_everything(kind: str) -> None:
    submission, user = _failed(kind)
    organizer = UserFactory(is_staff=True)

    report = run_report_for_user(user=organizer, submission=submission)
    assert SECRET in report.failure_message and SECRET in (report.log or "")
    assert report.exit_code == 173 and report.duration_seconds == 12.345678

    Submission.objects.filter(pk=submission.pk).update(is_debug=True)
    debug = Submission.objects.select_related("competition").get(pk=submission.pk)
    report = run_report_for_user(user=user, submission=debug)
    assert SECRET in report.failure_message and SECRET in (report.log or "")
    assert report.exit_code == 173


def test_invalid_predictions_show_the_validators_safe_message() -> None:
    submission, user = _failed(
        Kind.INVALID_PREDICTIONS, failure_safe_message="Column 3 of the header is not expected."
    )
    report = run_report_for_user(user=user, submission=submission)
    assert report.failure_message == "Column 3 of the header is not expected."


def test_showing_log_tails_shows_the_exit_code_too() -> None:
    submission, user = _failed(Kind.RUNTIME_ERROR)
    Competition.objects.filter(pk=submission.competition_id).update(
        log_visibility=Competition.LogVisibility.TAIL
    )
    submission = Submission.objects.select_related("competition").get(pk=submission.pk)

    report = run_report_for_user(user=user, submission=submission)

    assert report.exit_code == 173
    assert report.log == f"log {SECRET}"


# The release quantum: when a run ends is no channel finer than the quantum.


def _finished_run(*, ago: dt.timedelta, took: dt.timedelta, is_debug: bool = False):
    member = MembershipFactory(
        team__competition=CompetitionFactory(additional_metrics=["f1_macro"])
    )
    started = timezone.now() - ago
    submission = SubmissionFactory(
        team=member.team,
        user=member.user,
        is_debug=is_debug,
        status=Submission.Status.SCORED,
        public_score=0.75,
        public_additional_scores={"f1_macro": 0.5},
        duration_seconds=took.total_seconds() - 0.5,
        cpu_seconds=took.total_seconds() * 1.7,
        exit_code=0,
        started_at=started,
        finished_at=started + took,
    )
    return submission, member.user


@override_settings(PODIUM_RESULT_RELEASE_QUANTUM_SECONDS=600)
def test_a_finished_run_shows_as_running_until_the_next_quantum_after_its_start() -> None:
    submission, user = _finished_run(ago=dt.timedelta(seconds=130), took=dt.timedelta(seconds=97))

    report = run_report_for_user(user=user, submission=submission)

    assert report.status == Submission.Status.RUNNING
    assert (report.public_score, report.finished_at, report.failure_kind) == (None, None, "")
    assert (report.duration_seconds, report.cpu_seconds, report.exit_status) == (None,) * 3
    presented = submission_present(user=user, submission=submission)
    assert presented.status == "running" and not presented.is_finished
    assert presented.public_score is None
    assert presented.public_additional_scores == {} and report.public_additional == {}
    # Organizers see the truth at once; so does a team of its own debug run.
    submission.refresh_from_db()  # submission_present wrote over the displayed copy
    organizer = UserFactory(is_staff=True)
    assert run_report_for_user(user=organizer, submission=submission).status == "scored"
    assert run_report_for_user(user=organizer, submission=submission).public_additional == {
        "f1_macro": 0.5
    }
    debug, member = _finished_run(
        ago=dt.timedelta(seconds=130), took=dt.timedelta(seconds=97), is_debug=True
    )
    assert run_report_for_user(user=member, submission=debug).status == "scored"


@override_settings(PODIUM_RESULT_RELEASE_QUANTUM_SECONDS=60)
def test_a_released_run_ends_on_a_quantum_boundary_with_durations_in_quanta() -> None:
    submission, user = _finished_run(ago=dt.timedelta(hours=1), took=dt.timedelta(seconds=97))

    report = run_report_for_user(user=user, submission=submission)

    assert report.status == Submission.Status.SCORED
    assert report.public_score == 0.75
    assert report.finished_at - report.started_at == dt.timedelta(seconds=120)
    assert release_at(submission) == submission.started_at + dt.timedelta(seconds=120)
    assert (report.duration_seconds, report.cpu_seconds) == (120.0, 180.0)


@override_settings(PODIUM_RESULT_RELEASE_QUANTUM_SECONDS=0)
def test_with_no_quantum_the_end_is_shown_at_once_to_the_second() -> None:
    submission, user = _finished_run(
        ago=dt.timedelta(seconds=2), took=dt.timedelta(seconds=1, microseconds=600000)
    )

    report = run_report_for_user(user=user, submission=submission)

    assert report.status == Submission.Status.SCORED
    assert report.finished_at == submission.finished_at.replace(microsecond=0)
    assert report.duration_seconds == 1.0


def test_a_runtime_error_hint_names_what_the_team_submitted() -> None:
    image, user = _failed(Kind.RUNTIME_ERROR)
    code, _ = _failed(Kind.RUNTIME_ERROR)
    runtime, _ = RuntimeImage.objects.get_or_create(name="podium/python:3.11")
    Submission.objects.filter(pk=code.pk).update(kind=Submission.Kind.CODE, runtime_image=runtime)
    code.refresh_from_db()

    image_hint = run_report_for_user(user=user, submission=image).failure_message
    code_hint = run_report_for_user(user=code.user, submission=code).failure_message

    assert "docker run --network none" in image_hint
    assert "docker run" not in code_hint
    assert "Test your code locally on podium/python:3.11" in code_hint
