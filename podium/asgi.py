"""ASGI entry point."""

import os

from django.core.asgi import get_asgi_application

from podium.permissions import use_private_umask

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "podium.settings")
use_private_umask()  # owner-only files under PODIUM_HOME (podium.permissions)
application = get_asgi_application()
