"""Every participant page fits a phone: at 390 px wide no page scrolls sideways, as an
anonymous visitor and as a participant, under the production configuration (gunicorn,
DEBUG off, collected static files); screenshots at 390 and 1366 px."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from factories import MembershipFactory, SubmissionFactory
from processes import process_env

from competitions.bundles import competition_import_bundle
from competitions.models import Submission, TeamInvitation

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
LONG = "pixel63_gradient_boosted_ensemble_with_augmentation_and_a_very_long_name"
WIDTH_CHECK = (
    "return [document.documentElement.scrollWidth, window.innerWidth, "
    "Array.from(document.querySelectorAll('body *')).filter(e => "
    "e.getBoundingClientRect().right > window.innerWidth + 0.5).slice(0, 5).map(e => "
    "e.tagName + '.' + e.className + ' ' + (e.textContent || '').slice(0, 40))]"
)


def _world(digits_bundle: Path) -> tuple[object, dict[str, str], dict[str, str]]:
    competition, _ = competition_import_bundle(bundle_dir=digits_bundle)
    ada = MembershipFactory(
        team__competition=competition, team__name="ada's team", user__username="ada"
    )
    other = MembershipFactory(team__competition=competition, team__name=LONG)
    now = timezone.now()
    runs = []
    for n, score in enumerate([0.52, 0.81, 0.9722222, 0.95, 0.99]):
        runs.append(
            SubmissionFactory(
                team=ada.team,
                user=ada.user,
                status=Submission.Status.SCORED,
                public_score=score,
                description=f"try {n}: {LONG}",
                duration_seconds=30.0 + n,
                peak_memory_bytes=(200 + n) * 2**20,
                created_at=now - dt.timedelta(hours=10 - n),
                finished_at=now - dt.timedelta(hours=10 - n),
            )
        )
    SubmissionFactory(
        team=other.team, user=other.user, status=Submission.Status.SCORED, public_score=0.97
    )
    failed = SubmissionFactory(
        team=ada.team,
        user=ada.user,
        status=Submission.Status.FAILED,
        failure_kind=Submission.FailureKind.RUNTIME_ERROR,
        failure_message="runtime error",
        exit_code=1,
    )
    queued = SubmissionFactory(team=ada.team, user=ada.user, status=Submission.Status.QUEUED)
    TeamInvitation.objects.create(team=other.team, invitee=ada.user, invited_by=other.user)
    slug = competition.slug
    anonymous = {
        "competitions": "/",
        "overview": reverse("competitions:detail", args=[slug]),
        "data": reverse("competitions:data", args=[slug]),
        "rules": reverse("competitions:rules", args=[slug]),
        "leaderboard": reverse("competitions:leaderboard", args=[slug]),
        "login": reverse("login"),
        "signup": reverse("signup"),
        "password-reset": reverse("password_reset"),
    }
    participant = {
        **{k: v for k, v in anonymous.items() if k not in ("login", "signup")},
        "submit": reverse("competitions:submit", args=[slug]),
        "my-submissions": reverse("competitions:my_submissions", args=[slug]),
        "submission-scored": runs[-1].get_absolute_url(),
        "submission-failed": failed.get_absolute_url(),
        "submission-queued": queued.get_absolute_url(),
        "team": reverse("competitions:team", args=[slug]),
        "account": reverse("competitions:account"),
        "notifications": reverse("notifications"),
        "password-change": reverse("password_change"),
    }
    return ada.user, anonymous, participant


def test_no_participant_page_scrolls_sideways_on_a_phone(
    serve, browser, digits_bundle: Path, screenshots: Path
) -> None:
    user, anonymous, participant = _world(digits_bundle)
    env = {
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT, env=process_env(**env), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    server = serve("--workers", "2", env=env)
    b = browser

    def width(px: int) -> None:
        b.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            # Not "mobile": a phone's browser would zoom out to fit a page that overflows,
            # hiding the overflow this test looks for.
            {"width": px, "height": 844 if px < 800 else 900, "deviceScaleFactor": 1,
             "mobile": False},
        )  # fmt: skip

    too_wide: dict[str, object] = {}

    def visit(role: str, pages: dict[str, str]) -> None:
        for name, path in pages.items():
            for px in (390, 1366):
                width(px)
                b.get(server.url + path)
                scroll, inner, culprits = b.execute_script(WIDTH_CHECK)
                assert inner == px
                b.save_screenshot(str(screenshots / f"fit-{role}-{name}-{px}.png"))
                if scroll > inner:
                    too_wide[f"{role} {name} at {px}px"] = (scroll, culprits)

    visit("anonymous", anonymous)
    client = Client()
    client.force_login(user)
    b.get(server.url + "/favicon.ico")
    b.add_cookie({"name": "sessionid", "value": client.cookies["sessionid"].value, "path": "/"})
    visit("participant", participant)
    assert "ada" in b.find_element("css selector", "header .who").text
    assert too_wide == {}, "\n".join(f"{k}: {v}" for k, v in too_wide.items())
