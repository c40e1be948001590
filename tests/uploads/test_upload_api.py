"""The resumable upload protocol, as the browser and the command-line client use it."""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import pytest
from artifacts import IMAGE_TAR
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from factories import CompetitionFactory, MembershipFactory, UserFactory
from rest_framework.authtoken.models import Token

from competitions.models import Submission, TeamMembership
from podium.errors import ApplicationError
from uploads.models import Upload
from uploads.services import upload_consume

pytestmark = pytest.mark.django_db

CREATE = "/api/v1/uploads/"
OCTETS = "application/offset+octet-stream"


def detail(upload_id: str) -> str:
    return f"/api/v1/uploads/{upload_id}/"


@pytest.fixture
def member() -> TeamMembership:
    return MembershipFactory(team__competition=CompetitionFactory(slug="digits"))


@pytest.fixture
def api(member: TeamMembership) -> Client:
    token = Token.objects.create(user=member.user)
    return Client(headers={"Authorization": f"Token {token.key}"})


def start(api: Client, size: int, filename: str = "image.tar.gz") -> dict:
    response = api.post(
        CREATE,
        {"filename": filename, "size": size, "competition": "digits"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def send(api: Client, upload_id: str, offset: int, data: bytes):
    return api.patch(
        detail(upload_id), data=data, content_type=OCTETS, headers={"Upload-Offset": str(offset)}
    )


def test_create_answers_id_offset_size_and_chunk_size(api: Client) -> None:
    body = start(api, 1000)
    assert body["offset"] == 0
    assert body["size"] == 1000
    assert body["chunk_size"] == 8 * 1024 * 1024
    upload = Upload.objects.get(pk=body["id"])
    assert upload.path.exists() and upload.path.stat().st_size == 0


def test_create_refuses_a_size_over_the_image_limit(api: Client, member) -> None:
    competition = member.team.competition
    competition.image_size_limit_bytes = 1024
    competition.save(update_fields=["image_size_limit_bytes"])
    response = api.post(
        CREATE,
        {"filename": "big.tar", "size": 4096, "competition": "digits"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "The image archive is 4 KB; the limit is 1 KB." in response.json()["detail"]
    assert not Upload.objects.exists()


def test_create_refuses_a_participant_who_has_not_joined(member) -> None:
    stranger = Client()
    stranger.force_login(UserFactory())
    response = stranger.post(
        CREATE, {"filename": "a.tar", "size": 10, "competition": "digits"}, "application/json"
    )
    assert response.status_code == 400
    assert "accept its rules" in response.json()["detail"]


def test_create_needs_authentication(member) -> None:
    response = Client().post(
        CREATE, {"filename": "a.tar", "size": 10, "competition": "digits"}, "application/json"
    )
    assert response.status_code in (401, 403)


def test_chunks_in_order_complete_the_upload_with_the_exact_bytes(api: Client) -> None:
    data = bytes(range(256)) * 40
    upload_id = start(api, len(data))["id"]

    first = send(api, upload_id, 0, data[:4000])
    second = send(api, upload_id, 4000, data[4000:])

    assert first.status_code == 200 and first.json() == {"offset": 4000, "complete": False}
    assert second.json() == {"offset": len(data), "complete": True}
    assert Upload.objects.get(pk=upload_id).path.read_bytes() == data
    state = api.get(detail(upload_id)).json()
    assert state == {
        "id": upload_id,
        "offset": len(data),
        "size": len(data),
        "complete": True,
        "filename": "image.tar.gz",
    }


def test_a_wrong_offset_is_409_with_the_servers_offset(api: Client) -> None:
    upload_id = start(api, 100)["id"]
    send(api, upload_id, 0, b"a" * 30)

    again = send(api, upload_id, 0, b"a" * 30)  # a retry of a chunk that did arrive
    ahead = send(api, upload_id, 60, b"b" * 10)

    assert again.status_code == 409 and again.json()["offset"] == 30
    assert ahead.status_code == 409 and ahead.json()["offset"] == 30
    assert Upload.objects.get(pk=upload_id).offset == 30


def test_bytes_beyond_the_size_are_refused(api: Client) -> None:
    upload_id = start(api, 10)["id"]
    response = send(api, upload_id, 0, b"x" * 11)
    assert response.status_code == 400
    assert "1 bytes beyond the announced size of 10 bytes" in response.json()["detail"]
    assert Upload.objects.get(pk=upload_id).offset == 0


def test_a_chunk_over_64_mib_is_refused_before_reading(api: Client) -> None:
    upload_id = start(api, 10)["id"]
    response = api.patch(
        detail(upload_id),
        data=b"x",
        content_type=OCTETS,
        headers={"Upload-Offset": "0"},
        CONTENT_LENGTH=str(64 * 1024 * 1024 + 1),
    )
    assert response.status_code == 400
    assert "at most 64 MB" in response.json()["detail"]


def test_a_missing_or_bad_offset_header_is_400(api: Client) -> None:
    upload_id = start(api, 10)["id"]
    response = api.patch(detail(upload_id), data=b"x", content_type=OCTETS)
    assert response.status_code == 400
    assert "Upload-Offset" in response.json()["detail"]


class Dropping(io.RawIOBase):
    """A request body whose connection breaks after `keep` bytes."""

    def __init__(self, data: bytes, keep: int) -> None:
        self.data, self.keep, self.pos = data, keep, 0

    def read(self, size: int = -1) -> bytes:
        if self.pos >= self.keep:
            raise OSError("connection reset by peer")
        piece = self.data[self.pos : min(self.pos + size, self.keep)]
        self.pos += len(piece)
        return piece


def test_a_dropped_connection_keeps_the_bytes_that_arrived(member) -> None:
    from uploads.services import upload_append, upload_create

    data = b"z" * (3 * 1024 * 1024)
    upload = upload_create(
        user=member.user, competition=member.team.competition, filename="a.tar", size=len(data)
    )
    keep = 1024 * 1024 + 5
    upload = upload_append(upload=upload, offset=0, stream=Dropping(data, keep), length=len(data))
    assert upload.offset == keep
    assert Upload.objects.get(pk=upload.pk).offset == keep

    upload = upload_append(
        upload=upload, offset=keep, stream=io.BytesIO(data[keep:]), length=len(data) - keep
    )
    assert upload.complete
    assert upload.path.read_bytes() == data


def test_uploads_are_visible_to_their_owner_only(api: Client, member) -> None:
    upload_id = start(api, 10)["id"]
    other = Client()
    other.force_login(MembershipFactory(team__competition=member.team.competition).user)
    assert other.get(detail(upload_id)).status_code == 404
    assert send(other, upload_id, 0, b"x").status_code == 404
    assert other.get(detail("not-a-uuid")).status_code == 404


def test_session_auth_needs_the_csrf_header(member) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(member.user)
    body = {"filename": "a.tar", "size": 10, "competition": "digits"}
    assert browser.post(CREATE, body, "application/json").status_code == 403
    browser.get("/accounts/login/")  # sets the csrftoken cookie
    token = browser.cookies["csrftoken"].value
    response = browser.post(CREATE, body, "application/json", headers={"X-CSRFToken": token})
    assert response.status_code == 201
    upload_id = response.json()["id"]
    response = browser.patch(
        detail(upload_id),
        data=b"0123456789",
        content_type=OCTETS,
        headers={"Upload-Offset": "0", "X-CSRFToken": token},
    )
    assert response.json() == {"offset": 10, "complete": True}


def test_consume_makes_a_submission_and_deletes_the_upload(
    api: Client, member, django_capture_on_commit_callbacks
) -> None:
    from competitions.services.submissions import submission_create

    data = IMAGE_TAR
    upload_id = start(api, len(data))["id"]
    send(api, upload_id, 0, data)
    path = Upload.objects.get(pk=upload_id).path

    with (
        django_capture_on_commit_callbacks(execute=True),
        upload_consume(user=member.user, upload_id=upload_id) as image,
    ):
        assert image.name == "image.tar.gz"
        submission = submission_create(
            user=member.user, competition=member.team.competition, image=image
        )

    submission.refresh_from_db()
    assert submission.image_size == len(data)
    assert submission.image_sha256 == hashlib.sha256(data).hexdigest()
    assert submission.image.name.endswith(".tar.gz")
    with submission.image.open("rb") as stored:
        assert stored.read() == data
    assert not Upload.objects.filter(pk=upload_id).exists()
    assert not path.exists() and not list(path.parent.glob(f"{path.stem}*"))
    assert Submission.objects.count() == 1


def test_consume_refuses_incomplete_and_foreign_uploads(api: Client, member) -> None:
    upload_id = start(api, 100)["id"]
    send(api, upload_id, 0, b"x" * 50)
    incomplete = "The upload is incomplete: 50 B of 100 B"
    with (
        pytest.raises(ApplicationError, match=incomplete),
        upload_consume(user=member.user, upload_id=upload_id),
    ):
        pass
    with (
        pytest.raises(ApplicationError, match="No such upload"),
        upload_consume(user=UserFactory(), upload_id=upload_id),
    ):
        pass


def test_a_failed_submission_keeps_the_upload_for_another_try(api: Client, member) -> None:
    upload_id = start(api, 3)["id"]
    send(api, upload_id, 0, b"abc")
    with (
        pytest.raises(ApplicationError, match="quota"),
        upload_consume(user=member.user, upload_id=upload_id),
    ):
        raise ApplicationError("quota")
    upload = Upload.objects.get(pk=upload_id)
    assert upload.path.read_bytes() == b"abc"
    assert [p.name for p in upload.path.parent.glob(f"{upload.path.stem}*")] == [upload.path.name]


def test_purge_deletes_uploads_untouched_for_a_day(api: Client) -> None:
    old_id = start(api, 10)["id"]
    fresh_id = start(api, 10)["id"]
    Upload.objects.filter(pk=old_id).update(updated_at=timezone.now() - dt.timedelta(hours=25))
    old_path = Upload.objects.get(pk=old_id).path

    out = io.StringIO()
    call_command("purge_uploads", stdout=out)

    assert "Deleted 1 expired upload(s)" in out.getvalue()
    assert not Upload.objects.filter(pk=old_id).exists() and not old_path.exists()
    assert Upload.objects.filter(pk=fresh_id).exists()
