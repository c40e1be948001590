"""Settings for the test run: the project's own, with a PODIUM_HOME of its own.

Uploaded images, the test database and the filesystem broker live under var/test (or
$PODIUM_TEST_HOME), so tests never touch a running platform's data.
"""

import os
from pathlib import Path

os.environ["PODIUM_HOME"] = os.environ.get(
    "PODIUM_TEST_HOME", str(Path(__file__).resolve().parent.parent / "var" / "test")
)
os.environ.setdefault("DJANGO_DEBUG", "1")
os.environ.pop("DATABASE_URL", None)
os.environ.pop("CELERY_BROKER_URL", None)

from podium.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
