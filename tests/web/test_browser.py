"""A participant's whole visit in a real browser: headless Chromium against a live
server over real HTTP, a real Celery worker process and a real container.

Screenshots of the main pages go to var/screenshots/.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from browser_logs import csp_violations, page_text
from django.urls import reverse

from competitions.bundles import competition_import_bundle
from competitions.models import Submission

pytestmark = [pytest.mark.docker, pytest.mark.e2e]

PASSWORD = "Analytical-Engine-1843"


def test_participant_signs_up_uploads_watches_the_run_and_finds_the_team_ranked(
    serve, worker: Path, browser, baseline_image: Path, digits_bundle: Path, screenshots: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    competition, _ = competition_import_bundle(bundle_dir=digits_bundle)
    # Small chunks: the 100+ MB archive then goes up in dozens of requests.
    server = serve("--workers", "2", "--threads", "4", env={"PODIUM_UPLOAD_CHUNK_SIZE": "4194304"})
    b = browser
    wait = WebDriverWait(b, 120)

    def go(path: str) -> None:
        b.get(server.url + path)

    def shot(name: str) -> None:
        b.save_screenshot(str(screenshots / f"{name}.png"))

    def text() -> str:
        return page_text(b)

    # Browse as a visitor.
    go("/")
    assert "Active" in text() and competition.title in text()
    shot("01-competitions")
    b.find_element(By.LINK_TEXT, competition.title).click()
    assert "Public leaderboard" in text()
    shot("02-overview")

    # Sign up and join.
    go(reverse("signup"))
    b.find_element(By.NAME, "username").send_keys("ada")
    b.find_element(By.NAME, "email").send_keys("ada@example.org")
    b.find_element(By.NAME, "password1").send_keys(PASSWORD)
    b.find_element(By.NAME, "password2").send_keys(PASSWORD)
    b.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), "Welcome, ada."))
    go(reverse("competitions:rules", args=[competition.slug]))
    shot("03-rules")
    b.find_element(By.NAME, "accept_rules").click()
    b.find_element(By.XPATH, "//button[text()='Join competition']").click()
    wait.until(ec.url_contains(reverse("competitions:submit", args=[competition.slug])))
    assert "You joined Handwritten digits as team ada." in text()
    assert "docker save" in text() and "podium competitions submit digits" in text()
    shot("04-submit")

    # Upload the real image and watch the progress bar move.
    b.find_element(By.NAME, "image").send_keys(str(baseline_image))
    b.find_element(By.NAME, "description").send_keys("SVC baseline")
    b.find_element(By.ID, "submit-button").click()
    progress: list[float] = []
    mine = reverse("competitions:my_submissions", args=[competition.slug])
    shot_taken = False
    deadline = time.monotonic() + 300
    while not b.current_url.endswith(mine):
        assert time.monotonic() < deadline, text()
        value = b.execute_script(
            "var p = document.getElementById('upload-progress'); return p ? p.value : null;"
        )
        if value is not None:
            progress.append(float(value))
            if not shot_taken and 10 < value < 90:
                shot("05-uploading")
                shot_taken = True
        time.sleep(0.05)
    middle = [v for v in progress if 0 < v < 100]
    assert len(set(middle)) >= 3, progress
    assert middle == sorted(middle), "the progress bar went backwards"

    submission = Submission.objects.get(team__name="ada")
    assert f"Submission {submission.pk} was received; its status below is live." in text()
    assert submission.image_size == baseline_image.stat().st_size
    assert submission.description == "SVC baseline"

    # Live status: the row changes without a reload of the page.
    b.execute_script("window.podiumSamePage = true;")
    badge = (By.CSS_SELECTOR, f"#submission-{submission.pk} [data-field=status]")
    seen = [b.find_element(*badge).text]
    deadline = time.monotonic() + 300
    while seen[-1] not in ("Scored", "Failed"):
        assert time.monotonic() < deadline, f"{seen}\n{worker.read_text()}"
        time.sleep(0.2)
        now = b.find_element(*badge).text
        if now != seen[-1]:
            seen.append(now)
            if now == "Running":
                shot("06-running")
    assert b.execute_script("return window.podiumSamePage === true;"), "the page reloaded"
    assert seen[-1] == "Scored", f"{seen}: {Submission.objects.get().failure_message}"
    assert len(seen) >= 2, seen
    submission.refresh_from_db()
    score_cell = b.find_element(
        By.CSS_SELECTOR, f"#submission-{submission.pk} [data-field=public_score]"
    )
    assert score_cell.text == f"{submission.public_score:.5f}"

    # The result, the charts, the leaderboard, the team and the account.
    go(mine)
    assert b.find_elements(By.CSS_SELECTOR, "svg.chart")
    shot("07-my-submissions")
    go(submission.get_absolute_url())
    assert "Scored" in text()
    shot("08-submission")
    go(reverse("competitions:leaderboard", args=[competition.slug]))
    row = b.find_element(By.CSS_SELECTOR, "table.leaderboard tbody tr.mine")
    assert row.text.startswith(f"1 ada {submission.public_score:.5f}"), row.text
    shot("09-leaderboard")
    go(reverse("competitions:team", args=[competition.slug]))
    assert "Team ada" in text()
    shot("10-team")
    go(reverse("competitions:account"))
    b.find_element(By.XPATH, "//button[text()='Create a token']").click()
    token = wait.until(ec.presence_of_element_located((By.ID, "api-token"))).get_attribute("value")
    assert len(token) == 40
    shot("11-account")
    # Every page above worked under the Content-Security-Policy, with nothing blocked.
    assert csp_violations(b) == []
