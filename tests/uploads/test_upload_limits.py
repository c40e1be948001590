"""What one participant can put on the platform's disk: open uploads are bounded (count and
bytes) and refused before any byte; direct uploads are judged by their declared length
before their body is read; abandoned uploads and stray files are purged on a schedule."""

from __future__ import annotations

import datetime as dt
import io
import os
import time

import pytest
from artifacts import IMAGE_TAR
from django.conf import settings
from django.test import Client
from django.utils import timezone
from factories import CompetitionFactory, MembershipFactory
from rest_framework.authtoken.models import Token

from competitions.models import Submission, TeamMembership
from podium.celery import app
from uploads.models import Upload
from uploads.services import upload_purge
from uploads.tasks import purge_uploads

pytestmark = pytest.mark.django_db

CREATE = "/api/v1/uploads/"


@pytest.fixture
def member() -> TeamMembership:
    return MembershipFactory(team__competition=CompetitionFactory(slug="digits"))


@pytest.fixture
def api(member: TeamMembership) -> Client:
    token = Token.objects.create(user=member.user)
    return Client(headers={"Authorization": f"Token {token.key}"})


def create(api: Client, size: int):
    return api.post(
        CREATE, {"filename": "a.tar", "size": size, "competition": "digits"}, "application/json"
    )


def test_open_uploads_over_the_count_quota_are_refused_before_any_byte(api, settings) -> None:
    settings.UPLOAD_MAX_OPEN = 2
    assert create(api, 10).status_code == 201
    assert create(api, 10).status_code == 201
    files_before = sorted(os.listdir(settings.UPLOADS_DIR))

    response = create(api, 10)

    assert response.status_code == 400
    assert response.json()["code"] == "upload_quota"
    assert "2 unfinished or unsubmitted upload(s); the limit is 2" in response.json()["detail"]
    assert Upload.objects.count() == 2
    assert sorted(os.listdir(settings.UPLOADS_DIR)) == files_before


def test_open_uploads_over_the_byte_quota_are_refused(api, settings) -> None:
    settings.UPLOAD_MAX_OPEN_BYTES = 3072
    assert create(api, 2048).status_code == 201

    response = create(api, 1025)

    assert response.status_code == 400
    assert "would exceed your limit of 3 KB" in response.json()["detail"]
    assert create(api, 1024).status_code == 201  # exactly at the limit


def test_a_deleted_upload_frees_its_place_in_the_quota(api, settings) -> None:
    settings.UPLOAD_MAX_OPEN = 1
    upload_id = create(api, 10).json()["id"]
    path = Upload.objects.get(pk=upload_id).path
    assert create(api, 10).status_code == 400

    assert api.delete(f"{CREATE}{upload_id}/").status_code == 204

    assert not path.exists()
    assert create(api, 10).status_code == 201


def test_another_user_cannot_delete_an_upload(api, member) -> None:
    upload_id = create(api, 10).json()["id"]
    other = Client()
    other.force_login(MembershipFactory(team__competition=member.team.competition).user)
    assert other.delete(f"{CREATE}{upload_id}/").status_code == 404
    assert Upload.objects.filter(pk=upload_id).exists()


class Untouchable(io.RawIOBase):
    """A request body that fails the test if anyone reads it."""

    reads = 0

    def read(self, size: int = -1) -> bytes:
        Untouchable.reads += 1
        raise AssertionError("the body was read")

    def readline(self, size: int = -1) -> bytes:
        return self.read(size)


@pytest.mark.parametrize("declared", ["", str(5 * 1024 * 1024)])
def test_a_direct_upload_over_the_image_limit_is_refused_before_its_body_is_read(
    api, member, declared
) -> None:
    competition = member.team.competition
    competition.image_size_limit_bytes = 1024
    competition.save(update_fields=["image_size_limit_bytes"])
    Untouchable.reads = 0
    # An empty CONTENT_LENGTH is how WSGI servers pass a body sent without a length.
    extra = {
        "wsgi.input": Untouchable(),
        "CONTENT_LENGTH": declared,
        "CONTENT_TYPE": "multipart/form-data; boundary=xyz",
    }

    response = api.generic(
        "POST",
        "/api/v1/competitions/digits/submissions/",
        b"",
        **extra,
    )

    assert response.status_code == 400, response.content
    assert Untouchable.reads == 0
    if not declared:
        assert response.json()["code"] == "length_required"
    else:
        assert response.json()["code"] == "image_too_large"
        assert "the limit is 1 KB" in response.json()["detail"]
    assert not Submission.objects.exists()


def test_a_direct_upload_within_the_limit_still_works(api, member) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = api.post(
        "/api/v1/competitions/digits/submissions/",
        {"image": SimpleUploadedFile("image.tar", IMAGE_TAR), "description": "x"},
    )
    assert response.status_code == 201, response.content


def _age(path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_the_periodic_purge_removes_abandoned_uploads_and_stray_files(api) -> None:
    grace = settings.UPLOAD_TEMP_GRACE_SECONDS
    abandoned = Upload.objects.get(pk=create(api, 10).json()["id"])
    live = Upload.objects.get(pk=create(api, 10).json()["id"])
    # A submission that a crashed request had started (the old code's claim) is no shield.
    Upload.objects.filter(pk=abandoned.pk).update(
        updated_at=timezone.now() - dt.timedelta(hours=25), consumed_at=timezone.now()
    )
    _age(live.path, grace + 60)  # an upload's own file is never stray, however old
    uploads_dir, temp_dir = settings.UPLOADS_DIR, settings.FILE_UPLOAD_TEMP_DIR
    stray = uploads_dir / "0123.abcd.submit"
    stray.write_bytes(b"left by a crash")
    _age(stray, grace + 60)
    temp_old = os.path.join(temp_dir, "tmpold.upload")
    temp_new = os.path.join(temp_dir, "tmpnew.upload")
    for name in (temp_old, temp_new):
        with open(name, "wb") as out:
            out.write(b"request body")
    _age(temp_old, grace + 60)

    counts = purge_uploads.apply().get()

    assert counts["uploads"] == 1 and counts["files"] >= 2
    assert not Upload.objects.filter(pk=abandoned.pk).exists() and not abandoned.path.exists()
    assert live.path.exists() and Upload.objects.filter(pk=live.pk).exists()
    assert not stray.exists() and not os.path.exists(temp_old)
    assert os.path.exists(temp_new)  # may be a request streaming right now
    os.unlink(temp_new)
    assert upload_purge() == {"uploads": 0, "files": 0, "images": 0}


def test_the_purge_is_scheduled_on_a_queue_the_worker_consumes() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["uploads-purge"]
    assert entry["task"] == "uploads.purge" and entry["task"] in app.tasks
    assert entry["options"]["queue"] == "default"
    assert 0 < entry["schedule"] <= 24 * 3600
    worker_line = next(
        line
        for line in (settings.BASE_DIR / "podiumctl").read_text().splitlines()
        if "celery" in line and " worker" in line
    )
    assert " -B " in worker_line and "default" in worker_line


@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_cannot_both_take_the_last_place(settings) -> None:
    import threading

    from django.db import connection

    from podium.errors import ApplicationError
    from uploads.services import upload_create

    settings.UPLOAD_MAX_OPEN = 1
    member = MembershipFactory(team__competition=CompetitionFactory(slug="race"))
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def create_one() -> None:
        try:
            barrier.wait()
            upload_create(
                user=member.user, competition=member.team.competition, filename="a", size=10
            )
            outcomes.append("created")
        except ApplicationError as exc:
            outcomes.append(exc.extra.get("code", "error"))
        finally:
            connection.close()

    threads = [threading.Thread(target=create_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["created"] + ["upload_quota"] * 3
    assert Upload.objects.filter(user=member.user).count() == 1


def test_the_submit_page_refuses_a_form_upload_over_the_limit_before_reading_it(member) -> None:
    competition = member.team.competition
    competition.image_size_limit_bytes = 1024
    competition.save(update_fields=["image_size_limit_bytes"])
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(member.user)
    Untouchable.reads = 0
    url = f"/c/{competition.slug}/submit/"

    response = browser.generic(
        "POST",
        url,
        b"",
        **{
            "wsgi.input": Untouchable(),
            "CONTENT_LENGTH": str(5 * 1024 * 1024),
            "CONTENT_TYPE": "multipart/form-data; boundary=xyz",
        },
    )

    assert Untouchable.reads == 0
    assert response.status_code == 302 and response["Location"] == url
    page = browser.get(url).content.decode()
    assert "The image archive is 4 MB; the limit is 1 KB." in page
    assert not Submission.objects.exists()


def test_the_submit_page_still_checks_csrf_for_uploads_within_the_limit(member) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(member.user)
    url = f"/c/{member.team.competition.slug}/submit/"
    response = browser.post(url, {"image": SimpleUploadedFile("image.tar", IMAGE_TAR)})
    assert response.status_code == 403
    assert not Submission.objects.exists()
    browser.get(url)
    token = browser.cookies["csrftoken"].value
    response = browser.post(
        url, {"image": SimpleUploadedFile("image.tar", IMAGE_TAR), "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302 and Submission.objects.count() == 1
