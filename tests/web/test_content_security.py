"""Organizer markdown is sanitised, and every page sends a Content-Security-Policy under
the production configuration (DEBUG off, gunicorn, collected static files) while its own
scripts, the charts and the API docs (Swagger UI, Redoc) still work in a real browser."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from browser_logs import csp_violations
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.test import Client
from factories import CompetitionFactory, MembershipFactory, SubmissionFactory
from processes import process_env

from competitions.models import Competition

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "test-secret-key-for-the-production-configuration-0123456789",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
}
HOSTILE_MARKDOWN = """# Welcome

<script>document.title = "owned"</script>
<img src="x" onerror="document.title='owned'">
<a href="javascript:document.title='owned'">click</a> [also](javascript:alert(1))
<iframe src="https://evil.example/"></iframe><style>body{display:none}</style>
<form action="https://evil.example/"><input name="password"></form>

**Bold** and a [fair link](https://example.org/rules) and `code`.
"""


@pytest.mark.django_db
def test_markdown_with_script_is_rendered_inert(client: Client) -> None:
    competition = CompetitionFactory(slug="md", overview=HOSTILE_MARKDOWN)
    html = client.get(competition.get_absolute_url()).content.decode()
    prose = html[html.index('<section class="prose">') :]
    prose = prose[: prose.index("</section>")]
    for bad in ("<script", "onerror", "javascript:", "<iframe", "<style", "<form", "<input"):
        assert bad not in prose.lower(), prose
    assert "<strong>Bold</strong>" in prose and "<code>code</code>" in prose
    assert '<a href="https://example.org/rules" rel="noopener noreferrer nofollow">' in prose


def _production_server(serve) -> object:
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT, env=process_env(**PRODUCTION), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return serve("--workers", "2", env=PRODUCTION)


@pytest.mark.e2e
def test_every_kind_of_page_sends_a_strict_policy_under_production(serve) -> None:
    competition = CompetitionFactory(slug="csp")
    server = _production_server(serve)
    strict = [
        "/",
        competition.get_absolute_url(),
        "/accounts/login/",
        "/accounts/signup/",
        "/admin/login/",
        "/api/v1/competitions/",
    ]
    for path in strict:
        response = requests.get(server.url + path, timeout=60)
        assert response.status_code == 200, path
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "style-src 'self'" in policy, policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, policy
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    for path in ("/api/docs/", "/api/redoc/"):
        policy = requests.get(server.url + path, timeout=60).headers["Content-Security-Policy"]
        assert "script-src 'self';" in policy + ";" and "unsafe-eval" not in policy, policy
        assert "style-src 'self' 'unsafe-inline'" in policy, policy


@pytest.mark.docker
@pytest.mark.e2e
def test_pages_scripts_charts_and_api_docs_work_under_the_policy(serve, browser) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    member = MembershipFactory(
        team__competition=CompetitionFactory(slug="csp", overview=HOSTILE_MARKDOWN),
        user__username="ada",
    )
    password = "Analytical-Engine-1843"
    hasher = PBKDF2PasswordHasher()  # what the production server checks passwords with
    member.user.password = hasher.encode(password, hasher.salt())
    member.user.save(update_fields=["password"])
    for score in (0.5, 0.7, 0.6):
        SubmissionFactory(team=member.team, user=member.user, public_score=score)
    competition: Competition = member.team.competition
    server = _production_server(serve)
    b = browser
    wait = WebDriverWait(b, 60)

    b.get(server.url + competition.get_absolute_url())
    assert b.title != "owned"
    assert b.find_element(By.TAG_NAME, "h1").text
    b.get(server.url + "/accounts/login/")
    b.find_element(By.NAME, "username").send_keys("ada")
    b.find_element(By.NAME, "password").send_keys(password)
    b.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait.until(ec.url_changes(server.url + "/accounts/login/"))
    b.get(server.url + f"/c/{competition.slug}/submissions/")
    assert b.find_elements(By.CSS_SELECTOR, "svg.chart")
    assert b.find_element(By.CSS_SELECTOR, "link[rel=stylesheet]")
    # The stylesheet applied (a style from podium.css, not the browser's default).
    nav = b.find_element(By.CSS_SELECTOR, "header.top")
    assert nav.value_of_css_property("display") in ("block", "flex", "grid")
    assert csp_violations(b) == []

    b.get(server.url + "/api/docs/")
    wait.until(
        ec.text_to_be_present_in_element((By.CSS_SELECTOR, ".swagger-ui .info"), "Podium API")
    )
    assert b.find_elements(By.CSS_SELECTOR, ".swagger-ui .opblock")  # the operations
    b.get(server.url + "/api/redoc/")
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), "Podium API"))
    deadline = time.monotonic() + 60
    while "/api/v1/competitions/" not in b.find_element(By.TAG_NAME, "body").text:
        assert time.monotonic() < deadline, "Redoc did not list the operations"
        time.sleep(0.5)
    violations = csp_violations(b)
    # The page asks no font from outside (templates/drf_spectacular/redoc.html). Redoc's
    # script may still ask its CDN for a logo: refused on purpose (nothing is fetched from
    # outside); nothing of this server's may be refused.
    assert not [v for v in violations if "fonts.googleapis.com" in v], violations
    outside = ("https://cdn.redoc.ly/",)
    assert [v for v in violations if not any(host in v for host in outside)] == []
