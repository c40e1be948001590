"""Per-team limits: daily, total, concurrent runs, failed runs, debug runs; cancel."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from unittest import mock

import pytest
from artifacts import IMAGE_TAR
from django.core.files.base import ContentFile
from factories import CompetitionFactory, MembershipFactory, SubmissionFactory, UserFactory

from competitions.models import CompetitionFile, Submission, TeamMembership
from competitions.services.submissions import submission_cancel, submission_create, submission_quota
from podium.errors import ApplicationError

pytestmark = pytest.mark.django_db

UTC = dt.UTC
NOON = dt.datetime(2030, 1, 10, 12, tzinfo=UTC)
S = Submission.Status


def image() -> ContentFile:
    return ContentFile(IMAGE_TAR, name="image.tar")


@pytest.fixture
def set_now() -> Iterator[Callable[[dt.datetime], None]]:
    with mock.patch("django.utils.timezone.now") as now:
        now.return_value = NOON
        yield lambda instant: setattr(now, "return_value", instant)


@pytest.fixture(autouse=True)
def _no_queue() -> Iterator[None]:
    with mock.patch("competitions.evaluation.tasks.enqueue_evaluation"):
        yield


def member(**competition: object) -> TeamMembership:
    comp = CompetitionFactory(
        start=dt.datetime(2030, 1, 1, tzinfo=UTC),
        end=dt.datetime(2030, 2, 1, tzinfo=UTC),
        **competition,
    )
    return MembershipFactory(team__competition=comp)


def with_csv_test_set(m: TeamMembership) -> TeamMembership:
    CompetitionFile.objects.create(
        competition=m.competition,
        kind="test",
        name="test.csv",
        file=ContentFile(b"id,x\n1,2\n", name="test.csv"),
    )
    return m


def past(m: TeamMembership, status: str = S.SCORED, **kwargs: object) -> Submission:
    defaults: dict[str, object] = {"created_at": NOON - dt.timedelta(days=2)}
    if status != S.SCORED:
        defaults.update(public_score=None, private_score=None)
    defaults.update(kwargs)
    return SubmissionFactory(team=m.team, user=m.user, status=status, **defaults)


def submit(m: TeamMembership, **kwargs: object) -> Submission:
    return submission_create(user=m.user, competition=m.competition, image=image(), **kwargs)


def test_total_limit_counts_every_day_and_says_what_counts(set_now) -> None:
    m = member(total_submission_limit=3, daily_submission_limit=5)
    past(m)
    past(m, created_at=NOON - dt.timedelta(days=3))
    submit(m)

    quota = submission_quota(team=m.team)
    assert (quota["total_used"], quota["total_limit"], quota["remaining"]) == (3, 3, 0)
    assert quota["allowed"] is False and quota["next_allowed_at"] is None
    with pytest.raises(ApplicationError) as exc:
        submit(m)
    assert exc.value.message == (
        "Your team has used all 3 submissions allowed over the whole competition. Failed runs "
        "count; runs cancelled before they started, platform errors and debug runs never do."
    )
    assert exc.value.extra == {"code": "total_limit"}


def test_remaining_is_the_smaller_of_daily_and_total(set_now) -> None:
    m = member(total_submission_limit=4, daily_submission_limit=3)
    past(m)
    past(m)
    quota = submission_quota(team=m.team)
    assert (quota["used"], quota["remaining"], quota["total_used"]) == (0, 2, 2)


def test_daily_limit_gives_next_allowed_at_midnight(set_now) -> None:
    m = member(daily_submission_limit=1)
    submit(m)
    quota = submission_quota(team=m.team)
    assert quota["next_allowed_at"] == dt.datetime(2030, 1, 11, tzinfo=UTC)
    assert quota["code"] == "daily_limit"


def test_concurrent_runs_are_limited_per_team(set_now) -> None:
    m = member(daily_submission_limit=10, max_concurrent_runs=2)
    teammate = MembershipFactory(team=m.team).user
    past(m, status=S.RUNNING, created_at=NOON)
    submission_create(user=teammate, competition=m.competition, image=image())

    quota = submission_quota(team=m.team)
    assert (quota["running"], quota["max_concurrent"], quota["allowed"]) == (2, 2, False)
    with pytest.raises(ApplicationError) as exc:
        submit(m)
    assert exc.value.message == (
        "Your team already has 2 submission(s) queued or running; the limit is 2 at once. "
        "Wait for one to finish or cancel one."
    )
    assert exc.value.extra == {"code": "concurrent_limit"}


def test_finished_runs_free_a_concurrent_slot(set_now) -> None:
    m = member(max_concurrent_runs=1)
    first = submit(m)
    Submission.objects.filter(pk=first.pk).update(status=S.SCORED, public_score=0.5)
    assert submit(m).status == S.QUEUED


def test_failed_runs_count_only_when_the_competition_says_so(set_now) -> None:
    counting = member(daily_submission_limit=1, failed_runs_count=True)
    past(counting, S.FAILED, created_at=NOON, failure_kind="runtime_error")
    with pytest.raises(ApplicationError, match="used all 1 of today's"):
        submit(counting)

    lenient = member(daily_submission_limit=1, failed_runs_count=False)
    past(lenient, S.FAILED, created_at=NOON, failure_kind="runtime_error")
    assert submission_quota(team=lenient.team)["used"] == 0
    assert submit(lenient).status == S.QUEUED


def test_platform_errors_and_cancelled_runs_never_count_toward_the_total(set_now) -> None:
    m = member(total_submission_limit=1)
    past(m, S.FAILED, failure_kind="platform_error")
    past(m, S.CANCELLED)
    assert submission_quota(team=m.team)["total_used"] == 0
    submit(m)


def test_a_run_cancelled_after_it_started_counts(set_now) -> None:
    """It has seen the hidden test inputs: cancelling must not make what it did free
    (a hostile run could write a covert signal and be cancelled before its result)."""
    m = with_csv_test_set(member(daily_submission_limit=5, debug_daily_limit=3))
    past(m, S.CANCELLED, attempts=1, created_at=NOON)
    past(m, S.CANCELLED, attempts=0, created_at=NOON)
    past(m, S.CANCELLED, attempts=2, is_debug=True, created_at=NOON)
    quota = submission_quota(team=m.team)
    assert (quota["used"], quota["debug_used"]) == (1, 1)


def test_debug_runs_do_not_count_but_take_a_concurrent_slot(set_now) -> None:
    m = with_csv_test_set(
        member(daily_submission_limit=1, max_concurrent_runs=2, total_submission_limit=1)
    )
    debug = submit(m, debug=True)
    assert debug.is_debug and debug.status == S.QUEUED
    quota = submission_quota(team=m.team)
    assert (quota["used"], quota["total_used"], quota["running"]) == (0, 0, 1)
    submit(m)  # the one counted submission of the day
    with pytest.raises(ApplicationError, match="limit is 2 at once"):
        submit(m, debug=True)
    with pytest.raises(ApplicationError, match="used all 1 submissions allowed"):
        submit(m)


def test_debug_runs_are_allowed_when_the_counted_limit_is_used_up(set_now) -> None:
    m = with_csv_test_set(member(daily_submission_limit=1))
    submit(m)
    assert submit(m, debug=True).is_debug


def test_debug_runs_need_a_sample(set_now) -> None:
    m = member(debug_sample_rows=0, title="Nodebug")
    with pytest.raises(ApplicationError) as exc:
        submit(m, debug=True)
    assert exc.value.message == (
        "Debug runs are off in Nodebug: the organizers set no debug sample."
    )
    assert exc.value.extra == {"code": "debug_unavailable"}


def test_debug_runs_need_a_single_csv_test_set_or_debug_files(set_now) -> None:
    m = member(title="Images")
    comp = m.competition
    for name in ("a.png", "b.png"):
        CompetitionFile.objects.create(
            competition=comp, kind="test", name=name, file=ContentFile(b"x", name=name)
        )
    with pytest.raises(ApplicationError, match="its test data is not a single CSV file"):
        submit(m, debug=True)
    CompetitionFile.objects.create(
        competition=comp, kind="debug_test", name="d.png", file=ContentFile(b"x", name="d.png")
    )
    assert submit(m, debug=True).is_debug


# cancel


def test_cancel_a_queued_submission_frees_its_slot(set_now) -> None:
    m = member(daily_submission_limit=1)
    submission = submit(m)
    cancelled = submission_cancel(user=m.user, submission=submission)
    assert cancelled.status == S.CANCELLED
    assert cancelled.finished_at == NOON
    assert submission_quota(team=m.team)["used"] == 0
    submit(m)


def test_cancel_a_running_submission_keeps_the_worker_from_recording_it(set_now) -> None:
    from competitions.evaluation.pipeline import _scored

    m = member()
    submission = past(m, S.RUNNING)
    submission_cancel(user=m.user, submission=submission)
    assert _scored(submission.pk, public_score=0.9) is False
    submission.refresh_from_db()
    assert (submission.status, submission.public_score) == (S.CANCELLED, None)


@pytest.mark.parametrize("status", [S.SCORED, S.FAILED, S.CANCELLED])
def test_only_queued_or_running_submissions_can_be_cancelled(set_now, status: str) -> None:
    m = member()
    kwargs = {"failure_kind": "runtime_error"} if status == S.FAILED else {}
    submission = past(m, status, **kwargs)
    with pytest.raises(ApplicationError) as exc:
        submission_cancel(user=m.user, submission=submission)
    assert exc.value.message.startswith(f"Submission {submission.pk} is {status};")
    assert exc.value.extra == {"code": "not_cancellable"}


def test_another_team_cannot_cancel(set_now) -> None:
    m = member()
    submission = submit(m)
    stranger = MembershipFactory(team__competition=m.competition).user
    with pytest.raises(ApplicationError, match=f"Only members of team {m.team.name}"):
        submission_cancel(user=stranger, submission=submission)
    submission.refresh_from_db()
    assert submission.status == S.QUEUED


def test_organizers_can_cancel_any_submission(set_now) -> None:
    m = member()
    submission = submit(m)
    staff = UserFactory(is_staff=True)
    assert submission_cancel(user=staff, submission=submission).status == S.CANCELLED


def test_late_submissions_are_accepted_and_marked_late(set_now) -> None:
    m = member()
    set_now(dt.datetime(2030, 2, 2, tzinfo=UTC))
    assert submit(m).is_late is True


def test_quota_counts_only_this_team(set_now) -> None:
    m = member(daily_submission_limit=1)
    other = MembershipFactory(team__competition=m.competition)
    past(other, created_at=NOON)
    assert submission_quota(team=m.team)["used"] == 0
