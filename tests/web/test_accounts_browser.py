"""A participant who forgot their password resets it in a real browser, through the
e-mail the file backend writes, against the production configuration (gunicorn, DEBUG
off, collected static files)."""

from __future__ import annotations

import email
import re
import subprocess
import sys
from pathlib import Path

import pytest
from browser_logs import csp_violations
from factories import UserFactory
from processes import process_env

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
NEW_PASSWORD = "Difference-Engine-1822"


def production(mail_dir: Path) -> dict[str, str]:
    return {
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "test-secret-key-for-the-production-configuration-0123456789",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "EMAIL_URL": f"filemail://{mail_dir}",
    }


def production_server(serve, mail_dir: Path):
    env = production(mail_dir)
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT, env=process_env(**env), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return serve("--workers", "2", env=env)


def mailed_link(mail_dir: Path, to: str) -> str:
    """The one link in the one message the file backend wrote to ``to``."""
    bodies = []
    for path in sorted(mail_dir.glob("*.log")):
        for raw in path.read_text().split("-" * 79):
            if raw.strip():
                message = email.message_from_string(raw.strip())
                if message["To"] == to:
                    bodies.append(message.get_payload(decode=True).decode())
    assert len(bodies) == 1, bodies
    found = re.findall(r"https?://\S+", bodies[0])
    assert len(found) == 1, bodies[0]
    return found[0]


def test_a_forgotten_password_is_reset_through_the_mailed_link(
    serve, browser, tmp_path: Path, screenshots: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    UserFactory(username="ada", email="ada@example.org")
    mail_dir = tmp_path / "mail"
    server = production_server(serve, mail_dir)
    b = browser
    wait = WebDriverWait(b, 120)

    def body_has(words: str) -> None:
        wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), words))

    def submit() -> None:
        button = b.find_element(By.CSS_SELECTOR, "main form button[type=submit]")
        button.click()
        wait.until(ec.staleness_of(button))

    b.get(server.url + "/accounts/login/")
    b.find_element(By.LINK_TEXT, "Reset it").click()
    body_has("Reset your password")
    b.find_element(By.NAME, "email").send_keys("Ada@Example.org")
    b.save_screenshot(str(screenshots / "accounts-01-reset-form.png"))
    submit()
    body_has("Check your e-mail")

    link = mailed_link(mail_dir, "ada@example.org")
    assert link.startswith(server.url + "/accounts/password/reset/")
    b.get(link)
    body_has("Choose a new password")
    b.find_element(By.NAME, "new_password1").send_keys(NEW_PASSWORD)
    b.find_element(By.NAME, "new_password2").send_keys(NEW_PASSWORD)
    b.save_screenshot(str(screenshots / "accounts-02-new-password.png"))
    submit()
    body_has("Your new password is set")

    b.find_element(By.LINK_TEXT, "Log in").click()
    body_has("Forgot your password?")
    b.find_element(By.NAME, "username").send_keys("ada")
    b.find_element(By.NAME, "password").send_keys(NEW_PASSWORD)
    submit()
    body_has("Notifications")
    assert b.find_element(By.CSS_SELECTOR, "header .who").text == "ada"
    b.save_screenshot(str(screenshots / "accounts-03-logged-in.png"))

    # The link worked once.
    b.delete_all_cookies()
    b.get(link)
    body_has("This link does not work any more")
    assert csp_violations(b) == []
