"""Another local user of the host reads nothing under PODIUM_HOME: not the secret key, the
database, the hidden solution, participants' images, broker messages or logs.

The platform's own processes under the production configuration (DEBUG off, as `./podiumctl
up` runs them) are started on a PODIUM_HOME an older release left readable, from a shell
whose umask (022) would make every new file readable; then every path under it is stat'ed.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from podium.permissions import WALKED_MARKER, make_private, readable_by_others, secure_home
from tests.small_bundles import write_bundle

ROOT = Path(__file__).resolve().parents[2]

# Runs in a production-configured `manage.py shell`: import the bundle BUNDLE (its command)
# and publish the competition; a participant joins and uploads an image through the API,
# as the CLI does; a line is logged (web.log).
UPLOAD = """
import logging
import os
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from rest_framework.authtoken.models import Token
from competitions.models import Competition
from competitions.services.publication import competition_publish
from tests.artifacts import IMAGE_TAR
from django.core.files.uploadedfile import SimpleUploadedFile

call_command("import_competition", BUNDLE)
competition = Competition.objects.get(slug="tiny")
competition_publish(actor=None, competition=competition)
user = get_user_model().objects.create_user("ada", password="pw-not-used-9")
client = Client(HTTP_AUTHORIZATION="Token " + Token.objects.create(user=user).key)
assert client.post("/api/v1/competitions/tiny/join/").status_code in (200, 201)
answer = client.post(
    "/api/v1/competitions/tiny/submissions/",
    {"image": SimpleUploadedFile("image.tar", IMAGE_TAR), "description": "first"},
)
assert answer.status_code == 201, answer.content
logging.getLogger("podium").warning("upload done")
print("submission", answer.json()["id"])
print("umask", oct(os.umask(0o077)))
"""


def _production_env(home: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {
            "DATABASE_URL",
            "CELERY_BROKER_URL",
            "PODIUM_CACHE_URL",
            "EMAIL_URL",
            "PODIUM_STORAGE",
        }
    }
    env.update(
        DJANGO_SETTINGS_MODULE="podium.settings",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="a-production-key-for-this-test-only-0123456789",
        DJANGO_ALLOWED_HOSTS="testserver,localhost",
        PODIUM_HOME=str(home),
        PYTHONPATH=str(ROOT),
    )
    return env


def _manage(home: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=_production_env(home),
        capture_output=True,
        text=True,
        timeout=300,
        # The organizer's shell: a umask that leaves new files readable by everybody.
        preexec_fn=lambda: os.umask(0o022),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_web_entry_points_make_owner_only_files(tmp_path: Path) -> None:
    # gunicorn imports podium.wsgi in each web process (an ASGI server podium.asgi).
    script = (
        "import os, podium.wsgi; first = os.umask(0o022); import podium.asgi; "
        "print(oct(first), oct(os.umask(0o022)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=_production_env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: os.umask(0o022),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0o77", "0o77"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _readable_by_nobody(paths: list[Path]) -> list[str]:
    """The paths that the host's user nobody (another local user) can read: the attack."""
    check = 'for p; do [ -r "$p" ] && echo "$p"; done; true'
    done = subprocess.run(
        ["runuser", "-u", "nobody", "--", "sh", "-c", check, "sh", *map(str, paths)],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split()


@pytest.fixture
def open_folder() -> Iterator[Path]:
    """A folder other users may pass through (0711), as a PODIUM_HOME's parent often is."""
    folder = Path(tempfile.mkdtemp(prefix="podium-home-"))
    folder.chmod(0o711)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser"), reason="needs root")
def test_nothing_under_podium_home_is_readable_by_other_users(
    tmp_path: Path, open_folder: Path
) -> None:
    home = open_folder / "home"
    # What an older release left: a readable home, key, database and stored solution.
    (home / "media" / "competitions" / "old").mkdir(parents=True)
    for path in (home, home / "media", home / "media" / "competitions"):
        path.chmod(0o755)
    (home / "secret_key").write_text("an-old-key\n")
    (home / "db.sqlite3").write_bytes(b"")  # an empty file is an empty SQLite database
    (home / "media" / "competitions" / "old" / "solution.csv").write_text("id,label\n1,0\n")
    for path in (home / "secret_key", home / "db.sqlite3"):
        path.chmod(0o644)
    secrets = [home / "secret_key", home / "db.sqlite3", home / "media"]
    assert readable_by_others(home)
    assert _readable_by_nobody(secrets) == [str(p) for p in secrets]  # the attack works

    _manage(home, "migrate", "--no-input", "-v0")  # start-up, as `podiumctl up` does
    assert readable_by_others(home) == []
    assert _mode(home) == 0o700
    assert _mode(home / "secret_key") == 0o600
    assert _mode(home / "db.sqlite3") == 0o600

    bundle = write_bundle(tmp_path / "bundle")
    # One more process: the bundle import (its command), then the upload.
    out = _manage(home, "shell", "-c", f"BUNDLE = {str(bundle)!r}\n{UPLOAD}")
    assert "submission" in out and "umask 0o77" in out

    stored = [p for p in (home / "media").rglob("*") if p.is_file()]
    names = {p.name for p in stored}
    # The hidden solution and the participant's image were stored by these processes.
    assert any(n.startswith("solution") for n in names) and any(".tar" in n for n in names)
    assert list((home / "broker").rglob("*.msg")), "the upload enqueued its run"
    assert (home / "logs" / "web.log").exists()
    assert readable_by_others(home) == []
    assert {_mode(p) for p in stored} == {0o600}
    assert _readable_by_nobody([*secrets, *stored, *(home / "broker").rglob("*")]) == []


def test_make_private_keeps_links_and_run_data_as_they_are(tmp_path: Path) -> None:
    home = tmp_path / "home"
    outside = tmp_path / "outside.txt"
    outside.write_text("not ours")
    outside.chmod(0o644)
    run_data = home / "work" / "data" / "tiny" / "v1" / "train"
    run_data.mkdir(parents=True)
    (run_data / "train.csv").write_text("id\n1\n")
    (run_data / "train.csv").chmod(0o644)
    (home / "logs").mkdir()
    (home / "logs" / "web.log").write_text("x")
    (home / "logs" / "web.log").chmod(0o664)
    (home / "link").symlink_to(outside)
    (home / "dirlink").symlink_to(tmp_path)
    for folder in (home, home / "logs", home / "work"):
        folder.chmod(0o775)

    before = _mode(tmp_path)
    changed = make_private(home, keep_inside=[home / "work"])

    assert changed == 4  # home, logs, web.log, work
    assert _mode(home / "logs" / "web.log") == 0o600
    assert _mode(home / "work") == 0o700
    # A run's user (uid 65534) still reads its data; Docker mounts it past the 0700 folder.
    assert _mode(run_data / "train.csv") == 0o644
    assert _mode(outside) == 0o644 and _mode(tmp_path) == before  # links not followed
    assert [p for p in readable_by_others(home) if "/work/" not in p] == []


def test_later_starts_check_the_top_and_the_first_walks_everything(tmp_path: Path) -> None:
    home = tmp_path / "home"
    deep = home / "media" / "a" / "b.csv"
    deep.parent.mkdir(parents=True)
    deep.write_text("x")
    (home / "secret_key").write_text("k")
    for path in (home, home / "media", deep, home / "secret_key"):
        path.chmod(0o755 if path.is_dir() else 0o644)

    secure_home(home, folders=[home / "media"], keep_inside=[])  # the first start
    assert readable_by_others(home) == [] and (home / WALKED_MARKER).exists()

    # Later: what the platform's own processes made is private; someone else's copy is not
    # walked again, but the home, its folders and its own files are checked every start.
    for path in (home, home / "media", deep, home / "secret_key"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    secure_home(home, folders=[home / "media"], keep_inside=[])
    assert readable_by_others(home) == [f"{deep} -rw-r--r--"]
    (home / WALKED_MARKER).unlink()  # what `podiumctl up` does once per start
    secure_home(home, folders=[home / "media"], keep_inside=[])
    assert readable_by_others(home) == []
