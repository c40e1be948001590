"""Uploads speak tus 1.0: a standard client (tuspy) uploads an image through the same
endpoint the site and the `podium` client use, and the submission is made from it; the
platform's checks hold for tus requests (declared length over the limit or the quota is
refused before any byte, a chunk with a wrong checksum is discarded)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import sys
import tarfile
from pathlib import Path

import pytest
import requests
from django.core.cache import cache
from factories import CompetitionFactory, MembershipFactory
from rest_framework.authtoken.models import Token
from tusclient import client as tus_client

from competitions.models import Submission
from uploads.models import Upload

# The live server as the API tests start it (see tests/api/apifixtures.py).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "api"))
import apifixtures

_media_url_while_the_live_server_starts = apifixtures._media_url_while_the_live_server_starts
live_server = apifixtures.live_server

TUS = {"Tus-Resumable": "1.0.0"}
CHUNK = {"Content-Type": "application/offset+octet-stream"}


def image_archive(layer_bytes: int = 300_000) -> bytes:
    """A small `docker save`-shaped tar: manifest.json, a config, one layer."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        layer = os.urandom(layer_bytes)
        config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
        manifest = json.dumps(
            [{"Config": "config.json", "RepoTags": ["me/model:1"], "Layers": ["l/layer.tar"]}]
        ).encode()
        for name, data in (
            ("manifest.json", manifest),
            ("config.json", config),
            ("l/layer.tar", layer),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def setup(live_server, transactional_db, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(
        "competitions.evaluation.tasks.enqueue_evaluation", lambda submission_id: None
    )
    cache.clear()
    member = MembershipFactory(team__competition=CompetitionFactory(slug="digits"))
    token = Token.objects.create(user=member.user)
    auth = {"Authorization": f"Token {token.key}"}
    return live_server.url, auth, member


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_tuspy_uploads_an_image_and_the_submission_is_made(setup) -> None:
    url, auth, member = setup
    data = image_archive()
    client = tus_client.TusClient(f"{url}/api/v1/uploads/", headers=auth)
    uploader = client.uploader(
        file_stream=io.BytesIO(data),
        chunk_size=64 * 1024,  # several PATCH requests
        metadata={"competition": "digits", "filename": "model.tar"},
        upload_checksum=True,  # tuspy sends a sha1 Upload-Checksum with every chunk
    )
    uploader.upload()

    upload_id = uploader.url.rstrip("/").rsplit("/", 1)[-1]
    upload = Upload.objects.get(pk=upload_id)
    assert upload.complete and upload.size == len(data) and upload.filename == "model.tar"
    assert upload.path.read_bytes() == data
    created = requests.post(
        f"{url}/api/v1/competitions/digits/submissions/",
        json={"upload": upload_id, "description": "via tus"},
        headers=auth,
        timeout=60,
    )
    assert created.status_code == 201, created.text
    submission = Submission.objects.get(pk=created.json()["id"])
    assert submission.team == member.team and submission.description == "via tus"
    assert submission.image_size == len(data)
    assert submission.image_sha256 == hashlib.sha256(data).hexdigest()
    assert not Upload.objects.filter(pk=upload_id).exists()  # moved into the submission


def test_tus_discovery_head_and_termination(setup) -> None:
    url, auth, _ = setup
    options = requests.options(f"{url}/api/v1/uploads/", headers=auth, timeout=30)
    assert options.status_code == 204
    assert options.headers["Tus-Version"] == "1.0.0"
    assert set(options.headers["Tus-Extension"].split(",")) == {
        "creation",
        "termination",
        "checksum",
    }
    assert "sha1" in options.headers["Tus-Checksum-Algorithm"]

    created = requests.post(
        f"{url}/api/v1/uploads/",
        headers={
            **auth,
            **TUS,
            "Upload-Length": "10",
            "Upload-Metadata": f"competition {b64('digits')},filename {b64('x.tar')}",
        },
        timeout=30,
    )
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    assert created.headers["Tus-Resumable"] == "1.0.0"
    patch = requests.patch(
        location,
        data=b"01234",
        headers={**auth, **TUS, "Upload-Offset": "0", **CHUNK},
        timeout=30,
    )
    assert patch.status_code == 204 and patch.headers["Upload-Offset"] == "5"
    head = requests.head(location, headers={**auth, **TUS}, timeout=30)
    assert head.status_code == 200
    assert (head.headers["Upload-Offset"], head.headers["Upload-Length"]) == ("5", "10")
    assert head.headers["Cache-Control"] == "no-store"
    stale = requests.patch(
        location,
        data=b"01234",
        headers={**auth, **TUS, "Upload-Offset": "0", **CHUNK},
        timeout=30,
    )
    assert stale.status_code == 409 and stale.headers["Upload-Offset"] == "5"

    gone = requests.delete(location, headers={**auth, **TUS}, timeout=30)
    assert gone.status_code == 204 and gone.headers["Tus-Resumable"] == "1.0.0"
    assert requests.head(location, headers={**auth, **TUS}, timeout=30).status_code == 404


def test_a_chunk_with_a_wrong_checksum_is_discarded(setup) -> None:
    url, auth, _ = setup
    created = requests.post(
        f"{url}/api/v1/uploads/",
        headers={
            **auth,
            **TUS,
            "Upload-Length": "8",
            "Upload-Metadata": f"competition {b64('digits')}",
        },
        timeout=30,
    )
    location = created.headers["Location"]
    wrong = base64.b64encode(hashlib.sha1(b"something else").digest()).decode()
    bad = requests.patch(
        location,
        data=b"abcd",
        headers={**auth, **TUS, "Upload-Offset": "0", "Upload-Checksum": f"sha1 {wrong}", **CHUNK},
        timeout=30,
    )
    assert bad.status_code == 460, bad.text
    assert (
        requests.head(location, headers={**auth, **TUS}, timeout=30).headers["Upload-Offset"] == "0"
    )
    right = base64.b64encode(hashlib.sha1(b"abcd").digest()).decode()
    good = requests.patch(
        location,
        data=b"abcd",
        headers={**auth, **TUS, "Upload-Offset": "0", "Upload-Checksum": f"sha1 {right}", **CHUNK},
        timeout=30,
    )
    assert good.status_code == 204 and good.headers["Upload-Offset"] == "4"


def test_a_declared_length_over_the_limit_or_quota_is_refused_before_any_byte(
    setup, settings
) -> None:
    url, auth, member = setup
    competition = member.team.competition
    metadata = f"competition {b64('digits')}"
    too_big = requests.post(
        f"{url}/api/v1/uploads/",
        headers={
            **auth,
            **TUS,
            "Upload-Length": str(competition.image_size_limit_bytes + 1),
            "Upload-Metadata": metadata,
        },
        timeout=30,
    )
    assert too_big.status_code == 400
    assert "limit" in too_big.json()["detail"]
    for _ in range(settings.UPLOAD_MAX_OPEN):
        ok = requests.post(
            f"{url}/api/v1/uploads/",
            headers={**auth, **TUS, "Upload-Length": "10", "Upload-Metadata": metadata},
            timeout=30,
        )
        assert ok.status_code == 201
    over = requests.post(
        f"{url}/api/v1/uploads/",
        headers={**auth, **TUS, "Upload-Length": "10", "Upload-Metadata": metadata},
        timeout=30,
    )
    assert over.status_code == 400 and "unfinished or unsubmitted" in over.json()["detail"]
    assert Upload.objects.filter(user=member.user).count() == settings.UPLOAD_MAX_OPEN


def test_another_tus_version_is_refused(setup) -> None:
    url, auth, _ = setup
    response = requests.post(
        f"{url}/api/v1/uploads/",
        headers={
            **auth,
            "Tus-Resumable": "0.2.2",
            "Upload-Length": "10",
            "Upload-Metadata": f"competition {b64('digits')}",
        },
        timeout=30,
    )
    assert response.status_code == 412 and response.headers["Tus-Version"] == "1.0.0"
    assert not Upload.objects.exists()
