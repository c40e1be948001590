"""Settings come from the environment; production refuses to start without its secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from podium.settings import env

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


def test_importing_settings_creates_nothing_and_start_up_creates_the_folders(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    result = load_settings(home)
    assert result.returncode == 0, result.stderr
    assert not home.exists()
    start = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={
            "PATH": os.environ.get("PATH", ""),
            "PODIUM_HOME": str(home),
            "DJANGO_SETTINGS_MODULE": "podium.settings",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert start.returncode == 0, start.stderr
    for folder in ("media", "static", "tmp", "uploads", "work", "logs", "broker/queue"):
        assert (home / folder).is_dir(), folder
    assert (home / "broker" / "processed").is_dir()
    assert (home / "broker" / "control").is_dir()


def test_every_podium_variable_is_read_and_documented() -> None:
    """The README's configuration table and the variables read in settings agree."""
    import re

    settings_text = (ROOT / "podium" / "settings.py").read_text()
    read = set(re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', settings_text))
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Configuration") :]
    table = table[: table.index("\n## ", 1)] if "\n## " in table[1:] else table
    documented = set(re.findall(r"`((?:PODIUM|DJANGO|DATABASE|CELERY|EMAIL)_[A-Z_]*)`", table))
    read_by_others = {"PODIUM_BIND"}  # podiumctl's own: where `up` listens
    assert read - documented == set(), "read in settings, missing in the README"
    assert documented - read - read_by_others == set(), "in the README, never read"


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
    assert env.bool("PODIUM_TEST_FLAG", default=True) is expected


def test_env_list_drops_blanks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODIUM_TEST_LIST", " a.example, ,b.example,")
    assert env.list("PODIUM_TEST_LIST", default=[]) == ["a.example", "b.example"]
