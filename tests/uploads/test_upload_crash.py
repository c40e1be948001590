"""Fault injection: the process submitting an upload dies half-way (kill -9 of a web
server process). Nothing may be lost: the upload, its bytes and the participant's place
stay, and the same upload can be submitted again at once."""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
import sys
import time
from pathlib import Path

import pytest
from artifacts import image_tar
from django.conf import settings
from django.test import Client
from django.utils import timezone
from factories import CompetitionFactory, MembershipFactory
from processes import process_env
from rest_framework.authtoken.models import Token

from competitions.models import Submission
from uploads.models import Upload
from uploads.services import upload_purge_orphan_images

ROOT = Path(__file__).resolve().parents[2]

# What a web process does for "submit this upload", stopped after the submission row and
# the image file were written but before the request's transaction committed.
CHILD = """
import sys, time
import django
django.setup()
from django.contrib.auth.models import User
from competitions.models import Competition
from competitions.services.submissions import submission_create
from uploads.services import upload_consume
user = User.objects.get(pk=int(sys.argv[1]))
competition = Competition.objects.get(pk=int(sys.argv[2]))
with upload_consume(user=user, upload_id=sys.argv[3], competition=competition) as image:
    submission_create(user=user, competition=competition, image=image)
    print("submission written", flush=True)
    time.sleep(600)
"""


def _images() -> set[Path]:
    return {p for p in (Path(settings.MEDIA_ROOT) / "submissions").rglob("*") if p.is_file()}


@pytest.mark.django_db(transaction=True)
def test_a_submit_killed_half_way_loses_nothing_and_can_be_repeated(tmp_path: Path) -> None:
    member = MembershipFactory(team__competition=CompetitionFactory(slug="digits"))
    competition = member.team.competition
    api = Client(headers={"Authorization": f"Token {Token.objects.create(user=member.user).key}"})
    data = image_tar(b"pretend docker save output " * 1000)
    upload_id = api.post(
        "/api/v1/uploads/",
        {"filename": "image.tar", "size": len(data), "competition": "digits"},
        "application/json",
    ).json()["id"]
    response = api.patch(
        f"/api/v1/uploads/{upload_id}/",
        data=data,
        content_type="application/offset+octet-stream",
        headers={"Upload-Offset": "0"},
    )
    assert response.json()["complete"] is True

    images_before = _images()
    log = tmp_path / "child.log"
    with log.open("wb") as out:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(member.user.pk), str(competition.pk), upload_id],
            cwd=ROOT, env=process_env(PYTHONPATH=str(ROOT)), stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while b"submission written" not in log.read_bytes():
                assert child.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        finally:
            child.kill()  # SIGKILL: no clean-up code runs
            child.wait()

    upload = Upload.objects.get(pk=upload_id)
    assert upload.path.read_bytes() == data
    assert not Submission.objects.exists()
    # The dead request had moved a copy of the image into storage: garbage now.
    orphans = sorted(_images() - images_before)
    assert len(orphans) == 1 and orphans[0].read_bytes() == data
    state = api.get(f"/api/v1/uploads/{upload_id}/").json()
    assert state["complete"] is True

    response = api.post(
        "/api/v1/competitions/digits/submissions/",
        {"upload": upload_id, "description": "again"},
        content_type="application/json",
    )

    assert response.status_code == 201, response.content
    submission = Submission.objects.get()
    assert submission.image_sha256 == hashlib.sha256(data).hexdigest()
    with submission.image.open("rb") as stored:
        assert stored.read() == data
    assert not Upload.objects.filter(pk=upload_id).exists()
    again = api.post(
        "/api/v1/competitions/digits/submissions/",
        {"upload": upload_id},
        content_type="application/json",
    )
    assert again.status_code == 400 and Submission.objects.count() == 1

    # The periodic purge removes the dead request's copy, once it is old enough, and
    # keeps the submission's image.
    assert upload_purge_orphan_images() == 0  # too recent: might be a request in flight
    later = timezone.now() + dt.timedelta(seconds=settings.UPLOAD_TEMP_GRACE_SECONDS + 60)
    assert upload_purge_orphan_images(now=later) >= 1  # (other tests' leftovers too)
    assert not orphans[0].exists()
    with submission.image.open("rb") as stored:
        assert stored.read() == data
