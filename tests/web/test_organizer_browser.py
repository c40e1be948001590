"""An organizer runs a competition entirely from the admin in a real browser, under the
production configuration (DEBUG off, gunicorn, collected static files), with a real
Celery worker and a real container scoring a participant's submission.

The steps are functions called in order from the test so that steps can be inserted
(publishing, confirmation pages) without rewriting the others. Screenshots go to
var/screenshots/organizer-*.png.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse

from competitions.models import Competition, CompetitionFile, Submission

pytestmark = [pytest.mark.docker, pytest.mark.e2e]

PASSWORD = "Analytical-Engine-1843"
SLUG = "digits-live"
TITLE = "Digits, live from the admin"
WRONG_LABELS = 60  # rows of the first solution with a wrong label, fixed later


@dataclass
class Visit:
    """One browser, one server: helpers every step uses."""

    browser: Any
    url: str
    shots: Path
    files: dict[str, Path] = field(default_factory=dict)

    def go(self, path: str) -> None:
        self.browser.get(self.url + path)

    def text(self) -> str:
        """The page's visible text; retried while a navigation replaces the page."""
        from selenium.common.exceptions import (
            NoSuchElementException,
            StaleElementReferenceException,
            WebDriverException,
        )
        from selenium.webdriver.common.by import By

        for _ in range(100):
            try:
                return self.browser.find_element(By.TAG_NAME, "body").text
            except (StaleElementReferenceException, NoSuchElementException):
                time.sleep(0.1)
            except WebDriverException as exc:
                # The page navigated between finding <body> and reading it (chromium's
                # stale-node error under another name).
                if "does not belong to the document" not in str(exc):
                    raise
                time.sleep(0.1)
        return self.browser.find_element(By.TAG_NAME, "body").text

    def shot(self, name: str) -> None:
        self.browser.save_screenshot(str(self.shots / f"organizer-{name}.png"))

    def by_name(self, name: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.browser.find_element(By.NAME, name)

    def type(self, name: str, value: str) -> None:
        element = self.by_name(name)
        element.clear()
        element.send_keys(value)

    def select(self, name: str, value: str) -> None:
        from selenium.webdriver.support.ui import Select

        Select(self.by_name(name)).select_by_value(value)

    def click(self, css: str) -> None:
        """Click an element that does not leave the page (a link adding a form row)."""
        from selenium.webdriver.common.by import By

        self.browser.find_element(By.CSS_SELECTOR, css).click()

    def submit(self, css: str = "", *, element: Any = None) -> None:
        """Click what sends a form or follows a link, and return once the next page has
        replaced this one: a `go()` issued earlier would race the pending navigation and
        could be overtaken by it (the page read would then be the redirect's target)."""
        from selenium.common.exceptions import (
            StaleElementReferenceException,
            WebDriverException,
        )
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        page = self.browser.find_element(By.TAG_NAME, "html")

        def replaced(_: Any) -> bool:
            try:
                page.is_enabled()
            except StaleElementReferenceException:
                return True
            except WebDriverException as exc:
                # Chromium's stale-node error under another name (see text()).
                if "does not belong to the document" in str(exc):
                    return True
                raise
            return False

        (element or self.browser.find_element(By.CSS_SELECTOR, css)).click()
        WebDriverWait(self.browser, 120).until(replaced)

    def wait_for(self, words: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while words not in self.text():
            assert time.monotonic() < deadline, f"{words!r} never appeared:\n{self.text()}"
            time.sleep(0.1)

    def log_in(self, username: str) -> None:
        self.browser.delete_all_cookies()
        self.go("/admin/login/")
        self.type("username", username)
        self.type("password", PASSWORD)
        self.submit("input[type=submit]")
        deadline = time.monotonic() + 120
        while "/login/" in self.browser.current_url:
            assert time.monotonic() < deadline, f"not logged in as {username}:\n{self.text()}"
            time.sleep(0.1)


# --------------------------------------------------------------------------- data


def make_files(digits_bundle: Path, folder: Path) -> dict[str, Path]:
    """The four files an organizer uploads, plus two wrong solutions."""
    folder.mkdir()
    solution = pd.read_csv(digits_bundle / "solution.csv")
    files = {
        "train": digits_bundle / "train" / "train.csv",
        "test": digits_bundle / "test" / "test.csv",
        "sample_submission": digits_bundle / "sample_submission.csv",
        "right_solution": digits_bundle / "solution.csv",
    }
    mislabelled = solution.copy()
    mislabelled.loc[: WRONG_LABELS - 1, "label"] = (
        mislabelled.loc[: WRONG_LABELS - 1, "label"] + 1
    ) % 10
    (folder / "first").mkdir()
    files["solution"] = folder / "first" / "solution.csv"
    mislabelled.to_csv(files["solution"], index=False)
    other_ids = solution.copy()
    other_ids.loc[:2, "id"] = [990001, 990002, 990003]
    (folder / "other-ids").mkdir()
    files["solution_other_ids"] = folder / "other-ids" / "solution.csv"
    other_ids.to_csv(files["solution_other_ids"], index=False)
    return files


def stored_split(competition: Competition) -> pd.Series:
    record = competition.files.get(kind=CompetitionFile.Kind.SOLUTION)
    return pd.read_csv(record.file.path).set_index("id")["Usage"]


# --------------------------------------------------------------------------- steps


def fill_competition_form(v: Visit, *, metric: str, solution: Path, first_time: bool) -> None:
    """The add form as an organizer fills it: settings in units, four file rows."""
    now = dt.datetime.now(dt.UTC)
    if first_time:
        v.type("title", TITLE)
        v.type("slug", SLUG)
        v.type("start_0", (now - dt.timedelta(days=1)).strftime("%Y-%m-%d"))
        v.type("start_1", "00:00:00")
        v.type("end_0", (now + dt.timedelta(days=30)).strftime("%Y-%m-%d"))
        v.type("end_1", "00:00:00")
        v.type("rules", "Be kind. One account per person.")
        v.type("target_columns", "label")
        v.type("memory_limit_bytes", "2g")
        v.type("cpu_limit", "1 CPU")
        v.type("time_limit_seconds", "10m")
        v.type("image_size_limit_bytes", "4g")
        v.type("daily_submission_limit", "20")
        for _ in range(3):  # one row is there; the organizer adds three
            v.click(".add-row a")
        for i, kind in enumerate(("train", "test", "solution", "sample_submission")):
            v.select(f"files-{i}-kind", kind)
    v.select("metric", metric)
    uploads = {**v.files, "solution": solution}
    for i, kind in enumerate(("train", "test", "solution", "sample_submission")):
        v.by_name(f"files-{i}-file").send_keys(str(uploads[kind]))
    v.submit("input[name=_continue]")


def organizer_creates_the_competition(v: Visit) -> Competition:
    v.log_in("olga")
    v.go("/admin/competitions/competition/add/")
    assert "accuracy: higher is better" in v.text()
    assert "rmse: lower is better" in v.text()

    # A metric that cannot score ten classes: refused, the settings kept.
    fill_competition_form(v, metric="roc_auc", solution=v.files["solution"], first_time=True)
    v.wait_for("Please correct the error")
    assert (
        "solution.csv: metric roc_auc scores two classes (one score column) but column "
        "'label' holds 10 classes" in v.text()
    )
    assert v.by_name("title").get_attribute("value") == TITLE
    assert v.by_name("memory_limit_bytes").get_attribute("value") == "2g"
    v.shot("01-wrong-metric")

    # A solution whose ids are not the test set's: refused, naming the file and the ids.
    fill_competition_form(
        v, metric="accuracy", solution=v.files["solution_other_ids"], first_time=False
    )
    v.wait_for("Please correct the error")
    assert "test.csv: 3 id(s) are not in solution.csv" in v.text()
    assert "990001" in v.text()
    v.shot("02-ids-do-not-match")
    assert not Competition.objects.exists()

    fill_competition_form(v, metric="accuracy", solution=v.files["solution"], first_time=False)
    v.wait_for("was added successfully")
    v.shot("03-created")
    competition = Competition.objects.get(slug=SLUG)
    assert competition.memory_limit_bytes == 2 * 2**30
    assert competition.time_limit_seconds == 600
    assert sorted(competition.files.values_list("name", flat=True)) == [
        "sample_submission.csv",
        "solution.csv",
        "test.csv",
        "train.csv",
    ]
    return competition


def organizer_publishes(v: Visit, competition: Competition) -> None:
    """A draft is invisible to participants until the organizer publishes it, through the
    change page's Publish… link and its confirmation page."""
    v.browser.delete_all_cookies()
    v.go(reverse("competitions:detail", args=[competition.slug]))
    assert "Not Found" in v.text() or "not found" in v.text().lower()
    v.log_in("olga")
    v.go(f"/admin/competitions/competition/{competition.pk}/change/")

    # The object tools are shown upper-case by the admin's CSS: find the link by address.
    v.submit(".object-tools a[href$='/confirm/publish/']")
    v.wait_for("Publish: please confirm.")
    competition.refresh_from_db()
    assert competition.published_at is None  # the confirmation page changes nothing
    v.shot("03b-publish-confirmation")
    v.submit("input[value='Yes, publish']")
    v.wait_for("Published 1 competition(s).")
    competition.refresh_from_db()
    assert competition.published_at is not None


def organizer_edits_the_deadline(v: Visit, competition: Competition) -> None:
    new_end = (competition.end + dt.timedelta(days=14)).strftime("%Y-%m-%d")
    v.go(f"/admin/competitions/competition/{competition.pk}/change/")
    v.type("end_0", new_end)
    v.submit("input[name=_continue]")
    v.wait_for("was changed successfully")
    competition.refresh_from_db()
    assert competition.end.strftime("%Y-%m-%d") == new_end


def participant_joins_and_submits(
    v: Visit, competition: Competition, image: Path, worker_log: Path
) -> Submission:
    v.browser.delete_all_cookies()
    v.go(reverse("signup"))
    v.type("username", "ada")
    v.type("email", "ada@example.org")
    v.type("password1", PASSWORD)
    v.type("password2", PASSWORD)
    v.submit("main form button[type=submit]")
    v.wait_for("Welcome, ada.")
    v.go(reverse("competitions:rules", args=[competition.slug]))
    v.by_name("accept_rules").click()
    from selenium.webdriver.common.by import By

    v.submit(element=v.browser.find_element(By.XPATH, "//button[text()='Join competition']"))
    v.wait_for(f"You joined {TITLE} as team ada.")
    v.by_name("image").send_keys(str(image))
    v.click("#submit-button")  # a script uploads in chunks, then navigates
    v.wait_for("was received; its status below is live", timeout=300)
    submission = Submission.objects.get(team__name="ada")
    deadline = time.monotonic() + 600
    while submission.status not in (Submission.Status.SCORED, Submission.Status.FAILED):
        assert time.monotonic() < deadline, worker_log.read_text()[-5000:]
        time.sleep(0.5)
        submission.refresh_from_db()
    assert submission.status == Submission.Status.SCORED, submission.failure_message
    return submission


def organizer_replaces_the_solution(v: Visit, competition: Competition) -> None:
    before = stored_split(competition)
    v.log_in("olga")
    v.go(f"/admin/competitions/competition/{competition.pk}/change/")
    row = next(
        i
        for i in range(competition.files.count())
        if v.by_name(f"files-{i}-kind").get_attribute("value") == "solution"
    )
    v.by_name(f"files-{row}-file").send_keys(str(v.files["right_solution"]))
    v.submit("input[name=_continue]")
    v.wait_for("solution replaced")
    assert "0 row(s) moved between the public and the private part" in v.text()
    assert "1 submission(s) were scored on an earlier solution" in v.text()
    v.shot("04-stale-notice")
    assert stored_split(competition).equals(before)
    right = pd.read_csv(v.files["right_solution"]).set_index("id")["label"]
    stored = competition.files.get(kind="solution")
    labels = pd.read_csv(stored.file.path).set_index("id")["label"]
    assert labels.equals(right.loc[labels.index])


def organizer_rescores(v: Visit, competition: Competition) -> None:
    """The stale notice's offer: the list's Rescore action for this competition."""
    v.submit("form.rescore-offer button")
    v.wait_for("Rescore from kept predictions: please confirm.")
    v.submit("input[value='Yes, rescore']")
    v.wait_for("rescored 1 submission(s)")
    v.shot("05-rescored")
    v.go(f"/admin/competitions/competition/{competition.pk}/change/")
    assert "stale" not in v.text()


def participant_sees_the_rescored_result(
    v: Visit, competition: Competition, submission: Submission, first_score: float
) -> None:
    submission.refresh_from_db()
    predictions = pd.read_csv(submission.predictions.path).set_index("id")["label"]
    stored = pd.read_csv(competition.files.get(kind="solution").file.path).set_index("id")
    public = stored[stored["Usage"] == "Public"]
    expected = float((predictions.loc[public.index] == public["label"]).mean())
    assert submission.public_score == pytest.approx(expected)
    assert submission.public_score > first_score  # the fix removed wrong labels
    v.browser.delete_all_cookies()
    v.go("/accounts/login/")
    v.type("username", "ada")
    v.type("password", PASSWORD)
    v.submit("main form button[type=submit]")
    v.go(reverse("competitions:leaderboard", args=[competition.slug]))
    assert f"ada {submission.public_score:.5f}" in v.text()
    v.shot("06-leaderboard")


def organizer_reveals(v: Visit, competition: Competition) -> None:
    """Reveal while the competition is still open: the confirmation page says so."""
    v.log_in("olga")
    v.go(f"/admin/competitions/competition/{competition.pk}/change/")

    tools = ".object-tools a[href$='/confirm/reveal_private/']"
    v.submit(tools)
    v.wait_for("Reveal the private leaderboard: please confirm.")
    assert "is still open" in v.text()
    competition.refresh_from_db()
    assert competition.private_revealed_at is None
    v.shot("07-reveal-confirmation")
    v.submit("input[value='Yes, reveal']")
    v.wait_for("Revealed the private leaderboard of 1 competition(s).")
    competition.refresh_from_db()
    assert competition.private_revealed_at is not None
    v.go(reverse("competitions:leaderboard", args=[competition.slug]) + "?kind=private")
    assert "ada" in v.text()


# --------------------------------------------------------------------------- the test


def test_organizer_runs_a_competition_from_the_admin(
    serve: Callable[..., Any],
    worker: Path,
    browser: Any,
    baseline_image: Path,
    digits_bundle: Path,
    screenshots: Path,
    tmp_path: Path,
) -> None:
    call_command("collectstatic", interactive=False, verbosity=0)
    # Hashed as the server hashes (the tests' settings use a faster hasher it lacks).
    User.objects.create_superuser(
        "olga",
        "olga@example.org",
        password=None,
    )
    User.objects.filter(username="olga").update(
        password=PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
    )
    server = serve(
        "--workers",
        "2",
        "--threads",
        "4",
        env={
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "organizer-browser-test-" + "x" * 40,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        },
    )
    v = Visit(browser, server.url, screenshots, make_files(digits_bundle, tmp_path / "files"))

    competition = organizer_creates_the_competition(v)
    organizer_publishes(v, competition)
    organizer_edits_the_deadline(v, competition)
    submission = participant_joins_and_submits(v, competition, baseline_image, worker)
    first_score = submission.public_score
    assert first_score is not None
    organizer_replaces_the_solution(v, competition)
    organizer_rescores(v, competition)
    participant_sees_the_rescored_result(v, competition, submission, first_score)
    organizer_reveals(v, competition)
