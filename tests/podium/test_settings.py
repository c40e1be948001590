"""Settings come from the environment; production refuses to start without its secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from podium.settings import env_bool, env_list

ROOT = Path(__file__).resolve().parents[2]
PRINT_SETTINGS = (
    "import json, podium.settings as s; "
    "print(json.dumps({'debug': s.DEBUG, 'hosts': s.ALLOWED_HOSTS, 'secret': s.SECRET_KEY, "
    "'db': s.DATABASES['default']['ENGINE'], 'broker': s.CELERY_BROKER_URL}))"
)


def load_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Import podium.settings in a fresh interpreter with only the given variables set."""
    clean = {"PATH": os.environ.get("PATH", ""), "PODIUM_HOME": str(tmp_path), **env}
    return subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_defaults_work_on_one_machine(tmp_path: Path) -> None:
    result = load_settings(tmp_path)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["debug"] is True
    assert "localhost" in values["hosts"]
    assert values["db"] == "django.db.backends.sqlite3"
    assert values["broker"].startswith("filesystem://")
    assert (tmp_path / "media").is_dir()
    assert (tmp_path / "broker" / "queue").is_dir()


def test_production_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    result = load_settings(tmp_path, DJANGO_DEBUG="0", DJANGO_ALLOWED_HOSTS="podium.example")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off." in result.stderr


def test_production_refuses_to_start_without_allowed_hosts(tmp_path: Path) -> None:
    result = load_settings(tmp_path, DJANGO_DEBUG="0", DJANGO_SECRET_KEY="s3cret")
    assert result.returncode != 0
    assert "DJANGO_ALLOWED_HOSTS must be set when DJANGO_DEBUG is off." in result.stderr


def test_production_starts_with_its_secrets(tmp_path: Path) -> None:
    result = load_settings(
        tmp_path,
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="s3cret",
        DJANGO_ALLOWED_HOSTS="podium.example, www.podium.example",
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["debug"] is False
    assert values["secret"] == "s3cret"
    assert values["hosts"] == ["podium.example", "www.podium.example"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", True),
        ("true", True),
        ("YES", True),
        (" on ", True),
        ("0", False),
        ("no", False),
        ("", True),
        (None, True),
    ],
)
def test_env_bool(monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool) -> None:
    if value is None:
        monkeypatch.delenv("PODIUM_TEST_FLAG", raising=False)
    else:
        monkeypatch.setenv("PODIUM_TEST_FLAG", value)
    assert env_bool("PODIUM_TEST_FLAG", True) is expected


def test_env_list_drops_blanks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_TEST_LIST", " a.example, ,b.example,")
    assert env_list("PODIUM_TEST_LIST") == ["a.example", "b.example"]
