"""The API's code submissions, re-runs and artifact checks, as each role (issue 16).

Nothing runs here (the scoring task is not queued, see conftest): these are the submit-time
decisions. Tests marked docker ask the real engine whether a runtime image is built.
"""

from __future__ import annotations

import hashlib
import io
import stat
import zipfile

import pytest
from apifixtures import Arena, token_client
from artifacts import code_zip, source_tar
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from factories import SubmissionFactory
from rest_framework.test import APIClient

from competitions.models import RuntimeImage, Submission

SUBMIT = "/api/v1/competitions/arena/submissions/"


def _file(content: bytes, name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def _allow(arena: Arena, name: str = "podium/python:3.11") -> RuntimeImage:
    runtime, _ = RuntimeImage.objects.get_or_create(name=name)
    arena.competition.runtime_images.add(runtime)
    return runtime


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b"id,label\n1,3\n", "predictions.csv"),
        (b"\x1f\x8b\x08\x00" + b"\x00" * 40, "broken.tar.gz"),
        (source_tar({"src/model.py": b"x = 1\n"}), "src.tar"),
    ],
    ids=["csv", "gzip-not-tar", "tar-without-manifest-or-entry-point"],
)
def test_a_file_that_is_neither_image_nor_code_is_refused_before_it_is_queued_or_counted(
    arena: Arena, alice: APIClient, content: bytes, name: str
) -> None:
    before = Submission.objects.count()
    used = alice.get("/api/v1/competitions/arena/team/").json()["quota"]["used"]
    response = alice.post(SUBMIT, {"image": _file(content, name)}, format="multipart")

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "not_an_archive"
    assert "docker save" in response.json()["detail"]
    assert Submission.objects.count() == before
    assert alice.get("/api/v1/competitions/arena/team/").json()["quota"]["used"] == used


def test_code_is_refused_where_the_competition_allows_no_runtime_image(
    arena: Arena, alice: APIClient
) -> None:
    response = alice.post(SUBMIT, {"code": _file(code_zip(), "code.zip")}, format="multipart")

    assert response.status_code == 400
    assert response.json()["code"] == "code_not_allowed"
    assert "takes image submissions only" in response.json()["detail"]


def test_hostile_code_archives_are_refused_at_submit(arena: Arena, alice: APIClient) -> None:
    _allow(arena)
    link = io.BytesIO()
    with zipfile.ZipFile(link, "w") as archive:
        archive.writestr("main.py", "print(1)\n")
        info = zipfile.ZipInfo("secrets")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/shadow")
    traversal = code_zip({"main.py": b"", "../../escape.py": b""})
    for content in (link.getvalue(), traversal):
        response = alice.post(SUBMIT, {"code": _file(content, "code.zip")}, format="multipart")
        assert response.status_code == 400, response.content
        assert response.json()["code"] == "invalid_code"
    assert not Submission.objects.filter(kind="code").exists()


@pytest.mark.docker
def test_code_field_makes_a_code_submission_on_the_allowed_runtime_image(
    arena: Arena, alice: APIClient
) -> None:
    _allow(arena)
    content = code_zip()
    response = alice.post(
        SUBMIT, {"code": _file(content, "code.zip"), "description": "src"}, format="multipart"
    )

    assert response.status_code == 201, response.content
    detail = alice.get(f"/api/v1/submissions/{response.json()['id']}/").json()
    assert (detail["kind"], detail["runtime_image"]) == ("code", "podium/python:3.11")
    assert detail["image_sha256"] == hashlib.sha256(content).hexdigest()
    assert detail["artifact_kept"] is True


@pytest.mark.docker
def test_a_runtime_image_not_built_here_is_refused_as_the_platforms_side(
    arena: Arena, alice: APIClient
) -> None:
    _allow(arena, "podium-test/not-built-here:1")
    response = alice.post(SUBMIT, {"code": _file(code_zip(), "code.zip")}, format="multipart")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "runtime_image_missing"
    assert "not built on this server" in body["detail"] and "not yours" in body["detail"]
    assert not Submission.objects.filter(kind="code").exists()


def test_a_previous_submission_runs_again_as_a_debug_run_without_upload(
    arena: Arena, alice: APIClient
) -> None:
    source = arena.mine
    response = alice.post(f"/api/v1/submissions/{source.pk}/rerun/", {"debug": True}, format="json")

    assert response.status_code == 201, response.content
    rerun = Submission.objects.get(pk=response.json()["id"])
    assert (rerun.rerun_of_id, rerun.is_debug, rerun.team_id) == (source.pk, True, source.team_id)
    content = source.image.read()
    assert rerun.image_sha256 == hashlib.sha256(content).hexdigest()
    assert rerun.image.name != source.image.name
    assert rerun.image.read() == content  # both kept, apart
    assert rerun.description == f"Re-run of submission {source.pk}"


def test_another_teams_submission_cannot_be_run_again(arena: Arena, alice: APIClient) -> None:
    response = alice.post(f"/api/v1/submissions/{arena.theirs.pk}/rerun/", {}, format="json")
    assert response.status_code == 404
    assert not Submission.objects.filter(rerun_of=arena.theirs).exists()


def test_a_rerun_after_the_archive_was_deleted_says_so(arena: Arena, alice: APIClient) -> None:
    Submission.objects.filter(pk=arena.mine.pk).update(image_deleted_at=timezone.now())
    response = alice.post(f"/api/v1/submissions/{arena.mine.pk}/rerun/", {}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "artifact_deleted"
    assert "was deleted after its run" in response.json()["detail"]
    assert "Upload it again" in response.json()["detail"]


def test_a_kept_artifact_is_submitted_again_by_its_sha256_and_only_by_its_team(
    arena: Arena, alice: APIClient
) -> None:
    mine = Submission.objects.get(pk=arena.mine.pk)
    mine.image_sha256 = hashlib.sha256(mine.image.read()).hexdigest()
    mine.save(update_fields=["image_sha256"])
    response = alice.post(SUBMIT, {"sha256": mine.image_sha256.upper()}, format="json")
    assert response.status_code == 201, response.content
    assert Submission.objects.get(pk=response.json()["id"]).rerun_of_id == mine.pk

    theirs = Submission.objects.get(pk=arena.theirs.pk)
    theirs.image_sha256 = hashlib.sha256(b"their secret image").hexdigest()
    theirs.save(update_fields=["image_sha256"])
    for digest in (theirs.image_sha256, "f" * 64):
        response = alice.post(SUBMIT, {"sha256": digest}, format="json")
        assert response.status_code == 400
        assert response.json()["code"] == "unknown_artifact"
    # The rival may not probe ours either.
    mallory = token_client(arena.rival.user)
    response = mallory.post(SUBMIT, {"sha256": mine.image_sha256}, format="json")
    assert response.json()["code"] == "unknown_artifact"


def test_a_code_rerun_on_a_runtime_image_no_longer_allowed_is_refused(
    arena: Arena, alice: APIClient
) -> None:
    _allow(arena)
    dropped = RuntimeImage.objects.create(name="podium-test/dropped:1")
    source = SubmissionFactory(
        team=arena.me.team, user=arena.me.user, kind="code", runtime_image=dropped
    )

    response = alice.post(f"/api/v1/submissions/{source.pk}/rerun/", {}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "runtime_image_not_allowed"
    assert "does not allow the runtime image podium-test/dropped:1" in response.json()["detail"]
    assert not Submission.objects.filter(rerun_of=source).exists()


def test_code_is_refused_at_submit_when_runs_go_to_remote_compute_hosts(
    arena: Arena, alice: APIClient, settings
) -> None:
    """Remote compute hosts load image archives only: a code archive is the platform's
    refusal at submit time (nothing stored or counted), never a failed run of the team."""
    _allow(arena)
    settings.PODIUM_COMPUTE_REMOTE = True
    before = Submission.objects.count()
    response = alice.post(SUBMIT, {"code": _file(code_zip(), "code.zip")}, format="multipart")

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "code_unsupported"
    assert "remote compute hosts" in response.json()["detail"]
    assert Submission.objects.count() == before
