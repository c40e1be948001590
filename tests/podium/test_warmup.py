"""The web process builds at boot what its first requests would build (podium.warmup),
and opens no database connection doing so: gunicorn --preload forks workers from it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json
import podium.wsgi
from django.db import connections
from django.template import engines
from django.urls import get_resolver
from podium.warmup import project_templates

loader = engines["django"].engine.template_loaders[0]
cached = {key.split("-")[0] for key in loader.get_template_cache}
print(json.dumps({
    "cached_loader": type(loader).__name__,
    "missing": sorted(set(project_templates()) - cached),
    "templates": len(project_templates()),
    "resolver_populated": get_resolver()._populated,
    "open_connections": [c.alias for c in connections.all() if c.connection is not None],
}))
"""


def test_the_web_process_boots_warm_without_a_database_connection(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PODIUM_HOME": str(tmp_path),
        # The production configuration, as ./podiumctl up runs it.
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "warmup-" + "k" * 50,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout.strip().splitlines()[-1])
    assert state["cached_loader"] == "Loader"  # django.template.loaders.cached
    assert state["templates"] > 20 and state["missing"] == []
    assert state["resolver_populated"] is True
    assert state["open_connections"] == []
