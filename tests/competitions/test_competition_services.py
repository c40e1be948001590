"""Joining competitions and creating submissions (competitions.services)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Callable, Iterator
from unittest import mock

import pytest
from artifacts import IMAGE_TAR
from django.core.files.base import ContentFile
from django.utils import timezone
from factories import (
    CompetitionFactory,
    MembershipFactory,
    SubmissionFactory,
    TeamFactory,
    UserFactory,
)

from competitions.models import Competition, Submission, Team, TeamMembership
from competitions.services.submissions import submission_create, submission_quota
from competitions.services.teams import competition_join
from podium.errors import ApplicationError

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def image(content: bytes = IMAGE_TAR, name: str = "image.tar") -> ContentFile:
    return ContentFile(content, name=name)


@pytest.fixture
def set_now() -> Iterator[Callable[[dt.datetime], None]]:
    """Move the clock the services read (django.utils.timezone.now) to a fixed instant."""
    with mock.patch("django.utils.timezone.now") as now:

        def move(instant: dt.datetime) -> None:
            now.return_value = instant

        move(dt.datetime.now(UTC))
        yield move


@pytest.fixture
def member() -> TeamMembership:
    return MembershipFactory(team__competition__daily_submission_limit=3)


# competition_join


def test_join_gives_a_one_person_team_named_after_the_user() -> None:
    competition = CompetitionFactory()
    user = UserFactory(username="alice")

    team = competition_join(user=user, competition=competition)

    assert team.name == "alice"
    assert team.competition == competition
    assert list(team.memberships.values_list("user__username", flat=True)) == ["alice"]
    membership = team.memberships.get()
    assert membership.rules_accepted_at is not None
    assert membership.competition == competition


def test_join_is_idempotent() -> None:
    competition = CompetitionFactory()
    user = UserFactory()

    first = competition_join(user=user, competition=competition)
    second = competition_join(user=user, competition=competition)

    assert first.pk == second.pk
    assert Team.objects.filter(competition=competition).count() == 1
    assert TeamMembership.objects.filter(user=user).count() == 1


def test_join_avoids_a_team_name_that_is_taken() -> None:
    competition = CompetitionFactory()
    TeamFactory(competition=competition, name="bob")
    TeamFactory(competition=competition, name="bob (2)")

    team = competition_join(user=UserFactory(username="bob"), competition=competition)

    assert team.name == "bob (3)"


def test_join_names_teams_apart_when_long_usernames_share_a_prefix() -> None:
    competition = CompetitionFactory()
    first = competition_join(user=UserFactory(username="x" * 95 + "a"), competition=competition)
    second = competition_join(user=UserFactory(username="x" * 95 + "b"), competition=competition)

    assert first.name == "x" * 90
    assert second.name == "x" * 90 + " (2)"


def test_same_user_gets_a_team_in_each_competition() -> None:
    user = UserFactory(username="carol")
    a = competition_join(user=user, competition=CompetitionFactory())
    b = competition_join(user=user, competition=CompetitionFactory())
    assert a.pk != b.pk
    assert a.name == b.name == "carol"


def test_join_after_the_end_fails() -> None:
    competition = CompetitionFactory(
        title="Old one",
        start=timezone.now() - dt.timedelta(days=10),
        end=timezone.now() - dt.timedelta(days=1),
    )
    with pytest.raises(ApplicationError, match="Old one has ended; entry is closed"):
        competition_join(user=UserFactory(), competition=competition)
    assert not Team.objects.exists()


def test_member_rejoining_after_the_end_keeps_the_team() -> None:
    membership = MembershipFactory(
        team__competition__start=timezone.now() - dt.timedelta(days=10),
        team__competition__end=timezone.now() - dt.timedelta(days=1),
    )
    team = competition_join(user=membership.user, competition=membership.competition)
    assert team == membership.team


def test_join_before_the_start_is_allowed() -> None:
    competition = CompetitionFactory(
        start=timezone.now() + dt.timedelta(days=1), end=timezone.now() + dt.timedelta(days=5)
    )
    assert competition_join(user=UserFactory(), competition=competition).pk


# submission_create


def test_submission_by_a_non_member_is_refused() -> None:
    competition = CompetitionFactory(title="Digits")
    with pytest.raises(ApplicationError, match=r"Join Digits \(accept its rules\) before") as exc:
        submission_create(user=UserFactory(), competition=competition, image=image())
    assert exc.value.extra == {"code": "not_joined"}
    assert not Submission.objects.exists()


def test_member_of_another_competition_cannot_submit_here() -> None:
    membership = MembershipFactory()
    with pytest.raises(ApplicationError, match="before you submit"):
        submission_create(user=membership.user, competition=CompetitionFactory(), image=image())


def test_submission_before_the_start_is_refused() -> None:
    start = (timezone.now() + dt.timedelta(days=2)).replace(second=0, microsecond=0)
    membership = MembershipFactory(
        team__competition__title="Soon",
        team__competition__start=start,
        team__competition__end=start + dt.timedelta(days=30),
    )
    with pytest.raises(ApplicationError, match=f"Soon opens at {start:%Y-%m-%d %H:%M} UTC"):
        submission_create(user=membership.user, competition=membership.competition, image=image())
    assert not Submission.objects.exists()


def test_submission_is_queued_with_sha256_size_and_stored_image(
    member: TeamMembership, django_capture_on_commit_callbacks
) -> None:
    content = IMAGE_TAR
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        submission = submission_create(
            user=member.user,
            competition=member.competition,
            image=image(content, name="my-model.tar.gz"),
            description="first try",
        )

    submission.refresh_from_db()
    assert submission.status == Submission.Status.QUEUED
    assert submission.team == member.team
    assert submission.user == member.user
    assert submission.description == "first try"
    assert submission.image_sha256 == hashlib.sha256(content).hexdigest()
    assert submission.image_size == len(content)
    assert not submission.is_late
    assert submission.image.name.endswith(".tar.gz")
    with submission.image.open("rb") as fh:
        assert fh.read() == content
    # Scoring is enqueued once, after the commit (not run here: no Docker in these tests).
    assert len(callbacks) == 1


def test_submission_accepts_a_named_bytesio(member: TeamMembership) -> None:
    upload = io.BytesIO(IMAGE_TAR)
    upload.name = "image.tar"
    submission = submission_create(user=member.user, competition=member.competition, image=upload)
    assert submission.image_size == len(IMAGE_TAR)
    assert submission.image.name.endswith(".tar")


def test_submission_after_the_end_is_late() -> None:
    membership = MembershipFactory(
        team__competition__start=timezone.now() - dt.timedelta(days=10),
        team__competition__end=timezone.now() - dt.timedelta(minutes=1),
    )
    submission = submission_create(
        user=membership.user, competition=membership.competition, image=image()
    )
    assert submission.is_late
    assert submission.status == Submission.Status.QUEUED


def test_empty_upload_is_rejected(member: TeamMembership) -> None:
    with pytest.raises(ApplicationError, match="The uploaded file is empty"):
        submission_create(user=member.user, competition=member.competition, image=image(b""))
    assert not Submission.objects.exists()


def test_upload_over_the_image_size_limit_is_rejected_naming_the_limit() -> None:
    membership = MembershipFactory(team__competition__image_size_limit_bytes=1024)
    with pytest.raises(ApplicationError, match=r"is 2 KB; the limit is 1 KB") as exc:
        submission_create(
            user=membership.user, competition=membership.competition, image=image(b"x" * 2048)
        )
    assert exc.value.extra == {"code": "image_too_large"}
    assert not Submission.objects.exists()


def test_upload_exactly_at_the_image_size_limit_is_accepted() -> None:
    membership = MembershipFactory(team__competition__image_size_limit_bytes=len(IMAGE_TAR))
    submission = submission_create(
        user=membership.user, competition=membership.competition, image=image(IMAGE_TAR)
    )
    assert submission.image_size == len(IMAGE_TAR)


def test_long_description_is_cut_to_500_characters(member: TeamMembership) -> None:
    submission = submission_create(
        user=member.user, competition=member.competition, image=image(), description="d" * 600
    )
    assert submission.description == "d" * 500


def _competition_in_2030(**kwargs: object) -> Competition:
    return CompetitionFactory(
        start=dt.datetime(2030, 1, 1, tzinfo=UTC), end=dt.datetime(2030, 2, 1, tzinfo=UTC), **kwargs
    )


def test_daily_limit_is_per_team_and_says_when_it_resets(set_now) -> None:
    competition = _competition_in_2030(daily_submission_limit=2)
    team = TeamFactory(competition=competition)
    alice = MembershipFactory(team=team).user
    bob = MembershipFactory(team=team).user
    set_now(dt.datetime(2030, 1, 10, 23, 30, tzinfo=UTC))

    submission_create(user=alice, competition=competition, image=image())
    submission_create(user=bob, competition=competition, image=image())
    with pytest.raises(ApplicationError) as exc:
        submission_create(user=alice, competition=competition, image=image())

    assert exc.value.message == (
        "Your team has used all 2 of today's submissions (UTC day). "
        "The count resets at 2030-01-11 00:00 UTC."
    )
    assert exc.value.extra == {"code": "daily_limit"}
    assert Submission.objects.count() == 2


def test_other_teams_do_not_use_up_a_teams_quota(set_now) -> None:
    competition = _competition_in_2030(daily_submission_limit=1)
    set_now(dt.datetime(2030, 1, 10, 12, tzinfo=UTC))
    first = MembershipFactory(team__competition=competition)
    second = MembershipFactory(team__competition=competition)

    submission_create(user=first.user, competition=competition, image=image())
    submission_create(user=second.user, competition=competition, image=image())

    assert Submission.objects.count() == 2


def test_daily_limit_resets_at_midnight_utc(set_now) -> None:
    competition = _competition_in_2030(daily_submission_limit=1)
    user = MembershipFactory(team__competition=competition).user
    set_now(dt.datetime(2030, 1, 10, 23, 59, tzinfo=UTC))
    submission_create(user=user, competition=competition, image=image())
    with pytest.raises(ApplicationError, match="resets at 2030-01-11 00:00 UTC"):
        submission_create(user=user, competition=competition, image=image())

    set_now(dt.datetime(2030, 1, 11, 0, 1, tzinfo=UTC))
    submission_create(user=user, competition=competition, image=image())
    assert Submission.objects.count() == 2


def test_cancelled_and_platform_error_submissions_do_not_count(set_now) -> None:
    competition = _competition_in_2030(daily_submission_limit=2)
    membership = MembershipFactory(team__competition=competition)
    noon = dt.datetime(2030, 1, 10, 12, tzinfo=UTC)
    set_now(noon)
    common = {"team": membership.team, "user": membership.user, "created_at": noon}
    SubmissionFactory(status=Submission.Status.CANCELLED, public_score=None, **common)
    SubmissionFactory(
        status=Submission.Status.FAILED,
        failure_kind=Submission.FailureKind.PLATFORM_ERROR,
        public_score=None,
        private_score=None,
        **common,
    )
    SubmissionFactory(
        status=Submission.Status.FAILED,
        failure_kind=Submission.FailureKind.RUNTIME_ERROR,
        public_score=None,
        private_score=None,
        **common,
    )

    quota = submission_quota(team=membership.team)
    assert quota["used"] == 1
    assert quota["remaining"] == 1
    submission_create(user=membership.user, competition=competition, image=image())
    with pytest.raises(ApplicationError, match="used all 2 of today's submissions"):
        submission_create(user=membership.user, competition=competition, image=image())


def test_quota_reports_used_remaining_and_next_utc_midnight(set_now) -> None:
    competition = _competition_in_2030(daily_submission_limit=5)
    membership = MembershipFactory(team__competition=competition)
    now = dt.datetime(2030, 1, 10, 8, 15, tzinfo=UTC)
    SubmissionFactory(team=membership.team, created_at=now - dt.timedelta(hours=9))  # yesterday
    SubmissionFactory(team=membership.team, created_at=now - dt.timedelta(hours=1))

    quota = submission_quota(team=membership.team, now=now)

    assert quota == {
        "used": 1,
        "limit": 5,
        "remaining": 4,
        "resets_at": dt.datetime(2030, 1, 11, tzinfo=UTC),
        "total_used": 2,
        "total_limit": None,
        "running": 0,
        "max_concurrent": 2,
        "next_allowed_at": None,
        "allowed": True,
        "debug_used": 0,
        "debug_limit": 10,
        "debug_allowed": True,
        "debug_reason": "",
        "debug_code": "",
        "reason": "",
        "code": "",
    }
