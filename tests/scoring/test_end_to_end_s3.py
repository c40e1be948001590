"""The walking skeleton with PODIUM_STORAGE=s3: competition data, the hidden solution, the
image archive and the kept predictions live in an S3-compatible bucket (a real server on
loopback, tests/s3server.py), which this process and a real worker process share. The run
is scored as on the file system, MEDIA_ROOT gains no file, and the solution is never
served to anyone without the platform's keys."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import requests
from django.conf import settings
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from factories import MembershipFactory
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from s3server import BUCKET, S3Server

from competitions.bundles import competition_import_bundle
from competitions.evaluation.pipeline import competition_predictions_rescore
from competitions.models import CompetitionFile, Submission

# once: a deployment with S3 storage has PostgreSQL as its database (run on that side only).
pytestmark = [pytest.mark.docker, pytest.mark.e2e, pytest.mark.once]


def _files(root: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in root.rglob("*") if p.is_file()}


def _read(name: str) -> pd.DataFrame:
    with default_storage.open(name, "rb") as fh:
        return pd.read_csv(fh)


def test_a_run_with_storage_in_s3_is_scored_as_on_the_file_system(
    s3_storage: S3Server,
    start_worker: Callable[..., contextlib.AbstractContextManager[Path]],
    digits_bundle: Path,
    baseline_archive: Path,
) -> None:
    media = Path(settings.MEDIA_ROOT)
    before = _files(media)
    # The worker prepares the data from the bucket, not from an earlier test's copy of the
    # same data version (the same ids and checksums after a rollback).
    prepared = Path(settings.PODIUM_WORK_DIR) / "data" / "digits"
    shutil.rmtree(prepared, ignore_errors=True)
    competition, _ = competition_import_bundle(bundle_dir=digits_bundle)
    member = MembershipFactory(team__competition=competition, user__username="ada")
    token, _ = Token.objects.get_or_create(user=member.user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    with start_worker(**s3_storage.env()) as log:
        with baseline_archive.open("rb") as image:
            response = api.post(
                f"/api/v1/competitions/{competition.slug}/submissions/",
                {"image": image, "description": "SVC baseline"},
                format="multipart",
            )
        assert response.status_code == 201, response.content
        submission = Submission.objects.get(pk=response.json()["id"])
        image_key = f"{s3_storage.prefix}/{submission.image.name}"
        assert image_key in s3_storage.object_keys()
        deadline = time.monotonic() + 300
        while not submission.is_finished:
            assert time.monotonic() < deadline, f"{submission.status}:\n{log.read_text()}"
            time.sleep(1)
            submission.refresh_from_db()
    assert submission.status == Submission.Status.SCORED, submission.failure_message
    assert list(prepared.glob("*/.complete"))  # its data came from the bucket

    # The score is the one the file system's copy of the same files gives: the kept
    # predictions and the stored solution, read from the bucket, scored here.
    solution_record = competition.files.get(kind=CompetitionFile.Kind.SOLUTION)
    solution = _read(solution_record.file.name)
    predictions = _read(submission.predictions.name)
    merged = solution.merge(predictions, on="id", suffixes=("", "_predicted"))
    public = merged[merged["Usage"] == "Public"]
    accuracy = float((public["label"] == public["label_predicted"]).mean())
    assert len(merged) == 540 and len(public) == 162
    assert submission.public_score == pytest.approx(accuracy, abs=1e-12)
    local = pd.read_csv(digits_bundle / "solution.csv").set_index("id")["label"]
    overall = float((predictions.set_index("id")["label"].loc[local.index] == local).mean())
    assert (submission.public_score * 162 + submission.private_score * 378) / 540 == (
        pytest.approx(overall, abs=1e-12)
    )
    # A rescore reads the kept predictions and the solution from the bucket too.
    report = competition_predictions_rescore(competition=competition)
    submission.refresh_from_db()
    assert report["changed"] == 0 and submission.public_score == pytest.approx(accuracy)

    # Everything went to the bucket: MEDIA_ROOT gained or changed no file, and the image
    # archive was deleted from the bucket after its run (retention 0 days).
    assert _files(media) == before
    assert submission.image_deleted_at is not None
    keys = s3_storage.object_keys()
    assert image_key not in keys
    assert f"{s3_storage.prefix}/{submission.predictions.name}" in keys

    # The solution is never served: not to the participant, not without keys.
    solution_key = f"{s3_storage.prefix}/{solution_record.file.name}"
    assert solution_key in keys
    assert (
        requests.get(f"{s3_storage.endpoint}/{BUCKET}/{solution_key}", timeout=30).status_code
        == 403
    )
    browser = Client()
    browser.force_login(member.user)
    url = reverse("competitions:download", args=[competition.slug, solution_record.pk])
    assert browser.get(url).status_code == 404
