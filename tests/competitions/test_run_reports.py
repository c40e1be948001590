"""competitions.run_reports: the one function that decides what a user sees of a run.

Unit tests of the decision, kind by kind; tests/scoring/test_hidden_data_channels.py
drives hostile runs in real containers through every channel.
"""

from __future__ import annotations

import datetime as dt

import pytest
from factories import CompetitionFactory, MembershipFactory, SubmissionFactory, UserFactory

from competitions.models import Competition, Submission
from competitions.run_reports import MEMORY_STEP_BYTES, run_report_for_user

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
