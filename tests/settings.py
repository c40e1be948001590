"""Settings for the test run: the project's own, with a PODIUM_HOME of its own.

Uploaded images, the test database and the filesystem broker live under var/test (or
$PODIUM_TEST_HOME), so tests never touch a running platform's data. DATABASE_URL is
ignored; PODIUM_TEST_DATABASE_URL (e.g. postgres://user@host/podium) runs the tests on
that server instead of SQLite, Django creating and dropping its test_ database there;
PODIUM_TEST_BROKER_URL (e.g. redis://127.0.0.1:6379/0) replaces the filesystem broker for
this process and the workers the tests start.
"""

import os
from pathlib import Path

os.environ["PODIUM_HOME"] = os.environ.get(
    "PODIUM_TEST_HOME", str(Path(__file__).resolve().parent.parent / "var" / "test")
)
os.environ.setdefault("DJANGO_DEBUG", "1")
os.environ.pop("DATABASE_URL", None)
if os.environ.get("PODIUM_TEST_DATABASE_URL"):
    os.environ["DATABASE_URL"] = os.environ["PODIUM_TEST_DATABASE_URL"]
os.environ.pop("CELERY_BROKER_URL", None)
# Results are released to participants at once in tests (and in the servers and workers
# they start, which inherit this environment); the release quantum's own tests set it.
os.environ.setdefault("PODIUM_RESULT_RELEASE_QUANTUM_SECONDS", "0")
if os.environ.get("PODIUM_TEST_BROKER_URL"):  # e.g. redis://127.0.0.1:PORT/0
    os.environ["CELERY_BROKER_URL"] = os.environ["PODIUM_TEST_BROKER_URL"]

from podium.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
