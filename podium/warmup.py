"""Everything a web process would otherwise build in its first requests, built while it
boots: the URL resolver's reverse tables, the template engine with its tag libraries and
the project's templates (compiled once into the cached loader), DRF's settings classes and
the time zone. ``./podiumctl up`` runs gunicorn with ``--preload``, so this runs once in
the master and every worker is forked warm (a restarted worker's first requests waited
for it, one by one, on a loaded machine).

Touches no database: a connection opened in the master would be shared by its forks.
"""

from __future__ import annotations

import gc
from pathlib import Path

from django.conf import settings
from django.template import engines
from django.template.loader import get_template
from django.urls import get_resolver, reverse
from django.utils import timezone
from rest_framework.settings import api_settings

# DRF's settings import these classes on first use.
DRF_CLASSES = (
    "DEFAULT_RENDERER_CLASSES",
    "DEFAULT_PARSER_CLASSES",
    "DEFAULT_AUTHENTICATION_CLASSES",
    "DEFAULT_PERMISSION_CLASSES",
    "DEFAULT_THROTTLE_CLASSES",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS",
    "DEFAULT_SCHEMA_CLASS",
    "EXCEPTION_HANDLER",
)


def project_templates() -> list[str]:
    """The names of the project's own templates (``templates/``), e.g.
    ``competitions/leaderboard.html``."""
    root = Path(settings.BASE_DIR) / "templates"
    return sorted(str(path.relative_to(root)) for path in root.rglob("*.html"))


def warm() -> list[str]:
    """Build the per-process state listed above; return the templates compiled. Raises
    what a broken template or URLconf raises (better at boot than in a request)."""
    get_resolver().url_patterns  # noqa: B018 - the import of every view module is the point
    reverse("competitions:list")  # fills the resolver's reverse tables
    for name in DRF_CLASSES:
        getattr(api_settings, name)
    engines.all()
    names = project_templates()
    for name in names:
        get_template(name)
    timezone.localtime(timezone.now())  # loads the zone data
    # What is built so far lives as long as the process: out of the collector's sight, so
    # that no collection walks it again and forked workers share its pages.
    gc.collect()
    gc.freeze()
    return names
