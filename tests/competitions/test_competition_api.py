"""REST API v1 (paths and fields fixed by shared/DESIGN.md), with token auth."""

from __future__ import annotations

import datetime as dt

import pytest
from artifacts import IMAGE_TAR
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from factories import CompetitionFactory, MembershipFactory, SubmissionFactory, UserFactory
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from competitions.models import Competition, Submission, TeamMembership

pytestmark = pytest.mark.django_db

PRIVATE_SCORE = 0.123456


def api_client(user: User | None = None) -> APIClient:
    client = APIClient()
    if user is not None:
        token = Token.objects.create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def upload(content: bytes = IMAGE_TAR) -> SimpleUploadedFile:
    return SimpleUploadedFile("image.tar.gz", content, content_type="application/gzip")


@pytest.fixture
def member(digits: Competition) -> TeamMembership:
    return MembershipFactory(team__competition=digits, team__name="api-team")


@pytest.fixture
def ended() -> Competition:
    return CompetitionFactory(
        slug="finished",
        start=timezone.now() - dt.timedelta(days=30),
        end=timezone.now() - dt.timedelta(days=1),
    )


# Competitions


def test_anonymous_users_list_competitions(digits: Competition) -> None:
    response = api_client().get("/api/v1/competitions/")
    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["next"], body["previous"]) == (1, None, None)
    (item,) = body["results"]
    assert item["slug"] == "digits"
    assert item["title"] == "Handwritten digits"
    assert item["metric"] == "accuracy"
    assert item["memory_limit_bytes"] == 2 * 2**30
    assert item["time_limit_seconds"] == 600
    assert item["daily_submission_limit"] == 20


def test_anonymous_users_read_a_competition(digits: Competition) -> None:
    response = api_client().get("/api/v1/competitions/digits/")
    assert response.status_code == 200
    body = response.json()
    assert body["slug"] == "digits"
    assert body["target_columns"] == ["label"]
    assert body["overview"].startswith("## Recognise handwritten digits")
    assert "split_seed" not in body  # the seed of the hidden split is not published


def test_unknown_competition_is_404() -> None:
    assert api_client().get("/api/v1/competitions/nope/").status_code == 404


# Joining


def test_join_needs_authentication(digits: Competition) -> None:
    response = api_client().post("/api/v1/competitions/digits/join/")
    assert response.status_code == 401
    assert not TeamMembership.objects.exists()


def test_join_returns_the_team_and_is_idempotent(digits: Competition) -> None:
    client = api_client(UserFactory(username="robot"))

    first = client.post("/api/v1/competitions/digits/join/")
    second = client.post("/api/v1/competitions/digits/join/")

    assert first.status_code == 200
    assert first.json() == {"id": first.json()["id"], "name": "robot"}
    assert second.json() == first.json()
    assert TeamMembership.objects.get(user__username="robot").rules_accepted_at is not None


def test_join_after_the_end_is_400_with_the_reason(ended: Competition) -> None:
    response = api_client(UserFactory()).post("/api/v1/competitions/finished/join/")
    assert response.status_code == 400
    assert "has ended; entry is closed" in response.json()["detail"]


# Submitting


def test_post_submission_returns_201_with_id_and_queued_status(member: TeamMembership) -> None:
    response = api_client(member.user).post(
        "/api/v1/competitions/digits/submissions/",
        {"image": upload(), "description": "from the API"},
        format="multipart",
    )

    assert response.status_code == 201
    submission = Submission.objects.get()
    assert response.json() == {"id": submission.pk, "status": "queued", "runtime_image": None}
    assert submission.team == member.team
    assert submission.description == "from the API"
    assert submission.image.name.endswith(".tar.gz")


def test_post_submission_anonymously_is_401(digits: Competition) -> None:
    response = api_client().post(
        "/api/v1/competitions/digits/submissions/", {"image": upload()}, format="multipart"
    )
    assert response.status_code == 401
    assert not Submission.objects.exists()


def test_post_submission_without_joining_is_400_with_the_reason(digits: Competition) -> None:
    response = api_client(UserFactory()).post(
        "/api/v1/competitions/digits/submissions/", {"image": upload()}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json() == {
        "detail": "Join Handwritten digits (accept its rules) before you submit.",
        "code": "not_joined",
    }


def test_post_submission_without_an_image_is_400(member: TeamMembership) -> None:
    response = api_client(member.user).post(
        "/api/v1/competitions/digits/submissions/", {"description": "x"}, format="multipart"
    )
    assert response.status_code == 400
    assert "image" in response.json()


def test_post_submission_over_the_daily_limit_is_400(member: TeamMembership) -> None:
    member.competition.daily_submission_limit = 1
    member.competition.save(update_fields=["daily_submission_limit"])
    client = api_client(member.user)
    path = "/api/v1/competitions/digits/submissions/"

    assert client.post(path, {"image": upload()}, format="multipart").status_code == 201
    response = client.post(path, {"image": upload()}, format="multipart")

    assert response.status_code == 400
    assert response.json()["code"] == "daily_limit"
    assert "used all 1 of today's submissions (UTC day)" in response.json()["detail"]


def test_list_own_submissions(member: TeamMembership) -> None:
    mine = SubmissionFactory(team=member.team, private_score=PRIVATE_SCORE)
    SubmissionFactory(team__competition=member.competition)

    response = api_client(member.user).get("/api/v1/competitions/digits/submissions/")

    assert response.status_code == 200
    results = response.json()["results"]
    assert [s["id"] for s in results] == [mine.pk]
    assert results[0]["private_score"] is None


# Reading a submission


def test_get_own_submission_shows_status_failure_and_usage(member: TeamMembership) -> None:
    submission = SubmissionFactory(
        team=member.team,
        status=Submission.Status.FAILED,
        failure_kind=Submission.FailureKind.MEMORY_LIMIT,
        failure_message="The run used more than 2 GB of memory.",
        public_score=None,
        private_score=None,
        duration_seconds=12.4,
        peak_memory_bytes=2 * 2**30,
    )

    response = api_client(member.user).get(f"/api/v1/submissions/{submission.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == submission.pk
    assert body["competition"] == "digits"
    assert body["team"] == "api-team"
    assert body["status"] == "failed"
    assert body["failure_kind"] == "memory_limit"
    # A scored run's message comes from a template (competitions.run_reports), not the store.
    assert body["failure_message"].startswith("Your run exceeded the memory limit (2 GB)")
    assert body["public_score"] is None
    assert body["private_score"] is None
    assert body["duration_seconds"] == 12  # whole seconds
    assert body["peak_memory_bytes"] == 2 * 2**30


def test_get_another_teams_submission_is_404(member: TeamMembership) -> None:
    theirs = SubmissionFactory(team__competition=member.competition)
    response = api_client(member.user).get(f"/api/v1/submissions/{theirs.pk}/")
    assert response.status_code == 404


def test_get_a_submission_anonymously_is_401(member: TeamMembership) -> None:
    submission = SubmissionFactory(team=member.team)
    assert api_client().get(f"/api/v1/submissions/{submission.pk}/").status_code == 401


def test_private_score_is_null_before_the_end(member: TeamMembership) -> None:
    submission = SubmissionFactory(team=member.team, public_score=0.9, private_score=PRIVATE_SCORE)
    body = api_client(member.user).get(f"/api/v1/submissions/{submission.pk}/").json()
    assert body["public_score"] == pytest.approx(0.9)
    assert body["private_score"] is None


def test_private_score_is_shown_after_the_end(ended: Competition) -> None:
    membership = MembershipFactory(team__competition=ended)
    submission = SubmissionFactory(team=membership.team, private_score=PRIVATE_SCORE)
    body = api_client(membership.user).get(f"/api/v1/submissions/{submission.pk}/").json()
    assert body["private_score"] == pytest.approx(PRIVATE_SCORE)


def test_private_score_is_shown_once_revealed(member: TeamMembership) -> None:
    submission = SubmissionFactory(team=member.team, private_score=PRIVATE_SCORE)
    member.competition.private_revealed_at = timezone.now()
    member.competition.save(update_fields=["private_revealed_at"])
    body = api_client(member.user).get(f"/api/v1/submissions/{submission.pk}/").json()
    assert body["private_score"] == pytest.approx(PRIVATE_SCORE)


# Leaderboard


def test_public_leaderboard_entries(member: TeamMembership) -> None:
    first = SubmissionFactory(team=member.team, public_score=0.8, private_score=PRIVATE_SCORE)
    SubmissionFactory(team=member.team, public_score=0.7, created_at=first.created_at)
    SubmissionFactory(team__competition=member.competition, team__name="rivals", public_score=0.9)

    response = api_client().get("/api/v1/competitions/digits/leaderboard/")

    assert response.status_code == 200
    body = response.json()
    assert body["competition"] == "digits"
    assert body["kind"] == "public"
    assert body["metric"] == "accuracy"
    for entry in body["entries"]:  # the fields DESIGN.md fixes; more may be added
        assert {"rank", "team", "score", "submissions", "last_submission"} <= set(entry)
        assert "private_score" not in entry
        assert "submission_id" not in entry
    assert len(body["entries"]) == 2
    rivals, mine = body["entries"]
    assert (rivals["rank"], rivals["team"], rivals["submissions"]) == (1, "rivals", 1)
    assert rivals["score"] == pytest.approx(0.9)
    assert (mine["rank"], mine["team"], mine["submissions"]) == (2, "api-team", 2)
    assert mine["score"] == pytest.approx(0.8)
    assert dt.datetime.fromisoformat(mine["last_submission"]) == first.created_at
    assert str(PRIVATE_SCORE) not in response.content.decode()


def test_private_leaderboard_is_400_before_the_end(member: TeamMembership) -> None:
    SubmissionFactory(team=member.team, private_score=PRIVATE_SCORE)
    for client in (api_client(), api_client(member.user)):
        response = client.get("/api/v1/competitions/digits/leaderboard/?kind=private")
        assert response.status_code == 400
        assert response.json() == {
            "detail": "The private leaderboard is hidden until the competition ends.",
            "code": "private_hidden",
        }


def test_private_leaderboard_after_the_end(ended: Competition) -> None:
    SubmissionFactory(team__competition=ended, team__name="winners", private_score=PRIVATE_SCORE)
    response = api_client().get("/api/v1/competitions/finished/leaderboard/?kind=private")
    assert response.status_code == 200
    (entry,) = response.json()["entries"]
    assert entry["team"] == "winners"
    assert entry["score"] == pytest.approx(PRIVATE_SCORE)


def test_staff_read_the_private_leaderboard_before_the_end(member: TeamMembership) -> None:
    SubmissionFactory(team=member.team, private_score=PRIVATE_SCORE)
    response = api_client(UserFactory(is_staff=True)).get(
        "/api/v1/competitions/digits/leaderboard/?kind=private"
    )
    assert response.status_code == 200
    assert response.json()["entries"][0]["score"] == pytest.approx(PRIVATE_SCORE)


def test_unknown_leaderboard_kind_is_400(digits: Competition) -> None:
    response = api_client().get("/api/v1/competitions/digits/leaderboard/?kind=bogus")
    assert response.status_code == 400
    assert response.json() == {"detail": "Unknown leaderboard 'bogus': use public or private."}


def test_openapi_schema_is_served() -> None:
    response = api_client().get("/api/schema/")
    assert response.status_code == 200
    text = response.content.decode()
    assert "/api/v1/competitions/{slug}/leaderboard/" in text
    assert "/api/v1/submissions/{id}/" in text


def test_listing_submissions_takes_the_same_queries_for_1_and_20(member: TeamMembership) -> None:
    client = api_client(member.user)
    counts = []
    for n in (1, 19):
        for _ in range(n):
            SubmissionFactory(team=member.team)
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/api/v1/competitions/digits/submissions/").status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
