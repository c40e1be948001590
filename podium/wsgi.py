"""WSGI entry point (gunicorn podium.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

from podium.permissions import use_private_umask

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "podium.settings")
# Everything the web processes create under PODIUM_HOME is owner-only (podium.permissions).
use_private_umask()
application = get_wsgi_application()

from podium import warmup  # noqa: E402 - needs the apps loaded above

# Import the URLconf and with it every view module now, while the process boots, instead of
# in its first request (about 1.3 s here: a compute host's first claim or fetch waited), and
# build the rest of what first requests would build (podium.warmup).
warmup.warm()
