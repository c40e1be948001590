"""Issue 16 in a real browser at 1366 px: a participant submits a code archive and is
scored, then runs an earlier image again as a debug run without uploading it. Gunicorn
with DEBUG off, a real Celery worker, real containers; screenshots in var/screenshots/.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from artifacts import code_zip
from browser_logs import csp_violations, page_text
from django.contrib.auth.models import User
from django.core.files import File
from django.test import Client
from django.urls import reverse
from factories import SubmissionFactory

from competitions.bundles import competition_import_bundle
from competitions.models import Submission
from competitions.services.teams import competition_join

pytestmark = [pytest.mark.docker, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
BASELINE = (ROOT / "examples" / "baseline-sklearn" / "main.py").read_bytes()


def _finished(pk: int, worker: Path) -> Submission:
    deadline = time.monotonic() + 300
    while True:
        submission = Submission.objects.get(pk=pk)
        if submission.is_finished:
            return submission
        assert time.monotonic() < deadline, worker.read_text()
        time.sleep(0.5)


def test_participant_submits_code_and_reruns_an_earlier_image_without_upload(
    serve, worker: Path, browser, baseline_image: Path, digits_bundle: Path, screenshots: Path,
    tmp_path: Path, settings,
) -> None:  # fmt: skip
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    competition, _ = competition_import_bundle(bundle_dir=digits_bundle)
    user = User.objects.create_user("grace", password="Analytical-Engine-1843")
    team = competition_join(user=user, competition=competition)
    # An earlier image submission whose archive the server still keeps (retention days > 0).
    with baseline_image.open("rb") as fh:
        earlier = SubmissionFactory(
            competition=competition,
            team=team,
            user=user,
            image=File(fh, name="baseline.tar.gz"),
            image_size=baseline_image.stat().st_size,
            status=Submission.Status.SCORED,
            public_score=0.9,
            private_score=0.9,
            description="earlier image",
        )
    server = serve(
        env={
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": settings.SECRET_KEY,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        }
    )
    client = Client()
    client.force_login(user)
    b = browser
    b.set_window_size(1366, 900)
    b.get(server.url + "/")
    b.add_cookie({"name": "sessionid", "value": client.cookies["sessionid"].value})

    def go(path: str) -> None:
        b.get(server.url + path)

    def text() -> str:
        return page_text(b)

    # The Data page names the runtime image and says any linux/amd64 image works.
    go(reverse("competitions:data", args=[competition.slug]))
    assert "podium/python:3.11" in text() and "linux/amd64" in text()
    b.save_screenshot(str(screenshots / "code-01-data.png"))

    # Submit a zip of main.py on the runtime image.
    archive = tmp_path / "code.zip"
    archive.write_bytes(code_zip({"main.py": BASELINE}))
    go(reverse("competitions:submit", args=[competition.slug]))
    Select(b.find_element(By.NAME, "runtime_image")).select_by_value("podium/python:3.11")
    b.find_element(By.NAME, "image").send_keys(str(archive))
    b.find_element(By.NAME, "description").send_keys("code baseline")
    b.save_screenshot(str(screenshots / "code-02-submit.png"))
    b.find_element(By.ID, "submit-button").click()
    mine = reverse("competitions:my_submissions", args=[competition.slug])
    deadline = time.monotonic() + 60
    while not b.current_url.endswith(mine):
        assert time.monotonic() < deadline, text()
        time.sleep(0.1)
    code = Submission.objects.get(description="code baseline")
    assert (code.kind, code.runtime_image.name) == ("code", "podium/python:3.11")
    code = _finished(code.pk, worker)
    assert code.status == Submission.Status.SCORED, code.failure_message
    assert code.public_score > 0.9
    go(code.get_absolute_url())
    assert "on podium/python:3.11" in text() and "Scored" in text()
    b.save_screenshot(str(screenshots / "code-03-scored.png"))

    # The same archive chosen again: its SHA-256 names the team's kept artifact, so the
    # submission is made at once and no byte is uploaded (an upload would make a plain
    # submission, not a re-run of the first).
    go(reverse("competitions:submit", args=[competition.slug]))
    b.find_element(By.NAME, "image").send_keys(str(archive))
    b.find_element(By.ID, "submit-button").click()
    deadline = time.monotonic() + 60
    while not Submission.objects.filter(rerun_of=code).exists():
        assert time.monotonic() < deadline, text()
        time.sleep(0.1)
    again = Submission.objects.get(rerun_of=code)
    assert (again.kind, again.image_sha256) == ("code", code.image_sha256)
    deadline = time.monotonic() + 60
    while not b.current_url.endswith(again.get_absolute_url()):
        assert time.monotonic() < deadline, b.current_url
        time.sleep(0.1)
    assert Submission.objects.filter(competition=competition, kind="code").count() == 2
    _finished(again.pk, worker)

    # Run the earlier image again as a debug run: no file is chosen or sent.
    go(earlier.get_absolute_url())
    b.find_element(By.XPATH, "//button[text()='Run again as a debug run']").click()
    deadline = time.monotonic() + 60
    while "runs again as debug run" not in text():
        assert time.monotonic() < deadline, text()
        time.sleep(0.1)
    rerun = Submission.objects.get(rerun_of=earlier)
    assert rerun.is_debug
    assert rerun.image_sha256 == hashlib.sha256(baseline_image.read_bytes()).hexdigest()
    rerun = _finished(rerun.pk, worker)
    assert rerun.status == Submission.Status.SCORED, rerun.failure_message  # valid, unscored
    go(rerun.get_absolute_url())
    assert f"re-run of submission {earlier.pk}" in text()
    b.save_screenshot(str(screenshots / "code-04-rerun.png"))
    assert b.execute_script("return document.documentElement.scrollWidth") <= 1366
    assert csp_violations(b) == []
