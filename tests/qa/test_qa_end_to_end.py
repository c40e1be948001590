"""The qa competition end to end: the PyTorch starter kit, submitted through the API,
trains from scratch inside the sandbox on a real Celery worker and beats the trivial
answers by a stated margin; its debug run shows the participant its progress lines."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from competitions.bundles import competition_import_bundle
from competitions.models import Submission
from examples.qa.make_bundle import make_bundle
from scoring.metrics import get_metric

# On a fresh machine the fixture may wait for podium/pytorch:1.13 to be built (8 minutes
# measured here), which with the runs themselves (about 5) passes pyproject's 600 s.
# once: what it shows is that the kit learns, the same on either database (README, "Tests on
# SQLite and PostgreSQL").
pytestmark = [pytest.mark.docker, pytest.mark.e2e, pytest.mark.once, pytest.mark.timeout(1800)]
# The kit must beat the better of the trivial answers by this much token F1. On the whole
# test set it scored 0.35 against 0.012 here (kit README), with 60 s of training on 2
# CPUs under a load average of 13: under one epoch. Public rows: about 230 questions.
MARGIN = 0.15
# Lower than the demo's 10 minutes so that CI stays short: the kit trains for half of it.
TIME_LIMIT_SECONDS = 120


def _wait(submission: Submission, log: Path, timeout: float = 900) -> Submission:
    deadline = time.monotonic() + timeout
    while not submission.is_finished:
        assert time.monotonic() < deadline, f"still {submission.status}:\n{log.read_text()}"
        time.sleep(2)
        submission.refresh_from_db()
    return submission


def _trivial_public_f1(competition, bundle: Path) -> float:
    """The better of two trivial answers on the public rows: the passage's first word,
    and its longest word."""
    solution = pd.read_csv(competition.files.get(kind="solution").file.path, dtype=str)
    public = solution[solution["Usage"] == "Public"]
    test = pd.read_csv(bundle / "test" / "test.csv", keep_default_na=False, dtype={"id": str})
    contexts = test.set_index("id").loc[public["id"], "context"]
    f1 = get_metric("qa_f1")
    first = contexts.str.split().str[0]
    longest = contexts.map(lambda text: max(text.split(), key=len))
    return max(
        f1.compute(public["answer"].to_numpy(), answers.to_numpy()) for answers in (first, longest)
    )


def test_the_starter_kit_trains_in_the_sandbox_and_beats_the_trivial_answers(
    worker: Path, pytorch_kit_archive: Path, tmp_path: Path
) -> None:
    bundle = make_bundle(tmp_path / "qa")
    competition, _ = competition_import_bundle(bundle_dir=bundle)
    competition.time_limit_seconds = TIME_LIMIT_SECONDS
    competition.save(update_fields=["time_limit_seconds"])
    ada = User.objects.create_user("ada", password="Analytical-Engine-1843")
    api = APIClient()
    api.force_authenticate(ada)
    assert api.post(f"/api/v1/competitions/{competition.slug}/join/").status_code == 200

    ids = {}
    for kind, debug in (("scored", "false"), ("debug", "true")):
        with pytorch_kit_archive.open("rb") as image:
            response = api.post(
                f"/api/v1/competitions/{competition.slug}/submissions/",
                {"image": image, "description": f"starter kit ({kind})", "debug": debug},
                format="multipart",
            )
        assert response.status_code == 201, response.content.decode()[:2000]
        ids[kind] = response.json()["id"]

    scored = _wait(Submission.objects.get(pk=ids["scored"]), worker)
    assert scored.status == Submission.Status.SCORED, scored.failure_message
    trivial = _trivial_public_f1(competition, bundle)
    assert scored.public_score > trivial + MARGIN, (scored.public_score, trivial)

    debug = _wait(Submission.objects.get(pk=ids["debug"]), worker)
    assert debug.status == Submission.Status.SCORED, debug.failure_message
    browser = Client()
    browser.force_login(ada)
    page = browser.get(f"/submissions/{debug.pk}/").content.decode()
    assert f"limits: {TIME_LIMIT_SECONDS} s" in page
    assert "epoch 1: loss" in page and "held-out F1" in page
    # The scored run's log stays hidden from the participant (test inputs could leak).
    assert "epoch 1: loss" not in browser.get(f"/submissions/{scored.pk}/").content.decode()
