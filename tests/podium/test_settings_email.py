"""Outgoing mail is chosen by EMAIL_URL: files under PODIUM_HOME/mail by default, the
console or an SMTP server when asked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRINT = (
    "import json, podium.settings as s; print(json.dumps({k: getattr(s, k, None) for k in "
    "('EMAIL_BACKEND', 'EMAIL_FILE_PATH', 'EMAIL_HOST', 'EMAIL_PORT', 'EMAIL_HOST_USER', "
    "'EMAIL_HOST_PASSWORD', 'EMAIL_USE_TLS', 'EMAIL_USE_SSL', 'PODIUM_EMAIL_VERIFICATION')}))"
)


def email_settings(tmp_path: Path, **env: str) -> dict:
    clean = {"PATH": os.environ.get("PATH", ""), "PODIUM_HOME": str(tmp_path), **env}
    result = subprocess.run(
        [sys.executable, "-c", PRINT], cwd=ROOT, env=clean, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_mail_goes_to_files_under_podium_home_by_default(tmp_path: Path) -> None:
    values = email_settings(tmp_path)
    assert values["EMAIL_BACKEND"] == "django.core.mail.backends.filebased.EmailBackend"
    assert values["EMAIL_FILE_PATH"] == str(tmp_path.resolve() / "mail")
    assert values["PODIUM_EMAIL_VERIFICATION"] is False


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("consolemail://", {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}),
        ("filemail:///srv/podium-mail", {"EMAIL_FILE_PATH": "/srv/podium-mail"}),
        (
            "smtp+tls://mailer:s3cret@mail.example.org:587",
            {
                "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "EMAIL_HOST": "mail.example.org",
                "EMAIL_PORT": 587,
                "EMAIL_HOST_USER": "mailer",
                "EMAIL_HOST_PASSWORD": "s3cret",
                "EMAIL_USE_TLS": True,
                "EMAIL_USE_SSL": False,
            },
        ),
        ("smtp+ssl://mail.example.org:465", {"EMAIL_USE_SSL": True, "EMAIL_PORT": 465}),
    ],
)
def test_email_url_chooses_the_backend(tmp_path: Path, url: str, expected: dict) -> None:
    values = email_settings(tmp_path, EMAIL_URL=url, PODIUM_EMAIL_VERIFICATION="1")
    assert {key: values[key] for key in expected} == expected
    assert values["PODIUM_EMAIL_VERIFICATION"] is True
