"""WSGI entry point (gunicorn podium.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

from podium.permissions import use_private_umask

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "podium.settings")
# Everything the web processes create under PODIUM_HOME is owner-only (podium.permissions).
use_private_umask()
application = get_wsgi_application()
# Import the URLconf and with it every view module now, while the worker boots, instead of
# in its first request (about 1.3 s here: a compute host's first claim or fetch waited).
get_resolver().url_patterns  # noqa: B018 - the import is the point
