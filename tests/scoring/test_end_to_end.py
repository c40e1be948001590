"""The walking skeleton end to end: the web form, a real Celery worker process on the
filesystem transport, a real container, the public leaderboard."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pandas as pd
import pytest
from django.test import Client
from django.urls import reverse

from competitions.evaluation.tasks import enqueue_evaluation
from competitions.models import Competition, Submission

pytestmark = [pytest.mark.docker, pytest.mark.e2e]
ROOT = Path(__file__).resolve().parents[2]


def _wait_until_finished(submission: Submission, log: Path, timeout: float = 300) -> Submission:
    deadline = time.monotonic() + timeout
    while not submission.is_finished:
        assert time.monotonic() < deadline, f"still {submission.status}:\n{log.read_text()}"
        time.sleep(1)
        submission.refresh_from_db()
    return submission


def test_uploaded_image_is_scored_and_the_team_is_on_the_leaderboard(
    worker: Path, digits_bundle: Path, baseline_archive: Path
) -> None:
    from competitions.bundles import competition_import_bundle

    competition, _ = competition_import_bundle(bundle_dir=digits_bundle)
    browser = Client()

    password = "Analytical-Engine-1843"
    response = browser.post(
        reverse("signup"),
        {
            "username": "ada",
            "email": "ada@example.org",
            "password1": password,
            "password2": password,
        },
    )
    assert response.status_code == 302
    response = browser.post(
        reverse("competitions:join", args=[competition.slug]), {"accept_rules": "on"}
    )
    assert response.status_code == 302
    page = browser.get(reverse("competitions:submit", args=[competition.slug])).content.decode()
    assert 'enctype="multipart/form-data"' in page and 'name="image"' in page

    with baseline_archive.open("rb") as image:
        response = browser.post(
            reverse("competitions:submit", args=[competition.slug]),
            {"image": image, "description": "SVC baseline"},
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    submission = Submission.objects.get(team__name="ada")
    # A second delivery of the same task must neither run nor score it twice.
    enqueue_evaluation(submission.pk)

    submission = _wait_until_finished(submission, worker)

    assert submission.status == Submission.Status.SCORED, submission.failure_message
    assert submission.attempts == 1
    solution = pd.read_csv(competition.files.get(kind="solution").file.path)
    predictions = pd.read_csv(submission.predictions.path)
    merged = solution.merge(predictions, on="id", suffixes=("", "_predicted"))
    public = merged[merged["Usage"] == "Public"]
    accuracy = float((public["label"] == public["label_predicted"]).mean())
    assert len(merged) == 540 and len(public) == 162
    assert submission.public_score == pytest.approx(accuracy, abs=1e-12)

    board = Client().get(reverse("competitions:leaderboard", args=[competition.slug]))
    row = re.search(
        r"<td>1</td><td class=\"name\">ada</td><td class=\"num\">([0-9.]+)</td>",
        board.content.decode(),
    )
    assert row, board.content.decode()
    assert float(row.group(1)) == pytest.approx(accuracy, abs=1e-5)

    api = Client().get(f"/api/v1/competitions/{competition.slug}/leaderboard/?kind=public").json()
    assert api["entries"][0]["team"] == "ada"
    assert api["entries"][0]["score"] == pytest.approx(accuracy, abs=1e-12)
    assert "ada" in Competition.objects.get(pk=competition.pk).teams.values_list("name", flat=True)
    # The duplicate message was consumed too: the worker logged that it skipped it.
    deadline = time.monotonic() + 120
    while "is not queued; nothing to do" not in worker.read_text():
        assert time.monotonic() < deadline, worker.read_text()
        time.sleep(0.5)
