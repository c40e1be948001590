"""PODIUM_STORAGE=s3: every stored file in an S3-compatible bucket (a real server on
loopback, tests/s3server.py), none of them public, none under MEDIA_ROOT; a file changed
in the bucket is refused, an unreachable bucket is an OSError (the platform's fault)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from artifacts import IMAGE_TAR
from botocore.config import Config
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from factories import MembershipFactory, SubmissionFactory
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from s3server import BUCKET, S3Server

from competitions.bundles import competition_import_bundle
from competitions.evaluation.data import StoredFileChanged, competition_data_prepare
from competitions.models import Competition, CompetitionFile, Submission
from podium.storage import PrivateS3Storage
from uploads.services import upload_purge_orphan_images

ROOT = Path(__file__).resolve().parents[2]
PRINT_STORAGE = "import json, podium.settings as s; print(json.dumps(s.STORAGES['default']))"


def _settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {"PATH": os.environ.get("PATH", ""), "PODIUM_HOME": str(tmp_path), **env}
    return subprocess.run(
        [sys.executable, "-c", PRINT_STORAGE],
        cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_settings_keep_the_file_system_by_default_and_build_the_bucket_from_the_environment(
    tmp_path: Path,
) -> None:
    default = _settings(tmp_path)
    assert default.returncode == 0, default.stderr
    assert json.loads(default.stdout)["BACKEND"] == "django.core.files.storage.FileSystemStorage"

    server = S3Server(port=9, prefix="/platform/")
    s3 = _settings(tmp_path, **server.env())
    assert s3.returncode == 0, s3.stderr
    assert json.loads(s3.stdout) == {**S3Server(port=9, prefix="platform").storages({})["default"]}

    bogus = _settings(tmp_path, PODIUM_STORAGE="nfs")
    assert bogus.returncode != 0
    assert "PODIUM_STORAGE='nfs': use local or s3." in bogus.stderr
    no_bucket = _settings(tmp_path, PODIUM_STORAGE="s3")
    assert no_bucket.returncode != 0
    assert "PODIUM_S3_BUCKET" in no_bucket.stderr


def test_a_public_acl_or_unsigned_urls_are_refused_at_start() -> None:
    for options in (
        {"default_acl": "public-read"},
        {"custom_domain": "cdn.example"},
        {"querystring_auth": False},
    ):
        with pytest.raises(ImproperlyConfigured):
            PrivateS3Storage(bucket_name=BUCKET, **options)


@pytest.mark.django_db
def test_data_and_submissions_live_in_the_bucket_private_and_the_solution_is_never_served(
    s3_storage: S3Server, digits_bundle: Path
) -> None:
    competition, _ = competition_import_bundle(bundle_dir=digits_bundle)
    member = MembershipFactory(team__competition=competition, user__username="ada")
    token, _ = Token.objects.get_or_create(user=member.user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    response = api.post(
        f"/api/v1/competitions/{competition.slug}/submissions/",
        {"image": ContentFile(IMAGE_TAR, name="image.tar")},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    submission = Submission.objects.get(pk=response.json()["id"])

    # A resumable (tus) upload is staged locally, then goes into the bucket; a re-run of
    # a kept artifact (by its SHA-256) is copied from the bucket into the bucket.
    created = api.post(
        "/api/v1/uploads/",
        {"filename": "image.tar", "size": len(IMAGE_TAR), "competition": competition.slug},
        format="json",
    )
    assert created.status_code == 201, created.content
    sent = api.generic(
        "PATCH",
        f"/api/v1/uploads/{created.json()['id']}/",
        IMAGE_TAR,
        content_type="application/offset+octet-stream",
        headers={"Upload-Offset": "0"},
    )
    assert sent.json() == {"offset": len(IMAGE_TAR), "complete": True}, sent.content
    # (Its first run is over, as far as the concurrent-run limit goes.)
    Submission.objects.filter(pk=submission.pk).update(status=Submission.Status.CANCELLED)
    later = [
        api.post(f"/api/v1/competitions/{competition.slug}/submissions/", body, format="json")
        for body in ({"upload": created.json()["id"]}, {"sha256": submission.image_sha256})
    ]
    assert [r.status_code for r in later] == [201, 201], [r.content for r in later]
    others = Submission.objects.filter(pk__in=[r.json()["id"] for r in later])
    for other in others:
        assert other.image.name != submission.image.name
        with other.image.open("rb") as fh:
            assert fh.read() == IMAGE_TAR

    stored = [f.file.name for f in competition.files.all()]
    stored += [s.image.name for s in (submission, *others)]
    keys = set(s3_storage.object_keys())
    for name in stored:
        assert f"{s3_storage.prefix}/{name}" in keys
        assert not (Path(settings.MEDIA_ROOT) / name).exists()
    with submission.image.open("rb") as fh:
        assert fh.read() == IMAGE_TAR

    # Nobody reaches an object without the platform's keys, and nothing was made public.
    for key in keys:
        if not key.startswith(s3_storage.prefix + "/"):
            continue
        assert requests.get(f"{s3_storage.endpoint}/{BUCKET}/{key}", timeout=30).status_code == 403
        grants = s3_storage.client().get_object_acl(Bucket=BUCKET, Key=key)["Grants"]
        assert all("URI" not in g["Grantee"] for g in grants), (key, grants)
    url = default_storage.url(submission.image.name)
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=300" in url

    # The participant downloads the training data from the bucket, never the solution.
    browser = Client()
    browser.force_login(member.user)
    train = competition.files.get(kind=CompetitionFile.Kind.TRAIN)
    page = browser.get(reverse("competitions:download", args=[competition.slug, train.pk]))
    assert page.status_code == 200
    assert b"".join(page.streaming_content) == (digits_bundle / "train" / train.name).read_bytes()
    solution = competition.files.get(kind=CompetitionFile.Kind.SOLUTION)
    for url in (
        reverse("competitions:download", args=[competition.slug, solution.pk]),
        f"/api/v1/competitions/{competition.slug}/files/{solution.pk}/download/",
    ):
        assert browser.get(url).status_code == 404
        assert api.get(url).status_code == 404


@pytest.mark.django_db
def test_a_file_changed_in_the_bucket_is_refused_not_run_on(
    s3_storage: S3Server, digits_bundle: Path, settings: Any, tmp_path: Path
) -> None:
    # A work folder of its own: another test's copy of the same data version (same ids
    # and checksums after a rollback) would be used as it is, never read from the bucket.
    settings.PODIUM_WORK_DIR = tmp_path / "work"
    competition, _ = competition_import_bundle(bundle_dir=digits_bundle)
    solution = competition.files.get(kind=CompetitionFile.Kind.SOLUTION)
    s3_storage.client().put_object(
        Bucket=BUCKET, Key=f"{s3_storage.prefix}/{solution.file.name}", Body=b"id,label\n1,0\n"
    )
    with pytest.raises(StoredFileChanged, match="SHA-256"):
        competition_data_prepare(competition=Competition.objects.get(pk=competition.pk))
    prepared = Path(settings.PODIUM_WORK_DIR) / "data" / competition.slug
    assert not any(prepared.glob("*/.complete"))


def test_an_unreachable_bucket_is_an_oserror(s3_server: S3Server) -> None:
    closed = S3Server(prefix="x")  # a free port nobody listens on
    storage = PrivateS3Storage(**closed.storages({})["default"]["OPTIONS"])
    storage.connection.meta.client.meta.config.retries = {"max_attempts": 1}
    with pytest.raises(OSError, match="S3 storage could not"):
        storage.open("a.csv")
    with pytest.raises(OSError, match="S3 storage could not"):
        storage.save("a.csv", ContentFile(b"x"))
    with pytest.raises(OSError, match="S3 storage could not"):
        storage.exists("a.csv")


@pytest.mark.django_db
def test_a_storage_outage_answers_503_naming_the_platform_and_records_nothing(
    s3_storage: S3Server, digits_bundle: Path, settings: Any
) -> None:
    competition, _ = competition_import_bundle(bundle_dir=digits_bundle)
    member = MembershipFactory(team__competition=competition, user__username="ada")
    token, _ = Token.objects.get_or_create(user=member.user)
    train = competition.files.get(kind=CompetitionFile.Kind.TRAIN)
    down = S3Server(prefix=s3_storage.prefix).storages(settings.STORAGES)  # nobody listens
    down["default"]["OPTIONS"]["client_config"] = Config(
        retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2
    )
    settings.STORAGES = down

    browser = Client()
    browser.force_login(member.user)
    page = browser.get(reverse("competitions:download", args=[competition.slug, train.pk]))
    assert page.status_code == 503 and page["Retry-After"] == "60"
    assert "our fault, not yours" in page.content.decode()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    answer = api.get(f"/api/v1/competitions/{competition.slug}/files/{train.pk}/download/")
    assert answer.status_code == 503 and answer.json()["code"] == "storage_unavailable"
    posted = api.post(
        f"/api/v1/competitions/{competition.slug}/submissions/",
        {"image": ContentFile(IMAGE_TAR, name="image.tar")},
        format="multipart",
    )
    assert posted.status_code == 503, posted.content
    assert "our fault" in posted.json()["detail"]
    assert not Submission.objects.filter(team=member.team).exists()  # nothing counted
    # Staff still get the competition's page, which says why the files have no size.
    staff = Client()
    staff.force_login(User.objects.create_superuser("olga", "olga@example.org", "x"))
    admin_page = staff.get(reverse("admin:competitions_competition_change", args=[competition.pk]))
    assert admin_page.status_code == 200
    assert "train.csv (storage unreachable just now)" in admin_page.content.decode()


@pytest.mark.django_db
def test_the_purge_deletes_orphaned_images_in_the_bucket_only(s3_storage: S3Server) -> None:
    member = MembershipFactory(team__competition__slug="purge-s3")
    kept = SubmissionFactory(team=member.team, user=member.user)
    orphan = default_storage.save("submissions/purge-s3/orphan.tar", ContentFile(b"x"))
    assert upload_purge_orphan_images() == 0  # too recent: a request may be writing it
    later = timezone.now() + dt.timedelta(seconds=settings.UPLOAD_TEMP_GRACE_SECONDS + 60)
    assert upload_purge_orphan_images(now=later) == 1
    assert not default_storage.exists(orphan)
    assert default_storage.exists(kept.image.name)
