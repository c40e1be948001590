"""Helpers for tests that start platform processes (web server, worker)."""

import os
from urllib.parse import quote

from django.conf import settings


def database_url() -> str:
    """The test database (not the one DATABASE_URL names) as a URL for a child process."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    if db["ENGINE"] == "django.db.backends.postgresql":
        credentials = quote(db["USER"] or "", safe="")
        if db["PASSWORD"]:
            credentials += ":" + quote(db["PASSWORD"], safe="")
        host = db["HOST"] or ""
        port = f":{db['PORT']}" if db["PORT"] else ""
        return f"postgres://{credentials}@{host}{port}/{quote(db['NAME'], safe='')}"
    raise NotImplementedError(f"no URL for {db['ENGINE']}")


def process_env(**extra: str) -> dict[str, str]:
    """The environment of a server or worker process that shares the test database."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "podium.settings",
        "DJANGO_DEBUG": "1",
        "PODIUM_HOME": str(settings.PODIUM_HOME),
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": os.environ.get("PODIUM_TEST_BROKER_URL", "filesystem://localhost//"),
        **extra,
    }
