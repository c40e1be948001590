"""Helpers for tests that start platform processes (web server, worker)."""

import os

from django.conf import settings


def process_env(**extra: str) -> dict[str, str]:
    """The environment of a server or worker process that shares the test database."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "podium.settings",
        "DJANGO_DEBUG": "1",
        "PODIUM_HOME": str(settings.PODIUM_HOME),
        "DATABASE_URL": f"sqlite:///{settings.DATABASES['default']['NAME']}",
        "CELERY_BROKER_URL": "filesystem://localhost//",
        **extra,
    }
