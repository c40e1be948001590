"""What each API endpoint does for a participant (permissions: test_api_permissions)."""

from __future__ import annotations

import re

import pytest
from apifixtures import Arena, make_arena, token_client
from artifacts import IMAGE_TAR
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from factories import SubmissionFactory, UserFactory
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.throttling import AnonRateThrottle

from competitions.models import Submission, TeamMembership

pytestmark = pytest.mark.django_db


def image(content: bytes = IMAGE_TAR) -> SimpleUploadedFile:
    return SimpleUploadedFile("image.tar", content, content_type="application/x-tar")


# Data files


def test_files_list_the_downloadable_data_with_links(arena: Arena, alice: APIClient) -> None:
    files = alice.get("/api/v1/competitions/arena/files/").json()
    assert [(f["kind"], f["name"], f["size"]) for f in files] == [
        ("sample_submission", "sample_submission.csv", arena.sample.size),
        ("train", "train.csv", arena.train.size),
    ]
    assert files[1]["sha256"] == arena.train.sha256
    assert files[1]["download_url"] == (
        f"http://testserver/api/v1/competitions/arena/files/{arena.train.pk}/download/"
    )


def test_download_streams_the_file_as_an_attachment(arena: Arena, alice: APIClient) -> None:
    response = alice.get(f"/api/v1/competitions/arena/files/{arena.train.pk}/download/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"id,pixels,label\n1,0 1,3\n"
    assert response["Content-Disposition"] == 'attachment; filename="train.csv"'


# Teams


def test_team_shows_members_and_quota(arena: Arena, alice: APIClient) -> None:
    body = alice.get("/api/v1/competitions/arena/team/").json()
    assert body["name"] == "us"
    assert body["competition"] == "arena"
    assert body["members"] == [{"username": "alice"}]
    assert (body["quota"]["used"], body["quota"]["limit"], body["quota"]["remaining"]) == (1, 3, 2)


def test_team_is_404_before_joining(arena: Arena) -> None:
    response = token_client(UserFactory()).get("/api/v1/competitions/arena/team/")
    assert response.status_code == 404
    assert response.json() == {"detail": "You have not joined The arena."}


def test_rename_the_team(arena: Arena, alice: APIClient) -> None:
    response = alice.patch("/api/v1/competitions/arena/team/", {"name": "Us two"}, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "Us two"
    taken = alice.patch("/api/v1/competitions/arena/team/", {"name": "them"}, format="json")
    assert taken.status_code == 400
    assert taken.json()["code"] == "name_taken"


def test_invite_accept_moves_the_invitee_into_the_team(arena: Arena, alice: APIClient) -> None:
    bob = UserFactory(username="bob")
    client = token_client(bob)
    client.post("/api/v1/competitions/arena/join/")
    sent = alice.post("/api/v1/competitions/arena/team/invitations/", {"username": "bob"})
    assert sent.status_code == 201
    assert [
        i["invitee"] for i in alice.get("/api/v1/competitions/arena/team/invitations/").json()
    ] == ["bob"]

    (received,) = client.get("/api/v1/invitations/?competition=arena").json()
    assert (received["team"], received["invited_by"]) == ("us", "alice")
    answer = client.post(f"/api/v1/invitations/{received['id']}/respond/", {"accept": True})

    assert answer.status_code == 200
    assert answer.json()["status"] == "accepted"
    assert TeamMembership.objects.get(user=bob).team == arena.me.team


def test_invite_cancel_withdraws_it(arena: Arena, alice: APIClient) -> None:
    token_client(UserFactory(username="bob")).post("/api/v1/competitions/arena/join/")
    pk = alice.post("/api/v1/competitions/arena/team/invitations/", {"username": "bob"}).json()[
        "id"
    ]
    response = alice.post(f"/api/v1/competitions/arena/team/invitations/{pk}/cancel/")
    assert response.json()["status"] == "cancelled"


def test_invite_an_unknown_user_is_400(arena: Arena, alice: APIClient) -> None:
    response = alice.post("/api/v1/competitions/arena/team/invitations/", {"username": "ghost"})
    assert response.status_code == 400
    assert response.json() == {
        "detail": "No participant of The arena is called 'ghost'. Check the spelling; they must "
        "join the competition (accept its rules) before they can be invited.",
        "code": "no_such_participant",
    }


def test_merge_request_accepted_by_the_target_team(arena: Arena, alice: APIClient) -> None:
    mallory = token_client(arena.rival.user)
    sent = mallory.post("/api/v1/competitions/arena/team/merge-requests/", {"target_team": "us"})
    assert sent.status_code == 201, sent.json()
    (pending,) = alice.get("/api/v1/competitions/arena/team/merge-requests/").json()
    assert (pending["source"], pending["target"]) == ("them", "us")

    response = alice.post(
        f"/api/v1/competitions/arena/team/merge-requests/{pending['id']}/respond/",
        {"accept": True},
    )

    assert response.status_code == 200
    assert response.json()["status"] == "accepted"
    assert TeamMembership.objects.get(user=arena.rival.user).team == arena.me.team


# Submissions


def test_submit_a_debug_run(arena: Arena, alice: APIClient) -> None:
    response = alice.post(
        "/api/v1/competitions/arena/submissions/",
        {"image": image(), "description": "try", "debug": "true"},
        format="multipart",
    )
    assert response.status_code == 201
    assert Submission.objects.get(pk=response.json()["id"]).is_debug


def test_submit_a_debug_run_where_there_are_none_is_400(arena: Arena, alice: APIClient) -> None:
    arena.competition.debug_sample_rows = 0
    arena.competition.save(update_fields=["debug_sample_rows"])
    response = alice.post(
        "/api/v1/competitions/arena/submissions/",
        {"image": image(), "debug": "true"},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "debug_unavailable"


def test_submit_needs_exactly_one_of_image_and_upload(arena: Arena, alice: APIClient) -> None:
    for data in ({}, {"image": image(), "upload": "abc"}):
        response = alice.post("/api/v1/competitions/arena/submissions/", data, format="multipart")
        assert response.status_code == 400
        assert "exactly one of them" in response.json()["image"][0]


def test_submit_a_finished_resumable_upload_by_its_id(arena: Arena, alice: APIClient) -> None:
    content = IMAGE_TAR
    created = alice.post(
        "/api/v1/uploads/",
        {"filename": "big.tar.gz", "size": len(content), "competition": "arena"},
        format="json",
    ).json()
    for offset in range(0, len(content), 1000):
        response = alice.generic(
            "PATCH",
            f"/api/v1/uploads/{created['id']}/",
            content[offset : offset + 1000],
            content_type="application/offset+octet-stream",
            HTTP_UPLOAD_OFFSET=str(offset),
        )
        assert response.status_code == 200, response.content

    response = alice.post(
        "/api/v1/competitions/arena/submissions/",
        {"upload": created["id"], "description": "resumed"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    submission = Submission.objects.get(pk=response.json()["id"])
    assert (submission.image_size, submission.description) == (len(content), "resumed")
    assert submission.image.name.endswith(".tar.gz")


def test_submit_an_unknown_upload_is_400(arena: Arena, alice: APIClient) -> None:
    response = alice.post(
        "/api/v1/competitions/arena/submissions/", {"upload": "nope"}, format="json"
    )
    assert response.status_code == 400
    assert "No such upload" in response.json()["detail"]


def test_detail_shows_the_queue_position(arena: Arena, alice: APIClient) -> None:
    queued = SubmissionFactory(
        team=arena.me.team, status="queued", public_score=None, private_score=None
    )
    body = alice.get(f"/api/v1/submissions/{queued.pk}/").json()
    assert (body["status"], body["queue_position"]) == ("queued", 1)


def test_cancel_a_queued_submission(arena: Arena, alice: APIClient) -> None:
    queued = SubmissionFactory(
        team=arena.me.team, status="queued", public_score=None, private_score=None
    )
    response = alice.post(f"/api/v1/submissions/{queued.pk}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    again = alice.post(f"/api/v1/submissions/{queued.pk}/cancel/")
    assert again.status_code == 400
    assert again.json()["code"] == "not_cancellable"


def test_select_and_unselect_a_final_submission(arena: Arena, alice: APIClient) -> None:
    path = f"/api/v1/submissions/{arena.mine.pk}/select/"
    assert alice.post(path, {"selected": True}, format="json").json()["is_selected"] is True
    assert alice.post(path, {"selected": False}, format="json").json()["is_selected"] is False


def test_submissions_are_paginated(arena: Arena, alice: APIClient) -> None:
    for _ in range(2):
        SubmissionFactory(team=arena.me.team)
    first = alice.get("/api/v1/competitions/arena/submissions/?page_size=2").json()
    assert first["count"] == 3
    assert len(first["results"]) == 2
    second = alice.get(first["next"]).json()
    assert len(second["results"]) == 1
    assert second["next"] is None


# Leaderboards


def test_leaderboard_entries_carry_no_submission_ids(arena: Arena) -> None:
    body = APIClient().get("/api/v1/competitions/arena/leaderboard/").json()
    assert [(e["rank"], e["team"]) for e in body["entries"]] == [(1, "them"), (2, "us")]
    assert all("submission_id" not in e and "team_id" not in e for e in body["entries"])


def test_shakeup_after_the_end(db: None) -> None:
    make_arena(slug="done", ended=True)
    response = APIClient().get("/api/v1/competitions/done/leaderboard/shakeup/")
    assert response.status_code == 200
    assert {m["team"] for m in response.json()} == {"us", "them"}


def test_shakeup_before_the_reveal_is_400(arena: Arena) -> None:
    response = APIClient().get("/api/v1/competitions/arena/leaderboard/shakeup/")
    assert response.status_code == 400
    assert response.json()["code"] == "private_hidden"


# Account token


def test_a_signed_in_user_sees_and_rotates_the_token(db: None) -> None:
    user: User = UserFactory(username="carol")
    client = APIClient()
    client.force_login(user)
    assert client.get("/api/v1/account/token/").json() == {"token": None, "created": None}

    first = client.post("/api/v1/account/token/")
    second = client.post("/api/v1/account/token/")

    assert first.status_code == second.status_code == 201
    assert first.json()["token"] != second.json()["token"]
    assert Token.objects.get(user=user).key == second.json()["token"]
    assert client.get("/api/v1/account/token/").json()["token"] == second.json()["token"]
    old = APIClient()
    old.credentials(HTTP_AUTHORIZATION=f"Token {first.json()['token']}")
    assert old.get("/api/v1/account/token/").status_code == 401


def test_session_posts_need_the_csrf_token(db: None) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(UserFactory())
    response = client.post("/api/v1/account/token/")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


# Platform


def test_anonymous_requests_are_throttled(arena: Arena, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(AnonRateThrottle, "THROTTLE_RATES", {"anon": "3/minute", "user": None})
    client = APIClient()
    codes = [client.get("/api/v1/competitions/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert "throttled" in client.get("/api/v1/competitions/").json()["detail"]


def test_docs_pages_are_served_without_a_cdn(db: None, settings) -> None:  # type: ignore[no-untyped-def]
    # Whitenoise serves collected static files in production (podiumctl up runs
    # collectstatic); here it looks them up where collectstatic would find them.
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True
    for path in ("/api/docs/", "/api/redoc/"):
        response = APIClient().get(path)
        assert response.status_code == 200
        html = response.content.decode()
        assert "cdn" not in html.lower()
        assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css|png))"', html)
        assert assets
        for asset in assets:
            assert asset.startswith("/static/drf_spectacular_sidecar/"), asset
            assert APIClient().get(asset).status_code == 200, asset


def test_schema_documents_every_api_path(db: None) -> None:
    text = APIClient().get("/api/schema/").content.decode()
    for path in (
        "/api/v1/competitions/{slug}/files/{id}/download/",
        "/api/v1/competitions/{slug}/team/",
        "/api/v1/submissions/{id}/log/",
        "/api/v1/submissions/{id}/cancel/",
        "/api/v1/submissions/{id}/select/",
        "/api/v1/account/token/",
        "/api/v1/uploads/",
    ):
        assert path in text


def test_competition_shows_its_state_and_limits(arena: Arena) -> None:
    body = APIClient().get("/api/v1/competitions/arena/").json()
    assert (body["is_open"], body["has_ended"], body["private_leaderboard_visible"]) == (
        True,
        False,
        False,
    )
    assert (body["daily_submission_limit"], body["log_visibility"]) == (3, "hidden")
